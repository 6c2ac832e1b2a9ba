"""HDF5 results: schema, a SIGKILLed run leaves a readable file, one writer
per file, and --resume continues a killed run to the same bits."""
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from lpsim_cli import LPSIM, TINY, assert_same_run, lpsim, needs_data, run_tables

pytestmark = needs_data

# A model with every kind of state: BatchNorm running statistics, momentum
# slots, stochastic rounding keyed by each layer's step counter.
RESNET = ["--model", "resnet8", "--train-subset", "64", "--test-subset", "32", "--batch", "32", "threads=1",
          "--optimizer", "nesterov", "--w", "int8/minmax/channel", "--a", "int8/minmax/tensor",
          "--e", "int8/minmax/tensor", "--e-round", "sr", "--seed", "5"]


def epochs_in(path):
    """Finished epochs in a results file being written, or 0 (absent)."""
    try:
        with h5py.File(path, "r") as f:
            return len(f["run/epochs/epoch"]) if "run/epochs/epoch" in f else 0
    except (OSError, KeyError):
        return 0


def start_and_wait(args, out, epochs_wanted):
    p = subprocess.Popen([LPSIM, "-q", "train", *map(str, args), "-o", str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while epochs_in(out) < epochs_wanted:
        assert p.poll() is None, f"lpsim ended early: {p.communicate()}"
        assert time.time() < deadline, "no epoch record within 120 s"
        time.sleep(0.02)
    return p


def test_schema(tmp_path):
    out = tmp_path / "r.h5"
    lpsim("-q", "train", "--model", "mlp", "--epochs", "2", *TINY, "--w", "int8/minmax/channel", "--count-events",
          "--measure-error", "-o", out)
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "lpsim-results" and f.attrs["format_version"] == 1
        g = f["run"]
        for a in ("config", "code_version", "seed", "start_time", "end_time"):
            assert a in g.attrs, a
        assert g.attrs["status"] == "finished"
        assert "epochs = 2" in g.attrs["config"] and 'w = "int8/minmax/channel"' in g.attrs["config"]
        assert list(g["epochs/epoch"]) == [1, 2]
        for name in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_second", "bitops",
                     "bitops_fp32"):
            assert g["epochs"][name].shape == (2,) and g["epochs"][name].maxshape == (None,), name
        L = g["layers"]
        assert list(L["name"].asstr()[()]) == ["fc1", "fc2", "fc3"] and list(L["depth"]) == [0, 1, 2]
        assert list(L["params"]) == [784 * 256 + 256, 256 * 256 + 256, 256 * 10 + 10]
        assert L["k"][0].tolist() == [[784, 0, 64], [256, 256, 64], [256, 10, 64]]  # fc1 computes no dX
        assert L["bits_w"][0].tolist() == [32, 8, 32]
        assert L["additions"].shape == (2, 3, 3) and L["additions"][0, 1, 0] > 0
        assert L["sqnr_db"].shape == (2, 3, 3) and np.all(L["sqnr_db"][:, 1, 0] > 20)  # int8 weights: finite SQNR
        assert g["weights/fc2.weight"].shape == (256, 256) and g["weights/fc2.weight"].dtype == np.float32


def test_sigkill_leaves_readable_file_then_resume_is_bit_identical(tmp_path):
    ref, out = tmp_path / "ref.h5", tmp_path / "killed.h5"
    lpsim("-q", "train", *RESNET, "--epochs", "3", "-o", ref)

    p = start_and_wait([*RESNET, "--epochs", "3"], out, 1)
    # A second writer of the same file is refused while the first runs.
    second = lpsim("-q", "train", *RESNET, "--epochs", "3", "-o", out, check=False)
    assert second.returncode == 3 and f"results file {out} is being written by another process" in second.stderr
    p.send_signal(signal.SIGKILL)
    p.wait()

    with h5py.File(out, "r") as f:  # a plain open, no h5clear: the file is whole
        n = len(f["run/epochs/epoch"])
        assert n >= 1 and f["run"].attrs["status"] == "running"
        assert list(f["run/epochs/epoch"]) == list(range(1, n + 1))
        assert all(f["run/epochs"][k].shape == (n,) for k in f["run/epochs"])
        assert f["run/layers/bits_w"].shape[0] == n
        with h5py.File(ref, "r") as r:  # the finished epochs are the uninterrupted run's
            assert np.array_equal(f["run/epochs/train_loss"][:], r["run/epochs/train_loss"][:n])

    # A kill between the checkpoint and the results write leaves the file an
    # epoch behind its checkpoint: make it so, the resumed run must catch up.
    with h5py.File(out, "r+") as f:
        for d in [*f["run/epochs"].values(), *f["run/layers"].values()]:
            if d.maxshape[0] is None:
                d.resize(n - 1, axis=0)

    # Without --resume the interrupted run is not touched.
    again = lpsim("-q", "train", *RESNET, "--epochs", "3", "-o", out, check=False)
    assert again.returncode == 1 and "pass --resume to continue it" in again.stderr
    # A different config cannot resume it.
    other = lpsim("-q", "train", *RESNET, "--epochs", "3", "--lr", "0.07", "-o", out, "--resume", check=False)
    assert other.returncode == 1 and "its config differs" in other.stderr and "lr = " in other.stderr

    # Resuming on another thread count is allowed (threads is not part of the run's identity) and changes no bit.
    lpsim("-q", "train", *RESNET, "--epochs", "3", "-o", out, "--resume", "threads=2")
    with h5py.File(ref, "r") as a, h5py.File(out, "r") as b:
        assert b["run"].attrs["status"] == "finished"
        assert "stem.bn.running_var" in b["run/weights"]
        assert_same_run(a, "run", b, "run")  # every metric and the final weights, bit for bit
    assert not os.path.exists(f"{out}.ckpt/run.ckpt")  # removed once finished


def test_resume_skips_a_finished_run_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "r.h5"
    lpsim("-q", "train", "--model", "mlp", "--epochs", "1", *TINY, "-o", out)
    before = run_tables(h5py.File(out, "r"), "run")
    r = lpsim("train", "--model", "mlp", "--epochs", "1", *TINY, "-o", out, "--resume")
    assert "is finished: skipped" in r.stdout
    r = lpsim("train", "--model", "mlp", "--epochs", "1", *TINY, "-o", out, check=False)
    assert r.returncode == 1 and "exists and is finished" in r.stderr
    with h5py.File(out, "r") as f:
        after = run_tables(f, "run")
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_foreign_output_file_is_not_overwritten(tmp_path):
    out = tmp_path / "notes.h5"
    out.write_text("my notes")
    r = lpsim("train", "--model", "mlp", "--epochs", "1", *TINY, "-o", out, check=False)
    assert r.returncode == 1 and f"{out} exists but is not an HDF5 file" in r.stderr
    assert out.read_text() == "my notes"
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    r = lpsim("train", "--model", "mlp", "--epochs", "1", *TINY, "-o", tmp_path / "other.h5", check=False)
    assert r.returncode == 1 and "not an lpsim results file" in r.stderr


def test_checkpoint_from_another_model_is_refused(tmp_path):
    out = tmp_path / "r.h5"
    p = start_and_wait(["--model", "mlp", "--epochs", "50", *TINY], out, 1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    ck = f"{out}.ckpt/run.ckpt"
    with open(ck, "r+b") as f:  # truncate: a torn or foreign checkpoint is named, not loaded
        f.truncate(100)
    r = lpsim("-q", "train", "--model", "mlp", "--epochs", "50", *TINY, "-o", out, "--resume", check=False)
    assert r.returncode == 1 and f"checkpoint {ck} fails its checksum (damaged)" in r.stderr


def test_docs_snippet_reads_a_results_file(tmp_path, capsys):
    out = tmp_path / "r.h5"
    lpsim("-q", "train", "--model", "mlp", "--epochs", "1", *TINY, "-o", out)
    doc = open(os.path.join(os.path.dirname(__file__), "../../docs/results-format.md")).read()
    snippet = doc.split("```python\n")[1].split("```")[0]
    exec(snippet, {"path": str(out)})
    printed = capsys.readouterr().out
    assert "run finished" in printed and "fc2" in printed and "K 256" in printed


def test_cpt_running_activation_ranges_are_saved_and_resume_bit_identical(tmp_path):
    # CPT keeps running activation ranges (QuantMeasure): they must be in the
    # checkpoint, or a resumed run would evaluate with other ranges.
    args = ["--model", "resnet8", "--train-subset", "64", "--test-subset", "32", "--batch", "32", "threads=1",
            "--policy", "cpt", "policy.cpt_cycles=2", "--seed", "3", "--epochs", "3"]
    ref, out = tmp_path / "ref.h5", tmp_path / "killed.h5"
    lpsim("-q", "train", *args, "-o", ref)
    p = start_and_wait(args, out, 1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    lpsim("-q", "train", *args, "-o", out, "--resume")
    with h5py.File(ref, "r") as a, h5py.File(out, "r") as b:
        w = a["run/weights"]
        # quantized layers keep a range (zero point, range): CPT quantizes the stem, keeps the classifier
        ranges = [k for k in w if k.endswith(".a_range")]
        assert "stage1.block1.conv1.a_range" in ranges and "stem.conv.a_range" in ranges
        assert not any(k.startswith("fc") for k in ranges), ranges
        zero_point, rng = w["stage1.block1.conv1.a_range"][()]
        assert zero_point == 0 and rng > 0  # post-ReLU input: min 0
        assert_same_run(a, "run", b, "run")
