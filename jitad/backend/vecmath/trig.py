"""sin, cos, tan: exact argument reduction over the whole float64 range, branch-free.

Reduction (Payne-Hanek, every lane): ``|x| = m * 2**E`` with ``m`` a 53-bit
integer. Only the bits of 2/pi from position ``E - 1`` on matter for
``x * 2/pi mod 4`` (earlier bits give multiples of 4), so a table holds,
for each ``E``, the next 212 bits of 2/pi as four float64 chunks of 53 bits.
``m * chunk`` is exact as a double-double (FMA), the multiples of 4 and the
quadrant ``q`` come off exactly, and the fraction is summed so that the
cancellation that makes ``x`` close to a multiple of pi/2 happens between
exact terms: the reduced argument ``r = x - q*pi/2`` carries ~2**-150
absolute error, enough for the worst case over all doubles (``|r|`` about
2**-61, at ``x = 6381956970095103 * 2**797``). The table look-ups are
gathers (AVX-512, or scalar loads inside the vector loop on AVX2); lanes
with ``|x| < 0.5`` skip the reduction by a select.

Kernels on ``|r| <= pi/4``: ``sin r = r + r**3 * S(r**2)`` (S: degree 6),
``cos r = 1 - r**2/2 + r**4 * C(r**2)`` (C: degree 5), both taking the low
word of ``r``; ``tan = sin/cos`` (or ``-cos/sin``) as double-doubles, one
rounding at the end.

>>> sin(1e300), cos(1e22), tan(1.5707963267948966)
(-0.8178819121159085, 0.523214785395139, 1.633123935319537e+16)
"""
from __future__ import annotations

import numpy as np

from .dd import (SHIFTER, dd_div, dd_mul, exponent, fast_two_sum, horner, jit, public, two_prod,
                 two_sum)
from .ops import as_float, as_int, fabs, fma, rint, where

# floor(2/pi * 2**1280), in hex
TWO_OVER_PI = int(
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561"
    "b7246e3a424dd2e006492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484"
    "e99c7026b45f7e413991d639835339f49c845f8bbdf9283b1ff897ffde05980f"
    "ef2f118b5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d7527bac7ebe5f17b"
    "3d0739f78a5292ea6bfb5fb11f8d5d0856033046fc7b6babf0cfbc209af4361d", 16)
TWO_OVER_PI_BITS = 1280
FIRST_E = -53   # |x| in [0.5, 1): the smallest exponent the table serves
LAST_E = 971    # |x| < 2**1024
PIO2_HI, PIO2_LO = 1.5707963267948966, 6.123233995736766e-17

# sin r = r + r**3 * S(r**2), cos r = 1 - r**2/2 + r**4 * C(r**2), r**2 <= 0.6181
SIN_S = (-0.16666666666666666, 0.008333333333333331, -0.00019841269841264979,
         2.755731921927545e-06, -2.5052106211253735e-08, 1.605852838175091e-10,
         -7.586512296742731e-13)
COS_C = (0.041666666666666664, -0.0013888888888887372, 2.4801587298730202e-05,
         -2.755731725416734e-07, 2.0876142745246397e-09, -1.1382386526339184e-11)


def _two_over_pi_table():
    """Row ``E - FIRST_E``: bits ``E-1 .. E+210`` of 2/pi, times ``2**E``, as four
    53-bit chunks: chunk ``j`` is an integer ``< 2**53`` times ``2**-(51 + 53j)``."""
    rows = []
    for e in range(FIRST_E, LAST_E + 1):
        row = []
        for j in range(4):
            last = e + 51 + 53 * j  # bit positions e-1+53j .. last (weight 2**-position)
            word = (TWO_OVER_PI >> (TWO_OVER_PI_BITS - last)) & ((1 << 53) - 1)
            row.append(np.ldexp(float(word), -(51 + 53 * j)))
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(-1)


TWO_OVER_PI_TABLE = _two_over_pi_table()


@jit
def _mod4(v):
    """``v`` minus the nearest multiple of 4 (exact for any double)."""
    return v - 4.0 * rint(0.25 * v)


@jit
def reduce_pio2(ax):
    """For ``ax = |x|`` (finite): ``(n, r_hi, r_lo)`` with ``ax = (4k + n) * pi/2 + r``,
    ``n`` in 0..3 and ``|r| <= pi/4`` as a double-double."""
    e = exponent(ax) - 52.0
    m = as_float((as_int(ax) & 0x000FFFFFFFFFFFFF) | 0x4330000000000000)  # integer mantissa
    e = where(e < FIRST_E, FIRST_E, where(e > LAST_E, LAST_E, e))
    # unsigned, so numba adds no negative-index wraparound (AVX2 pays for it per lane)
    row = np.uint64(4 * (as_int(e + SHIFTER) - as_int(SHIFTER + FIRST_E)))
    c0 = TWO_OVER_PI_TABLE[row]
    c1 = TWO_OVER_PI_TABLE[row + np.uint64(1)]
    c2 = TWO_OVER_PI_TABLE[row + np.uint64(2)]
    c3 = TWO_OVER_PI_TABLE[row + np.uint64(3)]
    # integer and leading fraction bits: all terms are multiples of 2**-51 below 4, exact
    p0, e0 = two_prod(m, c0)
    s1 = _mod4(_mod4(p0) + _mod4(e0))
    p1, e1 = two_prod(m, c1)
    s2, t2 = two_sum(s1, p1)
    q = rint(s2)
    f = s2 - q
    # the rest of the fraction: where it cancels f, the terms are exact
    p2, e2 = two_prod(m, c2)
    b, b_lo = two_sum(t2, p2)
    b, b_err = two_sum(b, e1)
    b_lo = b_lo + b_err + e2 + m * c3
    f, f_lo = two_sum(f, b)
    f, f_lo = fast_two_sum(f, f_lo + b_lo)
    r_hi, r_lo = dd_mul(f, f_lo, PIO2_HI, PIO2_LO)
    small = ax < 0.5
    n = as_int(where(small, 0.0, q) + SHIFTER) & 3
    return n, where(small, ax, r_hi), where(small, 0.0, r_lo)


@jit
def sin_kernel(r_hi, r_lo):
    """sin(r_hi + r_lo) as a normalised double-double, ``|r| <= pi/4 + 2**-40``."""
    z = r_hi * r_hi
    # sin(r_hi + r_lo) - r_hi = r_hi**3 S(z) + r_lo cos(r_hi), with cos(r_hi) ~ 1 - z/2
    return fast_two_sum(r_hi, r_hi * z * horner(z, SIN_S) + r_lo * (1.0 - 0.5 * z))


@jit
def cos_kernel(r_hi, r_lo):
    """cos(r_hi + r_lo) as a normalised double-double, ``|r| <= pi/4 + 2**-40``."""
    z, z_lo = two_prod(r_hi, r_hi)
    half = 0.5 * z
    w = 1.0 - half
    # (1 - w) - half recovers the rounding of w exactly (w >= 0.5)
    tail = ((1.0 - w) - half) + (z * z * horner(z, COS_C) - (0.5 * z_lo + r_hi * r_lo))
    return fast_two_sum(w, tail)


@jit
def _sin_of_reduced(x, n, r_hi, r_lo):
    """sin(x) from ``x``'s reduction: ``sin(|x|) = [S, C, -S, -C][n]``, odd in x."""
    s_hi, s_lo = sin_kernel(r_hi, r_lo)
    c_hi, c_lo = cos_kernel(r_hi, r_lo)
    v = where((n & 1) == 1, c_hi + c_lo, s_hi + s_lo)
    negative = ((n & 2) == 2) ^ (as_int(x) < 0)
    return where(negative, -v, v)


@jit
def _cos_of_reduced(n, r_hi, r_lo):
    """cos(x) from ``x``'s reduction: ``cos(|x|) = [C, -S, -C, S][n]``."""
    s_hi, s_lo = sin_kernel(r_hi, r_lo)
    c_hi, c_lo = cos_kernel(r_hi, r_lo)
    v = where((n & 1) == 1, s_hi + s_lo, c_hi + c_lo)
    return where(((n + 1) & 2) == 2, -v, v)


@jit
def _tan_of_reduced(x, n, r_hi, r_lo):
    """tan(x) from ``x``'s reduction: ``sin/cos``, or ``-cos/sin`` for odd ``n``, one rounding."""
    s_hi, s_lo = sin_kernel(r_hi, r_lo)
    c_hi, c_lo = cos_kernel(r_hi, r_lo)
    odd = (n & 1) == 1
    num_hi, num_lo = where(odd, c_hi, s_hi), where(odd, c_lo, s_lo)
    den_hi, den_lo = where(odd, s_hi, c_hi), where(odd, s_lo, c_lo)
    t_hi, t_lo = dd_div(num_hi, num_lo, den_hi, den_lo)
    v = t_hi + t_lo
    return where(odd ^ (as_int(x) < 0), -v, v)


@jit
def _finish(x, value):
    """nan at inf and nan, as NumPy."""
    return where(fabs(x) == np.inf, np.nan, where(x != x, x, value))


@public
def sin(x):
    """Sine, within 1 ulp over all of float64 (exact reduction).

    >>> sin(-0.0), sin(3.141592653589793), sin(1e22)
    (-0.0, 1.2246467991473532e-16, -0.8522008497671888)
    """
    n, r_hi, r_lo = reduce_pio2(fabs(x))
    return _finish(x, _sin_of_reduced(x, n, r_hi, r_lo))


@public
def cos(x):
    """Cosine, within 1 ulp over all of float64 (exact reduction).

    >>> cos(0.0), cos(1.5707963267948966), cos(1e300)
    (1.0, 6.123233995736766e-17, -0.5753861119575491)
    """
    n, r_hi, r_lo = reduce_pio2(fabs(x))
    return _finish(x, _cos_of_reduced(n, r_hi, r_lo))


@public
def tan(x):
    """Tangent, within 1 ulp over all of float64 (exact reduction).

    >>> tan(0.5), tan(-1e-310), tan(1e308)
    (0.5463024898437905, -1e-310, -0.5086861259107568)
    """
    n, r_hi, r_lo = reduce_pio2(fabs(x))
    return _finish(x, _tan_of_reduced(x, n, r_hi, r_lo))


# ---- the fast variants: Cody-Waite reduction only, for |x| < FAST_LIMIT ----

FAST_LIMIT = 1073741824.0  # 2**30
# pi/2 = P1 + P2 + P3 to 2**-160; with FMA, x - q*P1 is exact for every q < 2**53
P1, P2, P3 = 1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33


@jit
def reduce_pio2_fast(ax):
    """``reduce_pio2`` for ``ax < FAST_LIMIT``: ``r`` to ~2**-130 absolute, which
    is 2**-73 relative even for the ``|r|`` closest to 0 in that range."""
    q = rint(ax * 0.6366197723675814)
    r1 = fma(-q, P1, ax)
    p2, e2 = two_prod(q, P2)
    s, t = two_sum(r1, -p2)
    r_hi, r_lo = fast_two_sum(s, t - e2 - q * P3)
    return as_int(q + SHIFTER) & 3, r_hi, r_lo


@jit
def _finish_fast(x, value):
    """nan at inf and nan, and at ``|x| >= FAST_LIMIT``, where the reduction is not exact."""
    return where(fabs(x) < FAST_LIMIT, value, np.nan)


@public
def needs_exact_trig(x):
    """True where the fast variants give nan but the exact ones a number: ``2**30 <= |x| < inf``."""
    return (fabs(x) >= FAST_LIMIT) & (fabs(x) < np.inf)


@public
def sin_fast(x):
    """``sin(x)`` for ``|x| < 2**30``, nan beyond (see ``needs_exact_trig``).

    >>> sin_fast(1.0), sin_fast(1e9), sin_fast(1e10)
    (0.8414709848078965, 0.5458434494486996, nan)
    """
    n, r_hi, r_lo = reduce_pio2_fast(fabs(x))
    return _finish_fast(x, _sin_of_reduced(x, n, r_hi, r_lo))


@public
def cos_fast(x):
    """``cos(x)`` for ``|x| < 2**30``, nan beyond (see ``needs_exact_trig``).

    >>> cos_fast(1.0), cos_fast(-1e9), cos_fast(1e10)
    (0.5403023058681398, 0.8378871813639024, nan)
    """
    n, r_hi, r_lo = reduce_pio2_fast(fabs(x))
    return _finish_fast(x, _cos_of_reduced(n, r_hi, r_lo))


@public
def tan_fast(x):
    """``tan(x)`` for ``|x| < 2**30``, nan beyond (see ``needs_exact_trig``).

    >>> tan_fast(1.0), tan_fast(1e9), tan_fast(1e10)
    (1.5574077246549023, 0.6514522021451413, nan)
    """
    n, r_hi, r_lo = reduce_pio2_fast(fabs(x))
    return _finish_fast(x, _tan_of_reduced(x, n, r_hi, r_lo))
