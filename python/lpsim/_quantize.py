"""lpsim.quantize for every format spelling: absolute formats element by element (the compiled core's
quantize), scaled and MX formats as the training quantizers compute them (nn::quantize_tensor)."""
import functools

import numpy as np

from . import _core


@functools.lru_cache(maxsize=256)
def _holds_all(spelling, dtype):
    """Whether every value of a format of at most 16 bits is exact in `dtype` (all codes decoded)."""
    f = _core.Format(spelling)
    if f.is_scaled or f.bits > 16:
        return False
    v = _core.decode(np.arange(f.num_codes, dtype=np.uint64), f)
    v = v[np.isfinite(v)]
    with np.errstate(over="ignore"):  # values beyond dtype's range become inf: not held
        return bool(np.array_equal(v.astype(dtype).astype(np.float64), v))


def _granularity(spelling):
    if spelling.startswith("mx") or "/block" in spelling:
        return "block"
    return "channel" if spelling.endswith("/channel") else "tensor"


def quantize(x, format, rounding="rne", seed=0, stream=0, index0=0, out=None, *, axis=None):
    """x rounded into `format` by `rounding` (any spelling of docs/formats.md).

    Absolute formats ("e4m3fn", "bf16", "fx8.4:sat", ...): each element alone. float32 stays float32;
    float16 stays float16 when every value of the format is exact in float16 (e5m2, e4m3, int8, ...),
    else becomes float32 when float32 holds the format's values, else float64; other real input becomes
    float64. Stochastic rounding of element i draws (seed, stream, index0 + i): no dependence on threads.

    Scaled and MX formats ("int8/minmax/channel", "e4m3/absmax/block32", "mxfp8e4m3", "mxint8", ...):
    as the training quantizers compute them, in float32 (the input rounded to float32 first), returning
    float32 values (scale x element). `axis`: for per-channel scaling the channel axis (default 0, the
    output channels of a weight), for blocks and MX the axis the blocks run along (default -1, the
    last); per-tensor formats take no axis. Stochastic rounding draws element i of the C-ordered input
    (axis moved last for blocks) from (seed, stream); index0 must be 0.

    out: an array to write the result into and return, of exactly the result's dtype and x's shape
    (C-contiguous, writeable); out=x rounds in place."""
    spelling = format.spelling if isinstance(format, _core.Format) else format
    if not isinstance(spelling, str):
        raise TypeError(f"quantize: format must be a str (a format spelling) or lpsim.Format, got {format!r}")
    f = _core.Format(spelling)
    if not f.is_scaled:
        if axis is not None:
            raise ValueError(f"quantize: axis applies to scaled and MX formats, not to \"{spelling}\"")
        a = np.asarray(x)
        if a.dtype == np.float16:
            want = np.float16 if _holds_all(spelling, np.float16) else \
                np.float32 if _holds_all(spelling, np.float32) else np.float64
            r = _core.quantize(a.astype(np.float32 if want != np.float64 else np.float64), f, rounding, seed, stream,
                               index0)
            r = r.astype(want)
            if out is None:
                return r
            _check_out(out, r, "quantize")
            out[...] = r
            return out
        return _core.quantize(x, f, rounding, seed, stream, index0, out)
    if index0 != 0:
        raise ValueError("quantize: index0 applies to absolute formats; a scaled format's draws are those of its tensor")
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"quantize: x has dtype {a.dtype}; scaled formats take real arrays")
    kind = _granularity(f.spelling)
    if kind == "tensor" and axis is not None:
        raise ValueError(f"quantize: \"{spelling}\" scales the whole tensor: no axis")
    nd = a.ndim
    if nd == 0:
        a = a.reshape(1)
    ax = (0 if kind == "channel" else -1) if axis is None else axis
    if not -a.ndim <= ax < a.ndim:
        raise ValueError(f"quantize: axis {ax} of a {nd}-D array")
    ax %= a.ndim
    moved = kind == "block" and ax != a.ndim - 1
    work = np.ascontiguousarray(np.moveaxis(a, ax, -1) if moved else a, dtype=np.float32)
    r = _core.quantize_tensor(work, f.spelling, rounding, seed, stream, ax if kind == "channel" else 0)
    if moved:
        r = np.ascontiguousarray(np.moveaxis(r, -1, ax))
    r = r.reshape(np.shape(x))
    if out is None:
        return r
    _check_out(out, r, "quantize")
    out[...] = r
    return out


def _check_out(out, r, fn):
    if not isinstance(out, np.ndarray) or out.dtype != r.dtype or out.shape != r.shape:
        raise TypeError(f"{fn}: out must be a {r.dtype} array of shape {r.shape}, got "
                        f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{fn}: out must be C-contiguous and writeable")
