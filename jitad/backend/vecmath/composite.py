"""Functions composed of the others, kept out of ``FUNCTIONS`` because they
do not carry its accuracy contract: each is NumPy's own formula on
vecmath's functions, so it has NumPy's accuracy (and NumPy's results at
the special inputs), not a bound of its own.

``logaddexp(x, y) = max(x, y) + log1p(exp(-|x - y|))``, with ``x + ln 2``
where ``x == y`` (infinities of one sign), as ``npy_logaddexp`` computes it,
branch-free. Near a result of 0 the final addition cancels (as in NumPy).

>>> logaddexp(0.0, 0.0), logaddexp(1.0, 2.0), logaddexp(float("-inf"), 3.0)
(0.6931471805599453, 2.313261687518223, 3.0)
"""
from __future__ import annotations

from .dd import public
from .exp_log import exp, log1p
from .ops import fabs, where

LN2 = 0.6931471805599453


@public
def logaddexp(x, y):
    """log(exp(x) + exp(y)) without overflow, as NumPy computes it."""
    larger = where(x > y, x, y)
    # -|x - y|: nan where either is nan (then the result is too)
    y_ = larger + log1p(exp(-fabs(x - y)))
    return where(x == y, x + LN2, y_)
