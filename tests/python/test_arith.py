"""The Python view of arith/: checked against an exact pure-Python model."""
from fractions import Fraction
import math

import numpy as np
import pytest

import lpsim


def exact_rne_minifloat(x, e_bits, m_bits, bias):
    """Round-to-nearest-even of a finite x to an IEEE-style minifloat, with
    overflow to +-inf, written directly from the definition with Fractions."""
    if x == 0:
        return x
    sign = -1 if x < 0 else 1
    a = Fraction(abs(x))
    emin = 1 - bias
    e = math.floor(math.log2(a)) if a > 0 else emin
    # fix rounding of log2 for exact powers
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    q = Fraction(2) ** (max(e, emin) - m_bits)
    lo = (a // q) * q
    rem = a - lo
    n = int(lo / q)
    if rem * 2 > q or (rem * 2 == q and n % 2 == 1):
        lo += q
    emax = (1 << e_bits) - 2 - bias
    max_finite = (2 - Fraction(1, 1 << m_bits)) * Fraction(2) ** emax
    if lo > max_finite:
        return sign * math.inf
    return sign * float(lo)


@pytest.mark.parametrize("spelling,e,m", [("fp8e5m2", 5, 2), ("e3m4", 3, 4), ("fp16", 5, 10), ("bf16", 8, 7)])
def test_rne_matches_exact_model(spelling, e, m):
    rng = np.random.default_rng(7)
    bias = (1 << (e - 1)) - 1
    scale = 2.0 ** rng.integers(-bias - m - 2, (1 << e) - bias, size=4000)
    x = rng.standard_normal(4000) * scale
    got = lpsim.quantize(x, spelling)
    want = np.array([exact_rne_minifloat(v, e, m, bias) for v in x])
    assert np.array_equal(got, want)


def test_dtype_and_shape_are_kept_and_out_is_written_in_place():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(2, 3, 4)
    y = lpsim.quantize(x, "fp4e2m1")
    assert y.dtype == np.float32 and y.shape == x.shape
    assert set(np.abs(y).ravel()) <= {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0}
    before = x.ctypes.data
    out = lpsim.quantize(x, "fp4e2m1", out=x)
    assert out.ctypes.data == before  # no copy: the caller's buffer was written
    assert np.array_equal(x, y)


def test_published_limits():
    assert lpsim.Format("fp8e4m3").max_finite == 448
    assert lpsim.Format("fp8e5m2").max_finite == 57344
    assert lpsim.Format("fp16").max_finite == 65504
    assert lpsim.Format("e4m3fnuz").max_finite == 240
    x = np.array([1e6, -1e6])
    assert np.isnan(lpsim.quantize(x, "e4m3fn")).all()
    assert np.array_equal(lpsim.quantize(x, "e4m3fn:sat"), [448, -448])
    assert np.array_equal(lpsim.quantize(x, "e4m3fn", "rz"), [448, -448])


def test_stochastic_rounding_is_a_pure_function_of_seed_stream_index():
    x = np.full(50000, 1.0 + 2.0 ** -10)  # 1/128 of the way from 1 to the next fp8e4m3 value (1.125)
    a = lpsim.quantize(x, "fp8e4m3", "sr", seed=3, stream=1)
    b = lpsim.quantize(x, "fp8e4m3", "sr", seed=3, stream=1)
    c = lpsim.quantize(x, "fp8e4m3", "sr", seed=4, stream=1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(a) == {1.0, 1.125}
    p = np.mean(a == 1.125)
    assert abs(p - 1 / 128) < 5 * math.sqrt((1 / 128) * (127 / 128) / x.size)
    tail = lpsim.quantize(x[100:], "fp8e4m3", "sr", seed=3, stream=1, index0=100)
    assert np.array_equal(tail, a[100:])


def test_encode_decode_round_trip_all_codes():
    codes = np.arange(256, dtype=np.uint64)
    values = lpsim.decode(codes, "e5m2")
    finite = ~np.isnan(values)
    assert np.array_equal(lpsim.encode(values[finite], "e5m2"), codes[finite])


def test_bad_input_names_what_was_wrong():
    with pytest.raises(ValueError, match="e4m3fx"):
        lpsim.Format("e4m3fx")
    with pytest.raises(ValueError, match="rnx"):
        lpsim.quantize(np.ones(3), "fp16", "rnx")
    with pytest.raises(ValueError, match="index 2"):
        lpsim.quantize(np.array([1.0, 2.0, np.nan]), "int8")
