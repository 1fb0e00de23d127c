"""The dispatch tables and the helpers every family of the NumPy layer uses.

``UFUNCS`` maps a ufunc to its implementation, ``FUNCTIONS`` maps NumPy
functions reached through ``__array_function__`` (filled by ``@implements``),
and ``UNSUPPORTED`` names functions jitad refuses on purpose, with the reason
and what to use instead (its entries raise a ``TypeError`` saying so).
"""
from __future__ import annotations

import operator

import numpy as np

from .. import primitives as P
from ..errors import TraceError
from ..state import is_tracer

FUNCTIONS: dict = {}
UFUNCS: dict = {}
UNSUPPORTED: dict = {}


def implements(*numpy_functions):
    """Register the decorated function as the tracer's version of each of
    ``numpy_functions``.

    >>> @implements(np.fix)
    ... def fix(x):
    ...     return np.trunc(x)
    >>> FUNCTIONS.pop(np.fix) is fix
    True
    """
    def register(fn):
        for f in numpy_functions:
            FUNCTIONS[f] = fn
        return fn
    return register


def public_name(func) -> str:
    """``np.linalg.eig``, not ``numpy.linalg._linalg.eig``."""
    module = (getattr(func, "__module__", None) or "numpy").split(".")
    public = [m for m in module if not m.startswith("_")]
    public[0] = "np" if public[0] == "numpy" else public[0]
    if func is getattr(np, func.__name__, None):
        public = ["np"]
    return ".".join(public + [func.__name__])


def unsupported(reason, *numpy_functions):
    """Refuse ``numpy_functions`` on traced values with ``reason`` (which says
    why and what to use instead)."""
    for f in numpy_functions:
        UNSUPPORTED[f] = reason

        def refuse(*args, _name=public_name(f), **kwargs):
            raise TypeError(f"jitad does not support {_name} on traced values: {reason}")
        FUNCTIONS[f] = refuse


# ------------------------------------------------------------- helpers

shape_of = P.shape_of
dtype_of = P.dtype_of


def ndim_of(x) -> int:
    return len(shape_of(x))


is_traced = is_tracer


def normalise_axis(axis, ndim, name="axis") -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(f"{name} {axis} is out of bounds for an array of "
                                      f"dimension {ndim}")
    return axis % ndim


def axes_of(axis, ndim) -> tuple:
    """``axis`` (None, an int or a tuple, negatives allowed) as sorted axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted({normalise_axis(a, ndim) for a in axes}))


def keep_dims(result, shape, axes, keepdims):
    """``result`` reduced over ``axes`` of ``shape``, with them kept as 1s."""
    if not keepdims:
        return result
    return P.reshape(result, tuple(1 if i in axes else n for i, n in enumerate(shape)))


def float_dtype(*xs) -> np.dtype:
    """The floating dtype NumPy computes ``xs`` in (float64 for integers)."""
    dtype = np.result_type(*(dtype_of(x) for x in xs))
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def traceable_dtype(dtype, where: str) -> np.dtype:
    """``dtype`` if jitad's kernels compute in it (bool, integers, float32,
    float64), else a TraceError naming ``where`` it was asked for.

    >>> traceable_dtype(np.float32, "dtype=")
    dtype('float32')
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "biu" and dtype.itemsize <= 8 or dtype in (np.float32, np.float64):
        return dtype
    raise TraceError(f"{where}{dtype.name} on a traced value: jitad computes in bool, integers, "
                     "float32 and float64 only; use one of those (np.float64 for floats)")


def as_dtype(x, dtype):
    if dtype_of(x) == dtype:
        return x
    return P.convert(x, traceable_dtype(dtype, "a conversion to "))


def moveaxis_perm(ndim, source, destination) -> tuple:
    order = [d for d in range(ndim) if d not in source]
    for dst, src in sorted(zip(destination, source)):
        order.insert(dst, src)
    return tuple(order)
