"""ResNet-20 on Fashion-MNIST, trained through the bridge and natively, from the same initial weights on
the same batches: plain-PyTorch ResNet-20 (zoo.ResNet) converted, with torch's BatchNorm, loss and SGD,
against lpsim's own nn model (zoo.Native: nn's BatchNorm, loss and SGD), for each seed; prints per-epoch
loss and test accuracy of both, so their difference can be set against the seed-to-seed one.

    PYTHONPATH=build/python OMP_NUM_THREADS=2 /usr/bin/python3 -m lpsim.torch.resnet_proof \
        [--train 2000] [--test 1000] [--epochs 1] [--seeds 0,1] [--precision int8]
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from . import convert
from . import zoo

INT8 = {"w": "int8/minmax/channel", "a": "int8/minmax/tensor", "e": "int8/minmax/tensor"}
PRECISIONS = {"fp32": {}, "int8": INT8}


def _sgd(model, lr):
    # nn's SGD: momentum 0.9, weight decay 5e-4 on conv/linear weights only (not biases, not BatchNorm)
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]
    rest = [p for n, p in model.named_parameters() if not (n.endswith("weight") and p.dim() > 1)]
    return torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": rest, "weight_decay": 0.0}], lr=lr,
                           momentum=0.9)


def _accuracy(logits_fn, x, y, batch=250):
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((logits_fn(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def run(precision, seed, xtr, ytr, xte, yte, epochs, batch, lr, log=print):
    native = zoo.Native(precision, seed=seed)
    model = zoo.ResNet(20)
    native.copy_to(model)
    convert(model, precision, seed=seed)
    opt = _sgd(model, lr)
    g = torch.Generator().manual_seed(seed)
    out = {"bridge": [], "native": []}
    for epoch in range(epochs):
        order = torch.randperm(len(xtr), generator=g)
        t = {"bridge": 0.0, "native": 0.0}
        loss_sum = {"bridge": 0.0, "native": 0.0}
        model.train()
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            xb, yb = xtr[idx], ytr[idx]
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            t1 = time.perf_counter()
            nloss, _ = native.step(xb, yb, lr=lr)
            t["bridge"] += t1 - t0
            t["native"] += time.perf_counter() - t1
            loss_sum["bridge"] += loss.item() * len(idx)
            loss_sum["native"] += nloss * len(idx)
        model.eval()
        with torch.no_grad():
            acc_b = _accuracy(model, xte, yte)
        acc_n = _accuracy(lambda v: native.logits(v, False), xte, yte)
        for k, acc in (("bridge", acc_b), ("native", acc_n)):
            out[k].append({"epoch": epoch + 1, "train_loss": loss_sum[k] / len(xtr), "test_acc": acc,
                           "img_s": len(xtr) / t[k]})
            r = out[k][-1]
            log(f"seed {seed} {k:6s} epoch {epoch + 1}: train loss {r['train_loss']:.4f}, test acc "
                f"{100 * acc:.2f} %, {r['img_s']:.1f} img/s")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--precision", default="int8", choices=sorted(PRECISIONS))
    a = ap.parse_args(argv)
    xtr, ytr = zoo.fashion_mnist("train", a.train)
    xte, yte = zoo.fashion_mnist("test", a.test)
    mean, std = xtr.mean(), xtr.std()  # one channel: nn's channel statistics of the training images
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    final = {}
    for s in (int(v) for v in a.seeds.split(",")):
        out = run(PRECISIONS[a.precision], s, xtr, ytr, xte, yte, a.epochs, a.batch, a.lr)
        final[s] = {k: v[-1]["test_acc"] for k, v in out.items()}
    for s, f in final.items():
        print(f"seed {s}: test acc bridge {100 * f['bridge']:.2f} %, native {100 * f['native']:.2f} %, "
              f"difference {100 * (f['bridge'] - f['native']):+.2f} pp")
    if len(final) > 1:
        n = [f["native"] for f in final.values()]
        print(f"seed-to-seed spread of native: {100 * (max(n) - min(n)):.2f} pp")
    return 0


if __name__ == "__main__":
    sys.exit(main())
