"""D = A.B + C from the shell: `lpsim matmul --c` against lpsim.matmul(..., c=) bit
for bit, its shape errors, and `lpsim vectors --addend` recomputed vector by
vector with lpsim.matmul from the written bit patterns (.csv, .hex, .h5)."""
import h5py
import numpy as np
import pytest

import lpsim
from lpsim_cli import lpsim as cli


def _bits(x):
    return np.ascontiguousarray(x, np.float32).view(np.uint32)


def _mats(tmp_path, rng, m, k, n, fmt):
    a = lpsim.quantize(rng.standard_normal((m, k)).astype(np.float32), fmt)
    b = lpsim.quantize(rng.standard_normal((k, n)).astype(np.float32), fmt)
    c = (rng.standard_normal((m, n)) * 3).astype(np.float32)
    np.save(tmp_path / "A.npy", a)
    np.save(tmp_path / "B.npy", b)
    np.save(tmp_path / "C.npy", c)
    return a, b, c


# ---- lpsim matmul --c ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mac,fmt,k", [("fp32", "fp32", 33), ("in=fp16,acc=fp16", "fp16", 50), ("hopper.fp16", "fp16", 48),
                                       ("ampere.fp16.f16out", "fp16", 24), ("h800.fp8", "fp8e4m3", 200),
                                       ("in=fp16,acc=fp16,order=pairwise", "fp16", 9)])
def test_matmul_c_npy_round_trip_equals_python(tmp_path, mac, fmt, k):
    rng = np.random.default_rng(1)
    a, b, c = _mats(tmp_path, rng, 4, k, 3, fmt)
    r = cli("matmul", "A.npy", "B.npy", "--mac", mac, "--c", "C.npy", "--counts", "-o", "D.npy", cwd=tmp_path)
    assert "D = A.B + C: 4x3" in r.stdout
    want, st = lpsim.matmul(a, b, mac, c=c, counts=True)
    got = np.load(tmp_path / "D.npy")
    assert got.dtype == np.float32 and np.array_equal(_bits(got), _bits(want))
    assert f"additions {st.counts['additions']} " in r.stdout
    assert not np.array_equal(want, lpsim.matmul(a, b, mac)[0])  # C mattered
    assert np.array_equal(_bits(np.load(tmp_path / "C.npy")), _bits(c))  # the addend file is only read


def test_matmul_c_as_text_and_float64_and_printed(tmp_path):
    rng = np.random.default_rng(2)
    a, b, c = _mats(tmp_path, rng, 2, 5, 3, "fp16")
    np.savetxt(tmp_path / "C.txt", c.astype(np.float64), fmt="%.9g")
    np.save(tmp_path / "C64.npy", c.astype(np.float64))
    want, _ = lpsim.matmul(a, b, "fp16.fp16", c=c)
    for cfile in ("C.txt", "C64.npy"):
        cli("matmul", "A.npy", "B.npy", "--mac", "fp16.fp16", "--c", cfile, "-o", f"D_{cfile}.npy", cwd=tmp_path)
        assert np.array_equal(_bits(np.load(tmp_path / f"D_{cfile}.npy")), _bits(want)), cfile
    r = cli("matmul", "A.npy", "B.npy", "--mac", "fp16.fp16", "--c", "C.npy", cwd=tmp_path)  # printed, %.9g: exact
    assert np.array_equal(np.array([[float(w) for w in l.split()] for l in r.stdout.splitlines()], np.float32), want)
    assert "D = A.B + C" in r.stderr


def test_matmul_without_c_is_unchanged(tmp_path):
    rng = np.random.default_rng(3)
    a, b, _ = _mats(tmp_path, rng, 3, 7, 2, "fp16")
    r = cli("matmul", "A.npy", "B.npy", "--mac", "volta.fp16", "-o", "D.npy", cwd=tmp_path)
    assert r.stdout.startswith("C = A.B: 3x2, K = 7")
    assert np.array_equal(_bits(np.load(tmp_path / "D.npy")), _bits(lpsim.matmul(a, b, "volta.fp16")[0]))


@pytest.mark.parametrize("shape", [(3, 4), (4, 4), (1, 3), (12,), (3,)])
def test_matmul_c_bad_shape_exits_1_without_output(tmp_path, shape):
    rng = np.random.default_rng(4)
    _mats(tmp_path, rng, 4, 5, 3, "fp16")
    np.save(tmp_path / "bad.npy", np.ones(shape, np.float32))
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli("matmul", "A.npy", "B.npy", "--c", "bad.npy", "-o", "D.npy", check=False, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    rows, cols = shape if len(shape) == 2 else (1, shape[0])
    assert f"bad.npy is {rows}x{cols}, but A.B is 4x3" in r.stderr, r.stderr
    assert "A.npy is 4x5" in r.stderr and "B.npy is 5x3" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no D.npy, no temporary
    r = cli("matmul", "A.npy", "B.npy", "--c", "bad.npy", check=False, cwd=tmp_path)  # printing: nothing printed
    assert r.returncode == 1 and r.stdout == ""


def test_matmul_c_unreadable_exits_1(tmp_path):
    rng = np.random.default_rng(5)
    _mats(tmp_path, rng, 2, 2, 2, "fp16")
    (tmp_path / "w.txt").write_text("1 2\n3 x\n")
    for cfile, name in (("missing.npy", "missing.npy"), ("w.txt", "w.txt")):
        r = cli("matmul", "A.npy", "B.npy", "--c", cfile, "-o", "D.npy", check=False, cwd=tmp_path)
        assert r.returncode == 1 and name in r.stderr, r.stderr
        assert not (tmp_path / "D.npy").exists()


# ---- lpsim vectors --addend ------------------------------------------------------------------------------------


def _csv(path):
    rows = [line for line in open(path) if not line.startswith("#")]
    return rows[0].strip().split(","), np.array([[int(w, 16) for w in r.strip().split(",")] for r in rows[1:]], np.uint64)


def _formats(mac):
    spelled = lpsim.MacConfig(mac).spelling
    keys = dict(kv.split("=", 1) for kv in spelled.split(","))
    fin = keys.get("in", "fp32")
    fout = keys.get("out", keys.get("outer", keys["acc"]))
    return fin, fout


def _recompute(mac, k, codes, fin, fout):
    """The result codes, each vector recomputed with lpsim.matmul from the operand and addend bit patterns."""
    out = []
    for row in codes:
        a = lpsim.decode(row[:k], fin).astype(np.float32)
        b = lpsim.decode(row[k:2 * k], fin).astype(np.float32)
        c = lpsim.decode(row[2 * k:2 * k + 1], fout).astype(np.float32)
        d, _ = lpsim.matmul(a[None, :], b[:, None], mac, c=c[None, :])
        out.append(int(lpsim.encode(d.astype(np.float64).ravel(), fout)[0]))
    return np.array(out, np.uint64)


@pytest.mark.parametrize("mac,addend", [("hopper.fp16", "codes"), ("hopper.fp16", "normal"), ("ampere.fp16.f16out", "normal"),
                                        ("ampere.fp16.f16out", "codes"), ("in=fp16,acc=fp16", "normal"),
                                        ("in=bf16,acc=fp32,acc_round=rz", "codes"), ("h800.fp8", "normal")])
def test_vectors_addend_matches_matmul_with_c(tmp_path, mac, addend):
    k = 40 if mac == "h800.fp8" else 8
    cli("vectors", "--mac", mac, "--k", k, "--count", 200, "--dist", "normal", "--addend", addend, "-o", "v.csv", cwd=tmp_path)
    head, codes = _csv(tmp_path / "v.csv")
    assert head == [f"a{i}" for i in range(k)] + [f"b{i}" for i in range(k)] + ["addend", "c"]
    assert codes.shape == (200, 2 * k + 2)
    fin, fout = _formats(mac)
    assert np.array_equal(_recompute(mac, k, codes, fin, fout), codes[:, -1])
    assert len(set(codes[:, 2 * k].tolist())) > 100  # one addend drawn per vector
    # the same operands as without --addend, and the addend made a difference
    cli("vectors", "--mac", mac, "--k", k, "--count", 200, "--dist", "normal", "-o", "p.csv", cwd=tmp_path)
    head0, plain = _csv(tmp_path / "p.csv")
    assert "addend" not in head0
    assert np.array_equal(plain[:, :2 * k], codes[:, :2 * k])
    assert (plain[:, -1] != codes[:, -1]).sum() > 50


def test_vectors_codes_addend_with_specials(tmp_path):
    # uniform over every bit pattern: infinities and NaNs in operands and addend alike
    mac = "ampere.fp16.f16out"
    cli("vectors", "--mac", mac, "--k", 4, "--count", 3000, "--addend", "codes", "-o", "v.csv", cwd=tmp_path)
    _, codes = _csv(tmp_path / "v.csv")
    fin, fout = _formats(mac)
    assert np.isnan(lpsim.decode(codes[:, 8], fout)).any()
    assert np.array_equal(_recompute(mac, 4, codes, fin, fout), codes[:, -1])


def test_vectors_zero_addend_equals_no_addend(tmp_path):
    for mac in ("hopper.fp16", "in=fp16,acc=fp16"):
        cli("vectors", "--mac", mac, "--k", 6, "--count", 100, "--addend", "zero", "-o", f"z{mac}.csv", cwd=tmp_path)
        cli("vectors", "--mac", mac, "--k", 6, "--count", 100, "-o", f"n{mac}.csv", cwd=tmp_path)
        _, z = _csv(tmp_path / f"z{mac}.csv")
        _, n = _csv(tmp_path / f"n{mac}.csv")
        assert (z[:, 12] == 0).all()
        assert np.array_equal(np.delete(z, 12, axis=1), n)


def test_vectors_addend_in_hex_and_hdf5(tmp_path):
    mac = "hopper.fp16"
    args = ["vectors", "--mac", mac, "--k", 4, "--count", 20, "--addend", "normal", "--seed", 9]
    for ext in ("csv", "hex", "h5"):
        cli(*args, "-o", f"v.{ext}", cwd=tmp_path)
    _, csv = _csv(tmp_path / "v.csv")
    lines = [l.split() for l in open(tmp_path / "v.hex") if not l.startswith("//")]
    assert "a0..a3 b0..b3 addend c" in open(tmp_path / "v.hex").read()
    assert all(len(l) == 10 and len(l[8]) == 8 for l in lines)
    assert np.array_equal(np.array([[int(w, 16) for w in l] for l in lines], np.uint64), csv)
    with h5py.File(tmp_path / "v.h5", "r") as f:
        assert f["addend"].shape == (20,) and f["c"].shape == (20,)
        assert f.attrs["addend_format"].decode() == f.attrs["c_format"].decode() == lpsim.Format("fp32").spelling
        assert b"addend=normal" in f.attrs["description"]
        assert np.array_equal(f["addend"][...], csv[:, 8]) and np.array_equal(f["c"][...], csv[:, 9])
        assert np.array_equal(f["a"][...], csv[:, :4]) and np.array_equal(f["b"][...], csv[:, 4:8])
    cli("vectors", "--mac", mac, "--k", 4, "--count", 20, "--seed", 9, "-o", "p.h5", cwd=tmp_path)
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert "addend" not in f and "addend_format" not in f.attrs


def test_vectors_exhaustive_keeps_no_addend_unless_asked(tmp_path):
    mac = "in=fp8e5m2,acc=fp16"
    cli("vectors", "--mac", mac, "--exhaustive", "-o", "e.csv", cwd=tmp_path)
    head, codes = _csv(tmp_path / "e.csv")
    assert head == ["a0", "b0", "c"] and codes.shape == (65536, 3)
    cli("vectors", "--mac", mac, "--exhaustive", "--addend", "normal", "-o", "f.csv", cwd=tmp_path)
    head, withc = _csv(tmp_path / "f.csv")
    assert head == ["a0", "b0", "addend", "c"] and np.array_equal(withc[:, :2], codes[:, :2])
    pick = np.random.default_rng(0).choice(65536, 400, replace=False)
    assert np.array_equal(_recompute(mac, 1, withc[pick], "fp8e5m2", "fp16"), withc[pick, -1])


@pytest.mark.parametrize("args,name", [(["--addend", "ones"], "ones"), (["--addend", "normal", "--scale", "0"], "scale")])
def test_vectors_bad_addend_exits_1_without_output(tmp_path, args, name):
    r = cli("vectors", "--k", 2, "--count", 2, *args, "-o", "v.csv", check=False, cwd=tmp_path)
    assert r.returncode == 1 and name in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []
