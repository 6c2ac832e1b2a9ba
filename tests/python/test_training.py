"""lpsim.train / sweep / load: the same runs and results files as the CLI,
local process pools and Dask."""
import os
import subprocess
import sys

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
    again = lpsim.sweep(TINY, grid, output=tmp_path / "local.h5", progress=False)  # all finished: skipped, returned
    assert set(again) == set(local)
    for name in local:
        np.testing.assert_array_equal(again[name]["test_acc"], local[name]["test_acc"])
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


@needs_data
def test_sweep_refuses_a_stored_point_of_another_config_and_writes_point_attributes(tmp_path):
    out = tmp_path / "s.h5"
    grid = {"seed": [0, 1]}
    lpsim.sweep(TINY, grid, output=out, progress=False)
    runs = lpsim.load(out)
    assert runs["seed=1"]["attrs"]["point"] == "seed = 1\n" and int(runs["seed=1"]["attrs"]["point_index"]) == 1
    lenet = dict(TINY, model={"arch": "lenet5"})
    with pytest.raises(ValueError, match=r"point seed=0: its config differs .*lenet5"):
        lpsim.sweep(lenet, grid, output=out, progress=False)
    with pytest.raises(ValueError, match="config differs"):  # an override that changes the run, too
        lpsim.sweep(TINY, grid, output=out, progress=False, schedule__lr=0.2)
    assert set(lpsim.load(out)) == {"seed=0", "seed=1"}  # nothing trained, nothing replaced
    # threads do not change results: a stored point with other threads is the same point
    assert set(lpsim.sweep(dict(TINY, threads=2), grid, output=out, progress=False)) == {"seed=0", "seed=1"}


@needs_data
def test_sweep_shards_merge_to_the_whole_and_sweep_frame_is_tidy(tmp_path):
    grid = {"schedule.lr": [0.05, 0.1], "seed": [0, 1]}
    whole = lpsim.sweep(TINY, grid, output=tmp_path / "w.h5", progress=False)
    s0 = lpsim.sweep(TINY, grid, output=tmp_path / "s0.h5", progress=False, shard="0/2")
    s1 = lpsim.sweep(TINY, grid, output=tmp_path / "s1.h5", progress=False, shard=(1, 2))
    assert sorted(s0) == ["schedule.lr=0.05,seed=0", "schedule.lr=0.1,seed=0"]
    assert set(s0) | set(s1) == set(whole) and not set(s0) & set(s1)
    for name in s1:
        np.testing.assert_array_equal(s1[name]["test_acc"], whole[name]["test_acc"])
    with pytest.raises(ValueError, match="shard"):
        lpsim.sweep(TINY, grid, output=tmp_path / "x.h5", progress=False, shard="2/2")
    df = lpsim.sweep_frame(tmp_path / "w.h5")
    assert list(df.columns[:4]) == ["run", "point_index", "schedule.lr", "seed"]
    assert len(df) == 4 * TINY["epochs"] and list(df["point_index"].unique()) == [0, 1, 2, 3]
    final = lpsim.sweep_frame(tmp_path / "w.h5", final=True)
    assert len(final) == 4 and set(final["epoch"]) == {TINY["epochs"]}
    assert final.loc[final["run"] == "schedule.lr=0.1,seed=1", "test_acc"].item() == \
        whole["schedule.lr=0.1,seed=1"]["test_acc"][-1]


def test_load_and_to_frame_refuse_what_they_cannot_read(tmp_path):
    import h5py
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = [1, 2]
    with pytest.raises(ValueError, match="not an lpsim results file"):
        lpsim.load(other)
    pytest.importorskip("pandas")
    with pytest.raises(TypeError, match="a loaded run"):
        lpsim.to_frame({"attrs": {}, "epochs": {"epoch": [1]}})
    with pytest.raises(TypeError, match="history"):
        lpsim.to_frame([1, 2])


@needs_data
def test_the_readme_sweep_runs_as_a_script_without_a_main_guard(tmp_path):
    script = tmp_path / "sweep_script.py"
    script.write_text("import lpsim\n"
                      f"runs = lpsim.sweep({TINY!r}, {{'seed': [0, 1]}}, output='sweep.h5', progress=False)\n"
                      "print(sorted(runs))\n")
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(lpsim.__file__))))
    assert r.returncode == 0, r.stderr
    assert "['seed=0', 'seed=1']" in r.stdout


@needs_data
def test_keyboard_interrupt_stops_train_between_batches_and_resume_is_bit_identical(tmp_path, capfd):
    import _thread
    import threading
    import time

    import h5py
    cfg = {"model": {"arch": "lenet5"}, "epochs": 3, "batch": 32, "train_subset": 6000, "test_subset": 256,
           "threads": 1, "seed": 4}
    ref = lpsim.train(cfg, output=tmp_path / "ref.h5", progress=False)
    assert capfd.readouterr().out == ""  # progress=False: not even the summary

    out = tmp_path / "out.h5"

    def interrupt_after_first_epoch():
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with h5py.File(out, "r") as f:
                    if "run/epochs/epoch" in f and len(f["run/epochs/epoch"]) >= 1:
                        break
            except OSError:
                pass
            time.sleep(0.02)
        _thread.interrupt_main()

    t = threading.Thread(target=interrupt_after_first_epoch)
    t.start()
    with pytest.raises(KeyboardInterrupt, match=r"interrupted in epoch \d after batch .*--resume"):
        lpsim.train(cfg, output=out, progress=False)
    t.join()
    assert lpsim.load(out)["run"]["attrs"]["status"] != "finished"
    resumed = lpsim.train(cfg, output=out, resume=True, progress=False)
    same_metrics({k: v for k, v in ref.items() if k != "layers"}, {k: v for k, v in resumed.items() if k != "layers"})
