"""lpsim.torch.Policy: nn's precision policies (SBM, CPT, PFQ, DPC, adaptive DPC, DPC+CPT, LDP, factor-aware;
docs/policies.md) driving a converted model. The policy object is nn::make_policy's own, run on mirrors of
the converted layers (python/bind_torch.cpp TorchPolicy) that get the layers' precisions, weights, weight
gradients and forward statistics before each hook; the precisions it sets are written back to the modules."""
from __future__ import annotations

from pathlib import Path

import torch

from .. import _core
from ..training import _toml_value
from .convert import product_layers
from .modules import Conv2d

__all__ = ["Policy"]


def _policy_text(config):
    if isinstance(config, str) and "=" not in config and "\n" not in config and not config.endswith(".toml"):
        config = {"kind": config}
    if isinstance(config, dict):
        lines = ["[policy]"]
        for k, v in config.items():
            if isinstance(v, (list, tuple)):
                v = "[" + ", ".join(_toml_value(x) for x in v) + "]"
            else:
                v = _toml_value(v)
            lines.append(f"{k} = {v}")
        return "\n".join(lines) + "\n", "<policy>"
    if isinstance(config, (str, Path)):
        text, path = str(config), Path(str(config))
        if "\n" not in text and "=" not in text and path.suffix == ".toml":
            return path.read_text(encoding="utf-8"), str(path)
        return text, "<policy>"
    raise TypeError(f"lpsim.torch.Policy: config must be a kind, a dict of policy keys, a TOML text or a .toml "
                    f"path, got {type(config).__name__}")


def _spec(m):
    w, b = m._lpsim_weight()
    if isinstance(m, Conv2d):
        return ("conv2d", m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0], m.groups,
                b is not None)
    return ("linear", w.shape[1], w.shape[0], b is not None)


def _np(t):
    return None if t is None else t.detach().to(torch.float32).contiguous().numpy()


class Policy:
    """A precision policy of nn/policies on a converted model, called as lpsim train calls it:

        pol = lt.Policy(model, {"kind": "cpt", "cpt_cycles": 8}, iterations_per_epoch=len(loader), epochs=E)
        for epoch in range(E):
            for x, y in loader:
                pol.before_step()                    # sets this step's formats
                loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward()
                pol.after_backward()                 # weights and weight gradients read here
                opt.step()
                pol.after_step(loss.item(), accuracy)
            pol.end_epoch(train_loss=..., test_acc=...)

    config: a kind ("cpt"), a dict of policy.<key> knobs ({"kind": "dpc", "delta": 1.5}), a TOML text or a
    .toml run config (its [policy] is used); errors name the bad knob as lpsim train does. The layers set are
    the model's product layers with weights (Linear, Conv2d, attention projections) in depth order, so
    keep_fp32 "first,last" means the first and last of those; Matmul layers (Q K^T, P V) keep their formats.
    history: the (w, a, e, g) bits of every layer at each step (after_step), as lpsim train's bit histories;
    layer_param(depth): LDP's beta; state()/set_state() to resume."""

    def __init__(self, model, config, *, iterations_per_epoch, epochs=1, total_iterations=None, seed=0):
        self.layers = [m for m in product_layers(model) if m._lpsim_weight()[0] is not None]
        if not self.layers:
            raise ValueError("lpsim.torch.Policy: the model has no converted layers with weights (lt.convert it first)")
        text, source = _policy_text(config)
        self._p = _core.TorchPolicy(text, source, [_spec(m) for m in self.layers], [m.lpsim_name for m in self.layers])
        self.iterations_per_epoch = int(iterations_per_epoch)
        self.epochs = int(epochs)
        total = self.iterations_per_epoch * self.epochs if total_iterations is None else int(total_iterations)
        self.iteration, self.epoch, self.history = 0, 0, []
        self._p.begin(self._precisions(), [self._weights(m, False) for m in self.layers], self.iterations_per_epoch,
                      total, self.epochs, int(seed))

    @property
    def name(self):
        return self._p.name

    def _precisions(self):
        return [m.precision for m in self.layers]

    @staticmethod
    def _weights(m, grads):
        w, b = m._lpsim_weight()
        t = (_np(w), _np(b))
        if grads:
            return t + (_np(w.grad) if w.grad is not None else None, _np(b.grad) if b is not None and b.grad is not None else None)
        return t

    def before_step(self):
        self._p.before_step(self._precisions(), self.iteration)

    def after_backward(self):
        # A Projection's weight is a slice of its attention's in_proj_weight: its gradient is that slice of the grad.
        ws = []
        for m in self.layers:
            w, b = m._lpsim_weight()
            gw = _grad_of(w)
            gb = _grad_of(b)
            ws.append((_np(w), _np(b), _np(gw), _np(gb)))
        fwd = [m.stats.get("fwd") for m in self.layers]
        self._p.after_backward(self._precisions(), ws, fwd, self.iteration)

    def after_step(self, loss=0.0, accuracy=0.0):
        self._p.after_step(self._precisions(), self.iteration, float(loss), float(accuracy))
        self.history.append([m.precision.bits for m in self.layers])
        self.iteration += 1

    def end_epoch(self, *, train_loss=0.0, train_acc=0.0, test_loss=0.0, test_acc=0.0):
        self.epoch += 1
        self._p.end_epoch(self._precisions(), self.epoch, float(train_loss), float(train_acc), float(test_loss),
                          float(test_acc))

    def bits(self):
        """The current (w, a, e, g) bits of every layer set or kept, in depth order."""
        return [m.precision.bits for m in self.layers]

    def layer_param(self, depth):
        """The policy's learned parameter of the layer at `depth` (LDP's beta), or None."""
        for i, m in enumerate(self.layers):
            if m.depth == depth:
                return self._p.layer_param(i)
        return None

    def state(self):
        return {"iteration": self.iteration, "epoch": self.epoch, "policy": self._p.state()}

    def set_state(self, s):
        self.iteration, self.epoch = int(s["iteration"]), int(s["epoch"])
        self._p.set_state(list(s["policy"]))


def _grad_of(t):
    """t's gradient, also where t is a view (slice) of a parameter: that slice of the parameter's grad."""
    if t is None:
        return None
    if t.is_leaf:
        return t.grad
    base = t._base
    if base is None or base.grad is None or base.grad.stride() != base.stride():
        return None
    offset = t.storage_offset() - base.storage_offset()
    return base.grad.as_strided(t.shape, t.stride(), base.grad.storage_offset() + offset)
