"""Type stubs of lpsim.training (python/lpsim/training.py): training runs, sweeps and results files."""
from os import PathLike
from typing import Any, Iterable, Mapping

import pandas

_Path = str | PathLike[str]
# A config: a TOML file path, TOML text, a dict of keys (nested or dotted; "layers" a list of dicts), or None.
_Config = _Path | Mapping[str, Any] | None
# A history: {metric: NumPy array, one entry per epoch} plus "layers" (a list per epoch of per-layer dicts).
_History = dict[str, Any]

__all__ = ["train", "sweep", "load", "to_frame", "sweep_frame", "keys", "resolve_config", "merge", "SweepError"]

METRICS: tuple[str, ...]

class SweepError(RuntimeError):
    failures: dict[str, BaseException]
    results: dict[str, _History]
    output: str
    def __init__(self, failures: Mapping[str, BaseException] | Iterable[tuple[str, BaseException]],
                 results: Mapping[str, _History] | Iterable[tuple[str, _History]], output: str, total: int) -> None: ...

def keys() -> dict[str, tuple[str | None, str]]: ...
def resolve_config(config: _Config = None, **overrides: Any) -> str: ...
def merge(output: _Path, *inputs: _Path) -> None: ...
def train(config: _Config = None, *, output: _Path | None = None, group: str = "run", resume: bool = False,
          progress: bool = True, **overrides: Any) -> _History: ...
def sweep(config: _Config, grid: Mapping[str, Iterable[Any]], *, output: _Path, client: Any = None,
          processes: int = 2, threads_per_run: int = 1, progress: bool = True,
          shard: str | tuple[int, int] | None = None, **overrides: Any) -> dict[str, _History]: ...
def load(path: _Path, status: str | None = None) -> dict[str, dict[str, Any]]: ...
def to_frame(history: Mapping[str, Any]) -> pandas.DataFrame: ...
def sweep_frame(path: _Path, status: str | None = "finished", final: bool = False) -> pandas.DataFrame: ...
