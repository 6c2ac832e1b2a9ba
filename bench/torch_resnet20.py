"""PyTorch CPU training throughput of the ResNet-20 of nn/models.cpp (run by bench_train).

The same network: 3x3 stem (no bias) + BN + ReLU, three stages of three basic
blocks (16/32/64 channels, stride 2 entering stages 2 and 3), a 1x1 conv + BN
shortcut where the shape changes (option B), global average pooling and a
linear classifier; SGD with momentum 0.9 and weight decay 5e-4; 28x28x1 inputs.
Prints the BLAS library the process loaded and "images/s <value>".
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    # OpenBLAS reads its thread count when it is loaded, before torch.set_num_threads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import torch
        import torch.nn as tnn
    except ImportError:
        print("PyTorch not found")
        return 1
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.main = tnn.Sequential(
                tnn.Conv2d(cin, cout, 3, stride, 1, bias=False), tnn.BatchNorm2d(cout), tnn.ReLU(),
                tnn.Conv2d(cout, cout, 3, 1, 1, bias=False), tnn.BatchNorm2d(cout))
            self.shortcut = tnn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, 0, bias=False), tnn.BatchNorm2d(cout))
            self.relu = tnn.ReLU()

        def forward(self, x):
            return self.relu(self.main(x) + self.shortcut(x))

    layers = [tnn.Conv2d(1, 16, 3, 1, 1, bias=False), tnn.BatchNorm2d(16), tnn.ReLU()]
    cin = 16
    for stage in range(3):
        cout = 16 << stage
        for blk in range(3):
            layers.append(Block(cin, cout, 2 if stage > 0 and blk == 0 else 1))
            cin = cout
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(64, 10)]
    model = tnn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    loss_fn = tnn.CrossEntropyLoss()
    x = torch.rand(args.batch, 1, 28, 28) * 2 - 1
    y = torch.arange(args.batch) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - t0

    blas = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line.split()[-1]})
    print("torch", torch.__version__, "threads", torch.get_num_threads(),
          "mkldnn" if torch.backends.mkldnn.is_available() else "no mkldnn")
    print("BLAS loaded:", ", ".join(os.path.realpath(b) for b in blas) or "none")
    print("images/s %.2f" % (args.batch * args.steps / seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
