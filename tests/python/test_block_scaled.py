"""Block-scaled MMA (scale=ue8m0|ue4m3, block=<n>, subsum=<s>; the blackwell.mx* / nvfp4 presets):
lpsim.matmul(..., scale_a=, scale_b=) against an independent exact model with Fractions, bit for bit,
and against itself (scales of 1, a row's scales times 2^s, NaN scales, threads), and its errors."""
import math
import os
import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

import lpsim
from exact_model import _floor_log2  # floor(log2 x) of a Fraction x > 0

# ---- the exact model ----------------------------------------------------------------------------------------

# Smallest normal exponent and largest finite value of the element formats (OCP MX v1.0 / e4m3fn).
EMIN = {"fp8e4m3": -6, "fp8e5m2": -14, "fp6e3m2": -2, "fp6e2m3": 0, "fp4e2m1": 0}
MAXV = {"fp8e4m3": 448.0, "fp8e5m2": 57344.0, "fp6e3m2": 28.0, "fp6e2m3": 7.5, "fp4e2m1": 6.0}
FLT_MAX = Fraction((1 << 24) - 1) * Fraction(2) ** 104
NAN_BITS = 0x7FFFFFFF
TAIL = "acc=fp32,acc_round=rz,overflow=inf,nan=0x7fffffff"


class Mac:
    def __init__(self, spelling, fmt, n, align, kind, block, subsum=0):
        self.spelling, self.fmt, self.n, self.align = spelling, fmt, n, align
        self.kind, self.block, self.subsum = kind, block, subsum

    def __repr__(self):
        return self.spelling


PRESETS = [
    Mac("blackwell.mxfp8", "fp8e4m3", 32, 25, "ue8m0", 32),
    Mac("blackwell.mxfp8e5m2", "fp8e5m2", 32, 25, "ue8m0", 32),
    Mac("blackwell.mxfp6e3m2", "fp6e3m2", 32, 25, "ue8m0", 32),
    Mac("blackwell.mxfp6e2m3", "fp6e2m3", 32, 25, "ue8m0", 32),
    Mac("blackwell.mxfp4", "fp4e2m1", 64, 35, "ue8m0", 32, 16),
    Mac("blackwell.nvfp4", "fp4e2m1", 64, 35, "ue4m3", 16, 16),
]
# The other combinations the grammar allows: ue4m3 without subsum, ue8m0 with subsum on 8-bit
# elements, blocks spanning two steps, several blocks in a step.
CUSTOM = [
    Mac(f"in=fp8e4m3,{TAIL},order=fused32,align=25,scale=ue4m3,block=16", "fp8e4m3", 32, 25, "ue4m3", 16),
    Mac(f"in=fp8e4m3,{TAIL},order=fused32,align=25,scale=ue8m0,block=32,subsum=8", "fp8e4m3", 32, 25, "ue8m0", 32, 8),
    Mac(f"in=fp6e2m3,{TAIL},order=fused16,align=25,scale=ue8m0,block=64", "fp6e2m3", 16, 25, "ue8m0", 64),
    Mac(f"in=fp4e2m1,{TAIL},order=fused64,align=35,scale=ue4m3,block=16,subsum=8", "fp4e2m1", 64, 35, "ue4m3", 16, 8),
]


def _ilog2(x):
    """floor(log2 |x|) of a nonzero float (exact: frexp)."""
    return math.frexp(abs(x))[1] - 1


def _scale_exp(s, kind):
    if kind == "ue8m0":
        return _ilog2(s)
    return -6 if s == 0 else max(_ilog2(s), -6)


def _rz_fp32(x):
    """x (Fraction) rounded toward zero into fp32 (subnormals down to 2^-149); beyond FLT_MAX: inf."""
    if x == 0:
        return 0.0
    a = abs(x)
    q = Fraction(2) ** (max(_floor_log2(a), -126) - 23)
    mag = (a // q) * q
    r = math.inf if mag > FLT_MAX else float(mag)
    return -r if x < 0 else r


def _neg0(z):
    return z == 0 and math.copysign(1.0, z) < 0


def ref_dot(a, b, sa, sb, c, mac):
    """One output: row a, column b (floats, values of mac.fmt), their block scales sa[q], sb[q], the addend c
    (None: +0). Fused steps of mac.n terms chained from c, each rounded once (fp32 RZ)."""
    emin = EMIN[mac.fmt]
    acc = 0.0 if c is None else float(c)
    for g0 in range(0, len(a), mac.n):
        idx = range(g0, g0 + mac.n)
        if any(math.isnan(sa[l // mac.block]) or math.isnan(sb[l // mac.block]) for l in idx):
            acc = math.nan
            continue
        if not math.isfinite(acc):
            continue  # the terms are finite: inf stays inf, NaN NaN
        terms = []  # (exact value, alignment exponent or None when left out, the value's zero as a signed float)
        if mac.subsum:
            for r0 in range(g0, g0 + mac.n, mac.subsum):
                q = r0 // mac.block
                run = range(r0, r0 + mac.subsum)
                p = sum(Fraction(a[l]) * Fraction(b[l]) for l in run)
                v = p * Fraction(sa[q]) * Fraction(sb[q])
                # The exact (IEEE) sum of zeros is -0 only when every product is -0.
                allneg = all(a[l] * b[l] == 0 and math.copysign(1.0, a[l]) * math.copysign(1.0, b[l]) < 0 for l in run)
                zero = -0.0 if (p < 0 or (p == 0 and allneg)) else 0.0
                terms.append((v, _scale_exp(sa[q], mac.kind) + _scale_exp(sb[q], mac.kind), zero))
        else:
            for l in idx:
                q = l // mac.block
                v = Fraction(a[l]) * Fraction(b[l]) * Fraction(sa[q]) * Fraction(sb[q])
                zero = math.copysign(1.0, a[l]) * math.copysign(1.0, b[l]) * 0.0
                e = None
                if v != 0:
                    e = (max(_ilog2(a[l]), emin) + max(_ilog2(b[l]), emin) +
                         _scale_exp(sa[q], mac.kind) + _scale_exp(sb[q], mac.kind))
                terms.append((v, e, zero))
        if acc == 0 and all(v == 0 for v, _, _ in terms):
            # No nonzero term: the IEEE sum of the zeros (-0 only if all are -0).
            acc = -0.0 if _neg0(acc) and all(_neg0(z) for _, _, z in terms) else 0.0
            continue
        exps = [e for _, e, _ in terms if e is not None]
        if acc != 0:
            exps.append(max(_ilog2(acc), -126))
        grid = Fraction(2) ** (max(exps) - mac.align)
        total = sum(int(v / grid) for v, _, _ in terms) + int(Fraction(acc) / grid)  # int(): toward zero
        acc = _rz_fp32(total * grid)
    return acc


def ref_matmul(a, b, sa, sb, c, mac):
    m, n = a.shape[0], b.shape[1]
    out = np.zeros((m, n), np.uint32)
    for i in range(m):
        ar = [float(x) for x in a[i]]
        sar = [float(x) for x in sa[i]]
        for j in range(n):
            r = ref_dot(ar, [float(x) for x in b[:, j]], sar, [float(x) for x in sb[:, j]],
                        None if c is None else c[i, j], mac)
            out[i, j] = NAN_BITS if math.isnan(r) else np.array([r], np.float32).view(np.uint32)[0]
    return out


# ---- operands ----------------------------------------------------------------------------------------------


def _bits(x):
    return np.ascontiguousarray(x, np.float32).view(np.uint32)


def _elements(rng, shape, fmt, zeros=0.15):
    """Random codes of fmt: magnitudes spread over its whole range (subnormals included), random signs, zeros of both signs."""
    mag = np.exp2(rng.uniform(EMIN[fmt] - 5, math.log2(MAXV[fmt]), shape))  # below the subnormals: zeros too
    x = np.minimum(mag, MAXV[fmt]) * rng.choice([-1.0, 1.0], shape)
    x[rng.random(shape) < zeros] = 0.0
    x = lpsim.quantize(x.astype(np.float32), fmt)
    assert np.isfinite(x).all()
    return x


def e4m3_values():
    """Every finite non-negative e4m3fn value: codes 0..126 (0x7f is NaN), decoded here."""
    vals = []
    for code in range(127):
        e, m = code >> 3, code & 7
        vals.append(m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
    return np.array(vals, np.float32)


def _scales(rng, shape, kind, lo=-30, hi=30):
    if kind == "ue8m0":
        return np.exp2(rng.integers(lo, hi + 1, shape)).astype(np.float32)
    vals = e4m3_values()
    s = rng.choice(vals, shape)
    s[rng.random(shape) < 0.1] = 0.0  # zero scales
    return s.astype(np.float32)


def _c(rng, shape):
    c = (rng.standard_normal(shape) * np.exp2(rng.uniform(-40, 40, shape))).astype(np.float32)
    c[rng.random(shape) < 0.15] = 0.0
    c[rng.random(shape) < 0.05] = -0.0
    return c


def _problem(rng, mac, m, k, n, with_c, lo=-30, hi=30):
    a = _elements(rng, (m, k), mac.fmt)
    b = _elements(rng, (k, n), mac.fmt)
    sa = _scales(rng, (m, k // mac.block), mac.kind, lo, hi)
    sb = _scales(rng, (k // mac.block, n), mac.kind, lo, hi)
    return a, b, sa, sb, (_c(rng, (m, n)) if with_c else None)


def _assert_bits(got, want, what):
    g = _bits(got)
    bad = np.argwhere(g != want)
    assert bad.size == 0, (f"{what}: {len(bad)} of {want.size} outputs differ, first at {tuple(bad[0])}: "
                           f"lpsim {g[tuple(bad[0])]:#010x}, model {want[tuple(bad[0])]:#010x}")


# ---- (a) bit for bit against the exact model ----------------------------------------------------------------


def _one(mac, a, b, sa, sb, c=None):
    """One output through lpsim: a row of k, b a column of k, their scales per block."""
    a = np.array([a], np.float32)
    b = np.array(b, np.float32)[:, None]
    d, _ = lpsim.matmul(a, b, mac.spelling, c=None if c is None else np.array([[c]], np.float32),
                        scale_a=np.array([sa], np.float32), scale_b=np.array(sb, np.float32)[:, None])
    return float(d[0, 0])


def test_hand_worked_steps():
    """Steps worked out by hand, through the model and through lpsim."""
    mx8, nv = PRESETS[0], PRESETS[5]
    # C = 1 and eight terms 3 * 2^-9 (subnormal e4m3) * 2^-17 = 1.5 * 2^-25 each: C sets E = 0, each term is
    # truncated onto 2^-25 to 2^-25, the sum 1 + 8 * 2^-25 = 1 + 2^-22 (exactly: 1 + 1.5 * 2^-22, RZ 1 + 3 * 2^-23).
    a, b = [3 * 2.0 ** -9] * 8 + [0.0] * 24, [1.0] * 32
    for model in (lambda *x: ref_dot(*x, mx8), lambda *x: _one(mx8, *x)):
        assert model(a, b, [2.0 ** -17], [1.0], 1.0) == 1 + 2.0 ** -22
        # without C the terms align among themselves (exponent -6 - 17): exact, 8 * 1.5 * 2^-25
        assert model(a, b, [2.0 ** -17], [1.0], None) == 12 * 2.0 ** -25
        # only the scales' product and the sum of their exponents count: 2^17 * 2^-34 is 2^-17 again
        assert model(a, b, [2.0 ** 17], [2.0 ** -34], 1.0) == 1 + 2.0 ** -22
        # overflow: 448 * 448 * 2^127 is beyond FLT_MAX: inf (overflow=inf, even under RZ)
        assert model([448.0] + [0.0] * 31, [448.0] * 32, [2.0 ** 127], [1.0], None) == math.inf
        assert model([-448.0] + [0.0] * 31, [1.0] * 32, [2.0 ** 127], [2.0 ** 127], None) == -math.inf
        # FLT_MAX + 2^103 (half its ulp) rounds toward zero to FLT_MAX; FLT_MAX + 2^104 = 2^128 is inf
        fmax = float(FLT_MAX)
        assert model([1.0] + [0.0] * 31, [1.0] * 32, [2.0 ** 103], [1.0], fmax) == fmax
        assert model([1.0] + [0.0] * 31, [1.0] * 32, [2.0 ** 104], [1.0], fmax) == math.inf
        assert model([-1.0] + [0.0] * 31, [1.0] * 32, [2.0 ** 103], [1.0], -fmax) == -fmax
        # alignment exponents clamp at the formats' emin: the subnormal element 2^-9 aligns as 2^-6, so E = -6
        # and C = 3 * 2^-33 falls below 2^-31 (with E = -9 it would stay: RZ(2^-9 + 3 * 2^-33) = 2^-9 + 2^-32)
        assert model([2.0 ** -9] + [0.0] * 31, [1.0] * 32, [1.0], [1.0], 3 * 2.0 ** -33) == 2.0 ** -9
        assert model([2.0 ** -9] + [0.0] * 31, [1.0] * 32, [1.0], [1.0], 2.0 ** -31) == 2.0 ** -9 + 2.0 ** -31
        # C's exponent clamps at fp32's -126: a subnormal C = 2^-140 sets E = -126, and -2^-152 (scales 2^-127 *
        # 2^-25) is truncated to 0 on 2^-151 (with E = -140 it would leave RZ(2^-140 - 2^-152) = 2^-140 - 2^-149)
        assert model([-1.0] + [0.0] * 31, [1.0] * 32, [2.0 ** -127], [2.0 ** -25], 2.0 ** -140) == 2.0 ** -140
        assert model([-1.0] + [0.0] * 31, [1.0] * 32, [2.0 ** -127], [2.0 ** -23], 2.0 ** -140) == 2.0 ** -140 - 2.0 ** -149
    # nvfp4: a run of products summing to zero still aligns, with its scales' exponent (448 * 448: 8 + 8 = 16),
    # so 0.5 * 0.5 * 2^-9 * 2^-9 = 2^-20 of the second run (exponent -6 - 6) falls below 2^(16 - 35): +0.
    a = [6.0, -6.0] + [0.0] * 14 + [0.5] + [0.0] * 47
    b = [1.0] * 16 + [0.5] + [1.0] * 47
    tiny = [2.0 ** -9] * 3
    for model in (lambda *x: ref_dot(*x, nv), lambda *x: _one(nv, *x)):
        r = model(a, b, [448.0] + tiny, [448.0] + tiny, None)
        assert r == 0 and math.copysign(1, r) > 0
        # the cancelling run under small scales: the 2^-20 survives
        assert model(a, b, [2.0 ** -9] + tiny, [2.0 ** -9] + tiny, None) == 2.0 ** -20
        # ue4m3 scale exponents clamp at -6: under scales 2^-9 (exponent -6, not -9) two runs cancel and
        # C = 2^-42 falls below 2^(-6 - 35); C = 2^-41 stays
        a2 = [6.0] + [0.0] * 15 + [-6.0] + [0.0] * 47
        r = model(a2, [1.0] * 64, [2.0 ** -9] * 4, [1.0] * 4, 2.0 ** -42)
        assert r == 0 and math.copysign(1, r) > 0
        assert model(a2, [1.0] * 64, [2.0 ** -9] * 4, [1.0] * 4, 2.0 ** -41) == 2.0 ** -41
        # a zero ue4m3 scale aligns as -6 too: the runs under scale 0 cancel nothing but set E = -6 + 0
        assert model([0.0] * 16 + [6.0] + [0.0] * 47, [1.0] * 64, [0.0, 2.0 ** -9, 0.0, 0.0], [1.0] * 4,
                     2.0 ** -42) == 6 * 2.0 ** -9
        # ue4m3's significand multiplies, its exponent (here 1, of 3) aligns: 6 * 1 * 3 * 1.5 (run 0), exactly
        assert model([6.0] + [0.0] * 63, [1.0] * 64, [3.0, 1, 1, 1], [1.5, 1, 1, 1], None) == 27.0


@pytest.mark.parametrize("mac", PRESETS + CUSTOM, ids=[m.spelling for m in PRESETS] + [f"custom{i}" for i in range(len(CUSTOM))])
def test_matmul_equals_the_exact_model(mac):
    rng = np.random.default_rng(sum(map(ord, mac.spelling)))
    for k in (2 * max(mac.n, mac.block), 4 * max(mac.n, mac.block)):
        if k > 256:
            k //= 2
        for with_c in (False, True):
            a, b, sa, sb, c = _problem(rng, mac, 4, k, 5, with_c)
            want = ref_matmul(a, b, sa, sb, c, mac)
            assert len(np.unique(want)) > 10  # not a degenerate problem
            for kw in ({"golden": True}, {}, {"counts": False}):
                d, st = lpsim.matmul(a, b, mac.spelling, c=c, scale_a=sa, scale_b=sb, **kw)
                assert d.dtype == np.float32 and d.shape == (4, 5) and st.k == k
                _assert_bits(d, want, f"{mac} k={k} c={with_c} {kw}")


@pytest.mark.parametrize("mac", PRESETS, ids=str)
def test_extreme_scales_equal_the_exact_model(mac):
    """Scales over the whole ue8m0 range (or every e4m3 value): infinities, fp32 subnormals and zeros in the results."""
    rng = np.random.default_rng(7 + sum(map(ord, mac.spelling)))
    k = 2 * mac.n
    a, b, sa, sb, c = _problem(rng, mac, 4, k, 5, True, -127, 127)
    if mac.kind == "ue8m0":
        sa[0, :] = 2.0 ** 127  # row 0: overflow to inf
        sa[1, :] = 2.0 ** -127  # row 1: underflow (C decides, or subnormals)
        sb[:, 0] = 2.0 ** -20
        c[1] = (rng.standard_normal(5) * 2.0 ** -135).astype(np.float32)  # fp32 subnormals (C aligns at -126)
    else:
        sa[0, :], sb[:, 0] = 448.0, 448.0
        sa[1, :], sb[:, 1] = 2.0 ** -9, 2.0 ** -9  # subnormal ue4m3 scales (they align at -6)
        c[1] = (rng.standard_normal(5) * 2.0 ** -18).astype(np.float32)
    # row 2: the smallest normal and subnormal elements; row 3: subnormals only (their exponents clamp at emin)
    for row, hi in ((2, EMIN[mac.fmt] + 1), (3, EMIN[mac.fmt] - 0.1)):
        a[row] = lpsim.quantize((np.exp2(rng.uniform(EMIN[mac.fmt] - 4, hi, k)) *
                                 rng.choice([-1.0, 1.0], k)).astype(np.float32), mac.fmt)
    c[3] = c[3] * np.float32(2.0 ** -60)
    want = ref_matmul(a, b, sa, sb, c, mac)
    for golden in (True, False):
        d, _ = lpsim.matmul(a, b, mac.spelling, c=c, scale_a=sa, scale_b=sb, golden=golden)
        _assert_bits(d, want, f"{mac} golden={golden}")


@pytest.mark.parametrize("mac", PRESETS, ids=str)
def test_special_addends_and_overflow(mac):
    """C = +-inf, NaN, -0, FLT_MAX and fp32 subnormals; steps that overflow to +-inf and then meet the other sign."""
    rng = np.random.default_rng(11)
    k = 2 * mac.n
    a, b, sa, sb, _ = _problem(rng, mac, 2, k, 6, False, -4, 4)
    c = np.array([[np.inf, -np.inf, np.nan, -0.0, 3.4028235e38, 1e-45],
                  [-1e-40, 0.0, -3.4028235e38, 2.0 ** -126, -6e4, 1.0]], np.float32)
    want = ref_matmul(a, b, sa, sb, c, mac)
    d, _ = lpsim.matmul(a, b, mac.spelling, c=c, scale_a=sa, scale_b=sb)
    _assert_bits(d, want, str(mac))
    assert np.isinf(d[0, 0]) and np.isinf(d[0, 1]) and _bits(d)[0, 2] == NAN_BITS
    # Overflow in the first step, then a step of the other sign: stays inf (no NaN: no inf - inf in a step).
    big = 2.0 ** 127 if mac.kind == "ue8m0" else 448.0
    a = np.zeros((1, k), np.float32)
    b = np.ones((k, 1), np.float32)
    a[0, 0], a[0, mac.n] = MAXV[mac.fmt], -MAXV[mac.fmt]
    sa = np.full((1, k // mac.block), big, np.float32)
    sb = np.full((k // mac.block, 1), big, np.float32)
    want = ref_matmul(a, b, sa, sb, None, mac)
    d, _ = lpsim.matmul(a, b, mac.spelling, scale_a=sa, scale_b=sb)
    _assert_bits(d, want, f"{mac} overflow")
    if mac.kind == "ue8m0":
        assert d[0, 0] == np.inf


@pytest.mark.parametrize("mac", PRESETS + CUSTOM[:1], ids=str)
def test_negative_zero_results(mac):
    """Steps with no nonzero term give the IEEE sum of their zeros: -0 from C = -0 and -0 products only."""
    k = 2 * mac.n
    a = np.full((2, k), -0.0, np.float32)
    a[1, 0] = 0.0  # row 1: one +0 product -> +0
    b = np.ones((k, 2), np.float32)
    sa = np.full((2, k // mac.block), 2.0 if mac.kind == "ue8m0" else 0.5, np.float32)
    sb = np.ones((k // mac.block, 2), np.float32)
    c = np.full((2, 2), -0.0, np.float32)
    c[:, 1] = 0.0
    want = ref_matmul(a, b, sa, sb, c, mac)
    assert list(want.ravel()) == [0x80000000, 0, 0, 0]
    d, _ = lpsim.matmul(a, b, mac.spelling, c=c, scale_a=sa, scale_b=sb)
    _assert_bits(d, want, str(mac))
    d, _ = lpsim.matmul(a, b, mac.spelling, scale_a=sa, scale_b=sb)  # no C: +0
    assert not _bits(d).any()


def test_zero_ue4m3_scale_without_subsum_leaves_the_alignment():
    """A zero ue4m3 scale makes its terms zero, and zero terms (other than subsum runs) are left out of the
    alignment: the big elements under a zero scale must not coarsen the grid of the small ones."""
    mac = CUSTOM[0]  # ue4m3, block 16, fused32, no subsum
    a = np.zeros((1, 32), np.float32)
    b = np.ones((32, 1), np.float32)
    a[0, 0] = 448.0  # block 0, scale 0: a zero term; its exponent would be 8 + 0 - 6 = 2
    a[0, 16] = 1.0  # block 1, scale 2^-9: 2^-9, exponent 0 + 0 - 6 = -6
    a[0, 17], b[17, 0] = 2.0 ** -9, 2.0 ** -9  # 2^-18 * 2^-9 = 2^-27, exponent -6 - 6 - 6 = -18 (subnormal elements)
    sa = np.array([[0.0, 2.0 ** -9]], np.float32)
    sb = np.array([[1.0], [1.0]], np.float32)
    want = ref_matmul(a, b, sa, sb, None, mac)
    # E = -6: both terms on 2^-31, exact (counting the zero term, E = 2 and 2^-27 falls below 2^-23)
    assert np.array([2.0 ** -9 + 2.0 ** -27], np.float32).view(np.uint32)[0] == want[0, 0]
    d, _ = lpsim.matmul(a, b, mac.spelling, scale_a=sa, scale_b=sb)
    _assert_bits(d, want, "zero ue4m3 scale")


def test_subsum_of_fp8e5m2_is_refused():
    """subsum= sums each run of products exactly in a double; fp8e5m2 products span 2^-32..2^31.8, so a run
    (2^30 - 2^-32 needs 62 bits) would not be exact: the MAC is refused, naming the bits it would need."""
    spelling = f"in=fp8e5m2,{TAIL},order=fused32,align=25,scale=ue8m0,block=32,subsum=32"
    a = np.zeros((1, 32), np.float32)
    b = np.zeros((32, 1), np.float32)
    one = np.ones((1, 1), np.float32)
    with pytest.raises(ValueError, match=r"subsum=32 with e5m2 x e5m2: a run's exact sum needs 69 bits"):
        lpsim.matmul(a, b, spelling, scale_a=one, scale_b=one)
    # e4m3 elements (the mxf4 kinds' neighbours) fit: the same run shape is accepted.
    lpsim.matmul(a, b, spelling.replace("fp8e5m2", "fp8e4m3"), scale_a=one, scale_b=one)


# ---- (b) scales of 1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mac", [m for m in PRESETS if not m.subsum], ids=str)
def test_unit_scales_equal_the_unscaled_mac(mac):
    rng = np.random.default_rng(20)
    k = 128
    plain = f"in={mac.fmt},acc=fp32,acc_round=rz,order=fused{mac.n},align={mac.align},overflow=inf,nan=0x7fffffff"
    a, b, _, _, c = _problem(rng, mac, 5, k, 6, True)
    ones_a = np.ones((5, k // mac.block), np.float32)
    ones_b = np.ones((k // mac.block, 6), np.float32)
    for cc in (None, c):
        want, _ = lpsim.matmul(a, b, plain, c=cc)
        got, _ = lpsim.matmul(a, b, mac.spelling, c=cc, scale_a=ones_a, scale_b=ones_b)
        _assert_bits(got, _bits(want), f"{mac} c={cc is not None}")
        # ... and the scales do act: 2 everywhere on A is not the unscaled result
        got2, _ = lpsim.matmul(a, b, mac.spelling, c=cc, scale_a=2 * ones_a, scale_b=ones_b)
        assert not np.array_equal(_bits(got2), _bits(want))


def test_nvfp4_with_unit_and_power_of_two_scales_equals_mxfp4():
    """ue4m3 powers of two 2^-6..2^8 align as ue8m0 ones: nvfp4 with each mxfp4 scale on both of its halves
    is mxfp4, bit for bit."""
    rng = np.random.default_rng(21)
    k = 128
    a = _elements(rng, (4, k), "fp4e2m1")
    b = _elements(rng, (k, 5), "fp4e2m1")
    c = _c(rng, (4, 5))
    for lo, hi in ((0, 0), (-6, 8)):
        sa = np.exp2(rng.integers(lo, hi + 1, (4, k // 32))).astype(np.float32)
        sb = np.exp2(rng.integers(lo, hi + 1, (k // 32, 5))).astype(np.float32)
        want, _ = lpsim.matmul(a, b, "blackwell.mxfp4", c=c, scale_a=sa, scale_b=sb)
        got, _ = lpsim.matmul(a, b, "blackwell.nvfp4", c=c, scale_a=np.repeat(sa, 2, axis=1),
                              scale_b=np.repeat(sb, 2, axis=0))
        _assert_bits(got, _bits(want), f"scales 2^{lo}..2^{hi}")


# ---- (c) a row's scales times 2^s --------------------------------------------------------------------------


@pytest.mark.parametrize("mac", [m for m in PRESETS if m.kind == "ue8m0"], ids=str)
def test_row_scale_times_power_of_two_scales_the_row(mac):
    rng = np.random.default_rng(30)
    k = 2 * mac.n
    a, b, sa, sb, c = _problem(rng, mac, 4, k, 5, True, -10, 10)
    c = (rng.standard_normal((4, 5)) * 100).astype(np.float32)  # normal, far from the range's ends
    base, _ = lpsim.matmul(a, b, mac.spelling, scale_a=sa, scale_b=sb)
    base_c, _ = lpsim.matmul(a, b, mac.spelling, c=c, scale_a=sa, scale_b=sb)
    assert np.count_nonzero(base[2]) >= 3 and np.all(np.abs(base[base != 0]) > 2.0 ** -90)
    for s in (7, -9, 40):
        sa2 = sa.copy()
        sa2[2] *= np.float32(2.0 ** s)
        got, _ = lpsim.matmul(a, b, mac.spelling, scale_a=sa2, scale_b=sb)
        want = base.copy()
        want[2] = (base[2].astype(np.float64) * 2.0 ** s).astype(np.float32)
        _assert_bits(got, _bits(want), f"{mac} 2^{s}")
        # with C, C's row scaled too (C enters the same alignment)
        c2 = c.copy()
        c2[2] = (c[2].astype(np.float64) * 2.0 ** s).astype(np.float32)
        got, _ = lpsim.matmul(a, b, mac.spelling, c=c2, scale_a=sa2, scale_b=sb)
        want = base_c.copy()
        want[2] = (base_c[2].astype(np.float64) * 2.0 ** s).astype(np.float32)
        _assert_bits(got, _bits(want), f"{mac} 2^{s} with c")


# ---- (d) NaN scales ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mac", PRESETS + CUSTOM[:1], ids=str)
def test_nan_scale_gives_nan_in_exactly_the_affected_outputs(mac):
    rng = np.random.default_rng(40)
    k = 2 * max(mac.n, mac.block)
    kb = k // mac.block
    a, b, sa, sb, c = _problem(rng, mac, 4, k, 5, True, -10, 10)
    base, _ = lpsim.matmul(a, b, mac.spelling, c=c, scale_a=sa, scale_b=sb)
    assert not np.isnan(base).any()
    sa2, sb2 = sa.copy(), sb.copy()
    sa2[1, kb - 1] = np.nan  # row 1, last block
    sb2[0, 3] = np.nan       # column 3, first block
    a2 = a.copy()
    a2[1, (kb - 1) * mac.block:] = 0.0  # the NaN-scaled block of row 1 is all zeros: NaN all the same
    affected = np.zeros((4, 5), bool)
    affected[1, :] = True
    affected[:, 3] = True
    for aa in (a, a2):
        base_aa, _ = lpsim.matmul(aa, b, mac.spelling, c=c, scale_a=sa, scale_b=sb)
        for golden in (False, True):
            d, _ = lpsim.matmul(aa, b, mac.spelling, c=c, scale_a=sa2, scale_b=sb2, golden=golden)
            assert np.all(_bits(d)[affected] == NAN_BITS), _bits(d)
            assert np.array_equal(_bits(d)[~affected], _bits(base_aa)[~affected])
    # and against the model
    _assert_bits(lpsim.matmul(a, b, mac.spelling, c=c, scale_a=sa2, scale_b=sb2)[0],
                 ref_matmul(a, b, sa2, sb2, c, mac), str(mac))


# ---- (e) errors --------------------------------------------------------------------------------------------


def _ok(mac="blackwell.mxfp8", m=2, k=64, n=3, block=32):
    a = np.ones((m, k), np.float32)
    b = np.ones((k, n), np.float32)
    return a, b, np.ones((m, k // block), np.float32), np.ones((k // block, n), np.float32)


def test_the_valid_call_passes():
    a, b, sa, sb = _ok()
    d, _ = lpsim.matmul(a, b, "blackwell.mxfp8", scale_a=sa, scale_b=sb)
    assert np.array_equal(d, np.full((2, 3), 64, np.float32))


def test_missing_scales_with_a_scaled_mac():
    a, b, _, _ = _ok()
    with pytest.raises(ValueError, match=r"block-scaled: give scale_a \(m, k/32\) and scale_b \(k/32, n\)"):
        lpsim.matmul(a, b, "blackwell.mxfp8")
    with pytest.raises(ValueError, match=r"block-scaled.*scale_a \(m, k/16\)"):
        lpsim.matmul(a, b, "blackwell.nvfp4", golden=True)


def test_scales_with_an_unscaled_mac():
    a, b, sa, sb = _ok()
    for mac in ("fp32", "blackwell.fp8", "in=fp8e4m3,acc=fp32,acc_round=rz,order=fused32,align=25"):
        with pytest.raises(ValueError, match=r"scale_a/scale_b given, but the MAC .* has no scale="):
            lpsim.matmul(a, b, mac, scale_a=sa, scale_b=sb)


def test_only_one_of_the_scales():
    a, b, sa, sb = _ok()
    with pytest.raises(ValueError, match="give both scale_a and scale_b, or neither"):
        lpsim.matmul(a, b, "blackwell.mxfp8", scale_a=sa)
    with pytest.raises(ValueError, match="give both scale_a and scale_b, or neither"):
        lpsim.matmul(a, b, "blackwell.mxfp8", scale_b=sb)


@pytest.mark.parametrize("which,shape,message", [
    ("a", (2, 1), r"scale_a has shape \(2, 1\), expected \(2, 2\)"),
    ("a", (3, 2), r"scale_a has shape \(3, 2\), expected \(2, 2\)"),
    ("a", (2, 64), r"scale_a has shape \(2, 64\), expected \(2, 2\)"),
    ("a", (2, 2, 1), r"scale_a has shape \(2, 2, 1\), expected \(2, 2\)"),
    ("a", (4,), r"scale_a has shape \(4,\), expected \(2, 2\)"),
    ("b", (3, 2), r"scale_b has shape \(3, 2\), expected \(2, 3\)"),
    ("b", (2, 4), r"scale_b has shape \(2, 4\), expected \(2, 3\)"),
    ("b", (64, 3), r"scale_b has shape \(64, 3\), expected \(2, 3\)"),
])
def test_wrong_scale_shapes(which, shape, message):
    a, b, sa, sb = _ok()
    bad = np.ones(shape, np.float32)
    with pytest.raises(ValueError, match=message):
        lpsim.matmul(a, b, "blackwell.mxfp8", scale_a=bad if which == "a" else sa, scale_b=bad if which == "b" else sb)


def test_k_not_a_multiple_of_the_block():
    a = np.ones((2, 48), np.float32)
    b = np.ones((48, 3), np.float32)
    for mac, block in (("blackwell.mxfp8", 32), ("blackwell.nvfp4", 16), ("blackwell.mxfp4", 32)):
        if 48 % block == 0:
            continue
        with pytest.raises(ValueError, match=f"k=48 is not a multiple of the scale block {block}"):
            lpsim.matmul(a, b, mac, scale_a=np.ones((2, 1), np.float32), scale_b=np.ones((1, 3), np.float32))
    # nvfp4: 48 is a multiple of 16 but not of its fused width 64 -> must still work or be refused by name
    a = np.ones((2, 40), np.float32)
    b = np.ones((40, 3), np.float32)
    with pytest.raises(ValueError, match="k=40 is not a multiple of the scale block 16"):
        lpsim.matmul(a, b, "blackwell.nvfp4", scale_a=np.ones((2, 2), np.float32), scale_b=np.ones((2, 3), np.float32))


@pytest.mark.parametrize("value", [3.0, 0.75, 0.0, -1.0, -0.5, 2.0 ** -128, np.inf, -np.inf, 1.5 * 2.0 ** 100])
def test_ue8m0_values_that_are_not_powers_of_two(value):
    a, b, sa, sb = _ok()
    sa[1, 1] = value
    with pytest.raises(ValueError, match=r"scale_a\[1, 1\] = .* is not a ue8m0"):
        lpsim.matmul(a, b, "blackwell.mxfp8", scale_a=sa, scale_b=sb)
    a, b, sa, sb = _ok()
    sb[0, 2] = value
    with pytest.raises(ValueError, match=r"scale_b\[0, 2\] = .* is not a ue8m0"):
        lpsim.matmul(a, b, "blackwell.mxfp8", scale_a=sa, scale_b=sb, golden=True)


def test_ue8m0_range_ends_are_accepted():
    a, b, sa, sb = _ok()
    sa[0, 0], sa[0, 1], sb[0, 0] = 2.0 ** 127, 2.0 ** -127, np.nan
    d, _ = lpsim.matmul(a, b, "blackwell.mxfp8", scale_a=sa, scale_b=sb)
    assert _bits(d)[0, 0] == NAN_BITS and d[0, 1] == np.inf and d[1, 1] == 64


@pytest.mark.parametrize("value", [-1.0, -448.0, 17.0, 0.3, 449.0, 480.0, 2.0 ** -10, 3 * 2.0 ** -11, np.inf])
def test_ue4m3_values_off_the_grid_or_negative(value):
    a, b, sa, sb = _ok("blackwell.nvfp4", k=64, block=16)
    sa[0, 3] = value
    with pytest.raises(ValueError, match=r"scale_a\[0, 3\] = .* is not a ue4m3"):
        lpsim.matmul(a, b, "blackwell.nvfp4", scale_a=sa, scale_b=sb)
    a, b, sa, sb = _ok("blackwell.nvfp4", k=64, block=16)
    sb[2, 1] = value
    with pytest.raises(ValueError, match=r"scale_b\[2, 1\] = .* is not a ue4m3"):
        lpsim.matmul(a, b, "blackwell.nvfp4", scale_a=sa, scale_b=sb)


def test_every_e4m3_value_is_a_ue4m3_scale():
    vals = e4m3_values()
    assert len(vals) == 127 and vals.max() == 448 and vals[1] == 2.0 ** -9
    k = 16 * len(vals)
    a = np.zeros((1, k), np.float32)
    a[0, ::16] = 1.0  # one element 1 per block: block q gives its scale
    b = np.ones((k, 1), np.float32)
    sb = np.ones((len(vals), 1), np.float32)
    mac = "in=fp4e2m1,acc=fp32,acc_round=rz,order=fused16,align=35,scale=ue4m3,block=16,overflow=inf,nan=0x7fffffff"
    for q in (0, 1, 9, 64, 126):  # each value alone
        sa = np.zeros((1, len(vals)), np.float32)
        sa[0, q] = vals[q]
        d, _ = lpsim.matmul(a, b, mac, scale_a=sa, scale_b=sb)
        assert d[0, 0] == vals[q]
    d, _ = lpsim.matmul(a, b, mac, scale_a=vals[None, :], scale_b=sb)  # all at once: accepted
    assert np.isfinite(d).all()


# ---- (f) threads ------------------------------------------------------------------------------------------

_THREAD_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import lpsim
    d = np.load(sys.argv[1])
    out = {}
    for mac in sys.argv[3:]:
        r, _ = lpsim.matmul(d[mac + ":a"], d[mac + ":b"], mac, c=d[mac + ":c"], scale_a=d[mac + ":sa"],
                            scale_b=d[mac + ":sb"], counts=False)
        out[mac] = r
    np.savez(sys.argv[2], **out)
""")


def test_one_and_two_threads_give_the_same_bits(tmp_path):
    rng = np.random.default_rng(50)
    data = {}
    for mac in PRESETS:
        a, b, sa, sb, c = _problem(rng, mac, 37, 128, 29, True)
        data.update({f"{mac}:a": a, f"{mac}:b": b, f"{mac}:sa": sa, f"{mac}:sb": sb, f"{mac}:c": c})
    np.savez(tmp_path / "in.npz", **data)
    (tmp_path / "run.py").write_text(_THREAD_SCRIPT)
    results = {}
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        r = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path / "in.npz"),
                            str(tmp_path / f"out{threads}.npz"), *[m.spelling for m in PRESETS]],
                           env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        results[threads] = np.load(tmp_path / f"out{threads}.npz")
    for mac in PRESETS:
        one, two = results["1"][mac.spelling], results["2"][mac.spelling]
        assert one.shape == (37, 29)
        _assert_bits(two, _bits(one), f"{mac} 2 threads vs 1")
        golden, _ = lpsim.matmul(data[f"{mac}:a"], data[f"{mac}:b"], mac.spelling, c=data[f"{mac}:c"],
                                 scale_a=data[f"{mac}:sa"], scale_b=data[f"{mac}:sb"], golden=True)
        _assert_bits(one, _bits(golden), f"{mac} threads vs golden")
