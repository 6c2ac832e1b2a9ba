"""Outputs are never clobbered, never half-written, and never litter: matmul and
vectors refuse an existing file, two spellings of one results file share one
lock, refused or failed runs leave nothing behind but a clearly failed run."""
import fcntl
import os
import struct
import subprocess
import time

import h5py
import numpy as np
import pytest

from lpsim_cli import LPSIM, TINY, lpsim, needs_data


def listing(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def npy_header(shape, descr="<f4"):
    h = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    h += b" " * (117 - len(h)) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


@pytest.mark.parametrize("command", [
    ["matmul", "A.txt", "A.txt", "-o"],
    ["vectors", "--k", "2", "--count", "3", "-o"],
])
@pytest.mark.parametrize("name", ["out.npy", "out.csv", "out.h5"])
def test_an_existing_output_is_refused_and_unchanged(tmp_path, command, name):
    (tmp_path / "A.txt").write_text("1 2\n3 4\n")
    target = tmp_path / name
    target.write_bytes(b"precious")
    r = lpsim(*command, name, check=False, cwd=tmp_path)
    assert r.returncode == 1 and f"{name} exists: lpsim does not overwrite files" in r.stderr, r.stderr
    assert target.read_bytes() == b"precious"
    assert listing(tmp_path) == ["A.txt", name]  # no temporary left
    os.symlink("nowhere", tmp_path / "dangling.csv")  # a symlink counts as existing, even dangling
    r = lpsim(*command, "dangling.csv", check=False, cwd=tmp_path)
    assert r.returncode == 1 and "dangling.csv exists" in r.stderr
    assert not (tmp_path / "nowhere").exists()


def test_outputs_are_written_whole_with_no_temporary(tmp_path):
    (tmp_path / "A.txt").write_text("1 2\n3 4\n")
    lpsim("matmul", "A.txt", "A.txt", "-o", "C.npy", cwd=tmp_path)
    assert np.array_equal(np.load(tmp_path / "C.npy"), np.array([[7, 10], [15, 22]], np.float32))
    lpsim("vectors", "--k", "2", "--count", "3", "-o", "v.h5", cwd=tmp_path)
    with h5py.File(tmp_path / "v.h5") as f:
        assert f["a"].shape == (3, 2)
    assert listing(tmp_path) == ["A.txt", "C.npy", "v.h5"]


def test_a_failed_product_leaves_no_output(tmp_path):
    (tmp_path / "A.txt").write_text("1 2\n3 4\n")
    (tmp_path / "B.txt").write_text("1 2 3\n")
    r = lpsim("matmul", "A.txt", "B.txt", "-o", "C.npy", check=False, cwd=tmp_path)
    assert r.returncode == 1 and "shapes do not align" in r.stderr
    assert listing(tmp_path) == ["A.txt", "B.txt"]


@pytest.mark.parametrize("shape, message", [
    ("(4611686018427387904, 4)", "has more than 17179869184 elements"),
    ("(-2, 4)", 'dimension "-2" is not a non-negative integer'),
    ("(2, 4, 1)", "is not 1-D or 2-D"),
    ("(2, x)", 'dimension "x" is not a non-negative integer'),
    ("(2, 3)", "holds 0 data bytes, shape (2, 3) needs 24"),
])
def test_npy_shapes_are_checked_before_anything_is_allocated(tmp_path, shape, message):
    (tmp_path / "A.npy").write_bytes(npy_header(shape))
    r = lpsim("matmul", "A.npy", "A.npy", check=False, cwd=tmp_path)
    assert r.returncode == 1 and f"A.npy: " in r.stderr and message in r.stderr, r.stderr


def test_npy_with_trailing_bytes_and_devices_are_refused(tmp_path):
    (tmp_path / "A.npy").write_bytes(npy_header("(1, 1)") + b"\0\0\0\0" + b"extra")
    r = lpsim("matmul", "A.npy", "A.npy", check=False, cwd=tmp_path)
    assert r.returncode == 1 and "holds more than the 4 data bytes" in r.stderr
    os.symlink("/dev/zero", tmp_path / "Z.npy")
    r = lpsim("matmul", "Z.npy", "Z.npy", check=False, cwd=tmp_path)
    assert r.returncode == 1 and "Z.npy: expected a .npy file or a text matrix, found a device" in r.stderr


def test_text_matrices_take_subnormals_and_refuse_overflow(tmp_path):
    (tmp_path / "A.txt").write_text("1e-40 1.4e-45\n")
    (tmp_path / "B.txt").write_text("1\n1\n")
    r = lpsim("matmul", "A.txt", "B.txt", "--mac", "fp32", cwd=tmp_path)
    assert np.float32(r.stdout.split()[0]) == np.float32(1e-40) + np.float32(1.4e-45)
    (tmp_path / "A.txt").write_text("1e39 1\n")
    r = lpsim("matmul", "A.txt", "B.txt", check=False, cwd=tmp_path)
    assert r.returncode == 1 and 'line 1: number "1e39" is beyond the range of float32' in r.stderr


@pytest.mark.parametrize("args, message", [
    (["quantize", "bf16", "1", "--seed", "-1"], '--seed "-1" is not an integer in 0..18446744073709551615'),
    (["quantize", "bf16", "1", "--seed", "18446744073709551616"], "--seed 18446744073709551616 is out of range"),
    (["quantize", "bf16", "1", "--stream", "4294967296"], "--stream 4294967296 is out of range (0..4294967295)"),
    (["vectors", "--k", "4", "--count", "4611686018427387904"], "--count 4611686018427387904 is out of range"),
    (["vectors", "--k", "4096", "--count", "100000"], "more than 268435456 (2^28)"),
    (["vectors", "--k", "0"], "--k and --count must be positive"),
    (["vectors", "--dist", "normal", "--scale", "nan"], "--scale must be positive and finite"),
    (["matmul", "A.txt", "A.txt", "--seed", "1e3"], '--seed "1e3" is not an integer'),
])
def test_numeric_options_are_bounded(tmp_path, args, message):
    (tmp_path / "A.txt").write_text("1\n")
    r = lpsim(*args, check=False, cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert listing(tmp_path) == ["A.txt"]


def test_quantize_reads_subnormals(tmp_path):
    r = lpsim("quantize", "fp32", "1e-45", "4.9e-324")
    assert r.stdout.split()[1] == "1.4012984643248171e-45" and r.stdout.split()[4] == "0"


def test_two_spellings_of_one_results_file_share_its_lock(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "alias")
    target = tmp_path / "real" / "r.h5"
    # Hold the lock as a writer of the real path would.
    fd = os.open(f"{target}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = lpsim("train", "--model", "mlp", "epochs=1", *TINY, "-o", tmp_path / "alias" / "r.h5", check=False)
        assert r.returncode == 3 and "is being written by another process" in r.stderr, r.stderr
    finally:
        os.close(fd)
    assert not target.exists()


def test_a_refused_run_leaves_nothing(tmp_path):
    out = tmp_path / "r.h5"
    r = lpsim("train", "--model", "mlp", "epochs=1", *TINY, "data_dir=/nonexistent", "-o", out, check=False)
    assert r.returncode == 1 and "/nonexistent/train-images-idx3-ubyte" in r.stderr
    assert listing(tmp_path) == []


@needs_data
def test_a_diverged_run_is_marked_failed_with_its_reason(tmp_path):
    out = tmp_path / "r.h5"
    r = lpsim("-q", "train", "--model", "mlp", "epochs=2", *TINY, "schedule.lr=1e6", "-o", out, check=False)
    assert r.returncode == 1 and "training diverged in epoch 1, batch " in r.stderr, r.stderr
    with h5py.File(out) as f:
        assert f["run"].attrs["status"] == "failed"
        assert "training diverged in epoch 1" in f["run"].attrs["error"]
    assert listing(tmp_path) == ["r.h5"]  # no lock, temporary or empty checkpoint folder
    r = lpsim("-q", "train", "--model", "mlp", "epochs=2", *TINY, "schedule.lr=1e6", "-o", out, "--resume", check=False)
    assert r.returncode == 1 and "failed (training diverged" in r.stderr and "cannot be resumed" in r.stderr


@needs_data
def test_a_finished_run_leaves_only_its_file(tmp_path):
    out = tmp_path / "r.h5"
    lpsim("-q", "train", "--model", "mlp", "epochs=1", *TINY, "-o", out)
    assert listing(tmp_path) == ["r.h5"]


@needs_data
def test_a_sweep_records_a_diverged_point_and_goes_on(tmp_path):
    out = tmp_path / "s.h5"
    args = ["-q", "sweep", "--model", "mlp", "epochs=1", *TINY, "--grid", "schedule.lr=1e6,0.05", "-o", out]
    r = lpsim(*args, check=False)
    assert r.returncode == 1 and "1 of 2 points failed" in r.stderr, r.stderr
    assert "\n  schedule.lr=1e6 (training diverged in epoch 1" in r.stderr
    with h5py.File(out) as f:
        status = sorted(f[k].attrs["status"] for k in f)
    assert status == ["failed", "finished"]
    r = lpsim(*args, check=False)  # again: nothing retrained, the failure reported again
    assert r.returncode == 1 and "0 trained, 1 already finished, 1 failed" in r.stdout + r.stderr
