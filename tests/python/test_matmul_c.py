"""lpsim.matmul(A, B, mac, c=C): D = A @ B + C, C entering unrounded as the
accumulator's initial value (the outer accumulator's with promotion; pairwise:
one more rounded addition; sim/README.md), checked against an exact model with
Fractions, against itself (chaining, row by row, golden model) and on bad input."""
from fractions import Fraction

import numpy as np
import pytest

import lpsim
from exact_model import round_float

FP32 = lambda v: round_float(v, 8, 23)  # noqa: E731
FP16 = lambda v: round_float(v, 5, 10)  # noqa: E731
GPU = ["hopper.fp16", "ampere.fp16.f16out", "h800.fp8", "volta.fp16", "blackwell.fp8.mma"]


def _operands(rng, m, k, n, fmt="fp16", scale=1.0):
    a = lpsim.quantize((rng.standard_normal((m, k)) * scale).astype(np.float32), fmt)
    b = lpsim.quantize((rng.standard_normal((k, n)) * scale).astype(np.float32), fmt)
    return a, b


def _model(a, b, c, dot):
    return np.array([[dot(a[i, :], b[:, j], c[i, j]) for j in range(b.shape[1])] for i in range(a.shape[0])])


def _bits(x):
    return np.ascontiguousarray(x, np.float32).view(np.uint32)


def seq_from(round_acc, chunk=None, round_outer=None):
    """Sequential accumulation from the addend c: acc = c, acc = round(acc + a*b) ...; with chunks,
    the outer accumulator starts at c and each chunk's accumulator at 0."""
    def dot(a, b, c):
        outer, acc = (Fraction(float(c)), Fraction(0)) if chunk else (Fraction(0), Fraction(float(c)))
        for l, (x, y) in enumerate(zip(a, b)):
            if chunk and l and l % chunk == 0:
                outer, acc = Fraction(round_outer(outer + acc)), Fraction(0)
            acc = Fraction(round_acc(acc + Fraction(float(x)) * Fraction(float(y))))
        return round_outer(outer + acc) if chunk else float(acc)
    return dot


def pairwise_then_c(round_acc):
    """The pairwise tree (adjacent terms level by level, an odd one moves up), then c + the tree's sum."""
    def dot(a, b, c):
        t = [Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, b)]
        if len(t) == 1:
            t = [Fraction(round_acc(t[0]))]
        while len(t) > 1:
            t = [Fraction(round_acc(t[i] + t[i + 1])) for i in range(0, len(t) - 1, 2)] + ([t[-1]] if len(t) % 2 else [])
        return round_acc(Fraction(float(c)) + t[0])
    return dot


# ---- the exact model -------------------------------------------------------------------------------------


def test_fp32_chain_from_c_matches_the_exact_model():
    rng = np.random.default_rng(10)
    a = rng.standard_normal((4, 37)).astype(np.float32)
    b = rng.standard_normal((37, 5)).astype(np.float32)
    c = (rng.standard_normal((4, 5)) * 8).astype(np.float32)
    want = _model(a, b, c, seq_from(FP32))
    for golden in (False, True):
        d, st = lpsim.matmul(a, b, "fp32", c=c, golden=golden, counts=True)
        assert d.dtype == np.float32 and d.shape == (4, 5)
        assert np.array_equal(d, want), golden
        assert st.counts["additions"] == 4 * 5 * 37  # C is the initial value: one addition per product
    # C matters: the result is not A @ B
    assert not np.array_equal(lpsim.matmul(a, b, "fp32")[0], want)


def test_fp16_accumulator_from_c_matches_the_exact_model():
    rng = np.random.default_rng(11)
    a, b = _operands(rng, 3, 150, 4, "fp16", 2.0)
    c = lpsim.quantize((rng.standard_normal((3, 4)) * 30).astype(np.float32), "fp16")
    c[0, 0] = 1.0 / 3  # not an fp16 value: C enters as given, unrounded
    d, _ = lpsim.matmul(a, b, "in=fp16,acc=fp16", c=c)
    assert np.array_equal(d, _model(a, b, c, seq_from(FP16)))


def test_promotion_starts_the_outer_accumulator_from_c():
    rng = np.random.default_rng(12)
    a, b = _operands(rng, 3, 70, 3, "fp16")
    c = (rng.standard_normal((3, 3)) * 100).astype(np.float32)
    mac = "in=fp16,acc=fp16,order=chunk32,outer=fp32"
    d, _ = lpsim.matmul(a, b, mac, c=c)
    assert np.array_equal(d, _model(a, b, c, seq_from(FP16, 32, FP32)))
    assert np.array_equal(lpsim.matmul(a, b, mac, c=c, golden=True)[0], d)


def test_pairwise_adds_c_to_the_tree():
    rng = np.random.default_rng(13)
    for k in (1, 2, 7, 16):
        a, b = _operands(rng, 2, k, 3, "fp16", 3.0)
        c = (rng.standard_normal((2, 3)) * 10).astype(np.float32)
        d, st = lpsim.matmul(a, b, "in=fp16,acc=fp16,order=pairwise", c=c, counts=True)
        assert np.array_equal(d, _model(a, b, c, pairwise_then_c(FP16))), k
        _, st0 = lpsim.matmul(a, b, "in=fp16,acc=fp16,order=pairwise", counts=True)
        assert st.counts["additions"] == st0.counts["additions"] + 2 * 3  # one more addition per output


def test_h800_c_enters_the_fp32_outer_accumulator():
    # h800.fp8: chunks of 128 in a truncating e8m13 accumulator, promoted into fp32 (RNE), whose initial value is C.
    rng = np.random.default_rng(14)
    a, b = _operands(rng, 3, 256, 4, "fp8e4m3")
    c = (rng.standard_normal((3, 4)) * 4).astype(np.float32)
    d, _ = lpsim.matmul(a, b, "h800.fp8", c=c)
    p1, _ = lpsim.matmul(a[:, :128], b[:128], "h800.fp8")  # one chunk each: the outer sum of one chunk is exact
    p2, _ = lpsim.matmul(a[:, 128:], b[128:], "h800.fp8")
    want = np.array([[FP32(Fraction(FP32(Fraction(float(c[i, j])) + Fraction(float(p1[i, j])))) + Fraction(float(p2[i, j])))
                      for j in range(4)] for i in range(3)])
    assert np.array_equal(d, want)


# ---- consistency: zeros, chaining, row by row, golden ------------------------------------------------------


@pytest.mark.parametrize("mac", ["fp32", "fp16.fp32", "fp16.fp16", "int8.int32", "in=fp16,acc=fp16,order=chunk16,outer=fp32",
                                 "in=bf16,acc=bf16,acc_round=rz"] + GPU)
def test_c_zero_equals_no_c_bit_for_bit(mac):
    rng = np.random.default_rng(20)
    fmt = "int8" if mac == "int8.int32" else "fp8e4m3" if "fp8" in mac else "fp16"
    a, b = _operands(rng, 6, 70, 5, fmt, 3.0 if fmt == "int8" else 1.0)
    a[0, :] = -0.0  # a row of -0 products: the sign of a zero result must agree too
    want, st0 = lpsim.matmul(a, b, mac, counts=True)
    got, st = lpsim.matmul(a, b, mac, c=np.zeros((6, 5)), counts=True)
    assert np.array_equal(_bits(got), _bits(want))
    assert st.counts == st0.counts
    assert np.array_equal(_bits(lpsim.matmul(a, b, mac, c=np.zeros((6, 5)), counts=False)[0]), _bits(want))


def test_pairwise_c_zero_equals_no_c_in_value():
    rng = np.random.default_rng(21)
    a, b = _operands(rng, 4, 33, 4, "fp16")
    want, _ = lpsim.matmul(a, b, "in=fp16,acc=fp16,order=pairwise")
    got, _ = lpsim.matmul(a, b, "in=fp16,acc=fp16,order=pairwise", c=np.zeros((4, 4), np.float32))
    assert np.array_equal(got, want)  # equal values (-0 + 0 is +0: one more rounded addition)


@pytest.mark.parametrize("mac,split", [("fp32", 13), ("in=fp16,acc=fp16", 40), ("hopper.fp16", 32), ("ampere.fp16.f16out", 16),
                                       ("volta.fp16", 4), ("h800.fp8", 128), ("in=fp16,acc=fp16,order=chunk8,outer=fp32", 24)])
def test_c_is_the_initial_value_so_products_chain(mac, split):
    # C enters as the (outer) accumulator's initial value, so splitting K at a step boundary and feeding the first
    # part's result in as C gives the same bits.
    rng = np.random.default_rng(22)
    fmt = "fp8e4m3" if "fp8" in mac else "fp16"
    a, b = _operands(rng, 4, 2 * split + (0 if "fused" in lpsim.MacConfig(mac).spelling or "chunk" in mac else 3), 3, fmt)
    c = lpsim.quantize((rng.standard_normal((4, 3)) * 5).astype(np.float32), "fp16")
    whole, _ = lpsim.matmul(a, b, mac, c=c)
    first, _ = lpsim.matmul(a[:, :split], b[:split], mac, c=c)
    chained, _ = lpsim.matmul(a[:, split:], b[split:], mac, c=first)
    assert np.array_equal(_bits(chained), _bits(whole))


@pytest.mark.parametrize("mac", GPU + ["in=fp16,acc=fp16,order=pairwise", "int8.int32"])
def test_gpu_presets_with_c_row_by_row_and_golden(mac):
    rng = np.random.default_rng(23)
    fmt = "int8" if mac == "int8.int32" else "fp8e4m3" if "fp8" in mac else "fp16"
    a, b = _operands(rng, 5, 48, 4, fmt, 3.0 if fmt == "int8" else 1.0)
    c = lpsim.quantize((rng.standard_normal((5, 4)) * 4).astype(np.float32), "fp16")
    c[1, 2] = 3e4  # large enough to swamp the products
    d, st = lpsim.matmul(a, b, mac, c=c)
    assert np.array_equal(_bits(lpsim.matmul(a, b, mac, c=c, golden=True)[0]), _bits(d))
    assert not np.array_equal(d, lpsim.matmul(a, b, mac)[0])
    for i in range(5):
        for j in range(4):
            one, _ = lpsim.matmul(a[i:i + 1], b[:, j:j + 1], mac, c=c[i:i + 1, j:j + 1])
            assert _bits(one)[0, 0] == _bits(d)[i, j], (i, j)


def test_stochastic_rounding_with_c_seed_and_stream():
    rng = np.random.default_rng(24)
    a, b = _operands(rng, 4, 40, 6, "bf16")
    c = rng.standard_normal((4, 6)).astype(np.float32)
    mac = "in=bf16,acc=bf16,acc_round=sr16"
    d, _ = lpsim.matmul(a, b, mac, c=c, seed=5, stream=3)
    assert np.array_equal(_bits(lpsim.matmul(a, b, mac, c=c, seed=5, stream=3, golden=True)[0]), _bits(d))
    assert np.array_equal(_bits(lpsim.matmul(a, b, mac, c=c, seed=5, stream=3)[0]), _bits(d))
    assert not np.array_equal(lpsim.matmul(a, b, mac, c=c, seed=6, stream=3)[0], d)


def test_stats_with_c():
    rng = np.random.default_rng(25)
    a = rng.standard_normal((3, 20)).astype(np.float32) * 1e-3
    b = rng.standard_normal((20, 4)).astype(np.float32) * 1e-3
    c = np.full((3, 4), 1e3, np.float32)
    d, st = lpsim.matmul(a, b, "fp32", c=c, error=True, depth=7, tag="layer", counts=True)
    assert st.m == 3 and st.n == 4 and st.k == 20 and st.depth == 7 and st.tag == "layer"
    assert st.has_error and st.max_rel_error < 1e-6  # the fp64 reference includes C (else the error would be ~1)
    assert st.counts["swamped"] == 3 * 4 * 20  # every product vanishes against 1000


# ---- input handling ----------------------------------------------------------------------------------------


def test_c_is_never_written_and_any_real_dtype_is_read_as_float32():
    rng = np.random.default_rng(30)
    a, b = _operands(rng, 3, 9, 4)
    c32 = rng.standard_normal((3, 4)).astype(np.float32)
    keep = c32.copy()
    want, _ = lpsim.matmul(a, b, "fp16.fp16", c=c32)
    assert np.array_equal(_bits(c32), _bits(keep))  # C-contiguous float32: read without a copy, still not written
    assert not np.shares_memory(want, c32)
    c64 = c32.astype(np.float64) + 1e-12  # float64 is rounded to float32, as A and B are
    assert np.array_equal(lpsim.matmul(a, b, "fp16.fp16", c=c64)[0], want)
    fort = np.asfortranarray(c32)
    assert np.array_equal(lpsim.matmul(a, b, "fp16.fp16", c=fort)[0], want)
    wide = np.zeros((3, 8), np.float32)
    wide[:, ::2] = c32
    assert np.array_equal(lpsim.matmul(a, b, "fp16.fp16", c=wide[:, ::2])[0], want)  # a strided view
    ints = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert np.array_equal(lpsim.matmul(a, b, "fp16.fp16", c=ints)[0], lpsim.matmul(a, b, "fp16.fp16", c=ints.astype(np.float32))[0])
    assert np.array_equal(lpsim.matmul(a, b, "fp16.fp16", c=c32.tolist())[0], want)  # nested lists, as for A and B
    assert np.array_equal(lpsim.matmul(a, b, "fp16.fp16", c=None)[0], lpsim.matmul(a, b, "fp16.fp16")[0])


def test_non_finite_c_is_data():
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 2), np.float32)
    c = np.array([[np.inf, -np.inf], [np.nan, 1.0]], np.float32)
    for mac in ("fp32", "hopper.fp16", "in=fp16,acc=fp16,order=pairwise"):
        d, _ = lpsim.matmul(a, b, mac, c=c)
        assert d[0, 0] == np.inf and d[0, 1] == -np.inf and np.isnan(d[1, 0]) and d[1, 1] == 4.0, mac


def test_empty_shapes_with_c():
    c = np.arange(6, dtype=np.float32).reshape(2, 3)
    d, st = lpsim.matmul(np.ones((2, 0), np.float32), np.ones((0, 3), np.float32), "fp32", c=c)
    assert np.array_equal(d, c) and st.k == 0  # K = 0: D = C
    assert lpsim.matmul(np.ones((0, 4)), np.ones((4, 3)), c=np.ones((0, 3)))[0].shape == (0, 3)
    assert lpsim.matmul(np.ones((2, 4)), np.ones((4, 0)), c=np.ones((2, 0)))[0].shape == (2, 0)
    with pytest.raises(ValueError, match=r"matmul: c has shape \(2, 3\), but A @ B has shape \(0, 3\)"):
        lpsim.matmul(np.ones((0, 4)), np.ones((4, 3)), c=np.ones((2, 3)))


@pytest.mark.parametrize("c,shape", [(np.ones((3, 2)), "(3, 2)"), (np.ones(6), "(6,)"), (np.ones((2, 3, 1)), "(2, 3, 1)"),
                                     (np.float32(1), "()"), (np.ones((1, 3)), "(1, 3)"), (np.ones((2, 1)), "(2, 1)")])
def test_bad_c_shapes_are_value_errors_naming_c_and_both_shapes(c, shape):
    a, b = np.ones((2, 4), np.float32), np.ones((4, 3), np.float32)
    with pytest.raises(ValueError) as e:
        lpsim.matmul(a, b, "fp32", c=c)
    msg = str(e.value)
    assert msg.startswith("matmul: c has shape " + shape) and "(2, 3)" in msg, msg


@pytest.mark.parametrize("c,error,names", [
    (np.ones((2, 3), complex), TypeError, ["matmul: c", "complex128"]),
    (np.array([["x"] * 3] * 2), TypeError, ["matmul: c"]),
    ("ones", TypeError, ["matmul: c"]),
    (np.full((2, 3), 2**24 + 1, np.int64), ValueError, ["matmul: c", "16777217"]),
])
def test_bad_c_dtypes(c, error, names):
    with pytest.raises(error) as e:
        lpsim.matmul(np.ones((2, 4), np.float32), np.ones((4, 3), np.float32), c=c)
    for n in names:
        assert n in str(e.value), str(e.value)
