"""lpsim.train / sweep / load: the same runs and results files as the CLI,
local process pools and Dask."""
import os
import subprocess

import numpy as np
import pytest

import lpsim

HAVE_DATA = os.path.exists("/usr/share/datasets/fashion-mnist")
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="Fashion-MNIST (dataset-fashion-mnist) not installed")
CLI = os.environ.get("LPSIM_CLI", "")
TINY = {"model": {"arch": "mlp", "hidden": 32}, "epochs": 2, "batch": 64, "train_subset": 256, "test_subset": 128,
        "threads": 1}
TIMINGS = {"seconds", "images_per_second"}


def same_metrics(a, b):
    assert set(a) == set(b)
    for k in a:
        if k not in TIMINGS:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@needs_data
def test_train_matches_the_cli_run_bit_for_bit(tmp_path):
    h = lpsim.train(TINY, output=tmp_path / "py.h5", precision__w="int8/minmax/channel", progress=False)
    assert list(h["epoch"]) == [1, 2] and h["bitops"][0] < h["bitops_fp32"][0]
    assert [l["name"] for l in h["layers"][0]] == ["fc1", "fc2", "fc3"]
    if not CLI:
        pytest.skip("LPSIM_CLI not set")
    cfg = tmp_path / "c.toml"
    cfg.write_text(lpsim._core.resolve_config("", "<defaults>", [
        "model.arch=mlp", "model.hidden=32", "epochs=2", "batch=64", "train_subset=256", "test_subset=128",
        "precision.w=int8/minmax/channel"]))
    subprocess.run([CLI, "train", str(cfg), "-o", str(tmp_path / "cli.h5"), "-q", "threads=2"], check=True,
                   capture_output=True)
    py, cli = lpsim.load(tmp_path / "py.h5")["run"], lpsim.load(tmp_path / "cli.h5")["run"]
    assert py["attrs"]["status"] == cli["attrs"]["status"] == "finished"
    same_metrics(py["epochs"], cli["epochs"])  # 1 thread in Python, 2 in the CLI: the same bits
    np.testing.assert_array_equal(py["epochs"]["test_acc"], h["test_acc"])
    assert list(py["layers"]["name"]) == ["fc1", "fc2", "fc3"]
    assert len(lpsim.to_frame(h)) == 2
    assert py["attrs"]["code_version"] == lpsim.code_version  # the module and the CLI: one build


def test_version():
    major, minor, patch = (int(x) for x in lpsim.__version__.split("."))  # "0.1.0"
    assert (major, minor, patch) >= (0, 1, 0)
    assert isinstance(lpsim.code_version, str) and lpsim.code_version


def test_configs_from_strings_and_bad_keys():
    assert "optimizer.lr" not in lpsim._core.resolve_config("[optimizer]\nkind = \"adam\"\n", "s", [])
    with pytest.raises(ValueError, match="optimizer.learning_rate"):
        lpsim.train(TINY, optimizer__learning_rate=0.1, progress=False)
    with pytest.raises(ValueError, match="epochs must be an integer"):
        lpsim.train("epochs = 2.5\n", progress=False)
    with pytest.raises(FileNotFoundError, match="nowhere.toml"):
        lpsim.train("nowhere.toml", progress=False)


@needs_data
def test_sweep_local_dask_and_cli_agree_and_resume(tmp_path):
    grid = {"schedule.lr": [0.05, 0.1], "precision.w": ["int4/minmax/channel", "int8/minmax/channel"]}
    local = lpsim.sweep(TINY, grid, output=tmp_path / "local.h5", processes=2, progress=False)
    assert set(local) == set(lpsim.load(tmp_path / "local.h5", status="finished")) and len(local) == 4
    assert lpsim.sweep(TINY, grid, output=tmp_path / "local.h5", progress=False) == {}  # all finished: skipped
    a = lpsim.load(tmp_path / "local.h5")
    if CLI:  # the CLI's sweep names and computes the same runs
        cfg = tmp_path / "c.toml"
        cfg.write_text(lpsim._core.resolve_config("", "<defaults>", [
            "model.arch=mlp", "model.hidden=32", "epochs=2", "batch=64", "train_subset=256", "test_subset=128"]))
        subprocess.run([CLI, "sweep", str(cfg), "--grid", "schedule.lr=0.05,0.1", "--grid",
                        "precision.w=int4/minmax/channel,int8/minmax/channel", "-o", str(tmp_path / "cli.h5"), "-q"],
                       check=True, capture_output=True)
        c = lpsim.load(tmp_path / "cli.h5")
        assert set(c) == set(a)
        for run in a:
            same_metrics(a[run]["epochs"], c[run]["epochs"])
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = lpsim.sweep(TINY, grid, output=tmp_path / "dask.h5", client=client, progress=False)
    b = lpsim.load(tmp_path / "dask.h5")
    assert set(a) == set(b) == set(dask)
    for run in a:
        same_metrics(a[run]["epochs"], b[run]["epochs"])
