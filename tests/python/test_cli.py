"""The lpsim command line: golden test vectors and matmul, checked against the
pure-Python exact model and NumPy."""
import os
import subprocess

import numpy as np
import pytest

import lpsim
from exact_model import dot_seq, round_float

CLI = os.environ.get("LPSIM_CLI", "")
pytestmark = pytest.mark.skipif(not CLI, reason="LPSIM_CLI (path of the lpsim tool) not set")


def _run(*args):
    return subprocess.run([CLI, *args], check=True, capture_output=True, text=True)


def _read_csv(path):
    rows = [line for line in open(path) if not line.startswith("#")]
    head = rows[0].strip().split(",")
    codes = np.array([[int(w, 16) for w in r.strip().split(",")] for r in rows[1:]], dtype=np.uint64)
    return head, codes


def test_random_vectors_match_the_exact_model(tmp_path):
    out = tmp_path / "v.csv"
    _run("vectors", "--mac", "in=fp16,acc=fp16,acc_round=rz", "--k", "8", "--count", "300", "--dist", "normal",
         "-o", str(out))
    head, codes = _read_csv(out)
    assert head == [f"a{i}" for i in range(8)] + [f"b{i}" for i in range(8)] + ["c"]
    assert codes.shape == (300, 17)
    f16 = codes.astype(np.uint16).view(np.float16)  # fp16 bit patterns, decoded by NumPy
    for row in f16:
        want = dot_seq(row[:8], row[8:16], lambda x: round_float(x, 5, 10, "rz"))
        assert float(row[16]) == want


def test_exhaustive_vectors_cover_every_operand_pair(tmp_path):
    out = tmp_path / "v.csv"
    _run("vectors", "--mac", "in=fp8e5m2,acc=fp16", "--exhaustive", "-o", str(out))
    _, codes = _read_csv(out)
    assert codes.shape == (256 * 256, 3)
    assert len({(int(a), int(b)) for a, b, _ in codes}) == 256 * 256
    a = lpsim.decode(codes[:, 0].astype(np.uint64), "fp8e5m2")
    b = lpsim.decode(codes[:, 1].astype(np.uint64), "fp8e5m2")
    c = codes[:, 2].astype(np.uint16).view(np.float16).astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(b)
    for x, y, got in zip(a[finite], b[finite], c[finite]):
        want = round_float(float(x) * float(y), 5, 10)  # one product, rounded once into fp16
        assert got == want or (x * y == 0 and got == 0)


def test_hex_and_hdf5_outputs(tmp_path):
    h5py = pytest.importorskip("h5py")
    _run("vectors", "--mac", "fp16.fp32", "--k", "4", "--count", "10", "-o", str(tmp_path / "v.hex"))
    lines = [l.split() for l in open(tmp_path / "v.hex") if not l.startswith("//")]
    assert len(lines) == 10 and all(len(l) == 9 for l in lines)
    assert all(len(w) == 4 for l in lines for w in l[:8]) and all(len(l[8]) == 8 for l in lines)
    _run("vectors", "--mac", "fp16.fp32", "--k", "4", "--count", "10", "-o", str(tmp_path / "v.h5"))
    with h5py.File(tmp_path / "v.h5", "r") as f:
        assert f["a"].shape == (10, 4) and f["c"].shape == (10,)
        spelled = {k: f.attrs[k].decode() for k in ("a_format", "c_format")}
        assert spelled == {"a_format": lpsim.Format("fp16").spelling, "c_format": lpsim.Format("fp32").spelling}
        hexed = [[int(w, 16) for w in l] for l in lines]
        assert (f["a"][...] == np.array([h[:4] for h in hexed])).all()  # same seed, same vectors


def test_matmul_reads_npy_and_text_and_writes_npy(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 7)).astype(np.float32)
    b = rng.standard_normal((7, 3))
    np.save(tmp_path / "a.npy", a)
    np.savetxt(tmp_path / "b.txt", b)
    res = _run("matmul", str(tmp_path / "a.npy"), str(tmp_path / "b.txt"), "--mac", "fp16.fp16", "--counts",
               "--error", "-o", str(tmp_path / "c.npy"))
    assert "K = 7" in res.stdout and "additions 105" in res.stdout and "SQNR" in res.stdout
    c = np.load(tmp_path / "c.npy")
    want, _ = lpsim.matmul(a, np.loadtxt(tmp_path / "b.txt").astype(np.float32), mac="fp16.fp16")
    np.testing.assert_array_equal(c.view(np.uint32), want.view(np.uint32))
    np.save(tmp_path / "f.npy", np.asfortranarray(b))  # Fortran order is read as the same matrix
    res = _run("matmul", str(tmp_path / "a.npy"), str(tmp_path / "f.npy"))
    assert np.allclose(np.loadtxt(res.stdout.splitlines()), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_bad_inputs_name_the_problem(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((2, 3), np.float32))
    np.save(tmp_path / "i.npy", np.ones((3, 2), np.int32))
    (tmp_path / "t.txt").write_text("1 2\n3\n")
    cases = [(["matmul", str(tmp_path / "a.npy"), str(tmp_path / "a.npy")], "do not align"),
             (["matmul", str(tmp_path / "a.npy"), str(tmp_path / "i.npy")], "'<i4' is not supported"),
             (["matmul", str(tmp_path / "a.npy"), str(tmp_path / "t.txt")], "line 2 has 1 numbers"),
             (["matmul", str(tmp_path / "a.npy"), str(tmp_path / "missing.npy")], "missing.npy: expected a .npy file or a text matrix, found no such file"),
             (["vectors", "--mac", "in=fp16,acc=fp32", "--exhaustive"], "at most 24 bits"),
             (["vectors", "--mac", "acc=e5m99"], "e5m99")]
    for args, message in cases:
        res = subprocess.run([CLI, *args], capture_output=True, text=True)
        assert res.returncode == 1, args
        assert message in res.stderr, (args, res.stderr)
