"""lpsim sweep --jobs N: points trained in N worker processes give the serial sweep's results bit for bit, reruns
skip finished points, Ctrl-C stops the workers between batches and any later sweep (any --jobs) continues them."""
import os
import re
import signal
import subprocess
import time

import h5py
import pytest

from lpsim_cli import LPSIM, TINY, assert_same_run, lpsim, needs_data

BASE = ["--model", "mlp", "--epochs", "1", *TINY]
GRID = ["--grid", "schedule.lr=0.05,0.1", "--grid", "precision.w=int4/minmax/channel,fp32"]


@needs_data
def test_jobs_equal_the_serial_sweep_and_reruns_skip(tmp_path):
    serial, par = tmp_path / "serial.h5", tmp_path / "par.h5"
    lpsim("-q", "sweep", *BASE, *GRID, "-o", serial)
    r = lpsim("sweep", *BASE, *GRID, "--jobs", "2", "-o", par)
    assert "4 points in the grid, 4 in shard 0/1: 4 trained, 0 already finished, 0 failed (2 jobs)" in r.stdout
    lines = r.stdout.splitlines()
    assert "[3/4] point 3/4: schedule.lr=0.1,precision.w=int4%2Fminmax%2Fchannel" in lines
    assert any(l.startswith("[2/4] epoch   1/1  loss") for l in lines)
    assert f'[4/4] results: {par} (group "schedule.lr=0.1,precision.w=fp32")' in lines  # where it ends up
    assert sorted(os.listdir(tmp_path)) == ["par.h5", "serial.h5"]  # no worker files, locks or checkpoints left
    with h5py.File(serial, "r") as a, h5py.File(par, "r") as b:
        assert sorted(a) == sorted(b) and len(a) == 4
        for name in a:
            assert_same_run(a, name, b, name)  # epochs, per-layer tables, weights, config, point
            assert b[name].attrs["status"] == "finished"
        before = b[sorted(b)[0]]["epochs/seconds"][0]
    r = lpsim("sweep", *BASE, *GRID, "-j", "3", "-o", par)
    assert "0 trained, 4 already finished, 0 failed (3 jobs)" in r.stdout and "[" not in r.stdout  # no worker started
    with h5py.File(par, "r") as b:
        assert b[sorted(b)[0]]["epochs/seconds"][0] == before  # untouched
    # a shard with --jobs: its points only, still a file to merge
    s1 = tmp_path / "s1.h5"
    r = lpsim("-q", "sweep", *BASE, *GRID, "--shard", "1/2", "--jobs", "2", "-o", s1)
    assert "4 points in the grid, 2 in shard 1/2: 2 trained" in r.stdout
    with h5py.File(serial, "r") as a, h5py.File(s1, "r") as b:
        assert len(b) == 2
        for name in b:
            assert_same_run(a, name, b, name)


@needs_data
def test_a_diverged_point_is_recorded_failed_and_named(tmp_path):
    out = tmp_path / "d.h5"
    args = ["-q", "sweep", "--model", "mlp", "epochs=1", *TINY, "--grid", "schedule.lr=1e6,0.05", "--jobs", "2",
            "-o", out]
    r = lpsim(*args, check=False)
    assert r.returncode == 1 and "1 of 2 points failed" in r.stderr, r.stderr
    assert "\n  schedule.lr=1e6 (training diverged in epoch 1" in r.stderr
    assert "[1/2] point 1/2: schedule.lr=1e6: training diverged" in r.stderr  # the worker's own line
    with h5py.File(out) as f:
        assert sorted(f[k].attrs["status"] for k in f) == ["failed", "finished"]
    assert not (tmp_path / "d.h5.jobs").exists()
    r = lpsim(*args, check=False)
    assert r.returncode == 1 and "0 trained, 1 already finished, 1 failed (2 jobs)" in r.stdout, r.stdout


# A few tenths of a second per epoch: a Ctrl-C after the first epoch finds every point partway.
SLOW = ["--model", "mlp", "--epochs", "4", "--train-subset", "12000", "--test-subset", "128", "--batch", "64",
        "threads=1", "--grid", "seed=1,2,3"]


def interrupt_after_first_epoch(args):
    """Starts `lpsim sweep`, as a terminal would, in a process group of its own, and sends the whole group SIGINT
    (Ctrl-C) once an epoch line appears."""
    p = subprocess.Popen([LPSIM, "sweep", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    deadline, seen = time.time() + 60, ""
    for line in p.stdout:
        seen += line
        if re.match(r"(\[\d/3\] )?epoch +\d/4  loss", line):
            break
        assert time.time() < deadline
    os.killpg(p.pid, signal.SIGINT)
    rest, stderr = p.communicate(timeout=60)
    return p.returncode, seen + rest, stderr


def statuses(path):
    with h5py.File(path, "r") as f:
        return {n: (f[n].attrs["status"], len(f[n]["epochs/epoch"]) if "epochs" in f[n] else 0) for n in f}


@needs_data
def test_an_interrupted_jobs_sweep_resumes_with_any_jobs_to_the_serial_result(tmp_path):
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    jobs = tmp_path / "out.h5.jobs"
    lpsim("-q", "sweep", *SLOW, "-o", ref)

    rc, stdout, stderr = interrupt_after_first_epoch([*SLOW, "--jobs", "2", "-o", str(out)])
    assert rc == 130, (stdout, stderr)
    # each worker got one SIGINT, passed on by the parent, and stopped between two batches (a second would kill it)
    assert "] lpsim: stopping after this batch" in stderr and "] lpsim: interrupted in epoch" in stderr, stderr
    assert "sweep interrupted:" in stderr and "rerun the same lpsim sweep command to continue" in stderr
    assert "sweep: 3 points in the grid" in stdout
    partway = sorted(os.listdir(jobs))
    assert partway and all(n.startswith("point") for n in partway), partway  # point files and their checkpoints
    assert all(st == "finished" for st, _ in statuses(out).values())  # out.h5 gets only what ended
    assert "seed=3" not in statuses(out) and "point3.h5" not in partway  # never started

    # continued serially: the worker files' runs move into out.h5 and carry on from their checkpoints
    rc, stdout, stderr = interrupt_after_first_epoch([*SLOW, "-o", str(out)])
    assert rc == 130 and not jobs.exists(), (stdout, stderr)
    assert "resuming run" in stdout
    assert any(st == "running" for st, _ in statuses(out).values())

    # and in 3 workers: the serial sweep's partial run moves into its worker file, every point ends as if uninterrupted
    r = lpsim("sweep", *SLOW, "--jobs", "3", "-o", out)
    assert "resuming run" in r.stdout and "(3 jobs)" in r.stdout
    assert not jobs.exists() and sorted(os.listdir(tmp_path)) == ["out.h5", "ref.h5"]
    with h5py.File(ref, "r") as a, h5py.File(out, "r") as b:
        assert sorted(a) == sorted(b) == ["seed=1", "seed=2", "seed=3"]
        for name in a:
            assert_same_run(a, name, b, name)


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "two", "+2", "99999"])
def test_a_bad_jobs_value_is_named(tmp_path, value):
    r = lpsim("sweep", *BASE, *GRID, f"--jobs={value}", "-o", tmp_path / "x.h5", check=False)
    assert r.returncode == 1 and f'--jobs "{value}" is not a number of worker processes' in r.stderr, r.stderr
    assert not os.listdir(tmp_path)  # nothing written
