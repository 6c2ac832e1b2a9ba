#!/usr/bin/python3
"""Training-level factor study (Shen, Lai & Zhang, Appl. Sci. 2024; docs/factor-study.md).

Three commands, each a set of ordinary lpsim training runs written into one results file (one run
group per configuration, docs/results-format.md), skipped when already finished, so an interrupted
command resumes where it stopped:

  sensitivity  ResNet-20: a baseline, then each interior product layer alone at low precision
               (W/A/E as --low-*); per layer the accuracy/loss change next to its K, usage frequency
               and depth as the engine reports them.
  depth        the six stage-1 convolutions of ResNet-20 (one shape, 16->16 3x3 at 28x28, depths 1-6),
               each quantized alone, over several seeds: spread of the loss curves and final accuracy.
               Seed 0 runs are the sensitivity command's (same file, same settings).
  accwidth     ResNet-8 with 4-bit weights (int4/absmax/channel) and activations (uint4/absmax/tensor)
               whose forward products run on integer codes into fixed-point accumulators of 8-12 bits,
               wrapping or saturating, against an fp32 MAC (A2Q's study, Colbert et al. ICCV 2023).
  isolate      ResNet-20, the paper's factors one at a time with the others held (W only at --low-w):
               (a) accumulation length: the two parallel branches of a downsampling block (3x3 conv1 and
               1x1 shortcut: same input, output shape, position and weight usage; K and params 9x);
               (b) usage frequency: stage1.block1.conv1 (K and params fixed) under batch 64/128/256,
               which scales the uses of each weight per step; every batch has its own baseline.
  report       tables (markdown) with paired 95 % t intervals and p-values, rank correlations with
               permutation p-values, regression slopes, and plots from the files of the commands.

  PYTHONPATH=build/python /usr/bin/python3 experiments/factor/training.py sensitivity --out factor_training.h5
"""
import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/
import lpsim  # noqa: E402
from claims_table import paired  # noqa: E402  (the paired t interval of the claims table, shared)

# The settings of the documented runs; --quick shrinks them for the tests.
BASE = {
    "dataset": "fashion-mnist", "batch": 128, "augment": False,
    "optimizer": {"kind": "sgd", "momentum": 0.9, "weight_decay": 5e-4},
    "schedule": {"kind": "cosine", "lr": 0.05},
    "precision": {"keep_first_last": True},
}
FULL = {"model": "resnet20", "train_subset": 4000, "test_subset": 2000, "epochs": 2}
ACC_FULL = {"model": "resnet8", "train_subset": 8000, "test_subset": 2000, "epochs": 2}
QUICK = {"model": "resnet8", "train_subset": 256, "test_subset": 256, "epochs": 1}

W4, A4 = "int4/absmax/channel", "uint4/absmax/tensor"  # codes in [-7, 7] and [0, 15]
ACC_WIDTHS = (12, 10, 8)  # a run bit-identical to int32 at 12 bits never overflowed: wider ones are the same

# isolate: (a) K at fixed input, output shape, depth position and weight usage; (b) usage at fixed K and params
ISO_K_PAIRS = (("stage2.block1.conv1", "stage2.block1.shortcut.conv"),
               ("stage3.block1.conv1", "stage3.block1.shortcut.conv"))
ISO_USAGE_LAYER = "stage1.block1.conv1"
ISO_BATCHES = (64, 128, 256)


def config(size, seed, layers=(), precision=None, batch=None):
    c = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    c["model"] = {"arch": size["model"]}
    c.update(train_subset=size["train_subset"], test_subset=size["test_subset"], epochs=size["epochs"], seed=seed)
    if batch is not None:
        c["batch"] = batch
    c["precision"].update(precision or {})
    if layers:
        c["layers"] = list(layers)
    return c


def run(out, name, cfg, quiet):
    """One training run into group `name` of `out`; a finished one is skipped (resume=True)."""
    t = time.time()
    h = lpsim.train(cfg, output=out, group=name, resume=True, progress=False)
    if len(h["test_acc"]) == 0:  # finished in an earlier call: skipped
        if not quiet:
            print(f"{name:60s} finished before: skipped", flush=True)
        return h
    if not quiet:
        print(f"{name:60s} test {100 * h['test_acc'][-1]:6.2f}%  loss {h['train_loss'][-1]:.4f}  "
              f"{time.time() - t:6.1f} s", flush=True)
    return h


def low_layer(match, args):
    return {"match": match, "w": args.low_w, "a": args.low_a, "e": args.low_e, "e_round": "sr"}


def interior_layers(size):
    """The product layers of the model but the first and last (kept fp32 everywhere), in depth order."""
    h = lpsim.train(config(dict(size, train_subset=128, test_subset=128, epochs=1), 0), progress=False)
    names = [layer["name"] for layer in h["layers"][0]]
    return names[1:-1]


def cmd_sensitivity(args, size):
    names = interior_layers(size)
    for s in args.sens_seeds:
        run(args.out, f"baseline,seed={s}", config(size, s), args.quiet)
        for n in names:
            run(args.out, f"layer={n},seed={s}", config(size, s, [low_layer(n, args)]), args.quiet)


def cmd_depth(args, size):
    names = [n for n in interior_layers(size) if n.startswith("stage1.") and "shortcut" not in n]
    for s in args.seeds:
        run(args.out, f"baseline,seed={s}", config(size, s), args.quiet)
        for n in names:
            run(args.out, f"layer={n},seed={s}", config(size, s, [low_layer(n, args)]), args.quiet)


def acc_macs(widths):
    yield "fp32", "fp32"  # the scaled values into an fp32 MAC
    yield "int32", "a=int4,b=uint4,acc=int32,out=fp32"  # the codes, exact sums
    for w in widths:
        for mode in ("wrap", "sat"):
            yield f"int{w}:{mode}", f"a=int4,b=uint4,acc=int{w}:{mode},out=fp32"


def cmd_accwidth(args, size):
    for name, mac in acc_macs(args.widths):
        cfg = config(size, 0, precision={"w": W4, "a": A4, "mac_fwd": mac, "count_events": args.count_events})
        run(args.out, f"acc={name}", cfg, args.quiet)


def iso_runs(args):
    """(group, quantized layer or None, batch, seed) of the isolating runs, one seed after another; the
    K pairs run at the study's batch, which is always among the batches."""
    batches = sorted(set(args.batches) | {BASE["batch"]})
    for s in args.iso_seeds:
        for b in batches:
            yield f"baseline,batch={b},seed={s}", None, b, s
            pairs = [n for pair in ISO_K_PAIRS for n in pair] if b == BASE["batch"] else []
            for n in pairs + [ISO_USAGE_LAYER]:
                yield f"layer={n},batch={b},seed={s}", n, b, s


def cmd_isolate(args, size):
    for name, layer, batch, seed in iso_runs(args):
        layers = [{"match": layer, "w": args.low_w}] if layer else []  # W only: A and E scales span the batch
        run(args.out, name, config(size, seed, layers, batch=batch), args.quiet)


# ---- statistics -------------------------------------------------------------------------------

def betainc(a, b, x):
    """Regularized incomplete beta I_x(a, b): Lentz's continued fraction (Numerical Recipes 6.4), on the
    side of x where it converges fast."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - betainc(b, a, 1 - x)
    tiny = 1e-300
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * f


def t_cdf(t, df):
    """P(T <= t) for Student's t with df degrees of freedom."""
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_p_two_sided(t, df):
    """P(|T| >= |t|)."""
    return 1.0 if t == 0 else betainc(df / 2, 0.5, df / (df + t * t))


def t_quantile(p, df):
    """The t with P(T <= t) = p (bisection on t_cdf, to 1e-12)."""
    if not 0 < p < 1:
        raise ValueError(f"t_quantile: p = {p} is not in (0, 1)")
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2
    while t_cdf(hi, df) < p:
        hi *= 2
    while hi - lo > 1e-12 * max(1.0, abs(hi)):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return 0.5 * (lo + hi)


def ranks(v):
    """Ranks 0..n-1, ties sharing their mean rank."""
    v = np.asarray(v, float)
    r = np.empty(len(v))
    r[np.argsort(v, kind="stable")] = np.arange(len(v))
    for u in np.unique(v):
        r[v == u] = r[v == u].mean()
    return r


def spearman(x, y):
    """Spearman's rank correlation (average ranks for ties)."""
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def spearman_test(x, y, n_perm=20000, seed=0):
    """Spearman's rho and its two-sided permutation p-value: P(|rho| >= |observed|) over the orders of y
    (all of them up to 8 values, else n_perm seeded random ones, p = (hits + 1) / (n_perm + 1))."""
    rho = spearman(x, y)
    if math.isnan(rho):
        return rho, float("nan")
    rx, ry = ranks(x), ranks(y)
    rx = (rx - rx.mean()) / np.linalg.norm(rx - rx.mean())
    ry = (ry - ry.mean()) / np.linalg.norm(ry - ry.mean())
    if len(ry) <= 8:
        import itertools
        perms = np.array(list(itertools.permutations(ry)))
        return rho, float(np.mean(np.abs(perms @ rx) >= abs(rho) - 1e-12))
    rng = np.random.default_rng(seed)
    perms = np.array([rng.permutation(ry) for _ in range(n_perm)])
    return rho, float((np.sum(np.abs(perms @ rx) >= abs(rho) - 1e-12) + 1) / (n_perm + 1))


def slope_test(x, y, seed):
    """Least-squares slope of y on x over all (x, y) pairs with a free intercept per seed (pairs centred
    within their seed, so a seed's shared baseline drops out): slope, 95 % CI, p and df = n - seeds - 1.
    Also the 95 % CI of the mean of the per-seed slopes (seeds independent; df = seeds - 1), which does
    not treat the pairs of one layer as independent."""
    x, y, seed = np.asarray(x, float), np.asarray(y, float), np.asarray(seed)
    xc, yc = x.copy(), y.copy()
    per_seed = {}
    for s in np.unique(seed):
        m = seed == s
        xc[m] -= x[m].mean()
        yc[m] -= y[m].mean()
        if (xc[m] ** 2).sum() > 0:
            per_seed[int(s)] = float((xc[m] * yc[m]).sum() / (xc[m] ** 2).sum())
    sxx = float((xc ** 2).sum())
    df = len(x) - len(np.unique(seed)) - 1
    if sxx == 0 or df < 1:
        return None
    b = float((xc * yc).sum() / sxx)
    se = math.sqrt(float(((yc - b * xc) ** 2).sum()) / df / sxx)
    h = t_quantile(0.975, df) * se
    p = t_p_two_sided(b / se, df) if se > 0 else (0.0 if b else 1.0)
    st = paired(per_seed, {s: 0.0 for s in per_seed}) if per_seed else None
    return {"slope": b, "ci": (b - h, b + h), "p": p, "df": df,
            "seed_ci": st[1] if st else (math.nan, math.nan), "seed_p": st[2] if st else math.nan,
            "seeds": len(per_seed)}


def pooled_sd(groups):
    """Pooled standard deviation of the values of several groups about their own means (df = n - groups)."""
    ss = sum(float(((np.asarray(g, float) - np.mean(g)) ** 2).sum()) for g in groups)
    df = sum(len(g) for g in groups) - len(groups)
    return (math.sqrt(ss / df) if df > 0 else float("nan")), df


def fmt_ci(ci, digits=2):
    lo, hi = ci
    return "n/a" if math.isnan(lo) else f"[{lo:+.{digits}f}, {hi:+.{digits}f}]"


def fmt_p(p):
    return "n/a" if p is None or math.isnan(p) else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


# ---- report -------------------------------------------------------------------------------------

def final_acc(r):
    return 100 * float(r["epochs"]["test_acc"][-1])


def seeds_of(runs):
    return sorted({int(k.rsplit("seed=", 1)[1]) for k in runs if "seed=" in k})


def layer_info(r, name):
    """K, weight/input usage (forward product), params and depth of a layer, from a run's layer table."""
    L = r["layers"]
    i = [str(n) for n in L["name"]].index(name)
    return {"depth": int(L["depth"][i]), "params": int(L["params"][i]), "k": int(L["k"][0, i, 0]),
            "usage_w": float(L["usage_a"][0, i, 0]), "usage_x": float(L["usage_b"][0, i, 0])}


def drop_stats(base, quant):
    """Paired accuracy drop base - quantized over the seeds both have ({seed: run}): per-seed drops,
    mean, 95 % t interval, two-sided p."""
    st = paired({s: final_acc(r) for s, r in base.items()}, {s: final_acc(r) for s, r in quant.items()})
    drops = {s: final_acc(base[s]) - final_acc(quant[s]) for s in sorted(set(base) & set(quant))}
    if st is None:
        return {"drops": {}, "mean": math.nan, "ci": (math.nan, math.nan), "p": math.nan, "n": 0}
    return {"drops": drops, "mean": st[0], "ci": st[1], "p": st[2], "n": st[3]}


def sensitivity_table(runs):
    """Per layer: depth, K, usage of W and X elements (fwd), params, and the accuracy drop / loss rise
    against the baseline of the same seed over the seeds every layer has (paired differences: mean,
    95 % t interval, p)."""
    base = runs.get("baseline,seed=0")
    if base is None:
        return []
    names = [str(n) for n in base["layers"]["name"]]
    seeds = [s for s in seeds_of(runs)
             if f"baseline,seed={s}" in runs and all(f"layer={n},seed={s}" in runs for n in names[1:-1])]
    bases = {s: runs[f"baseline,seed={s}"] for s in seeds}
    rows = []
    for name in names:
        quant = {s: runs[f"layer={name},seed={s}"] for s in seeds if f"layer={name},seed={s}" in runs}
        if not quant:  # the first and last layers: never quantized alone
            continue
        st = drop_stats(bases, quant)
        rise = [quant[s]["epochs"]["train_loss"][-1] - bases[s]["epochs"]["train_loss"][-1] for s in quant]
        rows.append(dict(layer_info(base, name), layer=name, acc_drop=st["mean"], ci=st["ci"], p=st["p"],
                         drops=st["drops"], loss_rise=float(np.mean(rise)), seeds=len(quant)))
    return rows


SLOPE_X = {"k": ("log2 K", np.log2), "usage_w": ("log2 usage W", np.log2), "usage_x": ("log2 usage X", np.log2),
           "depth": ("depth", lambda v: np.asarray(v, float)), "params": ("log2 params", np.log2)}


def factor_tests(rows, factors=("k", "usage_w", "usage_x", "depth", "params")):
    """Per factor: Spearman of the factor with the layers' mean drop (and loss rise) with permutation
    p-values (layers permuted, each layer's seeds kept together), and the slope of the per-seed drop on the
    factor over all (layer, seed) pairs (slope_test)."""
    out = []
    for f in factors:
        x = [r[f] for r in rows]
        rho, p = spearman_test(x, [r["acc_drop"] for r in rows])
        rho_l, p_l = spearman_test(x, [r["loss_rise"] for r in rows])
        label, tr = SLOPE_X[f]
        px, py, ps = zip(*[(r[f], d, s) for r in rows for s, d in r["drops"].items()])
        out.append({"factor": f, "x": label, "rho": rho, "p": p, "rho_loss": rho_l, "p_loss": p_l,
                    "fit": slope_test(tr(np.asarray(px, float)), py, ps)})
    return out


def paired_noise(rows):
    """The noise of a paired difference: the pooled std of the per-seed drops about each layer's mean
    (df = layers x (seeds - 1)) and the half-width of the 95 % interval it gives a layer's mean over its
    seeds (t with the pooled df: the layers assumed equally noisy)."""
    sd, df = pooled_sd([list(r["drops"].values()) for r in rows])
    n = rows[0]["seeds"] if rows else 0
    half = t_quantile(0.975, df) * sd / math.sqrt(n) if n > 1 and df > 0 else math.nan
    return sd, df, half


def depth_table(runs, seeds):
    """Per stage-1 layer (depth order): final accuracy mean/std over seeds, the paired drop against the
    baseline of the same seed (mean, 95 % t interval, p), and the spread of its loss curves: the mean
    over epochs of the std over seeds of the train loss."""
    names = sorted({k.split(",")[0][6:] for k in runs if k.startswith("layer=stage1.")},
                   key=lambda n: runs[f"layer={n},seed={seeds[0]}"]["layers"]["name"].tolist().index(n)
                   if f"layer={n},seed={seeds[0]}" in runs else 0)
    bases = {s: runs[f"baseline,seed={s}"] for s in seeds if f"baseline,seed={s}" in runs}
    rows = []
    for label, key in [("baseline", "baseline")] + [(n, f"layer={n}") for n in names]:
        rs = {s: runs[f"{key},seed={s}"] for s in seeds if f"{key},seed={s}" in runs}
        if len(rs) < 2:
            continue
        acc = np.array([final_acc(r) for r in rs.values()])
        loss = np.array([r["epochs"]["train_loss"] for r in rs.values()])
        first = next(iter(rs.values()))
        depth = -1 if label == "baseline" else layer_info(first, label)["depth"]
        st = drop_stats(bases, rs) if label != "baseline" else None
        rows.append({"layer": label, "depth": depth, "seeds": len(rs), "acc_mean": acc.mean(), "acc_std": acc.std(ddof=1),
                     "loss_spread": float(loss.std(axis=0, ddof=1).mean()), "final_loss": float(loss[:, -1].mean()),
                     **({"drop": st["mean"], "ci": st["ci"], "p": st["p"], "drops": st["drops"]} if st else {})})
    return rows


def parse_group(key):
    """'layer=x,batch=64,seed=0' -> {'layer': 'x', 'batch': '64', 'seed': '0'}; a bare word maps to ''."""
    return dict(part.split("=", 1) if "=" in part else (part, "") for part in key.split(","))


def iso_table(runs):
    """The isolating contrasts of an isolate file.
    k: per pair of ISO_K_PAIRS (at the study's batch), each layer's paired drop and the contrast
       drop(larger K) - drop(smaller K) per seed (the paper predicts < 0), and that contrast averaged over
       the pairs within each seed;
    usage: per batch, the usage layer's paired drop against the baseline of its batch and seed, the
       baseline's accuracy, the contrast drop(largest batch) - drop(smallest batch) (the paper predicts
       > 0) and the slope of the drop on log2(usage W) (slope_test)."""
    by = {}
    for key, r in runs.items():
        g = parse_group(key)
        if "seed" in g and "batch" in g:
            by.setdefault((g.get("layer"), int(g["batch"])), {})[int(g["seed"])] = r
    out = {"k": [], "usage": [], "k_pooled": None, "usage_contrast": None, "usage_fit": None}
    b0 = BASE["batch"]
    base0 = by.get((None, b0), {})
    contrasts = []
    for pair in ISO_K_PAIRS:
        q = [by.get((n, b0), {}) for n in pair]
        if not base0 or not all(q):
            continue
        layers = [dict(layer_info(next(iter(qi.values())), n), layer=n, **drop_stats(base0, qi))
                  for n, qi in zip(pair, q)]
        big, small = sorted(range(2), key=lambda i: -layers[i]["k"])
        c = paired({s: final_acc(r) for s, r in q[small].items()}, {s: final_acc(r) for s, r in q[big].items()})
        contrasts.append({s: final_acc(q[small][s]) - final_acc(q[big][s]) for s in set(q[0]) & set(q[1]) & set(base0)})
        out["k"].append({"layers": layers, "contrast": c, "big": layers[big]["layer"], "small": layers[small]["layer"]})
    if contrasts:
        common = sorted(set.intersection(*[set(c) for c in contrasts]))
        mean = {s: float(np.mean([c[s] for c in contrasts])) for s in common}
        out["k_pooled"] = paired(mean, {s: 0.0 for s in common})
    batches = sorted(b for (n, b) in by if n == ISO_USAGE_LAYER and (None, b) in by)
    for b in batches:
        q, base = by[(ISO_USAGE_LAYER, b)], by[(None, b)]
        out["usage"].append(dict(layer_info(next(iter(q.values())), ISO_USAGE_LAYER), batch=b,
                                 base_acc=float(np.mean([final_acc(r) for r in base.values()])), **drop_stats(base, q)))
    u = out["usage"]
    if len(u) >= 2:
        lo, hi = u[0], u[-1]
        out["usage_contrast"] = paired(hi["drops"], lo["drops"])
        px, py, ps = zip(*[(r["usage_w"], d, s) for r in u for s, d in r["drops"].items()])
        out["usage_fit"] = slope_test(np.log2(px), py, ps)
    return out


def acc_table(runs):
    rows = []
    for key, r in runs.items():
        if not key.startswith("acc="):
            continue
        L = r["layers"]
        adds, ovf, sat = (L[c][:, :, 0].sum(axis=0) for c in ("additions", "overflows", "saturations"))
        rows.append({"acc": key[4:], "test_acc": 100 * r["epochs"]["test_acc"][-1],
                     "train_loss": r["epochs"]["train_loss"][-1],
                     "curve": (tuple(r["epochs"]["train_loss"]), tuple(r["epochs"]["test_acc"])),
                     "events": float((ovf + sat).sum() / adds.sum()) if adds.sum() else float("nan")})
    order = {name: i for i, (name, _) in enumerate(acc_macs(range(32, 0, -1)))}
    return sorted(rows, key=lambda r: order.get(r["acc"], 99))


def worst_case_bits(k, wmax=7, amax=15):
    """Accumulator bits (signed) that no sum of K products of |w| <= wmax, 0 <= a <= amax can overflow."""
    return math.ceil(math.log2(k * wmax * amax + 1)) + 1


def cmd_report(args, size):
    text, pngs = report(args.sens, args.acc, args.plots, iso=args.iso)
    print(text)
    for p in pngs:
        print(p)


def report(sens, acc, plots=None, iso=None):
    """Markdown tables, paired intervals, rank correlations and slopes of the files that exist (depth:
    over the seeds they hold); PNG plots into `plots` if given. Returns (text, [png paths])."""
    out, pngs = [], []
    if sens and os.path.exists(sens):
        runs = lpsim.load(sens, status="finished")
        rows = sensitivity_table(runs)
        out += report_sensitivity(runs, rows)
        drows = depth_table(runs, seeds_of(runs))
        out += report_depth(drows, seeds_of(runs))
        if plots and rows:
            pngs += plot_sensitivity(rows, drows, plots)
    if acc and os.path.exists(acc):
        acc_runs = lpsim.load(acc, status="finished")
        rows = acc_table(acc_runs)
        out += report_accwidth(acc_runs, rows)
        if plots and rows:
            pngs += plot_accwidth(rows, plots)
    if iso and os.path.exists(iso):
        iso_file_runs = lpsim.load(iso, status="finished")
        t = iso_table(iso_file_runs)
        out += report_isolate(t)
        if sens and os.path.exists(sens):
            same, seeds = same_baselines(lpsim.load(sens, status="finished"), iso_file_runs)
            if seeds:
                out.append(f"\nThe isolate file's baseline at batch {BASE['batch']} repeats the sensitivity file's "
                           f"bit for bit (every epoch's loss and accuracy) for {len(same)} of {len(seeds)} seeds.")
        if plots and (t["k"] or t["usage"]):
            pngs += plot_isolate(t, plots)
    return ("\n".join(out) if out else "nothing to report (give --sens / --acc / --iso files that exist)"), pngs


def report_sensitivity(runs, rows):
    if not rows:
        return []
    n = rows[0]["seeds"]
    out = [f"### Per-layer sensitivity (paired with the baseline, mean over {n} seed(s))\n"]
    base_acc = [final_acc(r) for k, r in runs.items() if k.startswith("baseline,")]
    if len(base_acc) > 1:
        out.append(f"Noise floor: the baseline's test accuracy over {len(base_acc)} seeds is "
                   f"{np.mean(base_acc):.2f} ± {np.std(base_acc, ddof=1):.2f} % (std).")
    sd, df, half = paired_noise(rows)
    if df > 0:
        out.append(f"Noise of a paired difference (layer run - baseline of its seed): pooled std of the per-seed "
                   f"drops about each layer's mean {sd:.2f} pp (df {df}); with {n} seeds and this pooled std a layer's "
                   f"95 % interval is ± {half:.2f} pp (t, df {df}): smaller mean drops cannot be told from zero. "
                   f"The table's intervals use each layer's own std (df {n - 1}), wider still.")
        sig = sum(r["p"] < 0.05 for r in rows)
        out.append(f"Layers with p < 0.05: {sig} of {len(rows)} ({0.05 * len(rows):.1f} expected by chance "
                   f"if no layer mattered).")
    out.append("\n| layer | depth | K | usage W | usage X | params | acc drop (pp) | 95 % CI | p | loss rise |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        out.append(f"| {r['layer']} | {r['depth']} | {r['k']} | {r['usage_w']:.0f} | {r['usage_x']:.1f} | "
                   f"{r['params']} | {r['acc_drop']:+.2f} | {fmt_ci(r['ci'])} | {fmt_p(r['p'])} | "
                   f"{r['loss_rise']:+.4f} |")
    out.append("\nSpearman rank correlation with the accuracy drop / the loss rise (permutation p: the layers' "
               "factor values permuted, 20000 seeded orders; each layer keeps its seeds), and the slope of the "
               "per-seed drop on the factor over all (layer, seed) pairs, intercept per seed: 95 % CI treating "
               "the pairs as independent (df) and over the per-seed slopes (df seeds - 1):\n")
    out.append("| factor | ρ (acc drop) | perm. p | slope (pp per unit of x) | x | 95 % CI, pairs (df) | p | "
               "95 % CI, over seeds | ρ (loss rise) | perm. p |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for t in factor_tests(rows):
        f = t["fit"]
        fit = (f"{f['slope']:+.3f} | {t['x']} | {fmt_ci(f['ci'], 3)} ({f['df']}) | {fmt_p(f['p'])} | "
               f"{fmt_ci(f['seed_ci'], 3)}") if f else f"n/a | {t['x']} | n/a | n/a | n/a"
        out.append(f"| {t['factor']} | {t['rho']:+.2f} | {fmt_p(t['p'])} | {fit} | "
                   f"{t['rho_loss']:+.2f} | {fmt_p(t['p_loss'])} |")
    return out


def report_depth(drows, seeds):
    if not drows:
        return []
    out = [f"\n### Depth (seeds {','.join(map(str, seeds))})\n",
           "| layer | depth | test acc (mean ± std) | paired drop (pp) | 95 % CI | p | final train loss | "
           "loss-curve spread |",
           "|---|---|---|---|---|---|---|---|"]
    for r in drows:
        drop = (f"{r['drop']:+.2f} | {fmt_ci(r['ci'])} | {fmt_p(r['p'])}") if "drop" in r else "- | - | -"
        out.append(f"| {r['layer']} | {r['depth'] if r['depth'] >= 0 else '-'} | "
                   f"{r['acc_mean']:.2f} ± {r['acc_std']:.2f} | {drop} | {r['final_loss']:.4f} | {r['loss_spread']:.4f} |")
    d = [r for r in drows if r["depth"] >= 0]
    if len(d) > 2:  # two layers: rho is +-1 and its permutation p 1 whatever the data
        depth = [r["depth"] for r in d]
        rho, p = spearman_test(depth, [r["drop"] for r in d])
        rho_s, p_s = spearman_test(depth, [r["loss_spread"] for r in d])
        out.append(f"\nSpearman(depth, mean drop) = {rho:+.2f} (exact permutation p = {fmt_p(p)}), "
                   f"Spearman(depth, loss spread) = {rho_s:+.2f} (p = {fmt_p(p_s)})")
    if len(d) > 1:  # the slope needs two depths (and df = pairs - seeds - 1 >= 1: slope_test checks)
        px, py, ps = zip(*[(r["depth"], v, s) for r in d for s, v in r["drops"].items()])
        f = slope_test(px, py, ps)
        if f:
            out.append(f"\nSlope of the paired drop on depth over {len(px)} (layer, seed) pairs: "
                       f"{f['slope']:+.3f} pp per layer, 95 % CI {fmt_ci(f['ci'], 3)} (df {f['df']}), p = {fmt_p(f['p'])}; over the "
                       f"{f['seeds']} per-seed slopes {fmt_ci(f['seed_ci'], 3)}, p = {fmt_p(f['seed_p'])}")
    return out


def report_accwidth(runs, rows):
    if not rows:
        return []
    L = next(iter(runs.values()))["layers"]
    ks = sorted({int(k) for k in L["k"][0, 1:-1, 0]})
    out = ["\n### Accumulator width (ResNet-8, W4/A4 codes)\n",
           "Interior layers' K: " + ", ".join(f"{k} (worst case needs {worst_case_bits(k)} bits)" for k in ks) + "\n"]
    ev = any("events" in r and not math.isnan(r["events"]) for r in rows)
    exact = next((r["curve"] for r in rows if r["acc"] == "int32"), None)
    out.append("| accumulator | test acc (%) | train loss | same run as int32 |" +
               (" overflowing additions |" if ev else ""))
    out.append("|---|---|---|---|" + ("---|" if ev else ""))
    for r in rows:
        same = "" if exact is None or r["acc"] == "int32" else "yes" if r["curve"] == exact else "no"
        out.append(f"| {r['acc']} | {r['test_acc']:.2f} | {r['train_loss']:.4f} | {same} |" +
                   (f" {r['events']:.2e} |" if ev else ""))
    out.append("\n\"Same run\": every epoch's training loss and test accuracy equal int32's. Such a run "
               "did not overflow its accumulator (one wrapped or clamped sum changes the weights and "
               "every loss after it), so any wider accumulator gives the same run.")
    return out


def same_baselines(sens_runs, iso_file_runs):
    """Seeds whose isolate baseline at the study's batch has the same curves as the sensitivity file's
    baseline (the same config: they must), and the seeds both files hold."""
    def curve(r):
        return tuple(r["epochs"]["train_loss"]), tuple(r["epochs"]["test_acc"])
    seeds = [s for s in seeds_of(iso_file_runs) if f"baseline,batch={BASE['batch']},seed={s}" in iso_file_runs
             and f"baseline,seed={s}" in sens_runs]
    same = [s for s in seeds if curve(iso_file_runs[f"baseline,batch={BASE['batch']},seed={s}"]) ==
            curve(sens_runs[f"baseline,seed={s}"])]
    return same, seeds


def fmt_paired(st):
    if st is None:
        return "n/a"
    m, ci, p, n = st
    return f"{m:+.2f} pp, 95 % CI {fmt_ci(ci)}, p = {fmt_p(p)} (n = {n})"


def report_isolate(t):
    out = []
    if t["k"]:
        out += ["\n### Isolating accumulation length: the parallel branches of a downsampling block (W only)\n",
                "| layer | depth | K | params | usage W | usage X | acc drop (pp) | 95 % CI | p | seeds |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for pair in t["k"]:
            for r in pair["layers"]:
                out.append(f"| {r['layer']} | {r['depth']} | {r['k']} | {r['params']} | {r['usage_w']:.0f} | "
                           f"{r['usage_x']:.1f} | {r['mean']:+.2f} | {fmt_ci(r['ci'])} | {fmt_p(r['p'])} | {r['n']} |")
        out.append("")
        for pair in t["k"]:
            out.append(f"- drop({pair['big']}) - drop({pair['small']}) (larger K minus smaller K; the paper "
                       f"predicts < 0): {fmt_paired(pair['contrast'])}")
        if t["k_pooled"]:
            out.append(f"- both pairs, averaged within each seed: {fmt_paired(t['k_pooled'])}")
    if t["usage"]:
        out += [f"\n### Isolating usage frequency: {ISO_USAGE_LAYER} under several batch sizes (W only)\n",
                "| batch | K | params | usage W | usage X | baseline acc (%) | acc drop (pp) | 95 % CI | p | seeds |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in t["usage"]:
            out.append(f"| {r['batch']} | {r['k']} | {r['params']} | {r['usage_w']:.0f} | {r['usage_x']:.1f} | "
                       f"{r['base_acc']:.2f} | {r['mean']:+.2f} | {fmt_ci(r['ci'])} | {fmt_p(r['p'])} | {r['n']} |")
        if t["usage_contrast"]:
            u = t["usage"]
            out.append(f"\n- drop(batch {u[-1]['batch']}) - drop(batch {u[0]['batch']}) (more uses minus fewer; the "
                       f"paper predicts > 0): {fmt_paired(t['usage_contrast'])}")
        f = t["usage_fit"]
        if f:
            out.append(f"- slope of the drop on log2(usage W): {f['slope']:+.3f} pp per doubling, 95 % CI "
                       f"{fmt_ci(f['ci'], 3)} (pairs, df {f['df']}), p = {fmt_p(f['p'])}; over the {f['seeds']} "
                       f"per-seed slopes {fmt_ci(f['seed_ci'], 3)}, p = {fmt_p(f['seed_p'])}")
    return out


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _ci_bars(rows, mean="acc_drop"):
    """Error bars (below, above) of the 95 % intervals; zero where a row has none (one seed)."""
    lo = [0.0 if math.isnan(r["ci"][0]) else r[mean] - r["ci"][0] for r in rows]
    hi = [0.0 if math.isnan(r["ci"][1]) else r["ci"][1] - r[mean] for r in rows]
    return [lo, hi]


def _save(fig, outdir, name):
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def plot_sensitivity(rows, drows, outdir):
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    tests = {t["factor"]: t for t in factor_tests(rows, ("k", "usage_w", "depth"))}
    for ax, f, label in zip(axes, ("k", "usage_w", "depth"), ("accumulation length K", "usage of a weight", "depth")):
        ax.errorbar([r[f] for r in rows], [r["acc_drop"] for r in rows], yerr=_ci_bars(rows), fmt="o", capsize=2)
        ax.axhline(0, color="gray", lw=0.8)
        if f != "depth":
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_title(f"Spearman {tests[f]['rho']:+.2f} (perm. p {fmt_p(tests[f]['p'])})", fontsize=10)
    axes[0].set_ylabel(f"test accuracy drop (pp), 95 % CI, {rows[0]['seeds']} seeds")
    paths = [_save(fig, outdir, "factor_sensitivity.png")]
    d = [r for r in drows if r["depth"] >= 0]
    if d:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.errorbar([r["depth"] for r in d], [r["drop"] for r in d], yerr=_ci_bars(d, "drop"), fmt="o-", capsize=3)
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_xlabel("depth of the quantized 16->16 conv")
        ax.set_ylabel(f"paired accuracy drop (pp), 95 % CI, {d[0]['seeds']} seeds")
        paths.append(_save(fig, outdir, "factor_depth.png"))
    return paths


def plot_isolate(t, outdir):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for i, pair in enumerate(t["k"]):
        L = pair["layers"]
        axes[0].errorbar([r["k"] for r in L], [r["mean"] for r in L], yerr=_ci_bars(L, "mean"), fmt="os"[i] + "-",
                         capsize=3, label=L[0]["layer"].split(".")[0] + ".block1: conv1 / shortcut")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("K of the quantized branch (same input, output, usage W)")
    axes[0].set_ylabel("paired accuracy drop (pp), 95 % CI")
    if t["k"]:
        axes[0].legend(fontsize=8)
    u = t["usage"]
    axes[1].errorbar([r["usage_w"] for r in u], [r["mean"] for r in u], yerr=_ci_bars(u, "mean"), fmt="o-", capsize=3)
    for r in u:
        axes[1].annotate(f"batch {r['batch']}", (r["usage_w"], r["mean"]), fontsize=8, xytext=(4, 4),
                         textcoords="offset points")
    axes[1].set_xscale("log")
    axes[1].set_xlabel(f"usage of a weight of {ISO_USAGE_LAYER} (K, params fixed)")
    for ax in axes:
        ax.axhline(0, color="gray", lw=0.8)
    return [_save(fig, outdir, "factor_isolate.png")]


def plot_accwidth(rows, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(outdir, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    exact = next((r for r in rows if r["acc"] == "int32"), None)
    for mode, style in (("wrap", "o-"), ("sat", "s-")):
        mine = sorted(((int(r["acc"][3:].split(":")[0]), r) for r in rows if r["acc"].endswith(mode)),
                      key=lambda p: p[0])
        if not mine:
            continue
        lines = ax.plot([w for w, _ in mine], [r["test_acc"] for _, r in mine], style, label=mode)
        widest, r = mine[-1]
        if exact and r["curve"] == exact["curve"] and widest < 20:  # wider accumulators: the same run
            ax.plot([widest, 20], [r["test_acc"]] * 2, ":", color=lines[0].get_color())
    if exact:
        ax.text(20, exact["test_acc"] - 3, "as int32 (no overflow)", ha="right", va="top", fontsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    for r in rows:
        if r["acc"] == "fp32":
            ax.axhline(r["test_acc"], color="gray", ls="--", label="fp32 MAC")
    ax.set_xlabel("accumulator bits")
    ax.set_ylabel("test accuracy (%)")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(outdir, "factor_accwidth.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def int_list(text):
    try:
        v = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not v:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return v


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("sensitivity", "depth", "accwidth", "isolate", "report"))
    p.add_argument("--out", help="results file of sensitivity/depth/accwidth/isolate (resumed if it exists)")
    p.add_argument("--quick", action="store_true", help="tiny settings for the tests (ResNet-8, 256 images)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--seeds", type=int_list, default=[0, 1], help="depth: seeds to train (default 0,1)")
    p.add_argument("--sens-seeds", type=int_list, default=[0], help="sensitivity: seeds to train (default 0)")
    p.add_argument("--iso-seeds", type=int_list, default=[0, 1, 2], help="isolate: seeds to train (default 0,1,2)")
    p.add_argument("--batches", type=int_list, default=list(ISO_BATCHES),
                   help="isolate: batch sizes of the usage contrast (default 64,128,256; 128 always runs)")
    p.add_argument("--low-w", default="int2/minmax/channel",
                   help="sensitivity/depth/isolate: the layer's weights (isolate: W only)")
    p.add_argument("--low-a", default="int2/minmax/tensor", help="sensitivity/depth: its input activations")
    p.add_argument("--low-e", default="int4/minmax/tensor", help="sensitivity/depth: its errors (SR)")
    p.add_argument("--widths", type=int_list, default=list(ACC_WIDTHS), help="accwidth: accumulator bits")
    p.add_argument("--count-events", action="store_true",
                   help="accwidth: count overflowing additions (golden kernels: several times slower)")
    p.add_argument("--sens", help="report: the sensitivity/depth file")
    p.add_argument("--acc", help="report: the accwidth file")
    p.add_argument("--iso", help="report: the isolate file")
    p.add_argument("--plots", help="report: directory for PNG plots")
    args = p.parse_args(argv)
    if args.command != "report" and not args.out:
        p.error(f"{args.command} needs --out FILE.h5")
    if args.command == "accwidth" and any(not 2 <= w <= 64 for w in args.widths):
        p.error("--widths: accumulator bits must be in [2, 64]")
    if args.command == "isolate" and any(b < 1 for b in args.batches):
        p.error("--batches: batch sizes must be positive")
    size = QUICK if args.quick else (ACC_FULL if args.command == "accwidth" else FULL)
    t = time.time()
    {"sensitivity": cmd_sensitivity, "depth": cmd_depth, "accwidth": cmd_accwidth, "isolate": cmd_isolate,
     "report": cmd_report}[args.command](args, size)
    if args.command != "report" and not args.quiet:
        print(f"{args.command}: {time.time() - t:.0f} s in all")


if __name__ == "__main__":
    main()
