"""Shared plumbing of the factor-study scripts: argument checks and incremental HDF5 results.

Every configuration is written as soon as it finishes and the file is flushed, so an
interrupted run keeps what it measured; --resume skips configurations already stored.
"""
import argparse
import datetime
import os
import sys

import h5py
import numpy as np

import lpsim


def positive_int_list(text):
    """argparse type: '16,64,256' -> [16, 64, 256], every item a positive integer."""
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return vals


def common_args(parser, default_out):
    parser.add_argument("--out", default=default_out, help=f"HDF5 results file, replaced unless --resume (default {default_out})")
    parser.add_argument("--quick", action="store_true", help="small sizes for tests (seconds)")
    parser.add_argument("--resume", action="store_true", help="keep the file and skip finished configurations")
    parser.add_argument("--seed", type=int, default=1, help="seed of the operand generator (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def lpsim_version():
    return getattr(lpsim, "__version__", "unknown")


def open_results(path, resume):
    """Opens the results file: appends with --resume, otherwise refuses to overwrite silently."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        sys.exit(f"error: --out {path}: directory {d} does not exist")
    if os.path.exists(path) and not resume:
        os.remove(path)  # a fresh run replaces the old results; --resume keeps them
    try:
        return h5py.File(path, "a")
    except OSError as e:
        sys.exit(f"error: --out {path}: cannot open as HDF5 ({e})")


def experiment_group(f, name, script, params, seed):
    """The group of one experiment; its attributes say how the data were made.

    With --resume the stored parameters must match, or the old and new data would mix."""
    if name in f:
        g = f[name]
        wanted = dict(params, seed=seed)
        for k, v in wanted.items():
            if k not in g.attrs or not np.array_equal(np.asarray(g.attrs[k]), np.asarray(v)):
                sys.exit(f"error: --resume: {f.filename}:/{name} was made with other parameters "
                         f"({k}: stored {g.attrs.get(k)!r}, now {v!r}); use another --out or drop --resume")
        return g
    g = f.create_group(name)
    g.attrs["script"] = script
    g.attrs["lpsim_version"] = lpsim_version()
    g.attrs["seed"] = seed
    g.attrs["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for k, v in params.items():
        g.attrs[k] = v
    return g


def write_config(g, name, columns, attrs):
    """Writes one finished configuration (a group of equal-length 1-D datasets) and flushes."""
    if name in g:
        del g[name]  # a half-written one from an interrupted run
    c = g.create_group(name)
    for k, v in attrs.items():
        c.attrs[k] = v
    for k, v in columns.items():
        c.create_dataset(k, data=np.asarray(v))
    c.attrs["complete"] = True  # set last: a config without it was interrupted
    g.file.flush()


def done(g, name):
    return name in g and bool(g[name].attrs.get("complete", False))
