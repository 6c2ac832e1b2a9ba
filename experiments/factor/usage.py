#!/usr/bin/python3
"""Factor 2 of Shen, Lai & Zhang (Appl. Sci. 2024): usage frequency of an operand element.

matmul: C = A @ B with A (M x K) quantized by the engine (mac 'a=<fmt>,acc=fp32') and B exact fp32,
so every error comes from A's rounding. Each element a_ik is read by N outputs (GemmStats.usage_a),
and its one rounding error d_ik enters all of them: e_ij = sum_k d_ik b_kj. N varies at fixed K.
Stored per (format, B distribution, N):
  per_output_rel : sqrt(mean e_ij^2) / sqrt(mean C_ij^2) -- the error of one output; it should NOT
      depend on N, since each output still sums K terms with the same noise;
  agg_rel : the error of the row aggregate S_i = sum_j C_ij (what a consumer summing over the
      outputs sees, e.g. a bias-gradient-like or pooling sum), rms_i |sum_j e_ij|, in units of
      one output's rms size sqrt(mean C_ij^2). It grows with N -- like sqrt(N) if the outputs'
      errors were independent, faster when reuse makes them correlated;
  correlation_gain : rms_i |sum_j e_ij| / sqrt(mean_i sum_j e_ij^2), i.e. agg error over what
      independent errors of the same size would give: 1 for no correlation, up to sqrt(N) when
      all N copies of an element's error add coherently. This isolates the effect of reuse.
B is 'gauss' (zero mean: column sums of B cancel, little coherence) or 'relu' (nonnegative:
the N copies of d_ik add with the same sign).
conv: y = conv2d(x, w_q) with only the kernel w quantized (lpsim.quantize) and x exact; a kernel
element is reused batch x out_h x out_w times (GemmStats usage reported by lpsim). The batch varies;
the aggregate is the per-channel sum over batch and positions (a bias-gradient-like reduction).

  PYTHONPATH=build/python /usr/bin/python3 experiments/factor/usage.py --out usage.h5
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import factor_common as fc  # noqa: E402
import lpsim  # noqa: E402

FORMATS = ("fp8e4m3", "bf16", "fp16")
DISTS = ("gauss", "relu")


def error_measures(c, exact):
    """(per_output_rel, agg_rel, correlation_gain) of outputs c (rows x outputs) vs exact."""
    e = c.astype(np.float64) - exact
    scale = np.sqrt(np.mean(exact ** 2))
    per_output = np.sqrt(np.mean(e ** 2)) / scale
    agg = np.sqrt(np.mean(e.sum(axis=1) ** 2))
    indep = np.sqrt(np.mean((e ** 2).sum(axis=1)))
    return per_output, agg / scale, agg / indep if indep > 0 else np.nan


def run_matmul(fmt, dist, ns, m, k, seed):
    cols = {key: [] for key in ("n", "usage_a", "per_output_rel", "agg_rel", "correlation_gain")}
    rng = np.random.default_rng([seed, DISTS.index(dist)])
    a = rng.standard_normal((m, k)).astype(np.float32)  # the same A (and its rounding) for every N
    b_all = rng.standard_normal((k, max(ns))).astype(np.float32)
    if dist == "relu":
        b_all = np.maximum(b_all, 0)
    for n in ns:
        b = np.ascontiguousarray(b_all[:, :n])
        c, st = lpsim.matmul(a, b, mac=f"a={fmt},acc=fp32", counts=False)
        exact = a.astype(np.float64) @ b.astype(np.float64)
        po, agg, gain = error_measures(c, exact)
        cols["n"].append(n)
        cols["usage_a"].append(st.usage_a)
        cols["per_output_rel"].append(po)
        cols["agg_rel"].append(agg)
        cols["correlation_gain"].append(gain)
    return cols


def run_conv(fmt, dist, batches, cin, cout, hw, seed):
    cols = {key: [] for key in ("batch", "usage_w", "per_output_rel", "agg_rel", "correlation_gain")}
    rng = np.random.default_rng([seed, 100 + DISTS.index(dist)])
    w = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32)
    wq = lpsim.quantize(w, fmt)
    x_all = rng.standard_normal((max(batches), cin, hw, hw)).astype(np.float32)
    if dist == "relu":
        x_all = np.maximum(x_all, 0)
    for nb in batches:
        x = np.ascontiguousarray(x_all[:nb])
        y, st = lpsim.conv2d(x, wq, mac="fp32", padding=1, counts=False)
        ref, _ = lpsim.conv2d(x, w, mac="fp32", padding=1, counts=False)
        # rows = output channels (one kernel each), outputs = batch x positions that reuse it
        yy = y.transpose(1, 0, 2, 3).reshape(cout, -1)
        rr = ref.transpose(1, 0, 2, 3).reshape(cout, -1).astype(np.float64)
        po, agg, gain = error_measures(yy, rr)
        cols["batch"].append(nb)
        cols["usage_w"].append(st.usage_a)  # the kernel is the left operand of the im2col product
        cols["per_output_rel"].append(po)
        cols["agg_rel"].append(agg)
        cols["correlation_gain"].append(gain)
    return cols


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    fc.common_args(p, "factor_usage.h5")
    p.add_argument("--n", type=fc.positive_int_list, help="outputs per left-operand element (default 1,4,...,4096)")
    p.add_argument("--batch", type=fc.positive_int_list, help="conv batch sizes (default 1,2,4,8,16)")
    p.add_argument("--k", type=int, help="accumulation length of the matmul (default 256)")
    args = p.parse_args(argv)
    ns = args.n or ([1, 4, 16, 64, 256] if args.quick else [1, 4, 16, 64, 256, 1024, 4096])
    batches = args.batch or ([1, 4] if args.quick else [1, 2, 4, 8, 16])
    k = args.k if args.k is not None else (64 if args.quick else 256)
    if k < 1:
        p.error(f"--k must be positive, got {k}")
    m = 64 if args.quick else 256
    cin, cout, hw = (4, 8, 8) if args.quick else (16, 16, 16)

    f = fc.open_results(args.out, args.resume)
    gm = fc.experiment_group(f, "usage_matmul", "experiments/factor/usage.py",
                             {"n": np.array(ns), "m": m, "k": k}, args.seed)
    gc = fc.experiment_group(f, "usage_conv", "experiments/factor/usage.py",
                             {"batch": np.array(batches), "cin": cin, "cout": cout, "hw": hw, "kernel": 3,
                              "padding": 1}, args.seed)
    for fmt in FORMATS:
        for dist in DISTS:
            for g, run, label in ((gm, lambda: run_matmul(fmt, dist, ns, m, k, args.seed), "matmul"),
                                  (gc, lambda: run_conv(fmt, dist, batches, cin, cout, hw, args.seed), "conv")):
                key = f"{fmt}/{dist}"
                if fc.done(g, key):
                    continue
                t = time.time()
                cols = run()
                fc.write_config(g, key, cols, {"format": fmt, "dist": dist})
                if not args.quiet:
                    print(f"{label:6s} {key:14s} {time.time() - t:5.1f} s  per_output "
                          + " ".join(f"{v:.2e}" for v in cols["per_output_rel"])
                          + "  gain " + " ".join(f"{v:.1f}" for v in cols["correlation_gain"]), flush=True)
    f.close()


if __name__ == "__main__":
    main()
