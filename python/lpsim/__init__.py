"""lpsim: bit-accurate low-precision arithmetic simulation.

The compiled core lives in ``lpsim._core``; this package re-exports it and adds
pure-Python conveniences. Format spellings follow docs/formats.md, e.g. ``"e4m3fn"``,
``"bf16"``, ``"fx8.4:wrap"``.
"""
import functools as _functools

from . import _core
from ._core import (Format, FormatError, GemmStats, MacConfig, __version__, aliases, bitops, code_version, cpu_flags,
                    decode, encode, gemm_path, host_isa, isa, mac_presets, set_isa, vectors)
from ._quantize import quantize as _quantize_any
from .training import SweepError, keys, load, merge, resolve_config, sweep, sweep_frame, to_frame, train

__all__ = ["Format", "FormatError", "GemmStats", "SweepError", "MacConfig", "__version__", "aliases", "code_version", "bitops", "conv2d", "decode", "encode",
           "cpu_flags", "gemm_path", "host_isa", "isa", "load", "mac_presets", "matmul", "quantize", "set_isa", "sweep", "sweep_frame", "keys", "resolve_config", "merge",
           "to_frame", "train", "vectors"]


# quantize, matmul and conv2d also take torch tensors (CPU; found by their type's module, so that lpsim
# never imports torch): they enter as NumPy views of the same memory and results return as torch tensors
# sharing the arrays' memory; quantize's out= may be a tensor, written in place and returned.
def _is_torch(x):
    return type(x).__module__.split(".")[0] == "torch"


def _to_numpy(x, fn):
    if not _is_torch(x):
        return x
    if x.device.type != "cpu":
        raise ValueError(f"lpsim.{fn}: a tensor on {x.device}; lpsim computes on the CPU (move it with .cpu())")
    x = x.detach()
    if str(x.dtype) == "torch.bfloat16":  # NumPy has no bfloat16; float32 holds it exactly
        x = x.float()
    return x.numpy()


def _torch_aware(f, name):
    @_functools.wraps(f)
    def wrapper(*args, **kwargs):
        if not any(_is_torch(a) for a in (*args, *kwargs.values())):
            return f(*args, **kwargs)
        import torch  # only reached with torch tensors in hand
        out = kwargs.get("out", args[6] if name == "quantize" and len(args) > 6 else None)
        r = f(*(_to_numpy(a, name) for a in args), **{k: _to_numpy(v, name) for k, v in kwargs.items()})
        if _is_torch(out):
            return out
        if isinstance(r, tuple):
            return tuple(torch.from_numpy(v) if hasattr(v, "__array_interface__") else v for v in r)
        return torch.from_numpy(r)
    return wrapper


quantize = _torch_aware(_quantize_any, "quantize")
matmul = _torch_aware(_core.matmul, "matmul")
conv2d = _torch_aware(_core.conv2d, "conv2d")
