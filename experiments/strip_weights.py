#!/usr/bin/python3
"""A copy of an lpsim results file without the final weights of its finished runs.

  /usr/bin/python3 experiments/strip_weights.py SRC.h5 DST.h5

Everything else is copied as it is: attributes, epochs, layers, and unfinished
runs (which hold no weights; their checkpoints live beside the file in
SRC.h5.ckpt/). A finished run's `weights/` group (about 1 MB for ResNet-20) is
what makes a results file large; the tables and figures never read it. DST is
written to a temporary name and renamed, so an interrupted copy leaves no
half-written file. experiments/claims.sh snapshot uses it for results/claims/.
"""
import os
import sys

import h5py


def strip(src, dst):
    tmp = dst + ".tmp"
    try:
        with h5py.File(src, "r") as f, h5py.File(tmp, "w") as g:
            g.attrs.update(f.attrs)
            for name, item in f.items():
                if not isinstance(item, h5py.Group):
                    f.copy(item, g, name=name)
                    continue
                out = g.create_group(name)
                out.attrs.update(item.attrs)
                for child in item:
                    if child == "weights" and item.attrs.get("status") == "finished":
                        continue
                    item.copy(child, out, name=child)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: strip_weights.py SRC.h5 DST.h5")
    src, dst = argv
    if not os.path.isfile(src):
        sys.exit(f"error: {src}: no such results file")
    if os.path.abspath(src) == os.path.abspath(dst):
        sys.exit("error: SRC and DST are the same file")
    try:
        strip(src, dst)
    except OSError as e:
        sys.exit(f"error: {src}: not a readable HDF5 results file ({e})")


if __name__ == "__main__":
    main(sys.argv[1:])
