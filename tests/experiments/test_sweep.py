"""Sweeps: the grid's points as run groups, shards merged equal the whole
sweep, reruns skip finished points."""
import os
import subprocess
import sys

import h5py
import pytest

from lpsim_cli import TINY, assert_same_run, lpsim, needs_data

pytestmark = needs_data

BASE = ["--model", "mlp", "--epochs", "1", *TINY]
GRID = ["--grid", "schedule.lr=0.05,0.1", "--grid", "precision.w=int4/minmax/channel,fp32"]
NAMES = [f"schedule.lr={lr},precision.w={w}" for lr in ("0.05", "0.1")
         for w in ("int4%2Fminmax%2Fchannel", "fp32")]


def test_shards_merged_equal_the_whole_sweep_and_reruns_skip(tmp_path):
    whole, s0, s1, merged = (tmp_path / n for n in ("whole.h5", "s0.h5", "s1.h5", "merged.h5"))
    r = lpsim("-q", "sweep", *BASE, *GRID, "-o", whole)
    assert "4 points in the grid, 4 in shard 0/1: 4 trained, 0 already finished" in r.stdout
    lpsim("-q", "sweep", *BASE, *GRID, "--shard", "0/2", "-o", s0)
    lpsim("-q", "sweep", *BASE, *GRID, "--shard", "1/2", "-o", s1)
    lpsim("-q", "merge", merged, s0, s1)
    with h5py.File(whole, "r") as w, h5py.File(s0, "r") as a, h5py.File(merged, "r") as m:
        assert sorted(w) == sorted(NAMES) and sorted(m) == sorted(NAMES)
        assert sorted(a) == sorted(NAMES[0::2])  # shard 0 of 2: points 0 and 2
        for name in NAMES:
            assert_same_run(w, name, m, name)
        g = w[NAMES[2]]
        assert g.attrs["point_index"] == 2 and g.attrs["point"] == "schedule.lr = 0.1\nprecision.w = int4/minmax/channel\n"
        assert "\nlr = 0.1\n" in g.attrs["config"] and '\nw = "int4/minmax/channel"\n' in g.attrs["config"]
        assert g["layers/bits_w"][0].tolist() == [32, 4, 32]
        # the grid really varies the runs
        assert w[NAMES[0]]["epochs/train_loss"][0] != w[NAMES[1]]["epochs/train_loss"][0]

    before = h5py.File(whole, "r")[NAMES[0]]["epochs/seconds"][0]
    r = lpsim("sweep", *BASE, *GRID, "-o", whole)
    assert "0 trained, 4 already finished" in r.stdout
    assert h5py.File(whole, "r")[NAMES[0]]["epochs/seconds"][0] == before  # untouched

    # a shard with no points still leaves a file to merge
    empty = tmp_path / "s7.h5"
    r = lpsim("sweep", *BASE, *GRID, "--shard", "7/9", "-o", empty)
    assert "4 points in the grid, 0 in shard 7/9" in r.stdout
    lpsim("-q", "merge", merged, empty)
    with h5py.File(empty, "r") as e, h5py.File(merged, "r") as m:
        assert len(e) == 0 and sorted(m) == sorted(NAMES)
    r = lpsim("merge", merged, tmp_path / "nope.h5", check=False)
    assert r.returncode == 1 and f"merge: {tmp_path / 'nope.h5'} does not exist" in r.stderr
    assert not (tmp_path / "nope.h5.lock").exists()

    # a run in two inputs is an error naming it
    r = lpsim("merge", tmp_path / "twice.h5", s0, s0, check=False)
    assert r.returncode == 1 and f"is already in {tmp_path / 'twice.h5'}" in r.stderr


def test_grid_values_with_commas_split_on_semicolons(tmp_path):
    # MAC spellings hold commas: the axis is split on ';'. The int4 codes run on
    # an 8-bit wrapping accumulator, which must change the result.
    macs = ["fp32", "a=int4,b=uint4,acc=int32,out=fp32", "a=int4,b=uint4,acc=int8:wrap,out=fp32"]
    out = tmp_path / "macs.h5"
    lpsim("-q", "sweep", *BASE, "--w", "int4/absmax/channel", "--a", "uint4/absmax/tensor",
          "--grid", "precision.mac_fwd=" + ";".join(macs), "-o", out)
    with h5py.File(out, "r") as f:
        names = sorted(f)
        assert len(names) == 3
        loss = {f[n].attrs["point"]: f[n]["epochs/train_loss"][0] for n in names}
    wide, narrow = (loss[f"precision.mac_fwd = {m}\n"] for m in macs[1:])
    assert wide != narrow


@pytest.mark.parametrize("args, message", [
    (["--grid", "schedule.lr=0.1", "--shard", "2/2"], '--shard "2/2" is not i/n with 0 <= i < n'),
    (["--grid", "schedule.lr"], '--grid "schedule.lr" is not key=v1,v2'),
    (["--grid", "schedule.lr=0.1,,0.2"], "has an empty value"),
    (["--grid", "schedule.lrx=0.1"], 'unknown key "schedule.lrx"'),
    (["--grid", "schedule.lr=0.1,fast"], "schedule.lr must be a number"),
    (["--grid", "epochs=1", "--grid", "epochs=2"], 'names key "epochs" twice'),
])
def test_bad_grids_are_named(tmp_path, args, message):
    r = lpsim("sweep", *BASE, *args, "-o", tmp_path / "x.h5", check=False)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "x.h5").exists()  # nothing trained


def test_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    import signal
    import subprocess
    import time

    from lpsim_cli import LPSIM

    args = ["--model", "mlp", "--epochs", "3", *TINY, "--w", "int8/minmax/channel", "--e", "int8/minmax/tensor",
            "--grid", "seed=1,2,3"]
    whole, killed = tmp_path / "whole.h5", tmp_path / "killed.h5"
    lpsim("-q", "sweep", *args, "-o", whole)

    def progress():
        try:
            with h5py.File(killed, "r") as f:
                done = [n for n in f if f[n].attrs["status"] == "finished"]
                partial = [n for n in f if f[n].attrs["status"] == "running" and "epochs" in f[n]]
                return len(done), len(partial)
        except (OSError, KeyError):
            return 0, 0

    p = subprocess.Popen([LPSIM, "-q", "sweep", *args, "-o", str(killed)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while progress() < (1, 1):  # one point finished, the next one partway
        assert p.poll() is None, p.communicate()
        assert time.time() < deadline
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = lpsim("sweep", *args, "-o", killed)
    assert "already finished" in r.stdout and "resuming run" in r.stdout
    with h5py.File(whole, "r") as a, h5py.File(killed, "r") as b:
        assert sorted(a) == sorted(b) == ["seed=1", "seed=2", "seed=3"]
        for name in a:
            assert_same_run(a, name, b, name)


def test_results_table_of_a_policy_sweep(tmp_path):
    out = tmp_path / "policies.h5"
    lpsim("-q", "sweep", *BASE, "--grid", "policy.kind=static,sbm", "--grid", "seed=0,1", "-o", out)
    script = os.path.join(os.path.dirname(__file__), "../../experiments/results_table.py")
    env = dict(os.environ, PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, script, str(out)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in r.stdout.splitlines()[2:]}
    assert set(rows) == {"fp32 (static)", "sbm"}
    assert rows["fp32 (static)"][1] == "—" and rows["fp32 (static)"][2] == "0.0%" and rows["fp32 (static)"][3] == "—"
    assert rows["sbm"][4] == "0,1" and " ± " in rows["sbm"][0]
    assert rows["sbm"][3] == "0.0%"  # the reference of the second savings column
    assert rows["sbm"][5] == "8/8/8" and rows["fp32 (static)"][5] == "32/32/32"  # mean bits of the quantized layers
    # SBM's 8-bit W, A, E on the middle layer of the mlp: some BitOPs saved, not all
    saved = float(rows["sbm"][2].rstrip("%"))
    assert 0 < saved < 100
    with h5py.File(out, "r") as f:
        acc = {n: f[n]["epochs/test_acc"][-1] for n in f}
    base = {s: acc[f"policy.kind=static,seed={s}"] for s in (0, 1)}
    sbm = [100 * (acc[f"policy.kind=sbm,seed={s}"] - base[s]) for s in (0, 1)]
    assert rows["sbm"][1] == f"{sum(sbm) / 2:+.2f}"  # the paired difference per seed, averaged
    # Another sweep's runs as labelled rows, paired with this file's baseline (here: the same file again).
    r = subprocess.run([sys.executable, script, str(out), "--extra", f"{out}:again"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr
    again = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in r.stdout.splitlines()[2:]}
    assert again["sbm (again)"] == rows["sbm"] and again["static (again)"][1] == "+0.00"
    r = subprocess.run([sys.executable, script, str(out), "--extra", "no-label"], capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "FILE:LABEL" in r.stderr
    r = subprocess.run([sys.executable, script, str(tmp_path / "none.h5")], capture_output=True, text=True, env=env)
    assert r.returncode != 0
