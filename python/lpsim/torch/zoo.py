"""Plain-PyTorch twins of lpsim's nn models and their native counterparts, for comparing the bridge with
lpsim's own nn (tests, bench/bench_torch_bridge.py, python -m lpsim.torch.resnet_proof).

- ResNet(depth): the CIFAR ResNet of nn/models.cpp in plain PyTorch, with nn's layer names
  (stem.conv, stage2.block1.shortcut.conv, fc, ...) and nn's product order, so convert() gives each
  layer the random key and per-layer formats lpsim train gives it.
- Native(config, ...): lpsim's own nn model (nn::make_model + apply_precision) stepped from Python on given
  batches; copy_to / copy_from move the weights between it and a torch twin.
- fashion_mnist(split): Debian's dataset-fashion-mnist as (N, 1, 28, 28) float32 in [0, 1] and int64 labels.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch import nn as tnn

from .. import _core
from .convert import _config_text

__all__ = ["ResNet", "Native", "fashion_mnist", "FASHION_MNIST"]

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class _Stem(tnn.Module):
    def __init__(self, cin):
        super().__init__()
        self.conv = tnn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        self.bn = tnn.BatchNorm2d(16)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class _Shortcut(tnn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, 1, stride, 0, bias=False)
        self.bn = tnn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class _Block(tnn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.shortcut = _Shortcut(cin, cout, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(tnn.Module):
    """nn/models.cpp's resnet<depth> (depth 6n+2): 3x3 stem + BN + ReLU, three stages of n basic blocks
    (16/32/64 channels, stride 2 entering stages 2 and 3, option-B 1x1 conv + BN shortcuts), global average
    pooling, a linear classifier. Module names are nn's layer names."""

    def __init__(self, depth=20, channels=1, classes=10):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"ResNet: depth {depth} is not 6n+2")
        n = (depth - 2) // 6
        self.stem = _Stem(channels)
        cin = 16
        for stage in range(1, 4):
            cout = 16 << (stage - 1)
            s = tnn.Module()
            for blk in range(1, n + 1):
                setattr(s, f"block{blk}", _Block(cin, cout, 2 if stage > 1 and blk == 1 else 1))
                cin = cout
            setattr(self, f"stage{stage}", s)
        self.fc = tnn.Linear(64, classes)

    def forward(self, x):
        x = self.stem(x)
        for stage in (self.stage1, self.stage2, self.stage3):
            for blk in stage.children():
                x = blk(x)
        return self.fc(x.mean((2, 3)))


class Native:
    """lpsim's own nn model for a run config (dict of [precision] keys plus "layer"/"layers" as convert takes
    them, or a TOML text / .toml path with [model], seed, [precision], [[layers]], [optimizer]); arch from
    `arch`, formats and keys exactly as lpsim train sets them."""

    def __init__(self, precision=None, *, arch="resnet20", seed=0, shape=(1, 28, 28), classes=10, optimizer=None):
        text, source = _config_text(precision, None, seed)
        text += f'[model]\narch = "{arch}"\n'
        if optimizer:
            text += "[optimizer]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in optimizer.items())
        self.m = _core.NativeModel(text, source, *shape, classes)

    def layer_names(self):
        return self.m.layer_names()

    def precisions(self):
        return self.m.precisions()

    def state_dict(self):
        return {k: torch.from_numpy(v) for k, v in self.m.params()}

    def copy_to(self, model):
        """nn's weights into the torch twin (names are nn's); BatchNorm running statistics start alike."""
        sd = self.state_dict()
        own = dict(model.named_parameters())
        missing = sorted(set(own) - set(sd))
        if missing:
            raise KeyError(f"Native.copy_to: torch parameters without an nn twin: {missing[:4]}")
        with torch.no_grad():
            for k, p in own.items():
                p.copy_(sd[k])

    def copy_from(self, model):
        self.m.set_params({k: p.detach().contiguous().numpy() for k, p in model.named_parameters()})

    def step(self, x, y, lr=None):
        """One training step on (x, y): (loss, correct); with lr, also the config's optimizer."""
        loss, correct, _ = self.m.forward_backward(x.contiguous().numpy(), y.tolist())
        if lr is not None:
            self.m.optimizer_step(lr)
        return loss, correct

    def grads(self):
        return {k: torch.from_numpy(v) for k, v in self.m.grads()}

    def logits(self, x, training=False):
        return torch.from_numpy(self.m.forward(x.contiguous().numpy(), training))


def _idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist(split="train", n=None, root=FASHION_MNIST):
    """(images (N, 1, 28, 28) float32 in [0, 1], labels int64) of Debian's Fashion-MNIST; the first n."""
    prefix = "train" if split == "train" else "t10k"
    x = _idx(Path(root) / f"{prefix}-images-idx3-ubyte.gz")
    y = _idx(Path(root) / f"{prefix}-labels-idx1-ubyte.gz")
    if n is not None:
        x, y = x[:n], y[:n]
    return torch.from_numpy(x.astype(np.float32)[:, None] / 255.0), torch.from_numpy(y.astype(np.int64))
