"""The special functions of ``scipy.special`` that loss functions call.

Each is an elementwise primitive whose NumPy reference ``impl`` is SciPy's own
ufunc (imported on first use, so ``import jitad`` does not import SciPy) and
whose lowering calls SciPy's compiled scalar kernel (``backend.special``).
Derivatives are written with the family itself -- d gammaln = digamma,
d digamma = polygamma(1, .), d polygamma(n, .) = polygamma(n + 1, .),
d i0e = i1e - sign * i0e -- so second and higher orders need no code.

What is better as a composite is one: ``xlogy(x, y)`` is ``safe_mul(x,
log(y))`` (exactly 0 at x = 0 whatever y, and its derivative in y there is
0, not NaN) and ``xlog1py`` likewise; see ``numpy_api.special``.

>>> from jitad.primitives import gammaln_p
>>> round(float(gammaln_p.bind(5.0)), 12)  # log(4!)
3.178053830348
"""
from __future__ import annotations

import math

import numpy as np

from .basic import (add, div, elementwise_binary, elementwise_unary, eq, exp, mul, neg, select,
                    sign, sub)


def _scipy(name):
    """SciPy's ufunc ``name`` as an impl, imported when first called."""
    def impl(*xs):
        import scipy.special  # lazy: importing jitad stays fast
        return getattr(scipy.special, name)(*xs)
    impl.__name__ = impl.__qualname__ = name
    impl.__doc__ = f"scipy.special.{name}"
    return impl


def _polygamma_impl(n, x):
    """scipy.special.polygamma, in the floating dtype of x (float32 stays)."""
    import scipy.special
    out = np.asarray(scipy.special.polygamma(n, x))
    dtype = np.result_type(x)
    return out.astype(dtype)[()] if dtype.kind == "f" else out[()]


def expit(x): return expit_p.bind(x)
def gammaln(x): return gammaln_p.bind(x)
def digamma(x): return digamma_p.bind(x)
def polygamma(n, x): return polygamma_p.bind(n, x)
def i0e(x): return i0e_p.bind(x)
def i1e(x): return i1e_p.bind(x)


SQRT_PI = math.sqrt(math.pi)
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

# the logistic function and its inverse; d log_expit(x) = expit(-x)
# y * expit(-x), not y * (1 - y): 1 - y loses the digits of a small slope
expit_p = elementwise_unary("expit", _scipy("expit"), lambda y, x: mul(y, expit(neg(x))))
logit_p = elementwise_unary("logit", _scipy("logit"),
                            lambda y, x: div(1.0, mul(x, sub(1.0, x))))
log_expit_p = elementwise_unary("log_expit", _scipy("log_expit"), lambda y, x: expit(neg(x)))

# log|Gamma| and its derivatives
gammaln_p = elementwise_unary("gammaln", _scipy("gammaln"), lambda y, x: digamma(x))
digamma_p = elementwise_unary("digamma", _scipy("psi"), lambda y, x: polygamma(1.0, x))
# polygamma(n, x): the order n is an operand (an integer-valued array or
# number, as in SciPy) without a derivative
polygamma_p = elementwise_binary("polygamma", _polygamma_impl, None,
                                 lambda y, n, x: polygamma(add(n, 1.0), x))
betaln_p = elementwise_binary("betaln", _scipy("betaln"),
                              lambda y, a, b: sub(digamma(a), digamma(add(a, b))),
                              lambda y, a, b: sub(digamma(b), digamma(add(a, b))))

# the error function and the normal distribution. d log_ndtr(x) =
# pdf(x) / ndtr(x) = exp(-x^2/2 - log_ndtr(x)) / sqrt(2 pi): no 0/0 in the
# tail (x = -40), because log_ndtr itself is accurate there (to the rounding
# of the exponent's terms, ~x^2 eps relative: 1.3e-13 at x = -40)
erf_p = elementwise_unary("erf", _scipy("erf"),
                          lambda y, x: mul(2.0 / SQRT_PI, exp(neg(mul(x, x)))))
erfc_p = elementwise_unary("erfc", _scipy("erfc"),
                           lambda y, x: mul(-2.0 / SQRT_PI, exp(neg(mul(x, x)))))
erfinv_p = elementwise_unary("erfinv", _scipy("erfinv"),
                             lambda y, x: mul(SQRT_PI / 2.0, exp(mul(y, y))))
ndtr_p = elementwise_unary("ndtr", _scipy("ndtr"),
                           lambda y, x: exp(sub(mul(-0.5, mul(x, x)), HALF_LOG_2PI)))
log_ndtr_p = elementwise_unary(
    "log_ndtr", _scipy("log_ndtr"),
    lambda y, x: exp(sub(sub(mul(-0.5, mul(x, x)), y), HALF_LOG_2PI)))
ndtri_p = elementwise_unary("ndtri", _scipy("ndtri"),
                            lambda y, x: exp(add(mul(0.5, mul(y, y)), HALF_LOG_2PI)))


def _i1e_deriv(y, x):
    """i0e(x) - i1e(x) (sign(x) + 1/x); its limit at 0 is 1/2 (i1e(x) ~ x/2)."""
    zero = eq(x, 0.0)
    safe_x = select(zero, 1.0, x)
    return select(zero, 0.5, sub(i0e(x), mul(y, add(sign(x), div(1.0, safe_x)))))


# exponentially scaled modified Bessel functions: i0e(x) = exp(-|x|) I0(x)
i0e_p = elementwise_unary("i0e", _scipy("i0e"), lambda y, x: sub(i1e(x), mul(sign(x), y)))
i1e_p = elementwise_unary("i1e", _scipy("i1e"), _i1e_deriv)

SPECIAL = (expit_p, logit_p, log_expit_p, gammaln_p, digamma_p, polygamma_p, betaln_p, erf_p,
           erfc_p, erfinv_p, ndtr_p, log_ndtr_p, ndtri_p, i0e_p, i1e_p)
# the scipy.special ufunc each primitive is (by name: SciPy is imported on
# first use only); polygamma is a Python function in SciPy, not a ufunc
SCIPY_NAMES = {prim: prim.impl.__name__ for prim in SPECIAL if prim is not polygamma_p}
