"""scipy.special drop-ins: the same names and signatures, on traced values
and on plain arrays.

The ufuncs are SciPy's own objects (``jitad.scipy.special.gammaln is
scipy.special.gammaln``): on a traced value they dispatch to jitad's
primitives through NumPy's ufunc protocol. ``logsumexp``, ``softmax``,
``log_softmax`` and ``polygamma`` are written here with NumPy functions (and
jitad's primitives), because SciPy's versions call ``np.asarray`` first.

>>> import numpy as np
>>> float(logsumexp(np.array([-np.inf, -np.inf])))
-inf
"""
from __future__ import annotations

import numpy as np
from scipy.special import (betaln, digamma, erf, erfc, erfinv, expit, gammaln,  # noqa: F401
                           i0e, i1e, log_expit, log_ndtr, logit, ndtr, ndtri, psi, xlog1py,
                           xlogy)
from scipy import special as _scipy_special

from ..api import stop_gradient
from ..numpy_api.special import polygamma as _traced_polygamma
from ..state import is_tracer

__all__ = ["logsumexp", "softmax", "log_softmax", "polygamma", "betaln", "digamma", "erf",
           "erfc", "erfinv", "expit", "gammaln", "i0e", "i1e", "log_expit", "log_ndtr", "logit",
           "ndtr", "ndtri", "psi", "xlog1py", "xlogy"]


def _shift(m):
    """The max as a shift: 0 where it is not finite (all -inf, or inf), and
    no derivative (the result does not depend on the shift)."""
    return stop_gradient(np.where(np.isfinite(m), m, 0.0))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a), axis)) without overflow, as scipy.special.logsumexp:
    entries of -inf contribute nothing, all -inf gives -inf (with gradient
    0, not NaN), entries where b == 0 are left out, and ``return_sign`` gives
    (log|s|, sign(s)) for a sum s that may be negative.

    >>> round(float(logsumexp(np.array([1.0, 2.0]), b=np.array([1.0, -1.0]),
    ...                       return_sign=True)[1]), 1)
    -1.0
    """
    if not is_tracer(a):
        a = np.asarray(a)
    if not np.issubdtype(np.result_type(a), np.floating):
        a = a.astype(np.float64)
    if b is not None:
        shape = np.broadcast_shapes(np.shape(a), np.shape(b))
        a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
        a = np.where(b != 0, a, -np.inf)
    m = _shift(np.max(a, axis=axis, keepdims=True))
    e = np.exp(a - m)
    s = np.sum(e if b is None else b * e, axis=axis, keepdims=True)
    sign = None
    if return_sign:
        sign = np.sign(s)
        s = np.abs(s)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the answer, as in SciPy
        out = np.log(s) + m
    if not keepdims:
        out = _squeeze(out, axis)
        sign = None if sign is None else _squeeze(sign, axis)
    if not is_tracer(out) and np.ndim(out) == 0:  # a NumPy scalar, as SciPy returns
        out, sign = out[()], None if sign is None else sign[()]
    return (out, sign) if return_sign else out


def _squeeze(x, axis):
    return np.squeeze(x) if axis is None else np.squeeze(x, axis=axis)


def softmax(x, axis=None):
    """exp(x) / sum(exp(x), axis), as scipy.special.softmax."""
    e = np.exp(x - stop_gradient(np.max(x, axis=axis, keepdims=True)))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=None):
    """x - logsumexp(x, axis, keepdims=True), as scipy.special.log_softmax."""
    shifted = x - _shift(np.max(x, axis=axis, keepdims=True))
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def polygamma(n, x):
    """The n-th derivative of digamma, as scipy.special.polygamma; n an
    integer (a constant, or an integer array without derivative)."""
    if is_tracer(n) or is_tracer(x):
        return _traced_polygamma(n, x)
    return _scipy_special.polygamma(n, x)
