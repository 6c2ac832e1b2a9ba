"""Block-scaled MMA from the shell: `lpsim matmul --scale-a SA --scale-b SB [--c C]` against
lpsim.matmul(..., scale_a=, scale_b=, c=) bit for bit, and its errors (exit 1, the file or shape named,
no output file left)."""
import numpy as np
import pytest

import lpsim
from lpsim_cli import lpsim as cli

# preset, element format, scale kind, block
MACS = [("blackwell.mxfp8", "fp8e4m3", "ue8m0", 32), ("blackwell.nvfp4", "fp4e2m1", "ue4m3", 16)]


def _bits(x):
    return np.ascontiguousarray(x, np.float32).view(np.uint32)


def _e4m3_values():
    return np.array([(c & 7) / 8 * 2.0 ** -6 if c >> 3 == 0 else (1 + (c & 7) / 8) * 2.0 ** ((c >> 3) - 7)
                     for c in range(127)], np.float32)


def _problem(tmp_path, rng, fmt, kind, block, m=5, k=128, n=4):
    def elements(shape):
        x = np.exp2(rng.uniform(-8, 8, shape)) * rng.choice([-1.0, 1.0], shape)
        x[rng.random(shape) < 0.1] = 0
        return lpsim.quantize(x.astype(np.float32), fmt)

    def scales(shape):
        if kind == "ue8m0":
            return np.exp2(rng.integers(-30, 31, shape)).astype(np.float32)
        return rng.choice(_e4m3_values(), shape)

    a, b = elements((m, k)), elements((k, n))
    sa, sb = scales((m, k // block)), scales((k // block, n))
    c = (rng.standard_normal((m, n)) * np.exp2(rng.uniform(-20, 20, (m, n)))).astype(np.float32)
    for name, x in (("A", a), ("B", b), ("SA", sa), ("SB", sb), ("C", c)):
        np.save(tmp_path / f"{name}.npy", x)
    return a, b, sa, sb, c


@pytest.mark.parametrize("mac,fmt,kind,block", MACS)
def test_cli_round_trip_equals_python(tmp_path, mac, fmt, kind, block):
    rng = np.random.default_rng(len(mac))
    a, b, sa, sb, c = _problem(tmp_path, rng, fmt, kind, block)
    r = cli("matmul", "A.npy", "B.npy", "--mac", mac, "--scale-a", "SA.npy", "--scale-b", "SB.npy", "-o", "D.npy",
            cwd=tmp_path)
    assert r.stdout.startswith("C = A.B: 5x4, K = 128"), r.stdout
    want, _ = lpsim.matmul(a, b, mac, scale_a=sa, scale_b=sb)
    got = np.load(tmp_path / "D.npy")
    assert got.dtype == np.float32 and got.shape == (5, 4)
    assert np.array_equal(_bits(got), _bits(want))
    # the scales mattered
    assert not np.array_equal(_bits(want), _bits(lpsim.matmul(a, b, mac, scale_a=np.ones_like(sa),
                                                             scale_b=np.ones_like(sb))[0]))

    r = cli("matmul", "A.npy", "B.npy", "--mac", mac, "--scale-a", "SA.npy", "--scale-b", "SB.npy", "--c", "C.npy",
            "-o", "DC.npy", cwd=tmp_path)
    assert r.stdout.startswith("D = A.B + C: 5x4, K = 128"), r.stdout
    want_c, _ = lpsim.matmul(a, b, mac, c=c, scale_a=sa, scale_b=sb)
    assert np.array_equal(_bits(np.load(tmp_path / "DC.npy")), _bits(want_c))
    assert not np.array_equal(_bits(want_c), _bits(want))  # C mattered


def test_cli_scales_as_text_and_printed(tmp_path):
    rng = np.random.default_rng(3)
    a, b, sa, sb, c = _problem(tmp_path, rng, "fp8e4m3", "ue8m0", 32, m=2, k=64, n=3)
    sa[1, 0] = np.nan  # a NaN scale: row 1 NaN, with the preset's bits
    np.save(tmp_path / "SA.npy", sa)
    np.savetxt(tmp_path / "SA.txt", sa.astype(np.float64), fmt="%.9g")
    np.savetxt(tmp_path / "SB.txt", sb.astype(np.float64), fmt="%.9g")
    want, _ = lpsim.matmul(a, b, "blackwell.mxfp8", c=c, scale_a=sa, scale_b=sb)
    assert np.all(_bits(want)[1] == 0x7FFFFFFF) and not np.isnan(want[0]).any()
    cli("matmul", "A.npy", "B.npy", "--mac", "blackwell.mxfp8", "--scale-a", "SA.txt", "--scale-b", "SB.txt",
        "--c", "C.npy", "-o", "D.npy", cwd=tmp_path)
    assert np.array_equal(_bits(np.load(tmp_path / "D.npy")), _bits(want))
    r = cli("matmul", "A.npy", "B.npy", "--mac", "blackwell.mxfp8", "--scale-a", "SA.npy", "--scale-b", "SB.npy",
            "--c", "C.npy", cwd=tmp_path)  # printed with %.9g: exact
    printed = np.array([[float(w) for w in l.split()] for l in r.stdout.splitlines()], np.float32)
    assert np.array_equal(printed[0], want[0]) and np.isnan(printed[1]).all()


def _refused(tmp_path, *args):
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli("matmul", "A.npy", "B.npy", *args, "-o", "D.npy", check=False, cwd=tmp_path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no D.npy, no temporary
    r2 = cli("matmul", "A.npy", "B.npy", *args, check=False, cwd=tmp_path)  # printing: nothing printed
    assert r2.returncode == 1 and r2.stdout == ""
    return r.stderr


@pytest.mark.parametrize("which,shape,message", [
    ("a", (4, 2), "bad.npy is 4x2, expected 5x4: one scale per row of A and block of 32"),
    ("a", (5, 8), "bad.npy is 5x8, expected 5x4"),
    ("a", (20,), "bad.npy is 1x20, expected 5x4"),
    ("b", (4, 5), "bad.npy is 4x5, expected 4x4: one scale per block of 32 and column of B"),
    ("b", (128, 4), "bad.npy is 128x4, expected 4x4"),
])
def test_cli_wrong_scale_shape(tmp_path, which, shape, message):
    rng = np.random.default_rng(4)
    _problem(tmp_path, rng, "fp8e4m3", "ue8m0", 32, n=4)
    np.save(tmp_path / "bad.npy", np.ones(shape, np.float32))
    args = ["--mac", "blackwell.mxfp8", "--scale-a", "bad.npy" if which == "a" else "SA.npy",
            "--scale-b", "bad.npy" if which == "b" else "SB.npy"]
    err = _refused(tmp_path, *args)
    assert message in err, err


def test_cli_nvfp4_scale_shape_names_its_block(tmp_path):
    rng = np.random.default_rng(5)
    _problem(tmp_path, rng, "fp4e2m1", "ue4m3", 16)
    np.save(tmp_path / "bad.npy", np.ones((5, 4), np.float32))  # mxfp8's shape, not nvfp4's (5, 8)
    err = _refused(tmp_path, "--mac", "blackwell.nvfp4", "--scale-a", "bad.npy", "--scale-b", "SB.npy")
    assert "bad.npy is 5x4, expected 5x8: one scale per row of A and block of 16" in err, err


def test_cli_missing_scales(tmp_path):
    rng = np.random.default_rng(6)
    _problem(tmp_path, rng, "fp8e4m3", "ue8m0", 32)
    err = _refused(tmp_path, "--mac", "blackwell.mxfp8", "--scale-a", "SA.npy")
    assert "give both --scale-a and --scale-b, or neither" in err, err
    err = _refused(tmp_path, "--mac", "blackwell.mxfp8", "--scale-b", "SB.npy")
    assert "give both --scale-a and --scale-b, or neither" in err, err
    err = _refused(tmp_path, "--mac", "blackwell.mxfp8")
    assert "is block-scaled: give --scale-a (5x4) and --scale-b (4x4)" in err, err


@pytest.mark.parametrize("mac", ["fp32", "blackwell.fp8", "in=fp8e4m3,acc=fp32,acc_round=rz,order=fused32,align=25"])
def test_cli_scales_with_an_unscaled_mac(tmp_path, mac):
    rng = np.random.default_rng(7)
    _problem(tmp_path, rng, "fp8e4m3", "ue8m0", 32)
    err = _refused(tmp_path, "--mac", mac, "--scale-a", "SA.npy", "--scale-b", "SB.npy")
    assert "--scale-a/--scale-b given, but the MAC" in err and "has no scale=" in err, err


def test_cli_bad_scale_values_and_k(tmp_path):
    rng = np.random.default_rng(8)
    _, _, sa, sb, _ = _problem(tmp_path, rng, "fp8e4m3", "ue8m0", 32)
    sa[2, 3] = 3.0
    np.save(tmp_path / "S3.npy", sa)
    err = _refused(tmp_path, "--mac", "blackwell.mxfp8", "--scale-a", "S3.npy", "--scale-b", "SB.npy")
    assert "scale_a[2, 3] = 3 is not a ue8m0" in err, err
    s17 = np.ones((8, 4), np.float32)
    s17[3, 2] = 17.0  # off e4m3's grid (16, 18, ...)
    np.save(tmp_path / "S17.npy", s17)
    err = _refused(tmp_path, "--mac", "blackwell.nvfp4", "--scale-a", "SA.npy", "--scale-b", "S17.npy")
    assert "SA.npy is 5x4, expected 5x8" in err, err  # the shape first
    np.save(tmp_path / "SA8.npy", np.ones((5, 8), np.float32))
    err = _refused(tmp_path, "--mac", "blackwell.nvfp4", "--scale-a", "SA8.npy", "--scale-b", "S17.npy")
    assert "scale_b[3, 2] = 17 is not a ue4m3" in err, err
    # K = 48 is not a multiple of mxfp8's block 32
    np.save(tmp_path / "A48.npy", np.ones((5, 48), np.float32))
    np.save(tmp_path / "B48.npy", np.ones((48, 4), np.float32))
    before = sorted(p.name for p in tmp_path.iterdir())
    r = cli("matmul", "A48.npy", "B48.npy", "--mac", "blackwell.mxfp8", "--scale-a", "SA.npy", "--scale-b", "SB.npy",
            "-o", "D.npy", check=False, cwd=tmp_path)
    assert r.returncode == 1 and "K = 48 is not a multiple of the scale block 32" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
