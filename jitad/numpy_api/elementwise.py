"""Ufuncs and elementwise functions: arithmetic, math functions, masks.

Masks (comparisons, ``np.isnan``, logical operators and ``&``, ``|``, ``^``,
``~`` on boolean arrays) are ordinary boolean values for ``np.where``; they
carry no derivative.
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from .dispatch import UFUNCS, dtype_of, implements


def add(a, b): return P.add(a, b)
def subtract(a, b): return P.sub(a, b)
def multiply(a, b): return P.mul(a, b)
def divide(a, b): return P.div(a, b)
def negative(x): return P.neg(x)
def floor_divide(a, b): return P.floor_divide(a, b)
def remainder(a, b): return P.remainder_p.bind(a, b)


def power(a, b):
    """x ** n with a Python integer n (or an integral float) is integer_pow,
    whose derivative needs no log; any other exponent is the general pow."""
    if isinstance(b, (int, float, np.integer, np.floating)) and not isinstance(b, bool) \
            and float(b).is_integer() and abs(b) <= 64:
        if isinstance(b, (float, np.floating)) and np.issubdtype(dtype_of(a), np.integer):
            a = P.convert(a, np.float64)
        return P.integer_pow(a, int(b))
    return P.pow(a, b)


def fmax(a, b):
    """maximum that ignores a NaN: the NaN operand is replaced by the other
    one first, so a tie hands the whole derivative to the non-NaN operand."""
    a = P.select(P.ne(a, a), b, a)
    return P.max_p.bind(a, P.select(P.ne(b, b), a, b))


def fmin(a, b):
    a = P.select(P.ne(a, a), b, a)
    return P.min_p.bind(a, P.select(P.ne(b, b), a, b))


def logaddexp2(a, b):
    return P.mul(P.logaddexp_p.bind(P.mul(a, P.LN2), P.mul(b, P.LN2)), P.LOG2_E)


# ------------------------------------------------------------------ masks

def as_mask(x):
    return x if dtype_of(x) == np.bool_ else P.ne(x, 0)


def logical_and(a, b): return P.select(as_mask(a), as_mask(b), False)
def logical_or(a, b): return P.select(as_mask(a), True, as_mask(b))
def logical_xor(a, b): return P.ne(as_mask(a), as_mask(b))
def logical_not(x): return P.eq(as_mask(x), False)
def isnan(x): return P.ne(x, x)
def isinf(x): return P.eq(P.abs_p.bind(x), np.inf)
def isfinite(x): return P.lt(P.abs_p.bind(x), np.inf)


def _boolean_only(name, fn):
    """``&``, ``|``, ``^``, ``~`` are logical on masks; on integers they are
    bit operations, which jitad does not record."""
    def op(*xs):
        for x in xs:
            if dtype_of(x) != np.bool_:
                raise TypeError(f"np.{name} on a traced array of dtype {dtype_of(x)}: jitad "
                                "supports bitwise operators on boolean masks only (use "
                                "np.logical_and/or/xor/not for masks)")
        return fn(*xs)
    return op


bitwise_and = _boolean_only("bitwise_and", logical_and)
bitwise_or = _boolean_only("bitwise_or", logical_or)
bitwise_xor = _boolean_only("bitwise_xor", logical_xor)
invert = _boolean_only("invert", logical_not)

def _ufunc_of(prim):
    def apply(*xs):
        return prim.bind(*xs)
    return apply


# A primitive whose block names a NumPy ufunc (``numpy=``) is that ufunc; the
# entries after it are the ufuncs that need more than one primitive.
UFUNCS.update((prim.numpy, _ufunc_of(prim)) for prim in P.PRIMITIVES
              if prim.kind == "elementwise" and isinstance(prim.numpy, np.ufunc))
UFUNCS.update({
    np.power: power, np.positive: lambda x: x,
    np.float_power: lambda a, b: P.pow(P.convert(a, np.float64), b),
    np.square: lambda x: P.integer_pow(x, 2), np.reciprocal: lambda x: P.div(1.0, x),
    np.fabs: UFUNCS[np.absolute], np.fmax: fmax, np.fmin: fmin, np.logaddexp2: logaddexp2,
    np.deg2rad: lambda x: P.mul(x, np.pi / 180), np.rad2deg: lambda x: P.mul(x, 180 / np.pi),
    np.logical_and: logical_and, np.logical_or: logical_or, np.logical_xor: logical_xor,
    np.logical_not: logical_not, np.isnan: isnan, np.isinf: isinf, np.isfinite: isfinite,
    np.bitwise_and: bitwise_and, np.bitwise_or: bitwise_or, np.bitwise_xor: bitwise_xor,
    np.invert: invert,
})
UFUNCS[np.radians], UFUNCS[np.degrees] = UFUNCS[np.deg2rad], UFUNCS[np.rad2deg]


# ------------------------------------------------------------- functions

@implements(np.where)
def where(condition, x=None, y=None):
    if x is None or y is None:
        raise TypeError("np.where(condition) with one argument returns indices, whose number "
                        "depends on values; use np.where(condition, x, y)")
    return P.select(as_mask(condition), x, y)


@implements(np.clip)
def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):  # noqa: A002
    """min(max(a, a_min), a_max); a value on a bound gets half the derivative
    (the tie rule of np.maximum/np.minimum)."""
    if out is not None or kwargs:
        raise TypeError("np.clip: out= and ufunc keywords are not supported on traced values")
    low = a_min if a_min is not None else min
    high = a_max if a_max is not None else max
    if low is not None:
        a = P.max_p.bind(a, low)
    if high is not None:
        a = P.min_p.bind(a, high)
    return a


@implements(np.round, np.around)
def round(a, decimals=0, out=None):  # noqa: A001 - NumPy's name
    if out is not None:
        raise TypeError("np.round(..., out=...) is not supported on traced values")
    if decimals == 0:
        return P.rint_p.bind(a)
    scale = 10.0 ** decimals
    return P.div(P.rint_p.bind(P.mul(a, scale)), scale)


@implements(np.real)
def real(x):
    """Identity: jitad differentiates real arrays."""
    return x


UFUNCS[np.conjugate] = real


@implements(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    close = P.le_p.bind(P.abs_p.bind(P.sub(a, b)), P.add(atol, P.mul(rtol, P.abs_p.bind(b))))
    close = logical_or(close, P.eq(a, b))  # equal infinities
    return logical_or(close, logical_and(isnan(a), isnan(b))) if equal_nan else close
