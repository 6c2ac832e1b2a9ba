#!/usr/bin/python3
"""A markdown table of a policy sweep (lpsim sweep ... --grid policy.kind=... --grid seed=...):
per method, final test accuracy mean ± std over seeds, its difference from the fp32 (static) runs
(paired by seed), training BitOPs savings against 32 bits and against static 8-bit SBM (the
reference the CPT and FracTrain papers report their savings against), the seeds used, and the
mean W/A/E bits of the layers the policy quantized (over layers and epochs; fp32 layers left out).

  PYTHONPATH=build/python /usr/bin/python3 experiments/results_table.py repro.h5
"""
import argparse
import os
import sys

import numpy as np

import lpsim


def point(attrs):
    """{key: value} of a sweep run's grid point."""
    return dict(line.split(" = ", 1) for line in attrs.get("point", "").splitlines() if " = " in line)


def mean_bits(layers):
    """Mean W, A, E bits over epochs and the layers below 32 bits (all 32 when none is)."""
    out = []
    for key in ("bits_w", "bits_a", "bits_e"):
        b = np.asarray(layers[key], dtype=float)
        low = b[b < 32]
        out.append(low.mean() if low.size else 32.0)
    return out


def table(path, baseline="static", reference="sbm", extra=()):
    """The table of the sweep in `path`, plus the runs of each (file, label) in `extra`
    as rows "<method> (<label>)" (variants of a method, paired with the same baseline)."""
    by_method = {}
    for file, label in [(path, None), *extra]:
        if not os.path.exists(file):
            sys.exit(f"error: {file} does not exist")
        runs = lpsim.load(file, status="finished")
        if not runs:
            sys.exit(f"error: {file}: no finished runs")
        collect(file, runs, label, by_method)
    return render(by_method, baseline, reference)


def collect(path, runs, label, by_method):
    for name, r in runs.items():
        p = point(r["attrs"])
        if "policy.kind" not in p:
            sys.exit(f"error: {path}: run {name!r} is not a point of a policy.kind sweep")
        e = r["epochs"]
        method = p["policy.kind"] if label is None else f"{p['policy.kind']} ({label})"
        by_method.setdefault(method, []).append(
            (int(p.get("seed", r["attrs"].get("seed", 0))), 100 * e["test_acc"][-1],
             1 - e["bitops"].sum() / e["bitops_fp32"].sum(), e["bitops"].sum(), mean_bits(r["layers"])))


def render(by_method, baseline, reference):
    base = by_method.get(baseline)
    base_acc = {s: a for s, a, *_ in base} if base else {}
    ref = by_method.get(reference)
    ref_ops = np.mean([o for _, _, _, o, _ in ref]) if ref else None
    lines = [f"| method | test accuracy (%) | Δ vs fp32 (pp) | BitOPs saved vs 32-bit | BitOPs saved vs {reference} | seeds "
             "| mean bits W/A/E |", "|---|---|---|---|---|---|---|"]
    for method, rows in sorted(by_method.items(), key=lambda kv: (kv[0] != baseline, kv[0])):
        rows.sort()
        acc = np.array([a for _, a, *_ in rows])
        saved = np.array([s for _, _, s, *_ in rows])
        ops = np.mean([o for _, _, _, o, _ in rows])
        bits = "/".join(f"{np.mean([b[i] for *_, b in rows]):.2f}".rstrip("0").rstrip(".") for i in range(3))
        vs_ref = f"{100 * (1 - ops / ref_ops):.1f}%" if ref_ops and method != baseline else "—"
        paired = [a - base_acc[s] for s, a, *_ in rows if s in base_acc]
        delta = f"{np.mean(paired):+.2f}" if paired and method != baseline else "—"
        std = f" ± {acc.std(ddof=1):.2f}" if len(acc) > 1 else ""
        lines.append(f"| {'fp32 (static)' if method == baseline else method} | {acc.mean():.2f}{std} | {delta} | "
                     f"{100 * saved.mean():.1f}% | {vs_ref} | {','.join(str(s) for s, *_ in rows)} | {bits} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="results file of the sweep")
    ap.add_argument("--baseline", default="static", help="the policy.kind of the full-precision runs")
    ap.add_argument("--reference", default="sbm", help="the policy.kind whose BitOPs the second savings column is against")
    ap.add_argument("--extra", action="append", default=[], metavar="FILE:LABEL",
                    help="another sweep's runs as rows '<method> (LABEL)', e.g. a variant of a method's knobs")
    a = ap.parse_args()
    extra = []
    for spec in a.extra:
        file, sep, label = spec.rpartition(":")
        if not sep or not file or not label:
            sys.exit(f"error: --extra {spec!r}: expected FILE:LABEL")
        extra.append((file, label))
    print(table(a.results, a.baseline, a.reference, extra))


if __name__ == "__main__":
    main()
