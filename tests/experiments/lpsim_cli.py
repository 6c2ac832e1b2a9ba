"""Helpers of the experiments tests: run the built lpsim binary, tiny configs, read results."""
import os
import subprocess

import h5py
import numpy as np
import pytest

LPSIM = os.environ.get("LPSIM", os.path.join(os.path.dirname(__file__), "../../build/experiments/lpsim"))
CONFIGS = os.path.join(os.path.dirname(__file__), "../../experiments/configs")
HAVE_DATA = os.path.exists("/usr/share/datasets/fashion-mnist")
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="Fashion-MNIST (dataset-fashion-mnist) not installed")

# Tiny runs: seconds each, single thread.
TINY = ["--train-subset", "256", "--test-subset", "128", "--batch", "64", "threads=1"]


def lpsim(*args, check=True, cwd=None):
    r = subprocess.run([LPSIM, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError(f"lpsim {' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


TIMINGS = {"seconds", "images_per_second"}


def run_tables(f, run):
    """Every dataset of a run group except timings, as numpy arrays, by path."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/")[-1] not in TIMINGS:
            out[name] = obj[()]

    f[run].visititems(visit)
    return out


def assert_same_run(fa, ra, fb, rb):
    a, b = run_tables(fa, ra), run_tables(fb, rb)
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{ra}/{k} differs"
    for attr in ("config", "seed", "status", "point", "point_index"):
        assert (attr in fa[ra].attrs) == (attr in fb[rb].attrs), attr
        if attr == "config":  # the same but for the file it was written to
            strip = lambda text: [l for l in text.splitlines() if not l.startswith("output = ")]
            assert strip(fa[ra].attrs[attr]) == strip(fb[rb].attrs[attr])
        elif attr in fa[ra].attrs:
            assert fa[ra].attrs[attr] == fb[rb].attrs[attr], attr
