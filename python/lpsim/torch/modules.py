"""Modules of lpsim.torch: drop-in torch.nn.Linear / Conv2d on the emulated hardware, a Quantizer, and
a matmul module (for attention), each keeping the state lpsim's nn layers keep: the precision, the step
counter of the random keys, the running activation range, the latest statistics and the BitOPs."""
from __future__ import annotations

import torch

from . import functional as F

__all__ = ["Linear", "Conv2d", "Matmul", "Quantizer", "ProductModule"]

_PRODUCTS = ("fwd", "bwd_data", "bwd_weight")


class ProductModule:
    """The bridge state of a module with matrix products (mixed into Linear, Conv2d, Matmul).

    precision: its LayerPrecision (change it to change the formats; policies do); lpsim_name and depth:
    its name in the model and index among the product layers (statistics and errors carry them);
    iteration: backward passes so far, part of every random key as in nn (restore it to resume);
    a_range: the running activation range [zero point, range] (precision.a_running_range).
    Statistics: stats (the latest GemmStats of each product), steps, bitops and bitops_fp32 summed over
    the training steps, counts (event counts per product, summed; zero unless precision.counts)."""

    def _lpsim_init(self, precision, name, depth):
        self.precision = F._as_precision(precision, type(self).__name__)
        self.lpsim_name = name
        self.depth = depth
        self.iteration = 0
        self.a_range = [0.0, 0.0]
        self.reset_stats()

    def reset_stats(self):
        self.stats, self.steps, self.bitops, self.bitops_fp32 = {}, 0, 0.0, 0.0
        self.counts = {p: {} for p in _PRODUCTS}

    def _lpsim_forward(self, op):
        if hasattr(op, "a_range"):
            self.a_range = list(op.a_range())
        self.stats.update(op.stats())

    def _lpsim_backward(self, op):
        st = op.stats()
        self.stats.update(st)
        b, b32 = op.bitops()
        self.bitops += b
        self.bitops_fp32 += b32
        for p, g in st.items():
            acc = self.counts[p]
            for k, v in g.counts.items():
                acc[k] = acc.get(k, 0) + v
        self.steps += 1
        self.iteration += 1

    def _lpsim_weight(self):
        """(weight, bias) as nn's layer holds them: what a precision policy reads (None for a Matmul)."""
        return getattr(self, "weight", None), getattr(self, "bias", None)

    def extra_repr(self):
        return f"{super().extra_repr()}, lpsim_name={self.lpsim_name!r}, depth={self.depth}, precision={self.precision!r}"


class Linear(ProductModule, torch.nn.Linear):
    """torch.nn.Linear whose products run as lpsim.torch.linear (nn::Linear) with `precision`."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None, *, precision=None,
                 name="linear", depth=-1):
        torch.nn.Linear.__init__(self, in_features, out_features, bias, device, dtype)
        self._lpsim_init(precision, name, depth)

    @classmethod
    def from_torch(cls, m, precision=None, name="linear", depth=-1):
        """A Linear sharing m's parameters (optimizers built on m keep working)."""
        new = cls(m.in_features, m.out_features, m.bias is not None, device="meta", precision=precision, name=name,
                  depth=depth)
        new.weight, new.bias = m.weight, m.bias
        new.train(m.training)
        return new

    def forward(self, x):
        return F.linear(x, self.weight, self.bias, layer=self)


class Conv2d(ProductModule, torch.nn.Conv2d):
    """torch.nn.Conv2d (square kernel, equal strides and paddings, no dilation, zero padding) whose products
    run as lpsim.torch.conv2d (nn::Conv2d) with `precision`."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None, *, precision=None, name="conv2d", depth=-1):
        torch.nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                                 padding_mode, device, dtype)
        what = f"lpsim.torch.Conv2d {name}"
        if self.kernel_size[0] != self.kernel_size[1]:
            raise ValueError(f"{what}: kernel {self.kernel_size}: lpsim's Conv2d takes square kernels")
        if self.stride[0] != self.stride[1]:
            raise ValueError(f"{what}: stride {self.stride}: lpsim's Conv2d takes equal strides")
        if isinstance(self.padding, str) or self.padding[0] != self.padding[1]:
            raise ValueError(f"{what}: padding {self.padding!r}: lpsim's Conv2d takes an equal padding (an int)")
        if tuple(self.dilation) != (1, 1):
            raise ValueError(f"{what}: dilation {self.dilation}: lpsim's Conv2d has no dilation")
        if padding_mode != "zeros":
            raise ValueError(f"{what}: padding_mode {padding_mode!r}: lpsim's Conv2d pads with zeros")
        self._lpsim_init(precision, name, depth)

    @classmethod
    def from_torch(cls, m, precision=None, name="conv2d", depth=-1):
        """A Conv2d sharing m's parameters; ValueError naming what lpsim's Conv2d does not take."""
        new = cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                  m.bias is not None, m.padding_mode, device="meta", precision=precision, name=name, depth=depth)
        new.weight, new.bias = m.weight, m.bias
        new.train(m.training)
        return new

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride[0], self.padding[0], self.groups, layer=self)


class Matmul(ProductModule, torch.nn.Module):
    """a @ b (broadcast batch dimensions) as lpsim.torch.matmul, with the state of a product layer: the
    matmuls of attention (Q K^T, P V) as product layers of their own."""

    def __init__(self, *, precision=None, name="matmul", depth=-1):
        torch.nn.Module.__init__(self)
        self._lpsim_init(precision, name, depth)

    def forward(self, a, b):
        return F.matmul(a, b, layer=self)

    def extra_repr(self):
        return f"lpsim_name={self.lpsim_name!r}, depth={self.depth}, precision={self.precision!r}"


class Quantizer(torch.nn.Module):
    """x -> lpsim.torch.quantize(x, fmt, rounding, ...) with fresh random bits per training step: the key of
    step i is draw_key(seed, stream, i, "a") (its gradient's, when quantized, draw_key(..., "e"));
    the step counter advances after each training forward. channel_axis 1 (NCHW activations)."""

    def __init__(self, fmt, rounding="rne", *, seed=0, stream=0, channel_axis=1, grad="ste", grad_rounding="sr"):
        super().__init__()
        from .. import _core
        _core.Format(fmt)
        if grad not in (None, "ste"):
            _core.Format(grad)
        self.fmt, self.rounding, self.seed, self.stream = fmt, rounding, seed, stream
        self.channel_axis, self.grad, self.grad_rounding = channel_axis, grad, grad_rounding
        self.iteration = 0

    def forward(self, x):
        s, st = F.draw_key(self.seed, self.stream, self.iteration, "a")
        gs, gst = F.draw_key(self.seed, self.stream, self.iteration, "e")
        y = F.quantize(x, self.fmt, self.rounding, s, st, channel_axis=self.channel_axis, grad=self.grad,
                       grad_rounding=self.grad_rounding, grad_seed=gs, grad_stream=gst)
        if self.training and torch.is_grad_enabled():
            self.iteration += 1
        return y

    def extra_repr(self):
        return f"fmt={self.fmt!r}, rounding={self.rounding!r}, grad={self.grad!r}"
