"""Autograd functions of lpsim.torch: quantization and the emulated products.

Every product runs lpsim's own nn layer (nn::Linear<float>, nn::Conv2d<float>
through lpsim._core's LinearOp/Conv2dOp/BmmOp), so its forward, data gradient
and weight gradient are those of ``lpsim train`` bit for bit: the same
quantizers on W, A, E and G, the same MAC per product, the same random keys
(docs/torch.md).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .. import _core

__all__ = ["quantize", "quantize_", "linear", "conv2d", "matmul", "bmm", "precision", "LayerPrecision", "draw_key",
           "batch_key"]

LayerPrecision = _core.LayerPrecision
draw_key = _core.draw_key
batch_key = _core.batch_key

_FLOATS = (torch.float32, torch.float64)
_PRECISION_KEYS = ("w", "a", "e", "g", "e_dw", "w_round", "a_round", "e_round", "g_round", "e_dw_round", "mac",
                   "mac_fwd", "mac_bwd_data", "mac_bwd_weight", "seed", "stream", "a_running_range", "counts", "error")


def precision(**keys):
    """A LayerPrecision from its keys (those of a config's [precision] plus e_dw, seed, stream,
    a_running_range, counts, error); a format None or "fp32" leaves that tensor unquantized."""
    bad = sorted(set(keys) - set(_PRECISION_KEYS))
    if bad:
        raise TypeError(f"lpsim.torch.precision: unknown key {bad[0]!r} (keys: {', '.join(_PRECISION_KEYS)})")
    return _core.LayerPrecision(**keys)


def _as_precision(p, fn):
    if p is None:
        return _core.LayerPrecision()
    if isinstance(p, _core.LayerPrecision):
        return p
    if isinstance(p, dict):
        return precision(**p)
    raise TypeError(f"{fn}: precision must be None, a dict of keys or an lpsim.torch.LayerPrecision, "
                    f"got {type(p).__name__}")


def _check(t, what, fn, dims=None):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{fn}: {what} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{fn}: {what} is on {t.device}; lpsim computes on the CPU (move it with .cpu())")
    if t.dtype not in _FLOATS:
        raise TypeError(f"{fn}: {what} has dtype {t.dtype}; lpsim.torch takes float32 or float64 tensors")
    if dims is not None and t.dim() not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{fn}: {what} must be {want}, got shape {tuple(t.shape)}")


def _f32(t):
    """A C-contiguous float32 NumPy array of t: a view, no copy, for a contiguous float32 CPU tensor."""
    t = t.detach()
    if t.dtype != torch.float32:
        t = t.to(torch.float32)
    return t.contiguous().numpy()


def _tensor(a, dtype):
    t = torch.from_numpy(a)  # shares the array's buffer
    return t if dtype == torch.float32 else t.to(dtype)


# --------------------------------------------------------------------------- quantize

def _quantize_array(t, fmt, rounding, seed, stream, channel_axis, out=None):
    """t (float32 or float64 CPU tensor) quantized, as a NumPy array (into `out`'s memory when given)."""
    f = _core.Format(fmt)  # FormatError naming a bad spelling
    axis = channel_axis
    if t.dim() and f.is_scaled:
        if not -t.dim() <= axis < t.dim():
            raise ValueError(f"lpsim.torch.quantize: channel_axis {channel_axis} of a {t.dim()}-D tensor")
        axis %= t.dim()
    src = t.detach()
    if src.dtype == torch.float64 and not f.is_scaled:  # arith rounds float64 directly
        x = src.contiguous().numpy()
        return _core.quantize(x, fmt, rounding, seed, stream, 0, out.numpy() if out is not None else None)
    # nn's quantizer (every format, scaled ones included) computes in float32
    x = _f32(src)
    if out is None:
        y = _core.quantize_tensor(x, fmt, rounding, seed, stream, axis)
        return y if t.dtype == torch.float32 else y.astype(np.float64)
    if out.dtype == torch.float32:
        return _core.quantize_tensor(x, fmt, rounding, seed, stream, axis, out.numpy())
    y = _core.quantize_tensor(x, fmt, rounding, seed, stream, axis)
    out.copy_(torch.from_numpy(y))
    return out.numpy()


class _QuantizeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t, spec):
        fmt, rounding, seed, stream, axis, grad, grad_rounding, grad_seed, grad_stream = spec
        ctx.spec = spec
        return torch.from_numpy(_quantize_array(t, fmt, rounding, seed, stream, axis))

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        fmt, rounding, seed, stream, axis, grad, grad_rounding, grad_seed, grad_stream = ctx.spec
        if grad == "ste":
            return g, None
        return torch.from_numpy(_quantize_array(g, grad, grad_rounding, grad_seed, grad_stream, axis)), None


def quantize(t, fmt, rounding="rne", seed=0, stream=0, *, channel_axis=0, grad="ste", grad_rounding="sr",
             grad_seed=None, grad_stream=None):
    """t rounded into the format `fmt` (any spelling of docs/formats.md: "e4m3fn", "bf16", "fx8.4:sat",
    scaled "int8/minmax/channel", MX "mxfp8e4m3", ...), as an autograd op.

    Absolute formats round each element alone (float64 tensors in float64, as lpsim.quantize); scaled and
    MX formats compute as nn's quantizers do, in float32, with the channel on `channel_axis` and blocks
    along the last axis. Stochastic rounding draws element i's bits from index i of (seed, stream), so
    the result is the same for any thread count. The gradient passes straight through (grad="ste"), or
    is itself quantized into the format `grad` with `grad_rounding`, drawing from (grad_seed, grad_stream)
    (default: seed + 1, the same stream). Zero-copy in for contiguous CPU float32/float64 tensors; the
    GIL is released while rounding."""
    _check(t, "t", "lpsim.torch.quantize")
    if grad is None:
        grad = "ste"
    if grad != "ste":
        _core.Format(grad)  # a bad gradient format fails now, not in backward
    gs = (seed + 1) % 2**64 if grad_seed is None else grad_seed
    spec = (fmt, rounding, seed, stream, channel_axis, grad, grad_rounding, gs, stream if grad_stream is None else grad_stream)
    return _QuantizeFn.apply(t, spec)


def quantize_(t, fmt, rounding="rne", seed=0, stream=0, *, channel_axis=0):
    """In place (no autograd): t's own memory rounded into `fmt`; t must be a contiguous CPU float tensor."""
    _check(t, "t", "lpsim.torch.quantize_")
    if not t.is_contiguous():
        raise ValueError("lpsim.torch.quantize_: t must be contiguous")
    with torch.no_grad():
        _quantize_array(t, fmt, rounding, seed, stream, channel_axis, out=t.detach())
    return t


# --------------------------------------------------------------------------- products

class _Call:
    """What one product call needs: its precision, name, depth, step and the module (if any) to tell."""

    __slots__ = ("precision", "name", "depth", "iteration", "training", "layer", "a_range")

    def __init__(self, precision_, name, depth, iteration, training, layer):
        self.precision, self.name, self.depth = precision_, name, depth
        self.iteration, self.training, self.layer = iteration, training, layer
        self.a_range = list(layer.a_range) if layer is not None and hasattr(layer, "a_range") else [0.0, 0.0]


def _call(fn, precision_, name, depth, iteration, training, layer):
    if layer is not None:
        return _Call(layer.precision, layer.lpsim_name, layer.depth, layer.iteration, layer.training, layer)
    return _Call(_as_precision(precision_, fn), name, depth, iteration, training, None)


def _after_forward(call, op):
    if call.layer is not None:
        call.layer._lpsim_forward(op)


def _after_backward(call, op):
    if call.layer is not None:
        call.layer._lpsim_backward(op)


class _LinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, call):
        out_f, in_f = weight.shape
        op = _core.LinearOp(in_f, out_f, bias is not None, call.precision, call.name, call.depth, call.iteration,
                            call.a_range)
        y = op.forward(_f32(x), _f32(weight), None if bias is None else _f32(bias), call.training)
        _after_forward(call, op)
        ctx.op, ctx.call = op, call
        ctx.dtypes = (x.dtype, weight.dtype, None if bias is None else bias.dtype)
        return _tensor(y, x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        op, call = ctx.op, ctx.call
        dx, dw, db = op.backward(_f32(gy), bool(ctx.needs_input_grad[0]))
        _after_backward(call, op)
        tx, tw, tb = ctx.dtypes
        return (None if dx is None else _tensor(dx, tx), _tensor(dw, tw), None if db is None else _tensor(db, tb),
                None)


def linear(x, weight, bias=None, precision=None, *, iteration=0, training=True, name="linear", depth=-1, layer=None):
    """y = x @ weight.T + bias on the emulated hardware of `precision` (a LayerPrecision or a dict of its keys),
    as lpsim's nn::Linear computes it, forward and backward: W and A quantized before the forward product,
    E (dY) before both backward products, G after the weight-gradient product; each product on its own MAC;
    random keys from the precision's (seed, stream) and `iteration` (nn::draw_key). x: (..., in) float32 or
    float64 (computed in float32, the engine's type); weight (out, in); bias (out,) or None.
    `layer`: a module of lpsim.torch whose precision, name, depth and step are used (and updated)."""
    fn = "lpsim.torch.linear"
    _check(x, "x", fn)
    _check(weight, "weight", fn, (2,))
    if bias is not None:
        _check(bias, "bias", fn, (1,))
    if x.dim() == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"{fn}: x has shape {tuple(x.shape)}, weight {tuple(weight.shape)}: x's last dimension "
                         f"must be weight's in_features {weight.shape[1]}")
    call = _call(fn, precision, name, depth, iteration, training, layer)
    lead = x.shape[:-1]
    y = _LinearFn.apply(x.reshape(-1, x.shape[-1]), weight, bias, call)
    return y.reshape(*lead, weight.shape[0])


class _Conv2dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, groups, call):
        cout, _, k, _ = weight.shape
        op = _core.Conv2dOp(x.shape[1], cout, k, stride, padding, groups, bias is not None, call.precision, call.name,
                            call.depth, call.iteration, call.a_range)
        y = op.forward(_f32(x), _f32(weight), None if bias is None else _f32(bias), call.training)
        _after_forward(call, op)
        ctx.op, ctx.call = op, call
        ctx.dtypes = (x.dtype, weight.dtype, None if bias is None else bias.dtype)
        return _tensor(y, x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        op, call = ctx.op, ctx.call
        dx, dw, db = op.backward(_f32(gy), bool(ctx.needs_input_grad[0]))
        _after_backward(call, op)
        tx, tw, tb = ctx.dtypes
        return (None if dx is None else _tensor(dx, tx), _tensor(dw, tw), None if db is None else _tensor(db, tb),
                None, None, None, None)


def _square(v, what, fn):
    if isinstance(v, (tuple, list)):
        if len(v) != 2 or v[0] != v[1]:
            raise ValueError(f"{fn}: {what} {tuple(v)}: lpsim's Conv2d takes the same {what} in both dimensions")
        v = v[0]
    if not isinstance(v, int):
        raise TypeError(f"{fn}: {what} must be an int or a pair of equal ints, got {v!r}")
    return v


def conv2d(x, weight, bias=None, stride=1, padding=0, groups=1, precision=None, *, iteration=0, training=True,
           name="conv2d", depth=-1, layer=None):
    """torch.nn.functional.conv2d (NCHW, square kernel, zero padding, no dilation) on the emulated hardware, as
    lpsim's nn::Conv2d computes it forward and backward (the rules of lpsim.torch.linear)."""
    fn = "lpsim.torch.conv2d"
    _check(x, "x", fn, (4,))
    _check(weight, "weight", fn, (4,))
    if bias is not None:
        _check(bias, "bias", fn, (1,))
    if weight.shape[2] != weight.shape[3]:
        raise ValueError(f"{fn}: weight has shape {tuple(weight.shape)}; lpsim's Conv2d takes square kernels")
    stride, padding, groups = _square(stride, "stride", fn), _square(padding, "padding", fn), int(groups)
    if groups < 1 or x.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"{fn}: x has {x.shape[1]} channels, weight {tuple(weight.shape)} takes "
                         f"{weight.shape[1]} per group in {groups} groups")
    call = _call(fn, precision, name, depth, iteration, training, layer)
    return _Conv2dFn.apply(x, weight, bias, stride, padding, groups, call)


class _BmmFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, yt, call):
        b, _, k = x.shape
        op = _core.BmmOp(b, k, yt.shape[1], call.precision, call.name, call.depth, call.iteration, call.a_range)
        z = op.forward(_f32(x), _f32(yt), call.training)
        _after_forward(call, op)
        ctx.op, ctx.call, ctx.dtypes = op, call, (x.dtype, yt.dtype)
        return _tensor(z, x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, gz):
        op, call = ctx.op, ctx.call
        dx, dyt = op.backward(_f32(gz), bool(ctx.needs_input_grad[0]))
        _after_backward(call, op)
        return None if dx is None else _tensor(dx, ctx.dtypes[0]), _tensor(dyt, ctx.dtypes[1]), None


def matmul(a, b, precision=None, *, iteration=0, training=True, name="matmul", depth=-1, layer=None):
    """a @ b on the emulated hardware: a 2-D product is linear(a, b.T) (a takes A's quantizer, b W's, the
    error E; db is the weight gradient, quantized by G); with batch dimensions (broadcast as torch.matmul
    does) each matrix i is such a product with the layer key batch_key(seed, stream, i), quantized on its own
    (a per-tensor scale is per matrix). 1-D operands are not taken."""
    fn = "lpsim.torch.matmul"
    _check(a, "a", fn)
    _check(b, "b", fn)
    if a.dim() < 2 or b.dim() < 2:
        raise ValueError(f"{fn}: a and b must be at least 2-D, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"{fn}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not align: "
                         f"{a.shape[-1]} != {b.shape[-2]}")
    call = _call(fn, precision, name, depth, iteration, training, layer)
    if a.dim() == 2 and b.dim() == 2:
        return _LinearFn.apply(a, b.t(), None, call)
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    a3 = a.expand(*batch, m, k).reshape(-1, m, k)
    bt3 = b.expand(*batch, k, n).transpose(-1, -2).reshape(-1, n, k)
    if a3.shape[0] == 0:
        return a.new_zeros(*batch, m, n)
    return _BmmFn.apply(a3, bt3, call).reshape(*batch, m, n)


def bmm(a, b, precision=None, *, iteration=0, training=True, name="bmm", depth=-1, layer=None):
    """torch.bmm on the emulated hardware: a (B, m, k) @ b (B, k, n), matrix i as lpsim.torch.matmul says."""
    fn = "lpsim.torch.bmm"
    _check(a, "a", fn, (3,))
    _check(b, "b", fn, (3,))
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"{fn}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not align (batch and k must agree)")
    return matmul(a, b, precision, iteration=iteration, training=training, name=name, depth=depth, layer=layer)
