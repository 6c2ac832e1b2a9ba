#!/usr/bin/python3
"""Draws the factor-study results: error vs K (accumulation.py) and error vs N (usage.py), to PNG.

  /usr/bin/python3 experiments/factor/plot.py --acc factor_accumulation.h5 --usage factor_usage.h5 --outdir docs/img
"""
import argparse
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FLOAT_CONFIGS = ("fp8.fp32", "fp8.h800", "fp16.fp32", "fp16.fp16seq", "fp16.volta", "bf16.fp32", "bf16.bf16seq")
INT_CONFIGS = ("int8.int32", "int8.int24wrap", "int8.int24sat", "int8.int20wrap", "int8.int20sat",
               "int8.int16wrap", "int8.int16sat")


def _group(path, name):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        sys.exit(f"error: {path}: not a readable HDF5 file ({e})")
    if name not in f:
        sys.exit(f"error: {path}: no group /{name} (made by the other script?)")
    return f, f[name]


def plot_accumulation(path, outdir):
    f, g = _group(path, "accumulation")
    out = []
    for metric, ylabel, fname, configs in (
            ("total_rel_fro", "||C - C_exact||_F / ||C_exact||_F", "factor_acc_error.png", FLOAT_CONFIGS),
            ("swamped_frac", "fraction of additions swamped", "factor_acc_swamped.png", FLOAT_CONFIGS),
            ("total_rel_fro", "||C - C_exact||_F / ||C_exact||_F", "factor_acc_fixed.png", INT_CONFIGS)):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
        for ax, dist in zip(axes, ("gauss", "relu")):
            for name in configs:
                key = f"{name}/{dist}"
                if key in g:
                    y = g[key][metric][()]
                    ax.plot(g[key]["k"][()], y, marker="o", label=name)
            ax.set_xscale("log", base=2)
            if metric == "total_rel_fro" and configs is FLOAT_CONFIGS:
                ax.set_yscale("log")
            elif metric == "total_rel_fro":
                ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_xlabel("accumulation length K")
            ax.set_title(f"{dist} operands")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel(ylabel)
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        p = os.path.join(outdir, fname)
        fig.savefig(p, dpi=80)
        plt.close(fig)
        out.append(p)
    f.close()
    return out


def plot_usage(path, outdir):
    out = []
    for group, xkey, xlabel, fname in (("usage_matmul", "n", "outputs per element N (usage of A)", "factor_usage_matmul.png"),
                                       ("usage_conv", "usage_w", "kernel element reuse (batch x positions)",
                                        "factor_usage_conv.png")):
        f, g = _group(path, group)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for fmt in g:
            for dist, style in (("gauss", "-"), ("relu", "--")):
                key = f"{fmt}/{dist}"
                if key not in g:
                    continue
                x = g[key][xkey][()]
                axes[0].plot(x, g[key]["per_output_rel"][()], style, marker="o", label=key)
                axes[1].plot(x, g[key]["agg_rel"][()], style, marker="o", label=key)
        for ax, t in zip(axes, ("per-output relative rms error", "error of the sum over outputs / one output's rms")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_title(t)
            ax.grid(True, which="both", alpha=0.3)
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        p = os.path.join(outdir, fname)
        fig.savefig(p, dpi=80)
        plt.close(fig)
        f.close()
        out.append(p)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--acc", help="HDF5 file of accumulation.py")
    p.add_argument("--usage", help="HDF5 file of usage.py")
    p.add_argument("--outdir", default=".", help="directory for the PNG files (default .)")
    args = p.parse_args(argv)
    if not args.acc and not args.usage:
        p.error("give --acc and/or --usage")
    if not os.path.isdir(args.outdir):
        p.error(f"--outdir {args.outdir}: no such directory")
    written = []
    if args.acc:
        written += plot_accumulation(args.acc, args.outdir)
    if args.usage:
        written += plot_usage(args.usage, args.outdir)
    for w in written:
        print(w)
    return written


if __name__ == "__main__":
    main()
