"""cbrt: exponent split by three, a polynomial guess, Halley, and one exact-residual Newton step.

``|x| = v * 2**(3q)`` with ``v`` in ``[1, 8)`` (exact: ``2**rem`` times the
mantissa); ``v**(1/3)`` starts from a degree-4 minimax guess on ``[1, 2)``
times ``1``, ``2**(1/3)`` or ``4**(1/3)`` (relative error 2**-16.7), one
Halley step takes it to ~2**-50, and a Newton step whose residual
``y**3 - v`` is computed exactly (double-double) rounds it correctly but
for a few near-halfway cases. The exponent division by 3 is done in float64
(``floor((e + 0.5) / 3)`` is exact for every float64 exponent), so no
64-bit integer division or conversion is needed.

>>> cbrt(27.0), cbrt(-8.0), cbrt(5e-324), cbrt(2.0)
(3.0, -2.0, 1.7031839360032603e-108, 1.2599210498948732)
"""
from __future__ import annotations

import numpy as np

from .dd import exponent, horner, pow2, public, two_prod, with_exponent_zero
from .ops import copysign, fabs, floor, fma, where

# cbrt(m) on [1, 2], relative error 2**-16.7
CBRT_GUESS = (0.5069793623686996, 0.7181539807449617, -0.300611601135814, 0.08609136513102493,
              -0.010603899461119793)
CBRT_2, CBRT_4 = 1.2599210498948732, 1.5874010519681996
SMALLEST_NORMAL = 2.2250738585072014e-308


@public
def cbrt(x):
    """Real cube root, within 1 ulp (the sign of x, cbrt(-0.0) = -0.0).

    >>> cbrt(-0.0), cbrt(float("inf")), cbrt(1e-310)
    (-0.0, inf, 4.641588833612774e-104)
    """
    ax = fabs(x)
    tiny = ax < SMALLEST_NORMAL
    scaled = where(tiny, ax * 18014398509481984.0, ax)   # 2**54 = 2**(3*18)
    e = exponent(scaled)
    m = with_exponent_zero(scaled)                       # in [1, 2)
    q = floor((e + 0.5) * (1.0 / 3.0))
    rem = e - 3.0 * q                                    # 0, 1 or 2
    v = m * where(rem == 0.0, 1.0, where(rem == 1.0, 2.0, 4.0))
    y = horner(m, CBRT_GUESS) * where(rem == 0.0, 1.0, where(rem == 1.0, CBRT_2, CBRT_4))
    y3 = y * y * y
    y = y * (y3 + 2.0 * v) / (2.0 * y3 + v)              # Halley
    # Newton with the residual y**3 - v computed exactly as a double-double
    sq_hi, sq_lo = two_prod(y, y)
    cu_hi, cu_lo = two_prod(sq_hi, y)
    residual = (cu_hi - v) + fma(sq_lo, y, cu_lo)
    y = y - residual / (3.0 * sq_hi)
    y = y * pow2(q - where(tiny, 18.0, 0.0))
    return copysign(where((ax == 0.0) | (ax == np.inf) | (x != x), ax, y), x)
