"""A pure-Python exact model of rounding and of the MAC, with Fractions."""
from fractions import Fraction
import math


def _floor_log2(a):
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    return e


def round_float(x, e_bits, m_bits, mode="rne"):
    """x (Fraction or float) rounded to an IEEE-style minifloat with subnormals."""
    x = Fraction(x)
    if x == 0:
        return 0.0
    neg = x < 0
    a = -x if neg else x
    bias = (1 << (e_bits - 1)) - 1
    emin = 1 - bias
    q = Fraction(2) ** (max(_floor_log2(a), emin) - m_bits)
    n = a // q
    rem = a - n * q
    up = {"rne": rem * 2 > q or (rem * 2 == q and n % 2 == 1),
          "rz": False,
          "rna": rem * 2 >= q}[mode] if rem else False
    mag = (n + up) * q
    emax = (1 << e_bits) - 2 - bias
    if mag > (2 - Fraction(1, 1 << m_bits)) * Fraction(2) ** emax:
        return -math.inf if neg else math.inf
    return float(-mag if neg else mag)


def round_fixed(x, width, frac, wrap=False):
    """x rounded (RNE) to signed fixed point fx<width>.<frac>, saturating or wrapping."""
    x = Fraction(x) * 2 ** frac
    n = math.floor(x)
    rem = x - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2 == 1):
        n += 1
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if wrap:
        n = (n - lo) % (1 << width) + lo
    else:
        n = min(max(n, lo), hi)
    return n / 2 ** frac


def dot_seq(a, b, round_acc, chunk=None, round_outer=None):
    """Sequential accumulation, each addition rounded once; chunked promotion if asked."""
    outer = Fraction(0)
    acc = Fraction(0)
    for l, (x, y) in enumerate(zip(a, b)):
        if chunk and l and l % chunk == 0:
            outer = Fraction(round_outer(outer + acc))
            acc = Fraction(0)
        acc = Fraction(round_acc(acc + Fraction(float(x)) * Fraction(float(y))))
    if chunk:
        return round_outer(outer + acc)
    return float(acc)
