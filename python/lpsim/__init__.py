"""lpsim: bit-accurate low-precision arithmetic simulation.

The compiled core lives in ``lpsim._core``; this package re-exports it and adds
pure-Python conveniences. Format spellings follow docs/formats.md, e.g. ``"e4m3fn"``,
``"bf16"``, ``"fx8.4:wrap"``.
"""
from ._core import (Format, FormatError, GemmStats, MacConfig, __version__, aliases, bitops, code_version, conv2d,
                    cpu_flags, decode, encode, gemm_path, host_isa, isa, mac_presets, matmul, quantize, set_isa)
from .training import SweepError, load, sweep, to_frame, train

__all__ = ["Format", "FormatError", "GemmStats", "SweepError", "MacConfig", "__version__", "aliases", "code_version", "bitops", "conv2d", "decode", "encode",
           "cpu_flags", "gemm_path", "host_isa", "isa", "load", "mac_presets", "matmul", "quantize", "set_isa", "sweep",
           "to_frame", "train"]
