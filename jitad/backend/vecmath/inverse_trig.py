"""arctan, arctan2, arcsin, arccos.

- ``arctan``: ``atan t = atan c + atan((t - c)/(1 + t c))`` with ``c`` one
  of 0, 1/2, 1, 3/2, inf chosen by selects (fdlibm's breakpoints 7/16,
  11/16, 19/16, 39/16), so the polynomial ``z + z**3 * A(z**2)`` (A: degree
  11) only sees ``|z| <= 7/16``. The quotient is a double-double (the
  denominator's rounding is kept too), ``atan c`` is a double-double
  constant: one rounding at the end.
- ``arctan2``: ``atan`` of ``min/max`` of ``|y|, |x|`` (a double-double
  quotient, after scaling tiny operands up), then ``pi/2 - .`` and
  ``pi - .`` in double-double for the octant, C99's special values.
- ``arcsin``, ``arccos``: ``asin u = u + u**3 * P(u**2)`` for ``|u| <= 1/2``
  (P: degree 12); above, ``asin x = pi/2 - 2 asin(sqrt((1 - x)/2))`` with
  the square root as a double-double.

>>> arctan(1.0), arctan2(1.0, -1.0), arcsin(0.5), arccos(-1.0)
(0.7853981633974483, 2.356194490192345, 0.5235987755982989, 3.141592653589793)
"""
from __future__ import annotations

import numpy as np

from .dd import horner, jit, public, two_prod, two_sum
from .ops import as_int, copysign, fabs, fma, sqrt, where

PIO2_HI, PIO2_LO = 1.5707963267948966, 6.123233995736766e-17
PI_HI, PI_LO = 3.141592653589793, 1.2246467991473532e-16
PIO4_HI, PIO4_LO = 0.7853981633974483, 3.061616997868383e-17
THREE_PIO4_HI, THREE_PIO4_LO = 2.356194490192345, 9.184850993605148e-17
ATAN_HALF_HI, ATAN_HALF_LO = 0.4636476090008061, 2.2698777452961687e-17
ATAN_3HALVES_HI, ATAN_3HALVES_LO = 0.982793723247329, 1.3903311031230998e-17

# atan z = z + z**3 * A(z**2), z**2 <= 0.1916
ATAN_A = (-0.3333333333333333, 0.19999999999999418, -0.14285714285568268, 0.1111111109675473,
          -0.09090908359796841, 0.07692285647813393, -0.06666243196067079, 0.05876957534390545,
          -0.052167408602972816, 0.04492465121093372, -0.03313196194563411, 0.014776160563831723)
# asin u = u + u**3 * P(u**2), u**2 <= 1/4
ASIN_P = (0.16666666666666669, 0.07499999999998336, 0.04464285714654182, 0.030381944124504002,
          0.022372173486920895, 0.017352380249438887, 0.013971393826709037, 0.011477452110397891,
          0.010333788087112356, 0.005411426001084085, 0.017523543441812964, -0.015039401263600484,
          0.02888322658758256)


@jit
def atan_positive(t):
    """``atan(t)`` for ``t >= 0`` (finite) as an unnormalised double-double."""
    # atan t = atan(b/a) + atan((a t - b)/(b t + a)), b/a = 0, 1/2, 1, 3/2 or inf
    c1, c2, c3, c4 = t >= 0.4375, t >= 0.6875, t >= 1.1875, t >= 2.4375
    a = where(c4, 0.0, where(c3, 1.0, where(c2, 1.0, where(c1, 2.0, 1.0))))
    b = where(c4, 1.0, where(c3, 1.5, where(c2, 1.0, where(c1, 1.0, 0.0))))
    base_hi = where(c4, PIO2_HI, where(c3, ATAN_3HALVES_HI, where(c2, PIO4_HI,
                                                                  where(c1, ATAN_HALF_HI, 0.0))))
    base_lo = where(c4, PIO2_LO, where(c3, ATAN_3HALVES_LO, where(c2, PIO4_LO,
                                                                  where(c1, ATAN_HALF_LO, 0.0))))
    num = fma(a, t, -b)                      # exact on each interval
    bt, bt_lo = two_prod(b, t)
    den, den_lo = two_sum(bt, a)
    den_lo = den_lo + bt_lo                  # b t + a, exactly as den + den_lo
    inverse = 1.0 / den
    z = num * inverse
    z_lo = (fma(-z, den, num) - z * den_lo) * inverse  # the exact remainder: z + z_lo is num/den
    zz = z * z
    # atan(z + z_lo) = z + z**3 A(z**2) + z_lo / (1 + z**2), and 1/(1 + z**2) ~ 1 - z**2
    tail = z * zz * horner(zz, ATAN_A) + z_lo * (1.0 - zz)
    hi, lo = two_sum(base_hi, z)
    return hi, lo + (tail + base_lo)


@public
def arctan(x):
    """Inverse tangent, within 1 ulp.

    >>> arctan(-0.0), arctan(1e-300), arctan(float("-inf")), arctan(10.0)
    (-0.0, 1e-300, -1.5707963267948966, 1.4711276743037347)
    """
    t = fabs(x)
    hi, lo = atan_positive(where(t == np.inf, 1.0, t))
    return copysign(where(t == np.inf, PIO2_HI, hi + lo), x)


@jit
def _sub_dd(a_hi, a_lo, b_hi, b_lo):
    """``(a_hi + a_lo) - (b_hi + b_lo)`` for ``a >= b >= 0``, as a double-double."""
    h, t = two_sum(a_hi, -b_hi)
    return h, t + (a_lo - b_lo)


@public
def arctan2(y, x):
    """``atan(y/x)`` in the quadrant of ``(x, y)``, within 1 ulp; C99's special values.

    >>> arctan2(0.0, -0.0), arctan2(-1e-320, 1e-320), arctan2(float("inf"), float("-inf"))
    (3.141592653589793, -0.7853981633974483, 2.356194490192345)
    """
    ax, ay = fabs(x), fabs(y)
    swap = ay > ax
    num, den = where(swap, ax, ay), where(swap, ay, ax)
    tiny = den < 8.636168555094445e-78  # 2**-256: scale up so the remainder below is exact
    num = where(tiny, num * 1.157920892373162e+77, num)
    den = where(tiny, den * 1.157920892373162e+77, den)
    t = num / den  # correctly rounded: the remainder below may underflow when num is tiny
    t_lo = where(den == np.inf, 0.0, fma(-t, den, num) / den)
    hi, lo = atan_positive(where(t == t, t, 0.0))
    lo = lo + t_lo / fma(t, t, 1.0)  # atan(t + t_lo) = atan t + t_lo / (1 + t**2)
    s_hi, s_lo = _sub_dd(PIO2_HI, PIO2_LO, hi, lo)
    hi, lo = where(swap, s_hi, hi), where(swap, s_lo, lo)
    negative_x = as_int(x) < 0
    p_hi, p_lo = _sub_dd(PI_HI, PI_LO, hi, lo)
    v = where(negative_x, p_hi + p_lo, hi + lo)
    both_zero = (ax == 0.0) & (ay == 0.0)
    both_inf = (ax == np.inf) & (ay == np.inf)
    v = where(both_zero, where(negative_x, PI_HI, 0.0), v)
    v = where(both_inf, where(negative_x, THREE_PIO4_HI, PIO4_HI), v)
    v = where((x != x) | (y != y), np.nan, v)
    return copysign(v, y)


@jit
def _asin_reduced(a):
    """For ``0 <= a <= 1``: ``(u_hi, u_lo, poly_tail, outer)``: ``asin a`` is
    ``u + tail`` when ``not outer`` (``a <= 1/2``, ``u = a``), else
    ``pi/2 - 2 (u + tail)`` with ``u = sqrt((1 - a)/2)`` as a double-double."""
    outer = a > 0.5
    z = where(outer, 0.5 * (1.0 - a), a * a)  # 1 - a is exact for a >= 1/2
    s = sqrt(z)
    s_lo = fma(-s, s, z) / (2.0 * s)
    u = where(outer, s, a)
    u_lo = where(outer, where(z > 0.0, s_lo, 0.0), 0.0)
    return u, u_lo, u * z * horner(z, ASIN_P), outer


@public
def arcsin(x):
    """Inverse sine, within 1 ulp; nan outside ``[-1, 1]``.

    >>> arcsin(-0.0), arcsin(1.0), arcsin(-0.9), arcsin(1.5)
    (-0.0, 1.5707963267948966, -1.1197695149986342, nan)
    """
    u, u_lo, tail, outer = _asin_reduced(fabs(x))
    inner = u + (tail + u_lo)
    h, t = two_sum(PIO2_HI, -2.0 * u)
    v = where(outer, h + (t + (PIO2_LO - 2.0 * (u_lo + tail))), inner)
    return copysign(where(fabs(x) <= 1.0, v, np.nan), x)


@public
def arccos(x):
    """Inverse cosine, within 1 ulp; nan outside ``[-1, 1]``.

    >>> arccos(1.0), arccos(0.0), arccos(-0.5), arccos(0.9999999999999999)
    (0.0, 1.5707963267948966, 2.0943951023931957, 1.4901161193847656e-08)
    """
    u, u_lo, tail, outer = _asin_reduced(fabs(x))
    # |x| <= 1/2: pi/2 - asin x
    h, t = two_sum(PIO2_HI, -copysign(u, x))
    inner = h + (t + (PIO2_LO - copysign(tail + u_lo, x)))
    # x > 1/2: 2 asin(u); x < -1/2: pi - 2 asin(u)
    positive = 2.0 * u + 2.0 * (tail + u_lo)
    h, t = two_sum(PI_HI, -2.0 * u)
    negative = h + (t + (PI_LO - 2.0 * (tail + u_lo)))
    v = where(outer, where(x > 0.0, positive, negative), inner)
    return where(fabs(x) <= 1.0, v, np.nan)
