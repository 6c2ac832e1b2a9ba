"""`lpsim vectors` generators and flags (docs/vectors.md): the normal draw recomputed in Python from the documented
formula (Philox4x32-10 words, Box-Muller with the fixed log and cosine) bit for bit; draws that depend on (seed,
index) only, not on the count or the thread count; the corner-case distributions checked against their
definitions; the per-vector flags recomputed from exact sums (fractions) and lpsim.matmul's counts; every (a, b, c)
triple; the TestFloat-style lines; bad input refused without a file."""
import math
import os
import subprocess
from fractions import Fraction

import numpy as np
import pytest

import lpsim
from lpsim_cli import LPSIM, lpsim as cli

# ---- the documented draws, written again from docs/vectors.md -----------------------------------------------------

_MASK = 0xFFFFFFFF


def _philox(ctr, k0, k1):
    c = list(ctr)
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & _MASK, (p0 >> 32) ^ c[3] ^ k1, p0 & _MASK]
        k0, k1 = (k0 + 0x9E3779B9) & _MASK, (k1 + 0xBB67AE85) & _MASK
    return c


def word(seed, stream, index, w=0):
    o = _philox([index & _MASK, index >> 32, stream, w // 2], seed & _MASK, seed >> 32)
    h = (w % 2) * 2
    return (o[h + 1] << 32) | o[h]


def fixed_log(x):
    m, e = math.frexp(x)
    if m < float.fromhex("0x1.6a09e667f3bcdp-1"):
        m, e = m * 2, e - 1
    s = (m - 1) / (m + 1)
    s2 = s * s
    p = 1.0 / 25
    for j in range(11, -1, -1):
        p = 1.0 / (2 * j + 1) + s2 * p
    return e * float.fromhex("0x1.62e42fefa39efp-1") + 2 * s * p


def fixed_cos2pi(u):
    q = u * 4
    n = math.floor(q)
    x = (q - n) * float.fromhex("0x1.921fb54442d18p0")
    x2 = x * x
    c = s = 1.0
    for j in range(12, 0, -1):
        c = 1 - x2 * c / ((2 * j - 1) * (2 * j))
        s = 1 - x2 * s / ((2 * j) * (2 * j + 1))
    s = x * s
    return [c, -s, -c, s][n]


def normal(seed, stream, index):
    w = word(seed, stream, index)
    u1 = ((w & _MASK) + 1) * 2.0 ** -32
    u2 = (w >> 32) * 2.0 ** -32
    return math.sqrt(-2 * fixed_log(u1)) * fixed_cos2pi(u2)


def test_the_documented_formulas_are_accurate():
    rng = np.random.default_rng(3)
    for x in rng.random(2000):
        assert abs(fixed_log(x) - math.log(x)) <= 4e-16 * abs(math.log(x))
    for u in rng.integers(0, 2 ** 32, 2000) / 2 ** 32:
        assert abs(fixed_cos2pi(u) - math.cos(2 * math.pi * u)) <= 2e-15
    z = np.array([normal(11, 1, i) for i in range(20000)])
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


def _csv(path):
    rows = [line for line in open(path) if not line.startswith("#")]
    return rows[0].strip().split(","), np.array([[int(w, 16) for w in r.strip().split(",")] for r in rows[1:]], np.uint64)


@pytest.mark.parametrize("mac,dtype", [("acc=fp32", np.float32), ("in=fp16,acc=fp32", np.float16),
                                       ("in=fp16,acc=fp16,acc_round=rz", np.float16)])
def test_normal_draws_are_the_documented_formula_bit_for_bit(tmp_path, mac, dtype):
    k, n, seed, scale = 3, 40, 77, 2.5
    cli("vectors", "--mac", mac, "--k", k, "--count", n, "--dist", "normal", "--seed", seed, "--scale", scale,
        "--addend", "normal", "-o", "v.csv", cwd=tmp_path)
    _, codes = _csv(tmp_path / "v.csv")
    bits = np.uint32 if dtype == np.float32 else np.uint16
    for i, row in enumerate(codes):
        for l in range(k):  # operand streams 1 (a) and 2 (b), index i*K + l; rounded to nearest even
            assert row[l] == dtype(scale * normal(seed, 1, i * k + l)).view(bits)
            assert row[k + l] == dtype(scale * normal(seed, 2, i * k + l)).view(bits)
        res = np.float32 if mac != "in=fp16,acc=fp16,acc_round=rz" else None
        if res is not None:  # the addend: stream 3, index i, in the result format
            assert row[2 * k] == np.float32(scale * normal(seed, 3, i)).view(np.uint32)


@pytest.mark.parametrize("dist", ["mixed", "codes", "finite", "normal", "corners", "cancellation", "ties"])
def test_draws_depend_on_seed_and_index_only(tmp_path, dist):
    base = ["vectors", "--mac", "in=fp16,acc=fp32", "--k", 5, "--dist", dist, "--addend", "normal", "--flags", "--seed", 4]
    cli(*base, "--count", 300, "-o", "long.csv", cwd=tmp_path)
    cli(*base, "--count", 37, "-o", "short.csv", cwd=tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="3")
    subprocess.run([LPSIM, *map(str, base), "--count", "300", "-o", "threads.csv"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    _, long_ = _csv(tmp_path / "long.csv")
    _, short = _csv(tmp_path / "short.csv")
    _, threads = _csv(tmp_path / "threads.csv")
    assert np.array_equal(long_[:37], short) and np.array_equal(long_, threads)
    cli(*base[:-1], 5, "--count", 37, "-o", "other.csv", cwd=tmp_path)
    _, other = _csv(tmp_path / "other.csv")
    assert not np.array_equal(other[:, :10], short[:, :10])  # another seed, other operands


# ---- flags -----------------------------------------------------------------------------------------------------


def _exact(values):
    return sum((Fraction(x) * Fraction(y) for x, y in values), Fraction(0))


def _check_flags(mac, k, codes, fin, fout, with_addend):
    """Every vector's flags recomputed: exact sums with fractions, counts with lpsim.matmul (golden, counts)."""
    for row in codes:
        a = lpsim.decode(row[:k], fin)
        b = lpsim.decode(row[k:2 * k], fin)
        extra = lpsim.decode(row[2 * k:2 * k + 1], fout) if with_addend else np.zeros(1)
        j = 2 * k + (1 if with_addend else 0)
        c_code, overflow, saturation, inexact, nan, swamped = (int(x) for x in row[j:j + 6])
        r = np.nan if c_code == 2 ** 64 - 1 else float(lpsim.decode(np.array([c_code], np.uint64), fout)[0])
        with np.errstate(invalid="ignore"):
            terms = list(a * b) + [extra[0]]
        finite = np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(extra).all()
        if finite:
            exact = _exact(list(zip(a, b)) + [(extra[0], 1.0)])
            assert inexact == (not np.isfinite(r) or Fraction(r) != exact), row
        else:
            assert inexact == 0
        if not np.isnan(r):
            assert nan == 0
        elif np.isnan(a).any() or np.isnan(b).any() or np.isnan(extra).any():
            assert nan == 1
        elif any((np.isinf(x) and y == 0) or (x == 0 and np.isinf(y)) for x, y in zip(a, b)):
            assert nan == 2
        elif np.inf in terms and -np.inf in terms:
            assert nan == 3
        else:
            assert nan == 4  # an overflow: to NaN, or to an infinity meeting one of the other sign
        _, st = lpsim.matmul(a.astype(np.float32)[None, :], b.astype(np.float32)[:, None], mac, golden=True, counts=True,
                             c=extra.astype(np.float32)[None, :] if with_addend else None, seed=1)
        assert (overflow, saturation, swamped) == (st.counts["overflows"], st.counts["saturations"], st.counts["swamped"])


@pytest.mark.parametrize("mac,fin,fout,dist,extra", [
    ("in=fp16,acc=fp16", "fp16", "fp16", "codes", []),
    ("in=fp16,acc=fp16", "fp16", "fp16", "mixed", ["--specials", "--addend", "normal"]),
    ("in=fp16,acc=fp16:sat", "fp16", "fp16:sat", "near-overflow", []),
    ("in=fp8e4m3,acc=fp8e4m3", "fp8e4m3", "fp8e4m3", "corners", ["--addend", "codes"]),
    ("in=bf16,acc=fp32,acc_round=rz", "bf16", "fp32", "corners", []),
    ("hopper.fp16", "fp16", "fp32", "mixed", ["--specials"]),
])
def test_flags_match_exact_sums_and_the_models_counts(tmp_path, mac, fin, fout, dist, extra):
    k = 6
    cli("vectors", "--mac", mac, "--k", k, "--count", 160, "--dist", dist, "--flags", *extra, "-o", "v.csv", cwd=tmp_path)
    head, codes = _csv(tmp_path / "v.csv")
    assert head[-6:] == ["c", "overflow", "saturation", "inexact", "nan", "swamped"]
    _check_flags(mac, k, codes, fin, fout, "addend" in head)


def test_flags_see_each_event():
    def flags(mac, dist, **kw):
        return lpsim.vectors(mac, 8, 400, dist=dist, **kw)
    over = flags("in=fp16,acc=fp16", "near-overflow")
    assert 0.2 < (over["overflow"] > 0).mean() < 0.8 and (over["flags"] & 4).any()
    sat = flags("in=fp16,acc=fp16:sat", "near-overflow")
    assert (sat["saturation"] > 0).any() and ((sat["flags"] & 32) != 0).sum() == (sat["saturation"] > 0).sum()
    triples = lpsim.vectors("in=e3m2,acc=e3m2", exhaustive=True, addend="all")  # NaN operands, inf * 0, inf - inf
    assert set(np.unique(triples["nan"])) == {0, 1, 2, 3}
    assert ((triples["nan"] > 0) == np.isnan(triples["c_value"])).all()
    assert (((triples["flags"] & 16) != 0) == np.isin(triples["nan"], [2, 3])).all()
    fn = flags("in=fp8e4m3,acc=fp8e4m3", "near-overflow")  # no infinity: an overflow is NaN
    assert (fn["nan"] == 4).any() and ((fn["nan"] == 4) <= (fn["overflow"] > 0)).all()
    ties = flags("in=fp16,acc=fp32", "ties")
    assert (ties["swamped"] > 0).mean() > 0.5 and (ties["flags"] & 64).any()
    assert ((ties["flags"] & 1) == ties["inexact"]).all() and ((ties["flags"] >> 7) == (ties["nan"] > 0)).all()


# ---- distributions -------------------------------------------------------------------------------------------


def test_mixed_default_has_no_nan_results_unless_asked():
    codes = lpsim.vectors("in=fp16,acc=fp32", 4, 4000, dist="codes")
    mixed = lpsim.vectors("in=fp16,acc=fp32", 4, 4000)
    special = lpsim.vectors("in=fp16,acc=fp32", 4, 4000, specials=True)
    assert np.isnan(codes["c_value"]).mean() > 0.15
    assert not np.isnan(mixed["c_value"]).any() and np.isfinite(mixed["a_value"]).all()
    assert 0.01 < np.isnan(special["c_value"]).mean() < 0.3
    drawn = np.hstack([special["a_value"], special["b_value"]])
    assert 0.17 < (~np.isfinite(drawn)).any(axis=1).mean() < 0.28  # 1 - (1 - 1/32)^8 = 22 % of the vectors


def _fields(code, exp_bits, man_bits):
    return (code >> (exp_bits + man_bits)) & 1, (code >> man_bits) & ((1 << exp_bits) - 1), code & ((1 << man_bits) - 1)


def test_subnormals_draw_tiny_codes():
    v = lpsim.vectors("in=fp16,acc=fp16", 8, 500, dist="subnormals")
    _, e, _ = _fields(v["a"].astype(np.int64), 5, 10)
    assert 0.4 < (e <= 1).mean() < 0.65  # half tiny (exponent field 0 or 1), half N(0, 1)
    assert ((e == 0) & (v["a"] & 0x3FF != 0)).mean() > 0.15
    assert (np.abs(v["c_value"][np.abs(v["c_value"]) > 0]) < 2 ** -14).any()  # subnormal results


def test_near_overflow_sums_cluster_at_the_largest_value():
    v = lpsim.vectors("in=fp16,acc=fp16", 8, 300, dist="near-overflow")
    p = v["a_value"] * v["b_value"]
    assert ((p > 0).all(axis=1) | (p < 0).all(axis=1)).all()  # one sign per vector
    s = np.abs(p.sum(axis=1)) / 65504
    assert 0.5 < s.min() and s.max() < 1.5 and abs(np.median(s) - 1) < 0.15


def test_cancellation_pairs_cancel_exactly_or_by_one_code():
    k = 8
    v = lpsim.vectors("in=fp16,acc=fp16", k, 400, dist="cancellation")
    assert np.array_equal(v["a"][:, 4:], v["a"][:, :4])
    d = v["b"][:, 4:].astype(np.int64) - (v["b"][:, :4] ^ 0x8000).astype(np.int64)
    moved = (d != 0).sum(axis=1)
    assert set(np.unique(moved)) == {0, 1} and 0.35 < moved.mean() < 0.65
    assert (np.abs(d) <= 1).all()
    exact = [_exact(zip(a, b)) for a, b in zip(v["a_value"], v["b_value"])]
    assert all((e == 0) == (m == 0) or e == 0 for e, m in zip(exact, moved))
    assert (np.array(exact)[moved == 0] == 0).all()
    odd = lpsim.vectors("in=fp16,acc=fp16", 7, 50, dist="cancellation")  # K odd: one tiny-or-normal term left
    assert np.array_equal(odd["a"][:, 3:6], odd["a"][:, :3])


def test_ties_land_on_half_an_ulp_of_the_accumulator():
    for mac, man, emin in [("in=fp16,acc=fp32", 23, -126), ("in=bf16,acc=fp16", 10, -14)]:
        v = lpsim.vectors(mac, 5, 200, dist="ties")
        x = v["a_value"][:, 0] * v["b_value"][:, 0]
        e = np.maximum(np.floor(np.log2(np.abs(x))), emin)
        half = 2.0 ** (e - man - 1)
        tail = np.abs(v["a_value"][:, 1:] * v["b_value"][:, 1:])
        reachable = half >= 2.0 ** -48  # fp16 * fp16 reaches 2^-48; bf16 everything here
        assert reachable.mean() > 0.9
        assert (tail[reachable] == half[reachable, None]).all()


# ---- every (a, b, c) triple -----------------------------------------------------------------------------------


def test_exhaustive_triples(tmp_path):
    mac = "in=e2m1,acc=e5m2"
    cli("vectors", "--mac", mac, "--exhaustive", "--addend", "all", "--flags", "-o", "t.csv", cwd=tmp_path)
    head, codes = _csv(tmp_path / "t.csv")
    assert head[:4] == ["a0", "b0", "addend", "c"] and codes.shape == (16 * 16 * 256, 9)
    want = np.array([(a, b, c) for a in range(16) for b in range(16) for c in range(256)], np.uint64)
    assert np.array_equal(codes[:, :3], want)  # a outermost, the addend innermost
    pick = np.random.default_rng(1).choice(len(codes), 300, replace=False)
    _check_flags(mac, 1, codes[pick], "e2m1", "e5m2", True)


@pytest.mark.parametrize("args,message", [
    (["--mac", "in=fp8e4m3,acc=fp16", "--exhaustive", "--addend", "all"], "at most 24 bits together"),
    (["--addend", "all"], "--addend all (every addend code) needs --exhaustive"),
    (["--dist", "gauss"], '--dist "gauss" is not one of: codes, finite, normal, subnormals, near-overflow'),
    (["--format", "vhdl"], '--format "vhdl" is not one of'),
    (["--packed"], "--packed applies to .hex files"),
    (["--format", "h5"], "--format h5 needs a file"),
    (["--mac", "blackwell.mxfp8"], "block-scaled"),
])
def test_bad_requests_exit_1_without_a_file(tmp_path, args, message):
    out = [] if "h5" in args else ["-o", "v.csv"]
    r = cli("vectors", "--k", 2, "--count", 2, *args, *out, check=False, cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


# ---- TestFloat-style lines -------------------------------------------------------------------------------------


def test_testfloat_lines(tmp_path):
    args = ["vectors", "--mac", "in=fp16,acc=fp16", "--k", 3, "--count", 200, "--dist", "mixed", "--specials",
            "--addend", "normal", "--seed", 5]
    cli(*args, "-o", "v.tf", cwd=tmp_path)
    cli(*args, "--format", "testfloat", "-o", "same.txt", cwd=tmp_path)
    cli(*args, "--flags", "-o", "v.csv", cwd=tmp_path)
    text = (tmp_path / "v.tf").read_text()
    assert text == (tmp_path / "same.txt").read_text()
    _, codes = _csv(tmp_path / "v.csv")
    lines = text.splitlines()
    assert len(lines) == 200 and all(not l.startswith(("#", "//")) for l in lines)
    for line, row in zip(lines, codes):
        w = line.split(" ")
        assert len(w) == 2 * 3 + 3 and w == [x.upper() for x in w]
        assert all(len(x) == 4 for x in w[:8]) and len(w[8]) == 2
        got = [int(x, 16) for x in w]
        assert got[0:6:2] == list(row[:3]) and got[1:6:2] == list(row[3:6])  # a0 b0 a1 b1 a2 b2
        assert got[6:8] == list(row[6:8])  # addend, result
        overflow, saturation, inexact, nan, swamped = (int(x) for x in row[8:13])
        c = float(lpsim.decode(row[7:8], "fp16")[0])
        flags = (inexact | (2 if inexact and np.isfinite(c) and abs(c) < 2 ** -14 else 0)
                 | (4 if overflow or saturation else 0) | (16 if nan in (2, 3) else 0) | (32 if saturation else 0)
                 | (64 if swamped else 0) | (128 if nan else 0))
        assert got[8] == flags, line
