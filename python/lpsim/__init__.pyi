"""Type stubs of the lpsim package (python/lpsim/__init__.py): the compiled core's public names re-exported,
quantize/matmul/conv2d (which also take CPU torch tensors and then return torch tensors), and lpsim.training's
runs and results files. tests/python/test_stubs.py checks them against the runtime."""
from typing import Any, SupportsIndex, overload

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from . import _core as _core
from ._core import Format as Format
from ._core import FormatError as FormatError
from ._core import GemmStats as GemmStats
from ._core import MacConfig as MacConfig
from ._core import __version__ as __version__
from ._core import aliases as aliases
from ._core import bitops as bitops
from ._core import code_version as code_version
from ._core import cpu_flags as cpu_flags
from ._core import decode as decode
from ._core import encode as encode
from ._core import gemm_path as gemm_path
from ._core import host_isa as host_isa
from ._core import isa as isa
from ._core import mac_presets as mac_presets
from ._core import set_isa as set_isa
from ._core import vectors as vectors
from .training import SweepError as SweepError
from .training import keys as keys
from .training import load as load
from .training import merge as merge
from .training import resolve_config as resolve_config
from .training import sweep as sweep
from .training import sweep_frame as sweep_frame
from .training import to_frame as to_frame
from .training import train as train

__all__ = ["Format", "FormatError", "GemmStats", "SweepError", "MacConfig", "__version__", "aliases", "code_version",
           "bitops", "conv2d", "decode", "encode", "cpu_flags", "gemm_path", "host_isa", "isa", "load", "mac_presets",
           "matmul", "quantize", "set_isa", "sweep", "sweep_frame", "keys", "resolve_config", "merge", "to_frame",
           "train", "vectors"]

_FormatLike = str | Format
_MacLike = str | MacConfig

# quantize: float32 input stays float32 (absolute formats), and scaled / MX formats always give float32; other
# input gives float64 (float16 input: float16, float32 or float64, the narrowest that holds the format).
@overload
def quantize(x: torch.Tensor, format: _FormatLike, rounding: str = "rne", seed: SupportsIndex = 0,  # type: ignore[misc]
             stream: SupportsIndex = 0, index0: SupportsIndex = 0, out: torch.Tensor | None = None, *,
             axis: int | None = None) -> torch.Tensor: ...
@overload
def quantize(x: NDArray[np.float32], format: _FormatLike, rounding: str = "rne", seed: SupportsIndex = 0,
             stream: SupportsIndex = 0, index0: SupportsIndex = 0, out: NDArray[np.float32] | None = None, *,
             axis: int | None = None) -> NDArray[np.float32]: ...
@overload
def quantize(x: ArrayLike, format: _FormatLike, rounding: str = "rne", seed: SupportsIndex = 0,
             stream: SupportsIndex = 0, index0: SupportsIndex = 0, out: NDArray[np.floating[Any]] | None = None, *,
             axis: int | None = None) -> NDArray[np.floating[Any]]: ...

@overload
def matmul(a: torch.Tensor, b: torch.Tensor | ArrayLike, mac: _MacLike = "fp32",  # type: ignore[misc]
           seed: SupportsIndex = 0, stream: SupportsIndex = 0, error: bool = False, depth: SupportsIndex = -1,
           tag: str = "", golden: bool = False, counts: bool = False, c: torch.Tensor | ArrayLike | None = None,
           scale_a: torch.Tensor | ArrayLike | None = None,
           scale_b: torch.Tensor | ArrayLike | None = None) -> tuple[torch.Tensor, GemmStats]: ...
@overload
def matmul(a: ArrayLike, b: torch.Tensor, mac: _MacLike = "fp32",  # type: ignore[misc]
           seed: SupportsIndex = 0, stream: SupportsIndex = 0, error: bool = False, depth: SupportsIndex = -1,
           tag: str = "", golden: bool = False, counts: bool = False, c: torch.Tensor | ArrayLike | None = None,
           scale_a: torch.Tensor | ArrayLike | None = None,
           scale_b: torch.Tensor | ArrayLike | None = None) -> tuple[torch.Tensor, GemmStats]: ...
@overload
def matmul(a: ArrayLike, b: ArrayLike, mac: _MacLike = "fp32", seed: SupportsIndex = 0, stream: SupportsIndex = 0,
           error: bool = False, depth: SupportsIndex = -1, tag: str = "", golden: bool = False, counts: bool = False,
           c: ArrayLike | None = None, scale_a: ArrayLike | None = None,
           scale_b: ArrayLike | None = None) -> tuple[NDArray[np.float32], GemmStats]: ...

@overload
def conv2d(x: torch.Tensor, w: torch.Tensor | ArrayLike, mac: _MacLike = "fp32",  # type: ignore[misc]
           stride: SupportsIndex = 1, padding: SupportsIndex = 0, groups: SupportsIndex = 1, seed: SupportsIndex = 0,
           error: bool = False, depth: SupportsIndex = -1, tag: str = "",
           counts: bool = False) -> tuple[torch.Tensor, GemmStats]: ...
@overload
def conv2d(x: ArrayLike, w: torch.Tensor, mac: _MacLike = "fp32",  # type: ignore[misc]
           stride: SupportsIndex = 1, padding: SupportsIndex = 0, groups: SupportsIndex = 1, seed: SupportsIndex = 0,
           error: bool = False, depth: SupportsIndex = -1, tag: str = "",
           counts: bool = False) -> tuple[torch.Tensor, GemmStats]: ...
@overload
def conv2d(x: ArrayLike, w: ArrayLike, mac: _MacLike = "fp32", stride: SupportsIndex = 1, padding: SupportsIndex = 0,
           groups: SupportsIndex = 1, seed: SupportsIndex = 0, error: bool = False, depth: SupportsIndex = -1,
           tag: str = "", counts: bool = False) -> tuple[NDArray[np.float32], GemmStats]: ...
