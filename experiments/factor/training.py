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
  report       tables (markdown), rank correlations and plots from the files of the three commands.

  PYTHONPATH=build/python /usr/bin/python3 experiments/factor/training.py sensitivity --out factor_training.h5
"""
import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lpsim  # noqa: E402

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


def config(size, seed, layers=(), precision=None):
    c = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    c["model"] = {"arch": size["model"]}
    c.update(train_subset=size["train_subset"], test_subset=size["test_subset"], epochs=size["epochs"], seed=seed)
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


# ---- report -------------------------------------------------------------------------------------

def spearman(x, y):
    """Spearman's rank correlation (average ranks for ties)."""
    def ranks(v):
        v = np.asarray(v, float)
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for u in np.unique(v):  # ties share their mean rank
            r[v == u] = r[v == u].mean()
        return r
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def sensitivity_table(runs):
    """Per layer: depth, K, usage of W and X elements (fwd), params, and the accuracy drop / loss rise
    against the baseline of the same seed, averaged over the seeds every layer has (paired differences)."""
    base = runs.get("baseline,seed=0")
    if base is None:
        return []
    L = base["layers"]
    names = [str(n) for n in L["name"]]
    seeds = [s for s in sorted({int(k.rsplit("seed=", 1)[1]) for k in runs if "seed=" in k})
             if f"baseline,seed={s}" in runs and all(f"layer={n},seed={s}" in runs for n in names[1:-1])]
    rows = []
    for i, name in enumerate(names):
        pairs = [(runs[f"baseline,seed={s}"], runs[f"layer={name},seed={s}"]) for s in seeds
                 if f"layer={name},seed={s}" in runs]
        if not pairs:  # the first and last layers: never quantized alone
            continue
        drop = [100 * (b["epochs"]["test_acc"][-1] - r["epochs"]["test_acc"][-1]) for b, r in pairs]
        rise = [r["epochs"]["train_loss"][-1] - b["epochs"]["train_loss"][-1] for b, r in pairs]
        rows.append({
            "layer": name, "depth": int(L["depth"][i]), "params": int(L["params"][i]),
            "k": int(L["k"][0, i, 0]), "usage_w": float(L["usage_a"][0, i, 0]), "usage_x": float(L["usage_b"][0, i, 0]),
            "acc_drop": float(np.mean(drop)), "loss_rise": float(np.mean(rise)), "seeds": len(pairs),
        })
    return rows


def depth_table(runs, seeds):
    """Per stage-1 layer (depth order): final accuracy mean/std over seeds, and the spread of its loss
    curves: the mean over epochs of the std over seeds of the train loss."""
    names = sorted({k.split(",")[0][6:] for k in runs if k.startswith("layer=stage1.")},
                   key=lambda n: runs[f"layer={n},seed={seeds[0]}"]["layers"]["name"].tolist().index(n)
                   if f"layer={n},seed={seeds[0]}" in runs else 0)
    rows = []
    for label, key in [("baseline", "baseline")] + [(n, f"layer={n}") for n in names]:
        rs = [runs[f"{key},seed={s}"] for s in seeds if f"{key},seed={s}" in runs]
        if len(rs) < 2:
            continue
        acc = np.array([100 * r["epochs"]["test_acc"][-1] for r in rs])
        loss = np.array([r["epochs"]["train_loss"] for r in rs])
        depth = -1 if label == "baseline" else int(rs[0]["layers"]["depth"][list(rs[0]["layers"]["name"]).index(label)])
        rows.append({"layer": label, "depth": depth, "seeds": len(rs), "acc_mean": acc.mean(), "acc_std": acc.std(ddof=1),
                     "loss_spread": float(loss.std(axis=0, ddof=1).mean()), "final_loss": float(loss[:, -1].mean())})
    return rows


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
    text, pngs = report(args.sens, args.acc, args.plots)
    print(text)
    for p in pngs:
        print(p)


def report(sens, acc, plots=None):
    """Markdown tables and rank correlations of the files that exist (depth: over the seeds they hold);
    PNG plots into `plots` if given. Returns (text, [png paths])."""
    out, pngs = [], []
    if sens and os.path.exists(sens):
        runs = lpsim.load(sens, status="finished")
        rows = sensitivity_table(runs)
        if rows:
            out.append(f"### Per-layer sensitivity (paired with the baseline, mean over {rows[0]['seeds']} seed(s))\n")
            base_acc = [100 * r["epochs"]["test_acc"][-1] for k, r in runs.items() if k.startswith("baseline,")]
            if len(base_acc) > 1:
                out.append(f"Noise floor: the baseline's test accuracy over {len(base_acc)} seeds is "
                           f"{np.mean(base_acc):.2f} ± {np.std(base_acc, ddof=1):.2f} % (std).\n")
            out.append("| layer | depth | K | usage W | usage X | params | acc drop (pp) | loss rise |")
            out.append("|---|---|---|---|---|---|---|---|")
            for r in rows:
                out.append(f"| {r['layer']} | {r['depth']} | {r['k']} | {r['usage_w']:.0f} | {r['usage_x']:.1f} | "
                           f"{r['params']} | {r['acc_drop']:+.2f} | {r['loss_rise']:+.4f} |")
            out.append("\nSpearman rank correlation with the accuracy drop / the loss rise:\n")
            out.append("| factor | acc drop | loss rise |")
            out.append("|---|---|---|")
            for f in ("k", "usage_w", "usage_x", "depth", "params"):
                x = [r[f] for r in rows]
                out.append(f"| {f} | {spearman(x, [r['acc_drop'] for r in rows]):+.2f} | "
                           f"{spearman(x, [r['loss_rise'] for r in rows]):+.2f} |")
        seeds = sorted({int(k.rsplit("seed=", 1)[1]) for k in runs if "seed=" in k})
        drows = depth_table(runs, seeds)
        if drows:
            out.append(f"\n### Depth (seeds {','.join(map(str, seeds))})\n")
            out.append("| layer | depth | test acc (mean ± std) | final train loss | loss-curve spread |")
            out.append("|---|---|---|---|---|")
            for r in drows:
                out.append(f"| {r['layer']} | {r['depth'] if r['depth'] >= 0 else '-'} | "
                           f"{r['acc_mean']:.2f} ± {r['acc_std']:.2f} | {r['final_loss']:.4f} | {r['loss_spread']:.4f} |")
            d = [r for r in drows if r["depth"] >= 0]
            if len(d) > 2:
                out.append(f"\nSpearman(depth, accuracy) = {spearman([r['depth'] for r in d], [r['acc_mean'] for r in d]):+.2f}, "
                           f"Spearman(depth, loss spread) = {spearman([r['depth'] for r in d], [r['loss_spread'] for r in d]):+.2f}")
        if plots and rows:
            pngs += plot_sensitivity(rows, drows, plots)
    if acc and os.path.exists(acc):
        runs = lpsim.load(acc, status="finished")
        rows = acc_table(runs)
        if rows:
            any_run = next(iter(runs.values()))
            L = any_run["layers"]
            ks = sorted({int(k) for k in L["k"][0, 1:-1, 0]})
            out.append("\n### Accumulator width (ResNet-8, W4/A4 codes)\n")
            out.append("Interior layers' K: " + ", ".join(
                f"{k} (worst case needs {worst_case_bits(k)} bits)" for k in ks) + "\n")
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
            if plots:
                pngs += plot_accwidth(rows, plots)
    return ("\n".join(out) if out else "nothing to report (give --sens / --acc files that exist)"), pngs


def plot_sensitivity(rows, drows, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(outdir, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, f, label in zip(axes, ("k", "usage_w", "depth"), ("accumulation length K", "usage of a weight", "depth")):
        x = [r[f] for r in rows]
        y = [r["acc_drop"] for r in rows]
        ax.scatter(x, y)
        if f != "depth":
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_title(f"Spearman {spearman(x, y):+.2f}")
    axes[0].set_ylabel("test accuracy drop (pp)")
    fig.tight_layout()
    paths = [os.path.join(outdir, "factor_sensitivity.png")]
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    if drows:
        d = [r for r in drows if r["depth"] >= 0]
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.errorbar([r["depth"] for r in d], [r["acc_mean"] for r in d], yerr=[r["acc_std"] for r in d], fmt="o-")
        b = [r for r in drows if r["depth"] < 0]
        if b:
            ax.axhline(b[0]["acc_mean"], color="gray", ls="--", label="no layer quantized")
            ax.legend()
        ax.set_xlabel("depth of the quantized 16->16 conv")
        ax.set_ylabel("test accuracy (%)")
        fig.tight_layout()
        paths.append(os.path.join(outdir, "factor_depth.png"))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


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
    p.add_argument("command", choices=("sensitivity", "depth", "accwidth", "report"))
    p.add_argument("--out", help="results file of sensitivity/depth/accwidth (resumed if it exists)")
    p.add_argument("--quick", action="store_true", help="tiny settings for the tests (ResNet-8, 256 images)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--seeds", type=int_list, default=[0, 1], help="depth: seeds to train (default 0,1)")
    p.add_argument("--sens-seeds", type=int_list, default=[0], help="sensitivity: seeds to train (default 0)")
    p.add_argument("--low-w", default="int2/minmax/channel", help="sensitivity/depth: the layer's weights")
    p.add_argument("--low-a", default="int2/minmax/tensor", help="sensitivity/depth: its input activations")
    p.add_argument("--low-e", default="int4/minmax/tensor", help="sensitivity/depth: its errors (SR)")
    p.add_argument("--widths", type=int_list, default=list(ACC_WIDTHS), help="accwidth: accumulator bits")
    p.add_argument("--count-events", action="store_true",
                   help="accwidth: count overflowing additions (golden kernels: several times slower)")
    p.add_argument("--sens", help="report: the sensitivity/depth file")
    p.add_argument("--acc", help="report: the accwidth file")
    p.add_argument("--plots", help="report: directory for PNG plots")
    args = p.parse_args(argv)
    if args.command != "report" and not args.out:
        p.error(f"{args.command} needs --out FILE.h5")
    if args.command == "accwidth" and any(not 2 <= w <= 64 for w in args.widths):
        p.error("--widths: accumulator bits must be in [2, 64]")
    size = QUICK if args.quick else (ACC_FULL if args.command == "accwidth" else FULL)
    t = time.time()
    {"sensitivity": cmd_sensitivity, "depth": cmd_depth, "accwidth": cmd_accwidth, "report": cmd_report}[args.command](args, size)
    if args.command != "report" and not args.quiet:
        print(f"{args.command}: {time.time() - t:.0f} s in all")


if __name__ == "__main__":
    main()
