"""Progress and Ctrl-C: a piped run shows its header at once; SIGINT stops it between two batches with the results file consistent, exit 130 and how to
resume; the resumed run is bit for bit the uninterrupted one; a second SIGINT kills at once."""
import re
import signal
import subprocess
import time

import h5py

from lpsim_cli import LPSIM, assert_same_run, lpsim, needs_data

pytestmark = needs_data

# Long enough per epoch (a few seconds) to interrupt in the middle of one.
ARGS = ["train", "--model", "lenet5", "--train-subset", "6000", "--test-subset", "256", "--batch", "32",
        "--epochs", "3", "threads=1", "--seed", "2"]


def epochs_in(path):
    try:
        with h5py.File(path, "r") as f:
            return len(f["run/epochs/epoch"]) if "run/epochs/epoch" in f else 0
    except (OSError, KeyError):
        return 0


def test_sigint_stops_between_batches_keeps_the_file_and_resumes_bit_for_bit(tmp_path):
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    lpsim("-q", *ARGS, "-o", ref)
    p = subprocess.Popen([LPSIM, *ARGS, "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    first = p.stdout.readline()  # the header, flushed before any training
    assert first.startswith("lpsim train: lenet5 on fashion-mnist") and time.time() - t0 < 20
    deadline = time.time() + 180
    while epochs_in(out) < 1:
        assert p.poll() is None and time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # into epoch 2
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, (stdout, stderr)
    assert "stopping after this batch" in stderr
    m = re.search(r"interrupted in epoch (\d) after batch \d+ of 188", stderr)
    assert m and "--resume" in stderr and str(out) in stderr, stderr
    with h5py.File(out, "r") as f:  # every epoch before the interrupted one, not finished
        assert f["run"].attrs["status"] != "finished" and len(f["run/epochs/epoch"]) == int(m.group(1)) - 1
    r = lpsim(*ARGS, "-o", out, "--resume")
    assert "resuming" in r.stdout
    with h5py.File(ref, "r") as a, h5py.File(out, "r") as b:
        assert_same_run(a, "run", b, "run")


def test_a_second_sigint_kills_at_once(tmp_path):
    p = subprocess.Popen([LPSIM, *ARGS, "-o", str(tmp_path / "k.h5")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().startswith("lpsim train")
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode in (-signal.SIGINT, 130)
