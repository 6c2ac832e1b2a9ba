#!/usr/bin/python3
"""Factor 1 of Shen, Lai & Zhang (Appl. Sci. 2024): accumulation length K.

C = A @ B with A (M x K), B (K x N) for K = 16 ... 16384 at fixed operand statistics, under
several operand formats and accumulators. Per (configuration, operand distribution, K) it stores
  acc_mean_rel / acc_max_rel / acc_sqnr_db : lpsim's error of the accumulation alone, against an
      fp64 product of the *rounded* operands (GemmStats, error=True);
  total_rel_fro : ||C - C_exact||_F / ||C_exact||_F against fp64 of the *unrounded* operands,
      i.e. operand quantization noise and accumulation error together (the paper's "noise");
  swamped_frac, overflows, saturations : event counts over the first rows (counts=True).
Operands: 'gauss' (zero mean: sums grow like sqrt(K)) and 'relu' (max(0, x) for both,
nonnegative: sums grow like K). int8 configurations use integer operands (x * 16, rounded,
clipped to +-127), so fixed-point accumulators of 16/20/24 bits overflow at some K.

  PYTHONPATH=build/python /usr/bin/python3 experiments/factor/accumulation.py --out acc.h5
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import factor_common as fc  # noqa: E402
import lpsim  # noqa: E402

# (name, MAC spelling, integer operands?)
CONFIGS = [
    ("fp32.fp32", "fp32", False),
    ("fp8.fp32", "in=fp8e4m3,acc=fp32", False),
    ("fp8.h800", "h800.fp8", False),
    ("fp16.fp32", "fp16.fp32", False),
    ("fp16.fp16seq", "in=fp16,acc=fp16,order=seq", False),
    ("fp16.volta", "volta.fp16", False),
    ("bf16.fp32", "bf16.fp32", False),
    ("bf16.bf16seq", "in=bf16,acc=bf16,order=seq", False),
    ("int8.int32", "in=int8,acc=int32,out=fp32", True),
    ("int8.int24wrap", "in=int8,acc=int24:wrap,out=fp32", True),
    ("int8.int24sat", "in=int8,acc=int24:sat,out=fp32", True),
    ("int8.int20wrap", "in=int8,acc=int20:wrap,out=fp32", True),
    ("int8.int20sat", "in=int8,acc=int20:sat,out=fp32", True),
    ("int8.int16wrap", "in=int8,acc=int16:wrap,out=fp32", True),
    ("int8.int16sat", "in=int8,acc=int16:sat,out=fp32", True),
]
DISTS = ("gauss", "relu")
INT_SCALE = 16.0  # int8 operands: x * 16 rounded, so |x| <= ~8 sigma fits in +-127


def operands(rng, dist, m, n, k, integer):
    a = rng.standard_normal((m, k))
    b = rng.standard_normal((k, n))
    if dist == "relu":
        a, b = np.maximum(a, 0), np.maximum(b, 0)
    if integer:
        a = np.clip(np.rint(a * INT_SCALE), -127, 127)
        b = np.clip(np.rint(b * INT_SCALE), -127, 127)
    return a.astype(np.float32), b.astype(np.float32)


def run_config(mac, integer, dist, ks, m, n, count_rows, seed):
    cols = {k: [] for k in ("k", "acc_mean_rel", "acc_max_rel", "acc_sqnr_db", "total_rel_fro",
                            "additions", "swamped", "swamped_frac", "overflows", "saturations")}
    for k in ks:
        # The same operands for every MAC at a given (dist, K): differences are the MAC's alone.
        rng = np.random.default_rng([seed, k, DISTS.index(dist), int(integer)])
        a, b = operands(rng, dist, m, n, k, integer)
        c, st = lpsim.matmul(a, b, mac=mac, error=True, counts=False)
        exact = a.astype(np.float64) @ b.astype(np.float64)
        with np.errstate(invalid="ignore"):
            total = np.linalg.norm(c.astype(np.float64) - exact) / np.linalg.norm(exact)
        _, sc = lpsim.matmul(a[:count_rows], b, mac=mac, error=False, counts=True)
        ev = sc.counts
        cols["k"].append(k)
        cols["acc_mean_rel"].append(st.mean_rel_error)
        cols["acc_max_rel"].append(st.max_rel_error)
        cols["acc_sqnr_db"].append(st.sqnr_db)
        cols["total_rel_fro"].append(total)
        for key in ("additions", "swamped", "overflows", "saturations"):
            cols[key].append(ev[key])
        cols["swamped_frac"].append(ev["swamped"] / max(ev["additions"], 1))
    return cols


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    fc.common_args(p, "factor_accumulation.h5")
    p.add_argument("--k", type=fc.positive_int_list, help="accumulation lengths (default 16,64,...,16384)")
    p.add_argument("--mn", type=int, help="M = N (default 64; 16 with --quick)")
    p.add_argument("--configs", help="comma-separated subset of: " + ",".join(c[0] for c in CONFIGS))
    args = p.parse_args(argv)
    ks = args.k or ([16, 64, 256, 1024] if args.quick else [16, 64, 256, 1024, 4096, 16384])
    mn = args.mn if args.mn is not None else (16 if args.quick else 64)
    if mn < 1:
        p.error(f"--mn must be positive, got {mn}")
    configs = CONFIGS
    if args.configs:
        names = [s for s in args.configs.split(",") if s]
        known = {c[0] for c in CONFIGS}
        bad = [s for s in names if s not in known]
        if bad:
            p.error(f"--configs: unknown {', '.join(bad)} (known: {', '.join(sorted(known))})")
        configs = [c for c in CONFIGS if c[0] in names]
    count_rows = min(mn, 8)  # counts are a fraction: a few rows estimate it at a fraction of the cost

    f = fc.open_results(args.out, args.resume)
    params = {"k": np.array(ks), "m": mn, "n": mn, "count_rows": count_rows, "int_scale": INT_SCALE}
    g = fc.experiment_group(f, "accumulation", "experiments/factor/accumulation.py", params, args.seed)
    for name, mac, integer in configs:
        for dist in DISTS:
            key = f"{name}/{dist}"
            if fc.done(g, key):
                continue
            t = time.time()
            cols = run_config(mac, integer, dist, ks, mn, mn, count_rows, args.seed)
            fc.write_config(g, key, cols, {"mac": str(lpsim.MacConfig(mac)), "dist": dist,
                                           "integer_operands": integer})
            if not args.quiet:
                print(f"{key:24s} {time.time() - t:6.1f} s  total_rel_fro "
                      + " ".join(f"{v:.2e}" for v in cols["total_rel_fro"]), flush=True)
    f.close()


if __name__ == "__main__":
    main()
