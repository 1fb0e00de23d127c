"""sinh, cosh, tanh and their inverses, from the double-double exp and log kernels.

- ``sinh``: ``x + x**3 * S(x**2)`` below 1 (S: degree 6); above, ``e**|x|/2``
  as a double-double (the halving folded into the exponent, so ``sinh``
  overflows exactly where it should, at 710.48) minus ``e**-|x|/2``.
- ``cosh``: ``e**|x|/2 + e**-|x|/2``, the same double-double.
- ``tanh``: ``-E/(2 + E)`` with ``E = expm1(-2|x|)`` kept as a double-double
  and a double-double division: no cancellation anywhere, one rounding.
- ``arcsinh``, ``arccosh``, ``arctanh``: ``log`` of ``|x| + sqrt(x**2 + 1)``,
  ``x + sqrt(x**2 - 1)`` and ``(1+x)/(1-x)`` (halved), each argument built
  as a double-double and passed to ``log`` as ``log(hi) + lo/hi``, which is
  what keeps them accurate near 0 and near 1; ``log(2|x|)`` above 2**28.

>>> sinh(1.0), cosh(1.0), tanh(0.5)
(1.1752011936438014, 1.5430806348152437, 0.46211715726000974)
>>> arcsinh(1.0), arccosh(2.0), arctanh(0.5)
(0.881373587019543, 1.3169578969248168, 0.5493061443340549)
"""
from __future__ import annotations

import numpy as np

from .dd import dd_div, dd_mul, fast_two_sum, horner, jit, pow2, public, two_prod, two_sum
from .exp_log import LN2_HI, LN2_LO, expm1_reduced, expm1_unscaled, log_dd, reduce_exp, scale
from .ops import copysign, fabs, fma, sqrt, where

# sinh x = x + x**3 * S(x**2), x**2 <= 1
SINH_S = (0.16666666666666666, 0.0083333333333333, 0.00019841269841323517, 2.7557319191673246e-06,
          2.5052117639615535e-08, 1.6057684633833704e-10, 7.746011421353533e-13)
SINH_OVERFLOW = 710.4758600739439  # above: sinh and cosh are inf
LARGE = 268435456.0                # 2**28: above, sqrt(x**2 +- 1) is |x| to float64


@jit
def _half_exp(ax):
    """``e**ax / 2`` as a double-double, for ``0 <= ax <= 711``."""
    k, r_hi, r_lo = reduce_exp(ax)
    hi, lo = expm1_reduced(r_hi, r_lo)
    one_hi, one_lo = fast_two_sum(1.0, hi)
    one_hi, one_lo = fast_two_sum(one_hi, one_lo + lo)
    return scale(one_hi, k - 1.0), scale(one_lo, k - 1.0)


@public
def sinh(x):
    """Hyperbolic sine, within 1 ulp.

    >>> sinh(-0.0), sinh(1e-300), sinh(710.0), sinh(711.0)
    (-0.0, 1e-300, 1.1169973830808555e+308, inf)
    """
    ax = fabs(x)
    z = ax * ax
    small = ax + ax * z * horner(z, SINH_S)
    e_hi, e_lo = _half_exp(where(ax > 711.0, 711.0, ax))
    large = e_hi + (e_lo - 0.25 / e_hi)  # e**-ax / 2 = 1 / (4 * (e**ax / 2))
    v = where(ax < 1.0, small, where(ax > SINH_OVERFLOW, np.inf, large))
    return copysign(v, x)


@public
def cosh(x):
    """Hyperbolic cosine, within 1 ulp.

    >>> cosh(0.0), cosh(-2.0), cosh(710.4)
    (1.0, 3.7621956910836314, 1.6663642832806496e+308)
    """
    ax = fabs(x)
    e_hi, e_lo = _half_exp(where(ax > 711.0, 711.0, ax))
    v = e_hi + (e_lo + 0.25 / e_hi)
    return where(ax > SINH_OVERFLOW, np.inf, v)


@public
def tanh(x):
    """Hyperbolic tangent, within 1 ulp.

    >>> tanh(-0.0), tanh(1e-300), tanh(-3.0), tanh(30.0)
    (-0.0, 1e-300, -0.9950547536867305, 1.0)
    """
    ax = where(fabs(x) > 22.0, 22.0, fabs(x))  # tanh(22) rounds to 1
    s, t, k = expm1_unscaled(-2.0 * ax)
    e_hi, e_lo = fast_two_sum(s * pow2(k), t * pow2(k))  # E = expm1(-2|x|), in (-1, 0]
    d_hi, d_lo = two_sum(2.0, e_hi)
    q_hi, q_lo = dd_div(-e_hi, -e_lo, d_hi, d_lo + e_lo)
    return copysign(q_hi + q_lo, x)


@jit
def _log_of_dd(hi, lo, big):
    """``log(hi + lo)`` for ``hi > 0`` and ``|lo| <= ulp(hi)``: ``log(hi) + lo/hi``;
    plus ``ln 2`` where ``big`` (so ``log(2x)`` needs no ``2x``, which may overflow)."""
    l_hi, l_lo = log_dd(hi)
    h, t = two_sum(l_hi, where(big, LN2_HI, 0.0))
    return h + (t + (l_lo + where(big, LN2_LO, 0.0) + lo / hi))


@jit
def _sqrt_dd(hi, lo):
    """``sqrt(hi + lo)`` as a double-double (one Newton correction of the float64 root)."""
    s = sqrt(hi)
    return fast_two_sum(s, where(s > 0.0, (fma(-s, s, hi) + lo) / (2.0 * s), 0.0))


@public
def arcsinh(x):
    """Inverse hyperbolic sine, within 1 ulp.

    >>> arcsinh(-0.0), arcsinh(1e-10), arcsinh(1e300)
    (-0.0, 1e-10, 691.4686750787737)
    """
    ax = fabs(x)
    sq_hi, sq_lo = two_prod(ax, ax)
    t_hi, t_lo = two_sum(1.0, sq_hi)
    s_hi, s_lo = _sqrt_dd(t_hi, t_lo + sq_lo)
    u_hi, u_lo = two_sum(ax, s_hi)
    # above 2**28, |x| + sqrt(x**2 + 1) is 2|x| to float64: log(|x|) + ln 2
    big = ax > LARGE
    v = _log_of_dd(where(big, ax, u_hi), where(big, 0.0, u_lo + s_lo), big)
    v = where(ax < 7.450580596923828e-09, ax, v)  # below 2**-27, asinh x rounds to x
    return copysign(where(ax == np.inf, np.inf, v), x)


@public
def arccosh(x):
    """Inverse hyperbolic cosine, within 1 ulp; nan below 1.

    >>> arccosh(1.0), arccosh(1.0000000001), arccosh(0.5)
    (0.0, 1.4142136208675862e-05, nan)
    """
    t_hi, t_lo = two_sum(x, -1.0)    # x - 1
    w_hi, w_lo = two_sum(x, 1.0)     # x + 1
    p_hi, p_lo = dd_mul(t_hi, t_lo, w_hi, w_lo)  # x**2 - 1
    s_hi, s_lo = _sqrt_dd(p_hi, p_lo)
    u_hi, u_lo = two_sum(x, s_hi)
    big = x > LARGE  # x + sqrt(x**2 - 1) is 2x to float64: log(x) + ln 2
    v = _log_of_dd(where(big, x, u_hi), where(big, 0.0, u_lo + s_lo), big)
    v = where(x == np.inf, np.inf, v)
    return where(x >= 1.0, v, np.nan)


@public
def arctanh(x):
    """Inverse hyperbolic tangent, within 1 ulp; +-inf at +-1, nan beyond.

    >>> arctanh(-0.0), arctanh(1e-300), arctanh(0.999), arctanh(-1.0)
    (-0.0, 1e-300, 3.8002011672501994, -inf)
    """
    ax = fabs(x)
    n_hi, n_lo = two_sum(1.0, ax)
    d_hi, d_lo = two_sum(1.0, -ax)
    q_hi, q_lo = dd_div(n_hi, n_lo, d_hi, d_lo)
    v = 0.5 * _log_of_dd(q_hi, q_lo, False)
    # below 2**-28 atanh x rounds to x, and the quotient's 2**-105 error would show
    v = where(ax < 3.725290298461914e-09, ax, where(ax == 1.0, np.inf, v))
    return copysign(where(ax <= 1.0, v, np.nan), x)
