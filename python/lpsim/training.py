"""Training runs, sweeps and results files from Python.

The same configs, keys and results files as the ``lpsim`` command line
(docs/config.md, docs/results-format.md): a config is a TOML file, a TOML
string or a dict of keys; overrides are keyword arguments, with ``__`` for the
dot of a dotted key (``schedule__lr=0.1`` is ``schedule.lr=0.1``) or a name of the
CLI's flags (``lr=0.1`` as ``--lr 0.1``, ``e_round="sr"``).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import _core

__all__ = ["train", "sweep", "load", "to_frame", "sweep_frame", "keys", "resolve_config", "merge", "SweepError"]


class SweepError(RuntimeError):
    """Some points of a sweep failed. Every other point ran to its end and is in
    the results file; ``failures`` maps each failed point's name to its
    exception, ``results`` holds the histories of the points that finished."""

    def __init__(self, failures, results, output, total):
        self.failures, self.results, self.output = dict(failures), dict(results), output
        lines = [f"{len(self.failures)} of {total} sweep points failed "
                 f"({len(self.results)} finished and are in {output}):"]
        lines += [f"  point {name}: {type(e).__name__}: {e}" for name, e in self.failures.items()]
        super().__init__("\n".join(lines))

    def __reduce__(self):  # picklable (Dask, process pools) with its fields
        return (SweepError, (self.failures, self.results, self.output, len(self.failures) + len(self.results)))

METRICS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_second",
           "bitops", "bitops_fp32")


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return repr(v.item() if hasattr(v, "item") else v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"config value {v!r} of type {type(v).__name__} has no TOML spelling")


def _flatten(d, prefix=""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, v


def _read_config_file(path):
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"config file {path} is a directory, not a TOML file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ValueError(f"config file {path}: line {line}: byte 0x{data[e.start]:02x} at offset {e.start} is not "
                         f"UTF-8 (TOML files are UTF-8)") from None


def _config_text(config):
    """(TOML text, source name) of a path, a TOML string or a dict."""
    if config is None:
        return "", "<defaults>"
    if isinstance(config, (str, Path)) and (isinstance(config, Path) or "\n" not in config and "=" not in config):
        path = Path(config)
        return _read_config_file(path), str(path)
    if isinstance(config, str):
        return config, "<string>"
    if isinstance(config, dict):
        d = dict(config)
        layers = d.pop("layers", [])
        lines = [f"{k} = {_toml_value(v)}" for k, v in _flatten(d)]
        for layer in layers:
            lines.append("[[layers]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in layer.items()]
        return "\n".join(lines) + "\n", "<dict>"
    raise TypeError(f"config must be a path, a TOML string or a dict, not {type(config).__name__}")


_TABLES = {}


def _tables():
    """(the config keys, {flag name with underscores: (key, value a switch sets or "")}), read once."""
    if not _TABLES:
        _TABLES["keys"] = {k for k, _, _ in _core.config_keys()}
        _TABLES["flags"] = {name.replace("-", "_"): (key, fixed) for name, key, fixed in _core.config_flags()}
    return _TABLES["keys"], _TABLES["flags"]


def _overrides(overrides):
    """key=value texts of keyword overrides: a config key with "__" for its dots (schedule__lr), or the
    name of one of the CLI's flags with "_" for "-" (lr, e_round, quantize_first_last=True), which set
    the same keys as on the command line."""
    keys, flags = _tables()
    out = []
    for k, v in overrides.items():
        key = k.replace("__", ".")
        if key not in keys and k in flags:
            key, fixed = flags[k]
            if fixed:  # a switch: True sets what the flag sets, False leaves the default
                if not isinstance(v, bool):
                    raise ValueError(f"override {k}={v!r}: {k} is a switch (True/False), as --{k.replace('_', '-')}")
                if v:
                    out.append(f"{key}={fixed}")
                continue
        out.append(f"{key}={v if isinstance(v, str) else _toml_value(v)}")
    return out


def keys():
    """Every config key: {key: (default as TOML text, meaning)}, as ``lpsim train --list-keys``;
    aliases (keys that set several) have default None."""
    return {k: (d, meaning) for k, d, meaning in _core.config_keys()}


def resolve_config(config=None, **overrides):
    """The full resolved config (TOML text) of a config (file path, TOML text, dict or None) and
    keyword overrides, as ``lpsim train --print-config``; errors name the key and line."""
    text, source = _config_text(config)
    return _core.resolve_config(text, source, _overrides(overrides))


def merge(output, *inputs):
    """Copies every run group of the input results files into `output` (created if absent), as
    ``lpsim merge``; a group already in `output` is an error naming it."""
    if not inputs:
        raise ValueError("merge needs at least one input results file")
    for path in (output, *inputs):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"merge: {path!r} is not a path")
    _core.merge_results(str(output), [str(p) for p in inputs])


def _count(value, name, lo, hi):
    """An integer argument in [lo, hi], else TypeError/ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return int(value)


def _history(epochs):
    """Per-epoch metrics as NumPy arrays, plus the per-layer records of each epoch."""
    h = {m: np.array([e[m] for e in epochs]) for m in METRICS}
    h["layers"] = [e["layers"] for e in epochs]
    return h


def train(config=None, *, output=None, group="run", resume=False, progress=True, **overrides):
    """Train as ``lpsim train`` does; returns the history: a dict of NumPy arrays
    (one entry per epoch: train_loss, test_acc, bitops, ...) and "layers".

    config: a TOML file path, a TOML string, a dict (nested or dotted keys;
    "layers" a list of per-layer dicts), or None for the defaults.
    output: an HDF5 results file to write as the run goes (resumable with
    resume=True). progress: a tqdm bar per epoch (if tqdm is installed) and
    the final summary lines; False prints nothing.
    The GIL is released while training. Ctrl-C (Jupyter's interrupt) stops the
    run between two batches and raises KeyboardInterrupt saying how to resume:
    `output` keeps every finished epoch, and resume=True continues bit for bit.
    """
    text, source = _config_text(config)
    if not isinstance(group, str) or not group:
        raise ValueError(f"group must be a non-empty string (the run's group in the results file), got {group!r}")
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
            total = int(dict(_parse_resolved(text, source, _overrides(overrides)))["epochs"])
            bar = tqdm(total=total, desc="lpsim train", unit="epoch")
        except ImportError:
            bar = None

    def on_epoch(e):
        if bar is not None:
            bar.set_postfix(loss=f"{e['train_loss']:.4f}", test=f"{100 * e['test_acc']:.2f}%",
                            img_s=f"{e['images_per_second']:.0f}")
            bar.update(1)

    try:
        epochs = _core.run_training(text, source, _overrides(overrides), "" if output is None else str(output), group,
                                    resume, True, on_epoch, "", -1, bool(progress))
    finally:
        if bar is not None:
            bar.close()
    return _history(epochs)


def _parse_resolved(text, source, overrides):
    """Top-level scalar keys of the resolved config, as (key, text) pairs."""
    for line in _core.resolve_config(text, source, overrides).splitlines():
        if "=" in line and not line.startswith("["):
            k, v = line.split("=", 1)
            yield k.strip(), v.strip()


def _grid(grid):
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict {{key: [values]}}, got {grid!r}")
    axes = {}
    for k, values in grid.items():
        if not isinstance(k, str) or not k:
            raise ValueError(f"grid key {k!r} is not a config key")
        if k.replace("__", ".") in ("output", "threads"):
            raise ValueError(f"grid cannot vary \"{k}\" (set output= and threads_per_run= instead)")
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise ValueError(f"grid[{k!r}] must be a list of values, got {values!r}")
        values = list(values)
        if not values:
            raise ValueError(f"grid[{k!r}] has no values")
        axes[k.replace("__", ".")] = values
    keys = list(axes)
    for values in itertools.product(*(axes[k] for k in keys)):
        # Strings unquoted, as `lpsim sweep --grid key=v1,v2` writes them: the same group names.
        yield [(k, v if isinstance(v, str) else _toml_value(v)) for k, v in zip(keys, values)]


def _run_point(text, source, overrides, point, threads, index=-1):
    """One sweep point in a fresh results file; returns (name, epochs, file bytes).
    Module-level so that Dask workers can pickle it."""
    name = _core.point_name(point)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "point.h5")
        assignments = overrides + [f"{k}={v}" for k, v in point] + [f"threads={threads}"]
        lines = "".join(f"{k} = {v}\n" for k, v in point)  # the point attribute, as `lpsim sweep` writes it
        epochs = _core.run_training(text, source, assignments, path, name, False, True, None, lines, index, False)
        return name, epochs, Path(path).read_bytes()


def _worker_main(job, result):
    """The local pool's worker: a fresh interpreter (``python -c``) runs one point from a pickled job
    file into a pickled result file. A fresh process, not multiprocessing: no OpenMP state forked
    from the parent, and no re-import of the caller's ``__main__`` (a script needs no main guard)."""
    with open(job, "rb") as f:
        args = pickle.load(f)
    try:
        out = ("ok", _run_point(*args))
    except Exception as e:  # noqa: BLE001 -- sent back to the parent as it is
        out = ("error", e)
    with open(result, "wb") as f:
        pickle.dump(out, f)


def _run_point_in_process(*args):
    with tempfile.TemporaryDirectory() as tmp:
        job, result = os.path.join(tmp, "job.pkl"), os.path.join(tmp, "result.pkl")
        with open(job, "wb") as f:
            pickle.dump(args, f)
        env = dict(os.environ)
        here = str(Path(__file__).resolve().parent.parent)  # the directory holding this lpsim package
        env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        code = f"import lpsim.training as t; t._worker_main({job!r}, {result!r})"
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if not os.path.exists(result):
            raise RuntimeError(f"sweep worker exited {r.returncode} without a result:\n{r.stderr[-2000:]}")
        with open(result, "rb") as f:
            status, value = pickle.load(f)
        if status == "error":
            raise value
        return value


def _shard(shard):
    """(i, n) from "i/n" or (i, n), 0 <= i < n."""
    if shard is None:
        return 0, 1
    try:
        i, n = (int(x) for x in (shard.split("/") if isinstance(shard, str) else shard))
    except (TypeError, ValueError):
        raise ValueError(f"shard must be \"i/n\" or (i, n), got {shard!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"shard {i}/{n}: need 0 <= i < n")
    return i, n


def _identity(config_text):
    """A stored or resolved config without the keys that do not change a run's results."""
    return "\n".join(line for line in config_text.splitlines()
                     if not line.startswith("threads =") and not line.startswith("output ="))


def sweep(config, grid, *, output, client=None, processes=2, threads_per_run=1, progress=True, shard=None,
          **overrides):
    """Train every point of a grid ({key: [values]}, Cartesian product, last key
    fastest) and collect the runs in one HDF5 results file, one group per point
    named as ``lpsim sweep`` names it. Points already finished in `output` are
    skipped, so an interrupted sweep continues where it stopped.

    client: a dask.distributed Client (a LocalCluster or a remote scheduler);
    without one, a local pool of `processes` processes (1 to 1024), each
    point with `threads_per_run` threads (1 to 1024). Each point trains in its
    worker and sends its results file back, so workers need no shared disk.
    Local workers are fresh interpreters, so a script needs no
    ``if __name__ == "__main__":`` guard. shard: "i/n" (or (i, n)) runs the
    points p with p % n == i, as ``lpsim sweep --shard``.
    Returns {point name: history} for every point of the shard, the ones
    already finished in `output` (read back from it) included.

    A point already in `output` is skipped only when its stored config is the
    one this call resolves (threads and output aside); a point whose config
    differs (another base config, another override) raises ValueError naming
    it and the first difference, as ``lpsim sweep`` refuses to resume it:
    choose another output.

    Every point's config is checked before any trains: invalid values raise
    one ValueError naming every bad point. A point that fails while it runs
    does not stop the others: the sweep waits for every point, writes each
    finished one into `output` as it arrives, and then raises SweepError
    naming every failed point and its error (``.failures``, ``.results``).
    """
    if output is None or not isinstance(output, (str, os.PathLike)) or not str(output):
        raise ValueError(f"output must be a results file path, got {output!r}")
    if Path(output).is_dir():
        raise IsADirectoryError(f"output {output} is a directory, not a results file")
    processes = _count(processes, "processes", 1, 1024)
    threads_per_run = _count(threads_per_run, "threads_per_run", 1, 1024)
    text, source = _config_text(config)
    base = _overrides(overrides)
    _core.resolve_config(text, source, base)  # a bad config fails here, not in every worker
    points = list(_grid(grid))
    part, parts = _shard(shard)
    bad, names = [], {}
    for p in points:
        name = _core.point_name(p)
        if name in names:
            bad.append(f"  point {name}: the same point as point {names[name] + 1} (a repeated grid value)")
            continue
        names[name] = len(names)
        try:
            _core.resolve_config(text, source, base + [f"{k}={v}" for k, v in p])
        except ValueError as e:
            bad.append(f"  point {name}: {e}")
    if bad:
        raise ValueError(f"{len(bad)} of {len(points)} sweep points are invalid (nothing was trained):\n" + "\n".join(bad))
    mine = [(i, p) for i, p in enumerate(points) if i % parts == part]
    stored = load(output) if Path(output).exists() else {}
    done, differ = {}, []
    for i, p in mine:
        name = _core.point_name(p)
        if name not in stored:
            continue
        want = _core.resolve_config(text, source, base + [f"{k}={v}" for k, v in p])
        have = stored[name]["attrs"].get("config", "")
        if _identity(have) != _identity(want):
            first = next((f"{a!r} stored, {b!r} now" for a, b in
                          itertools.zip_longest(_identity(have).splitlines(), _identity(want).splitlines()) if a != b), "")
            differ.append(f"  point {name}: its config differs ({first})")
        elif stored[name]["attrs"].get("status") == "finished":
            done[name] = stored[name]
    if differ:
        raise ValueError(f"{output} holds {len(differ)} of these points with another config (nothing was trained; "
                         "choose another output):\n" + "\n".join(differ))
    todo = [(i, p) for i, p in mine if _core.point_name(p) not in done]
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(mine), initial=len(mine) - len(todo), desc="lpsim sweep", unit="run")
        except ImportError:
            pass
    results, failures = {name: _stored_history(run) for name, run in done.items()}, {}

    def collect(name, future):
        try:
            name, epochs, blob = future.result()
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "point.h5")
                Path(path).write_bytes(blob)
                _core.merge_results(str(output), [path])  # the results file after every point
            results[name] = _history(epochs)
        except (Exception, asyncio.CancelledError, concurrent.futures.CancelledError) as e:  # noqa: BLE001
            failures[name] = e  # every point's error is reported at the end
        if bar is not None:
            bar.update(1)

    def finish():
        if failures:
            order = {_core.point_name(p): i for i, p in mine}
            raise SweepError(sorted(failures.items(), key=lambda kv: order[kv[0]]), results, str(output), len(todo))

    try:
        if client is not None and todo:
            from distributed import as_completed
            futures = {client.submit(_run_point, text, source, base, p, threads_per_run, i, pure=False):
                       _core.point_name(p) for i, p in todo}
            try:
                for fut in as_completed(list(futures)):
                    collect(futures[fut], fut)
            except BaseException:
                client.cancel(list(futures))
                raise
        elif todo:
            from concurrent.futures import ThreadPoolExecutor, as_completed
            # Threads that each wait on a fresh interpreter (_run_point_in_process).
            with ThreadPoolExecutor(max_workers=processes) as pool:
                futures = {pool.submit(_run_point_in_process, text, source, base, p, threads_per_run, i):
                           _core.point_name(p) for i, p in todo}
                try:
                    for fut in as_completed(futures):
                        collect(futures[fut], fut)
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
    finally:
        if bar is not None:
            bar.close()
    finish()
    return results


def _stored_history(run):
    """A loaded run's epochs as a history (the form train and sweep return)."""
    return {k: np.asarray(v) for k, v in run["epochs"].items()}


def load(path, status=None):
    """A results file as {run: {"attrs": {...}, "epochs": {metric: array}, "layers": {name: array}}}.
    status="finished" keeps only finished runs. Raises ValueError for an HDF5
    file that is not an lpsim results file."""
    import h5py

    def text(v):
        return v.decode() if isinstance(v, bytes) else v

    out = {}
    with h5py.File(path, "r") as f:
        if text(f.attrs.get("format", "")) != "lpsim-results":
            raise ValueError(f"{path} is an HDF5 file but not an lpsim results file (no format=\"lpsim-results\" "
                             "attribute; docs/results-format.md)")
        for name, run in f.items():
            attrs = {k: text(v) for k, v in run.attrs.items()}
            if status is not None and attrs.get("status") != status:
                continue
            entry = {"attrs": attrs, "epochs": {k: v[...] for k, v in run["epochs"].items()} if "epochs" in run else {}}
            if "layers" in run:
                entry["layers"] = {k: (np.array([text(x) for x in v[...]]) if v.dtype.kind in "OS" else v[...])
                                   for k, v in run["layers"].items()}
            out[name] = entry
    return out


def to_frame(history):
    """A history (from train, or a run's "epochs" from load) as a pandas DataFrame."""
    import pandas as pd
    if not isinstance(history, dict) or "attrs" in history or "epoch" not in history:
        raise TypeError("to_frame takes a history (from train, or load(path)[run][\"epochs\"]), not "
                        + ("a loaded run: pass run[\"epochs\"], or use sweep_frame(path) for a whole file"
                           if isinstance(history, dict) and "attrs" in history else repr(type(history).__name__)))
    return pd.DataFrame({k: v for k, v in history.items() if k != "layers"})


def sweep_frame(path, status="finished", final=False):
    """A sweep's results file as one tidy pandas DataFrame: a row per run and epoch (the last epoch
    only with final=True), columns run, point_index, one per grid axis (the point's keys, values as
    written), then the epoch metrics."""
    import pandas as pd
    frames = []
    for name, run in load(path, status=status).items():
        point = dict(line.split(" = ", 1) for line in run["attrs"].get("point", "").splitlines() if " = " in line)
        df = pd.DataFrame(run["epochs"])
        if final and len(df):
            df = df.iloc[[-1]]
        df.insert(0, "run", name)
        df.insert(1, "point_index", int(run["attrs"].get("point_index", -1)))
        for j, (k, v) in enumerate(point.items()):
            df.insert(2 + j, k, v)
        frames.append(df)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).sort_values(["point_index", "run"], kind="stable",
                                                            ignore_index=True)
