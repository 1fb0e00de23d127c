"""scipy.special's ufuncs on tracers, and the drop-ins for SciPy functions
that cannot take a traced value.

A scipy.special ufunc applied to a tracer reaches the tracer's
``__array_ufunc__`` like a NumPy one; ``scipy_ufunc`` finds its
implementation here by name, checking it is SciPy's object. SciPy is
imported by then (the ufunc came from it), so nothing here imports it
before that.

SciPy's Python-level functions (``logsumexp``, ``softmax``, ``polygamma``,
the ``scipy.stats`` distributions) begin with ``np.asarray`` on their input,
which a tracer refuses; ``drop_in_advice`` names the ``jitad.scipy`` drop-in
for the error message (``DROP_INS`` lists them; ``jitad.scipy`` defines them).
"""
from __future__ import annotations

import sys

import numpy as np

from .. import primitives as P
from .dispatch import dtype_of


def floating(x):
    """x as a floating array: integers and booleans become float64, as the
    SciPy ufuncs' loops make them."""
    return x if np.issubdtype(dtype_of(x), np.floating) else P.convert(x, np.float64)


def _on_floats(prim):
    def apply(*xs):
        return prim.bind(*map(floating, xs))
    apply.__name__ = prim.name
    apply.__doc__ = f"scipy.special.{prim.name}: the primitive {prim.name}."
    return apply


def xlogy(x, y):
    """x * log(y), exactly 0 where x is 0 (also at y = 0, where the
    derivative in y is 0 and the one in x is log(0) = -inf)."""
    return P.safe_mul(floating(x), P.log(floating(y)))


def xlog1py(x, y):
    """x * log1p(y), exactly 0 where x is 0 (also at y = -1)."""
    return P.safe_mul(floating(x), P.log1p_p.bind(floating(y)))


def polygamma(n, x):
    """polygamma(n, x), the n-th derivative of digamma; n an integer
    (a constant, or an integer array without derivative)."""
    return P.polygamma(n, floating(x))


# scipy.special ufunc name -> implementation (psi is digamma's ufunc name)
SCIPY_UFUNCS = {name: _on_floats(prim) for prim, name in P.SCIPY_NAMES.items()}
SCIPY_UFUNCS.update(xlogy=xlogy, xlog1py=xlog1py)


def scipy_ufunc(ufunc):
    """The implementation of ``ufunc`` if it is one of scipy.special's that
    jitad records, else None."""
    impl = SCIPY_UFUNCS.get(ufunc.__name__)
    special = sys.modules.get("scipy.special")
    if impl is None or special is None or getattr(special, ufunc.__name__, None) is not ufunc:
        return None
    return impl


# the drop-ins jitad.scipy defines, with SciPy's signatures
DROP_INS = {
    "special": ("logsumexp", "softmax", "log_softmax", "polygamma", "expit", "logit",
                "log_expit", "gammaln", "digamma", "psi", "erf", "erfc", "erfinv", "ndtr",
                "log_ndtr", "ndtri", "xlogy", "xlog1py", "betaln", "i0e", "i1e"),
    "stats": ("norm", "t", "gamma", "beta"),
}
STATS_METHODS = ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf")


def drop_in_advice(frame) -> str | None:
    """What to write instead, when a SciPy function (called from user code,
    below ``frame``) turned a traced value into a NumPy array; None when
    none did."""
    outer = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("scipy."):
            outer = frame
        elif outer is not None and not module.startswith("numpy"):
            break
        frame = frame.f_back
    if outer is None:
        return None
    module = outer.f_globals["__name__"].split(".")[1]
    name = outer.f_code.co_name
    if module == "stats":
        owner = outer.f_locals.get("self")
        dist = getattr(getattr(owner, "dist", owner), "name", None)
        if dist in DROP_INS["stats"] and name in STATS_METHODS:
            return (f"scipy.stats.{dist}.{name} converts its input with np.asarray, which "
                    f"cannot hold a traced value; use jitad.scipy.stats.{dist}.{name} (the "
                    f"same signature, built from jitad's primitives, also on plain arrays)")
        return (f"scipy.stats ({name}) converts its input with np.asarray, which cannot hold "
                f"a traced value; jitad.scipy.stats has drop-ins for "
                f"{', '.join(DROP_INS['stats'])} ({', '.join(STATS_METHODS)})")
    if module == "special" and name in DROP_INS["special"]:
        return (f"scipy.special.{name} converts its input with np.asarray, which cannot hold a "
                f"traced value; use jitad.scipy.special.{name} (the same signature, built "
                f"from jitad's primitives, also on plain arrays)")
    return (f"a SciPy function (scipy.{module}: {name}) converts its input with np.asarray, "
            "which cannot hold a traced value, and jitad has no drop-in for it; write it with "
            "NumPy, or see jitad.scipy for the drop-ins there are")
