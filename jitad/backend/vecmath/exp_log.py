"""exp, expm1, exp2, log, log1p, log2, log10, pow.

Two kernels carry the family, both in double-double so the public functions
can finish with one rounding:

- ``expm1_reduced(r_hi, r_lo)``: ``e**r - 1`` for ``|r| <= ln(2)/2``, from
  ``r + r**2/2 + r**3 * G(r)`` with the first two terms exact (G: minimax,
  degree 9, relative error 2**-53, so its share of the result is below
  2**-58). Callers reduce ``x = k*ln(2) + r`` (Cody-Waite: with FMA,
  ``x - k*LN2_HI`` is exact for every ``|x| < 746``) and scale by ``2**k`` in
  two steps, so results that overflow or are subnormal round once.
- ``log_reduced(x)``: ``x = 2**e * m`` with ``m`` in ``[sqrt(2)/2, sqrt(2))``,
  ``log(m) = 2*atanh(s)``, ``s = (m-1)/(m+1)`` in double-double,
  ``= 2s + s**3 * T(s**2)`` (T: degree 6, its share below 2**-57). ``pow``
  needs ``log`` to 2**-66 (``y*log(x)`` is up to 745): ``log_accurate`` also
  keeps ``(2/3) s**3`` in double-double and leaves only ``s**5 * U(s**2)``
  to plain float64.

Subnormal inputs are scaled by 2**54 first; special inputs (0, negative,
inf, nan) are fixed by selects at the end, as NumPy's float64 results.

>>> exp(1.0), log(10.0), expm1(1e-10), log1p(-0.5), pow(2.0, 0.5)
(2.718281828459045, 2.302585092994046, 1.00000000005e-10, -0.6931471805599453, 1.4142135623730951)
"""
from __future__ import annotations

import numpy as np

from .dd import (dd_mul, exponent, fast_two_sum, horner, jit, pow2, public, shift_right, two_prod,
                 two_sum)
from .ops import as_float, as_int, fabs, floor, fma, rint, where

LOG2E = 1.4426950408889634
LN2_HI, LN2_LO = 0.6931471805599453, 2.3190468138462996e-17
INV_LN2_HI, INV_LN2_LO = 1.4426950408889634, 2.0355273740931033e-17
LOG10_2_HI, LOG10_2_LO = 0.3010299956639812, -2.8037281277851704e-18
INV_LN10_HI, INV_LN10_LO = 0.4342944819032518, 1.098319650216765e-17
TWO_THIRDS_HI, TWO_THIRDS_LO = 0.6666666666666666, 3.700743415417188e-17
SMALLEST_NORMAL = 2.2250738585072014e-308

# e**r - 1 = r + r**2/2 + r**3 * G(r), |r| <= 0.3473
EXPM1_G = (0.16666666666666669, 0.04166666666666666, 0.008333333333330016, 0.0013888888888900753,
           0.00019841269863283498, 2.4801587274813664e-05, 2.7557268096268182e-06,
           2.7557329696848335e-07, 2.5100560743364833e-08, 2.089404490264546e-09)
# 2*atanh(s) = 2s + s**3 * T(s**2), s**2 <= 0.0295
LOG_T = (0.666666666666667, 0.39999999999897856, 0.2857142862670271, 0.22222211018618704,
         0.18182897440130938, 0.1533144933432435, 0.14619772046817436)
# 2*atanh(s) = 2s + (2/3) s**3 + s**5 * U(s**2), s**2 <= 0.0295
LOG_U = (0.4, 0.2857142857142938, 0.22222222221647808, 0.18181818337198924, 0.15384594771753876,
         0.13334814966998923, 0.11705963589600422, 0.1172600931893619)


@jit
def expm1_reduced(r_hi, r_lo):
    """``e**(r_hi + r_lo) - 1`` as an unnormalised double-double (``|lo|`` up to ``|hi|/50``),
    for ``|r_hi| <= 0.3473``, ``|r_lo| < 2**-40``."""
    sq_hi, sq_lo = two_prod(r_hi, r_hi)
    hi, lo = fast_two_sum(r_hi, 0.5 * sq_hi)
    tail = r_hi * sq_hi * horner(r_hi, EXPM1_G)
    # e**(r_hi + r_lo) - 1 = (e**r_hi - 1) + r_lo * e**r_hi, to first order in r_lo
    lo = lo + (0.5 * sq_lo + tail + fma(r_lo, hi + tail, r_lo))
    return hi, lo


@jit
def reduce_exp(x):
    """``x = k*ln(2) + r_hi + r_lo``: returns ``k`` (integer-valued) and ``r_hi, r_lo``."""
    k = rint(x * LOG2E)
    return k, fma(-k, LN2_HI, x), -k * LN2_LO


@jit
def scale(y, k):
    """``y * 2**k`` for integer-valued ``|k| <= 1080`` in two steps, so it rounds once."""
    half = floor(0.5 * k)
    return y * pow2(half) * pow2(k - half)


@jit
def exp_of_reduced(k, r_hi, r_lo):
    """``2**k * e**(r_hi + r_lo)``: the end of exp, exp2 and pow."""
    hi, lo = expm1_reduced(r_hi, r_lo)
    one_hi, one_lo = fast_two_sum(1.0, hi)
    return scale(one_hi + (one_lo + lo), k)


@public
def exp(x):
    """e**x, within 1 ulp; 0 below -745.13, inf above 709.78.

    >>> exp(-745.0), exp(709.0), exp(0.5)
    (5e-324, 8.218407461554972e+307, 1.6487212707001282)
    """
    x = where(x > 710.0, 710.0, where(x < -746.0, -746.0, x))
    k, r_hi, r_lo = reduce_exp(x)
    return exp_of_reduced(k, r_hi, r_lo)


@public
def exp2(x):
    """2**x, within 1 ulp; exact at integers.

    >>> exp2(-1074.0), exp2(0.5), exp2(10.0)
    (5e-324, 1.4142135623730951, 1024.0)
    """
    x = where(x > 1030.0, 1030.0, where(x < -1080.0, -1080.0, x))
    k = rint(x)
    f = x - k
    r_hi, r_err = two_prod(f, LN2_HI)
    return exp_of_reduced(k, r_hi, fma(f, LN2_LO, r_err))


@jit
def expm1_unscaled(x):
    """``(s, t, k)`` with ``e**x - 1 = (s + t) * 2**k``, for ``-64 <= x <= 710``."""
    k, r_hi, r_lo = reduce_exp(x)
    hi, lo = expm1_reduced(r_hi, r_lo)
    # 2**k * (1 + p) - 1 = 2**k * (p + (1 - 2**-k)), with 1 - 2**-k as a double-double;
    # beyond k = 60 the -1 is far below half an ulp
    c_hi, c_lo = two_sum(1.0, -pow2(-where(k > 60.0, 60.0, k)))
    s, t = two_sum(c_hi, hi)
    return s, t + (lo + c_lo), k


@public
def expm1(x):
    """e**x - 1, within 1 ulp, accurate near 0; -1 below -38.

    >>> expm1(1e-300), expm1(-1.0), expm1(-50.0)
    (1e-300, -0.6321205588285577, -1.0)
    """
    s, t, k = expm1_unscaled(where(x > 710.0, 710.0, where(x < -40.0, -40.0, x)))
    return where(x == 0.0, x, scale(s + t, k))  # keeps the sign of -0.0


@jit
def log_reduced(x):
    """For a positive finite ``x``: ``e`` and ``s, s_lo`` with ``x = 2**e * m``,
    ``m`` in ``[sqrt(2)/2, sqrt(2))`` and ``s + s_lo = (m - 1)/(m + 1)``."""
    tiny = x < SMALLEST_NORMAL
    x = where(tiny, x * 18014398509481984.0, x)  # 2**54: subnormals become normal
    bits = as_int(x)
    # adding this moves m = sqrt(2)/2 to the bottom of a binade, so the
    # exponent field of the sum is e + 1023 for m in [sqrt(2)/2, sqrt(2))
    biased = shift_right(bits + 0x00095F619980C433, 52)
    m = as_float(bits - ((biased - 1023) << 52))
    e = exponent(as_float(biased << 52)) - where(tiny, 54.0, 0.0)
    f = m - 1.0  # exact (Sterbenz)
    d_hi, d_lo = fast_two_sum(1.0, m)
    inverse = 1.0 / d_hi
    s = f * inverse
    s_lo = (fma(-s, d_hi, f) - s * d_lo) * inverse  # the exact remainder: s + s_lo is f/d
    return e, s, s_lo


@jit
def log_of_reduced(s, s_lo):
    """``log(m)`` as a double-double from ``log_reduced``'s ``s``: relative error ~2**-58."""
    z = s * s
    return fast_two_sum(2.0 * s, 2.0 * s_lo + s * z * horner(z, LOG_T))


@jit
def log_dd(x):
    """``log(x)`` as a double-double for a positive finite ``x``, relative error ~2**-58."""
    e, s, s_lo = log_reduced(x)
    m_hi, m_lo = log_of_reduced(s, s_lo)
    a_hi, a_lo = two_prod(e, LN2_HI)
    hi, lo = two_sum(a_hi, m_hi)
    return hi, lo + (m_lo + fma(e, LN2_LO, a_lo))


@jit
def log_accurate(x):
    """``log(x)`` as a double-double for a positive finite ``x``, relative error ~2**-66 (for pow)."""
    e, s, s_lo = log_reduced(x)
    z_hi, z_lo = two_prod(s, s)
    z_lo = fma(2.0 * s, s_lo, z_lo)
    c_hi, c_lo = dd_mul(z_hi, z_lo, s, s_lo)                       # s**3
    t_hi, t_lo = dd_mul(c_hi, c_lo, TWO_THIRDS_HI, TWO_THIRDS_LO)  # (2/3) s**3
    hi, lo = fast_two_sum(2.0 * s, t_hi)
    lo = lo + (2.0 * s_lo + t_lo + c_hi * z_hi * horner(z_hi, LOG_U))
    a_hi, a_lo = two_prod(e, LN2_HI)
    h, t = two_sum(a_hi, hi)
    return fast_two_sum(h, t + (lo + fma(e, LN2_LO, a_lo)))


@jit
def _log_specials(x, y):
    """NumPy's log at the special inputs: -inf at 0, nan below 0 and at nan, inf at inf."""
    y = where(x == np.inf, np.inf, y)
    return where(x > 0.0, y, where(x == 0.0, -np.inf, np.nan))


@public
def log(x):
    """Natural logarithm, within 1 ulp.

    >>> log(5e-324), log(1.0), log(-1.0), log(0.0)
    (-744.4400719213812, 0.0, nan, -inf)
    """
    hi, lo = log_dd(x)
    return _log_specials(x, hi + lo)


@public
def log2(x):
    """Base-2 logarithm, within 1 ulp; exact at powers of 2.

    >>> log2(8.0), log2(10.0)
    (3.0, 3.321928094887362)
    """
    e, s, s_lo = log_reduced(x)
    m_hi, m_lo = log_of_reduced(s, s_lo)
    p_hi, p_lo = dd_mul(m_hi, m_lo, INV_LN2_HI, INV_LN2_LO)
    hi, lo = two_sum(e, p_hi)
    return _log_specials(x, hi + (lo + p_lo))


@public
def log10(x):
    """Base-10 logarithm, within 1 ulp.

    >>> log10(1000.0), log10(2.0)
    (3.0, 0.3010299956639812)
    """
    e, s, s_lo = log_reduced(x)
    m_hi, m_lo = log_of_reduced(s, s_lo)
    p_hi, p_lo = dd_mul(m_hi, m_lo, INV_LN10_HI, INV_LN10_LO)
    a_hi, a_lo = two_prod(e, LOG10_2_HI)
    hi, lo = two_sum(a_hi, p_hi)
    return _log_specials(x, hi + (lo + (p_lo + fma(e, LOG10_2_LO, a_lo))))


@public
def log1p(x):
    """log(1 + x), within 1 ulp, accurate near 0.

    >>> log1p(1e-20), log1p(-1.0), log1p(1e300)
    (1e-20, -inf, 690.7755278982137)
    """
    u, u_lo = two_sum(1.0, x)  # 1 + x exactly, as u + u_lo
    hi, lo = log_dd(u)
    # log(u + u_lo) = log(u) + u_lo/u to first order
    y = hi + (lo + u_lo / u)
    y = where(fabs(x) < 1e-300, x, where(x == np.inf, np.inf, y))
    return where(x >= -1.0, where(x == -1.0, -np.inf, y), np.nan)


@jit
def _is_odd_integer(y):
    half = 0.5 * y
    return (y == rint(y)) & (half != rint(half))


@public
def pow(x, y):
    """x**y, within 1 ulp, with C99's (and NumPy's) special cases.

    >>> pow(-2.0, 3.0), pow(0.0, -1.0), pow(-8.0, 1/3), pow(float("nan"), 0.0)
    (-8.0, inf, nan, 1.0)
    """
    ax = fabs(x)
    l_hi, l_lo = log_accurate(ax)
    w_hi, w_err = two_prod(y, l_hi)
    out_of_range = (w_hi > 710.0) | (w_hi < -746.0)  # the result overflows or is 0
    w_lo = where(out_of_range, 0.0, fma(y, l_lo, w_err))  # (nan where y * log|x| is inf)
    w_hi = where(w_hi > 710.0, 710.0, where(w_hi < -746.0, -746.0, w_hi))
    w_hi, w_lo = fast_two_sum(w_hi, w_lo)
    k = rint(w_hi * LOG2E)
    r = exp_of_reduced(k, fma(-k, LN2_HI, w_hi), w_lo - k * LN2_LO)

    y_is_odd = _is_odd_integer(y)
    negative_base = where(y == rint(y), where(y_is_odd, -1.0, 1.0), np.nan)
    r = r * where(x > 0.0, 1.0, negative_base)
    # y = +-inf: 0, 1 or inf by whether |x| is below, at or above 1
    toward = where(y > 0.0, ax - 1.0, 1.0 - ax)
    r = where(fabs(y) == np.inf, where(toward < 0.0, 0.0, where(toward == 0.0, 1.0, np.inf)), r)
    # x = +-0 or +-inf: 0 or inf, negative for -0 and -inf when y is an odd integer
    magnitude = where((y < 0.0) ^ (x == 0.0), 0.0, np.inf)
    signed = where(y_is_odd & (as_int(x) < 0), -magnitude, magnitude)
    r = where((ax == np.inf) | (x == 0.0), signed, r)
    r = where((x != x) | (y != y), np.nan, r)
    return where((y == 0.0) | (x == 1.0), 1.0, r)
