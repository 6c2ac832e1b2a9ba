#!/usr/bin/python3
"""Issue 21's claims table from the sweeps of experiments/claims.sh: each claim of the seeds beside
lpsim's measurement at the closest setting it runs, with paired statistics and a verdict by a stated
rule (docs/results.md, "Claims at the seeds' settings").

  PYTHONPATH=build/python /usr/bin/python3 experiments/claims_table.py [results/claims]

Accuracy: final test accuracy; differences are paired by seed (same initial weights and shuffling) with
a 95 % t interval and a two-sided paired t-test p-value. BitOPs saved: 1 - BitOPs / BitOPs of the same
run at 32 bits (vs fp32), or 1 - BitOPs / BitOPs of SBM-8 of the same seed (vs SBM-8).
Verdicts: an accuracy claim of "no loss" agrees when the interval's lower end is above -MARGIN (non-
inferiority at MARGIN pp), disagrees when its upper end is below -MARGIN, else is undecided; a saving
claim agrees when the measured mean lies within the claimed range widened by SLACK pp; fewer than
MIN_SEEDS finished seeds: pending.
"""
import math
import os
import sys

import numpy as np

import lpsim

MARGIN = 0.3  # pp
SLACK = 5.0   # pp of BitOPs saved
MIN_SEEDS = 3


def t_quantile_975(df):
    table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
    return table[df - 1] if df <= len(table) else 1.96 + 2.4 / df  # within 0.5 % beyond df 10


def t_two_sided_p(t, df):
    """P(|T| >= |t|) for Student's t with df degrees of freedom (numerical integration of the density)."""
    if not math.isfinite(t):
        return 0.0
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    x = np.linspace(0.0, abs(t), 20001)
    density = c * (1 + x * x / df) ** (-(df + 1) / 2)
    return max(0.0, 1 - 2 * np.trapz(density, x))


def paired(a, b):
    """Mean of a - b over their common seeds, 95 % interval, p-value, n."""
    seeds = sorted(set(a) & set(b))
    d = np.array([a[s] - b[s] for s in seeds])
    n = len(d)
    if n == 0:
        return None
    m = float(d.mean())
    if n < 2:
        return m, (math.nan, math.nan), math.nan, n
    se = float(d.std(ddof=1)) / math.sqrt(n)
    h = t_quantile_975(n - 1) * se
    p = t_two_sided_p(m / se, n - 1) if se > 0 else (0.0 if m != 0 else 1.0)
    return m, (m - h, m + h), p, n


def load_runs(directory):
    """{file stem: [(point dict, seed, accuracy %, bitops, bitops_fp32, mean W bits)]} of finished runs."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".h5"):
            continue
        runs = lpsim.load(os.path.join(directory, name), status="finished")
        rows = []
        for r in runs.values():
            point = dict(line.split(" = ", 1) for line in r["attrs"].get("point", "").splitlines() if " = " in line)
            e = r["epochs"]
            bits = np.asarray(r["layers"]["bits_w"], dtype=float)
            low = bits[bits < 32]
            rows.append((point, int(point.get("seed", 0)), 100 * float(e["test_acc"][-1]), float(e["bitops"].sum()),
                         float(e["bitops_fp32"].sum()), float(low.mean()) if low.size else 32.0))
        out[name[:-3]] = rows
    return out


def select(runs, stem, **match):
    """{seed: run tuple} of a file's runs whose point has every key=value of match."""
    return {r[1]: r for r in runs.get(stem, []) if all(r[0].get(k) == str(v) for k, v in match.items())}


# The claims: (seed paper, claim, file stem, point filter, kind, claimed range)
#   kind "acc": accuracy no worse than fp32 (non-inferiority); "save32": BitOPs saved vs fp32 in the range;
#   "save8": BitOPs saved vs SBM-8 in the range.
CLAIMS = [
    ("SBM (Banner et al. 2018)", "8-bit W/A/E training loses no accuracy", "8bit", {"policy.kind": "sbm"}, "acc", None),
    ("DPC 000/001", "DPC (32 -> 8 bits) saves 39.5-44.4 % BitOPs vs fp32", "hp_dpc", {"policy.bmin_fwd": 8}, "save32", (39.5, 44.4)),
    ("DPC 000/001", "... at no loss (+0.02-0.04 pp)", "hp_dpc", {"policy.bmin_fwd": 8}, "acc", None),
    ("DPC 000/001", "DPC (32 -> 10 bits): same", "hp_dpc", {"policy.bmin_fwd": 10}, "save32", (39.5, 44.4)),
    ("DPC 000/001", "DPC (32 -> 12 bits): same", "hp_dpc", {"policy.bmin_fwd": 12}, "save32", (39.5, 44.4)),
    ("DPC 000/001", "SBM-22 saves 52.5 % vs fp32", "hp_sbm22", {}, "save32", (52.5, 52.5)),
    ("DPC 000/001", "DPC+CPT saves 55-60 % vs fp32", "hp_cpt", {"policy.kind": "dpc_cpt"}, "save32", (55.0, 60.0)),
    ("DPC 000/001", "... at no loss", "hp_cpt", {"policy.kind": "dpc_cpt"}, "acc", None),
    ("DPC (8-bit regime)", "DPC at Bmax 8: no loss vs fp32", "8bit", {"policy.kind": "dpc"}, "acc", None),
    ("CPT 003", "CPT 3-8 bits: no loss vs fp32", "8bit", {"policy.kind": "cpt"}, "acc", None),
    ("LDP 004", "LDP: no loss vs fp32", "8bit_more", {"policy.kind": "ldp"}, "acc", None),
    ("PFQ (FracTrain)", "PFQ: no loss vs fp32", "8bit_more", {"policy.kind": "pfq"}, "acc", None),
    ("DPC+CPT (8-bit)", "DPC+CPT at Bmax 8: no loss vs fp32", "8bit_more", {"policy.kind": "dpc_cpt"}, "acc", None),
]


def rows(directory):
    runs = load_runs(directory)
    fp32 = {s: r[2] for s, r in select(runs, "fp32").items()}
    sbm8 = {s: r[3] for s, r in select(runs, "8bit", **{"policy.kind": "sbm"}).items()}
    out = []
    for paper, claim, stem, match, kind, claimed in CLAIMS:
        sel = select(runs, stem, **match)
        acc = {s: r[2] for s, r in sel.items()}
        saved32 = {s: 100 * (1 - r[3] / r[4]) for s, r in sel.items()}
        n = len(sel)
        measured, verdict = "no finished run", "pending"
        if kind == "acc":
            st = paired(acc, fp32)
            if st:
                m, (lo, hi), p, k = st
                measured = f"Δ {m:+.2f} pp [{lo:+.2f}, {hi:+.2f}], p = {p:.2f} (n = {k})"
                if k >= MIN_SEEDS:
                    verdict = "agree" if lo > -MARGIN else "disagree" if hi < -MARGIN else "undecided (interval too wide)"
        elif n:
            vals = np.array(list(saved32.values() if kind == "save32" else
                                 [100 * (1 - sel[s][3] / sbm8[s]) for s in sel if s in sbm8]))
            if vals.size:
                measured = f"{vals.mean():.1f} % saved (n = {vals.size}, mean W bits {np.mean([r[5] for r in sel.values()]):.2f})"
                if vals.size >= MIN_SEEDS:
                    ok = claimed[0] - SLACK <= vals.mean() <= claimed[1] + SLACK
                    verdict = "agree" if ok else "disagree"
        out.append((paper, claim, measured, verdict))
    return out


def main(argv):
    directory = next((a for a in argv if not a.startswith("--")), "results/claims")
    if not os.path.isdir(directory):
        sys.exit(f"error: {directory} is not a directory (experiments/claims.sh snapshot writes results/claims)")
    print("| seed | claim | lpsim (ResNet-20, Fashion-MNIST, 15 epochs) | verdict |")
    print("|---|---|---|---|")
    for paper, claim, measured, verdict in rows(directory):
        print(f"| {paper} | {claim} | {measured} | {verdict} |")


if __name__ == "__main__":
    main(sys.argv[1:])
