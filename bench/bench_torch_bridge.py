"""Overhead of lpsim.torch: ResNet-20 (28x28x1, batch 128) training steps per second through the bridge
(plain-PyTorch ResNet-20 converted, torch's BatchNorm/ReLU/loss/SGD around lpsim's products) against
lpsim's own nn (the same layers stepped natively, nn's SGD) and plain PyTorch, in the same process and in
alternating rounds, for each precision. Prints the ISA level and CPU flags, then per precision the img/s
of each and the ratios; the issue-18 target is bridge >= 0.85 x native at batch 128.

    PYTHONPATH=build/python OMP_NUM_THREADS=2 /usr/bin/python3 bench/bench_torch_bridge.py [--batch 128]
        [--steps 3] [--rounds 3] [--precisions fp32,int8]
"""
import argparse
import os
import statistics
import sys
import time


PRECISIONS = {
    "fp32": {},
    "int8": {"w": "int8/minmax/channel", "a": "int8/minmax/tensor", "e": "int8/minmax/tensor"},
    "fp8": {"w": "e4m3fn", "a": "e4m3fn", "e": "e5m2", "mac": "hopper.fp8"},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--precisions", default="fp32,int8", help=f"comma list of {', '.join(PRECISIONS)}")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import torch
    import lpsim
    import lpsim.torch as lt
    from lpsim.torch import zoo

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"ISA level {lpsim._core.isa()} (host {lpsim._core.host_isa()}); CPU flags: {lpsim._core.cpu_flags()}")
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.steps} steps x "
          f"{args.rounds} rounds")
    x = torch.rand(args.batch, 1, 28, 28) * 2 - 1
    y = torch.arange(args.batch) % 10
    loss_fn = torch.nn.CrossEntropyLoss()

    def torch_runner(model):
        opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)

        def step():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        return step

    def native_runner(native):
        return lambda: native.step(x, y, lr=0.02)

    def rate(step):
        step()  # warm-up
        t = time.perf_counter()
        for _ in range(args.steps):
            step()
        return args.batch * args.steps / (time.perf_counter() - t)

    plain = torch_runner(zoo.ResNet(20))
    results = {}
    for name in args.precisions.split(","):
        prec = dict(PRECISIONS[name], keep_first_last=False) if name != "fp32" else {}
        native = zoo.Native(prec, seed=0)
        model = zoo.ResNet(20)
        native.copy_to(model)
        lt.convert(model, prec, seed=0)
        runners = {"bridge": torch_runner(model), "native": native_runner(native), "torch": plain}
        r = {k: [] for k in runners}
        for _ in range(args.rounds):
            for k, step in runners.items():
                r[k].append(rate(step))
        med = {k: statistics.median(v) for k, v in r.items()}
        ratio = [b / n for b, n in zip(r["bridge"], r["native"])]
        results[name] = med
        print(f"{name:5s} img/s: bridge {med['bridge']:.1f}, native nn {med['native']:.1f}, plain PyTorch "
              f"{med['torch']:.1f} | bridge/native {statistics.median(ratio):.3f} (rounds "
              f"{min(ratio):.3f}-{max(ratio):.3f}), bridge/torch {med['bridge'] / med['torch']:.3f}, "
              f"native/torch {med['native'] / med['torch']:.3f}", flush=True)
        sys.stdout.flush()
    worst = min(v["bridge"] / v["native"] for v in results.values())
    print(f"overhead over native nn: {100 * (1 / worst - 1):.1f} % at worst (target <= 15 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
