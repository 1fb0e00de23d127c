"""Reductions with ``axis`` (int, tuple, negative) and ``keepdims``: sum,
mean, prod, max, min, var, std, argmax/argmin, cumsum, cumprod, any, all,
count_nonzero, average, and ``np.linalg.norm``.

Documented choices: the gradient of max/min is split evenly between tied
elements; var/std take NumPy's ``ddof``; a norm's gradient at the zero vector
is 0 (a subgradient), where the textbook formula x/|x| would give NaN.
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from .dispatch import (as_dtype, axes_of, dtype_of, float_dtype, implements, keep_dims,
                       ndim_of, normalise_axis, shape_of, traceable_dtype)
from .elementwise import as_mask, logical_not


def _no(name, **kwargs):
    given = sorted(k for k, v in kwargs.items() if v is not None)
    if given:
        raise TypeError(f"np.{name}: the keyword(s) {given} are not supported on traced "
                        "values: instead of out=, use the returned value; instead of where=, "
                        "reduce np.where(mask, x, 0.0)")


def _accumulator(a, dtype):
    """NumPy's accumulator: ``dtype`` if given, else int64 for small integers
    and booleans, else the array's own dtype."""
    target = traceable_dtype(dtype, "dtype=") if dtype is not None \
        else np.sum(np.zeros(1, dtype_of(a))).dtype
    return as_dtype(a, target)


def _count(shape, axes) -> int:
    return int(np.prod([shape[i] for i in axes]))


def _reduce(reduce, a, axis, keepdims):
    shape = shape_of(a)
    axes = axes_of(axis, len(shape))
    return keep_dims(reduce(a, axes) if axes else a, shape, axes, keepdims)


@implements(np.sum)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    _no("sum", out=out, initial=initial, where=where)
    return _reduce(P.reduce_sum, _accumulator(a, dtype), axis, keepdims)


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """The derivative is exact where elements are zero (not prod / x)."""
    _no("prod", out=out, initial=initial, where=where)
    return _reduce(P.reduce_prod, _accumulator(a, dtype), axis, keepdims)


def _average(a, axis, dtype, keepdims):
    a = as_dtype(a, np.dtype(dtype) if dtype is not None else float_dtype(a))
    total = sum(a, axis=axis, keepdims=keepdims)
    return P.div(total, float(_count(shape_of(a), axes_of(axis, ndim_of(a)))))


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    _no("mean", out=out, where=where)
    return _average(a, axis, dtype, keepdims)


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
        correction=None):
    """sum((a - mean)^2) / (n - ddof), with NumPy's ddof (0: the population
    variance; 1: the unbiased estimate)."""
    _no("var", out=out, where=where, mean=mean)
    ddof = correction if correction is not None else ddof
    centred = P.sub(a, _average(a, axis, dtype, keepdims=True))
    total = sum(P.integer_pow(centred, 2), axis=axis, keepdims=keepdims)
    return P.div(total, float(_count(shape_of(a), axes_of(axis, ndim_of(a))) - ddof))


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
        correction=None):
    """sqrt(var): its gradient where the variance is 0 is NaN, as in NumPy's
    own formula (and JAX, PyTorch)."""
    return P.sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean,
                      correction=correction))


@implements(np.max, np.amax)
def max(a, axis=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    """The gradient goes to the maximum; tied maxima share it evenly."""
    _no("max", out=out, initial=initial, where=where)
    return _reduce(P.reduce_max, a, axis, keepdims)


def _negatable(a):
    dtype = dtype_of(a)
    return as_dtype(a, np.int64) if dtype == np.bool_ or np.issubdtype(dtype, np.unsignedinteger) \
        else a


@implements(np.min, np.amin)
def min(a, axis=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    _no("min", out=out, initial=initial, where=where)
    signed = _negatable(a)
    return as_dtype(P.neg(max(P.neg(signed), axis=axis, keepdims=keepdims)), dtype_of(a))


def _arg(a, axis, keepdims):
    if axis is None:
        flat = P.reshape(a, (int(np.prod(shape_of(a))),))
        result = P.argmax(flat, 0)
        return P.reshape(result, (1,) * ndim_of(a)) if keepdims else result
    axis = normalise_axis(axis, ndim_of(a))
    return keep_dims(P.argmax(a, axis), shape_of(a), (axis,), keepdims)


@implements(np.argmax)
def argmax(a, axis=None, out=None, *, keepdims=False):
    """An integer index (the first maximum): no derivative."""
    _no("argmax", out=out)
    return _arg(a, axis, keepdims)


@implements(np.argmin)
def argmin(a, axis=None, out=None, *, keepdims=False):
    _no("argmin", out=out)
    return _arg(P.neg(_negatable(a)), axis, keepdims)


def _cumulative(prim, a, axis, dtype):
    a = _accumulator(a, dtype)
    if axis is None:
        return prim(P.reshape(a, (int(np.prod(shape_of(a))),)), 0)
    return prim(a, normalise_axis(axis, ndim_of(a)))


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    _no("cumsum", out=out)
    return _cumulative(P.cumsum, a, axis, dtype)


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    """The derivative is exact where elements are zero."""
    _no("cumprod", out=out)
    return _cumulative(P.cumprod, a, axis, dtype)


@implements(np.any)
def any(a, axis=None, out=None, keepdims=False, *, where=None):  # noqa: A001
    _no("any", out=out, where=where)
    return _reduce(P.reduce_max, as_mask(a), axis, keepdims)


@implements(np.all)
def all(a, axis=None, out=None, keepdims=False, *, where=None):  # noqa: A001
    _no("all", out=out, where=where)
    return logical_not(any(logical_not(a), axis=axis, keepdims=keepdims))


@implements(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    return sum(P.convert(as_mask(a), np.intp), axis=axis, keepdims=keepdims)


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        total = float(_count(shape_of(a), axes_of(axis, ndim_of(a))))
    else:
        if shape_of(weights) != shape_of(a):
            if axis is None or len(shape_of(weights)) != 1:
                raise TypeError(f"np.average: weights of shape {shape_of(weights)} differ from "
                                f"the array's {shape_of(a)}; pass axis= with 1-d weights")
            along = normalise_axis(axis, ndim_of(a))
            weights = P.reshape(weights, tuple(shape_of(weights)[0] if d == along else 1
                                               for d in range(ndim_of(a))))
            weights = P.broadcast_to(weights, shape_of(a))
        total = sum(weights, axis=axis, keepdims=keepdims)
        avg = P.div(sum(P.mul(a, weights), axis=axis, keepdims=keepdims), total)
    return (avg, total) if returned else avg


# ----------------------------------------------------------------- norms

def _safe_root(s, p):
    """s ** (1/p) with a zero gradient at s == 0 (the double-where trick: the
    root never sees 0, so its infinite derivative there never enters)."""
    zero = P.eq(s, 0.0)
    safe = P.select(zero, 1.0, s)
    root = P.sqrt(safe) if p == 2 else P.pow(safe, 1.0 / p)
    return P.select(zero, 0.0, root)


def _abs(x):
    return P.abs_p.bind(x)


def _vector_norm(x, ord, axes):
    if ord is None or ord == 2:
        return _safe_root(P.reduce_sum(P.integer_pow(x, 2), axes), 2)
    if isinstance(ord, str):
        raise ValueError(f"np.linalg.norm: invalid norm order {ord!r} for vectors")
    if ord == np.inf:
        return P.reduce_max(_abs(x), axes)
    if ord == -np.inf:
        return P.neg(P.reduce_max(P.neg(_abs(x)), axes))
    if ord == 0:
        return P.reduce_sum(P.convert(P.ne(x, 0.0), dtype_of(x)), axes)
    if ord == 1:
        return P.reduce_sum(_abs(x), axes)
    return _safe_root(P.reduce_sum(P.pow(_abs(x), float(ord)), axes), float(ord))


def _matrix_norm(x, ord, axes):
    row, col = axes
    if ord is None or ord == "fro":
        return _safe_root(P.reduce_sum(P.integer_pow(x, 2), tuple(sorted(axes))), 2)
    if ord in (1, -1, np.inf, -np.inf):
        summed, kept = (row, col) if ord in (1, -1) else (col, row)
        sums = sum(_abs(x), axis=summed, keepdims=True)
        picked = max(sums, axis=kept) if ord > 0 else min(sums, axis=kept)
        return P.reshape(picked, tuple(n for d, n in enumerate(shape_of(x)) if d not in axes))
    if ord in (2, -2, "nuc"):  # through the singular values (descending)
        nd = ndim_of(x)
        rest = tuple(d for d in range(nd) if d not in axes)
        s = P.svd_p.bind(P.transpose(x, rest + (row, col)))[1]
        if ord == "nuc":
            return P.reduce_sum(s, (nd - 2,))
        lead = (slice(None),) * (nd - 2)
        return P.getitem(s, P.BasicIndex.normalise(lead + (0 if ord == 2 else -1,), shape_of(s)))
    raise ValueError(f"np.linalg.norm: invalid norm order {ord!r} for matrices")


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - NumPy's name
    """Vector norms (any ord) and matrix norms ('fro', 'nuc', 1, -1, 2, -2, inf,
    -inf; 'nuc', 2 and -2 through the singular values)."""
    x = as_dtype(x, float_dtype(x))
    shape, nd = shape_of(x), ndim_of(x)
    if axis is None and ord is None:
        return keep_dims(_vector_norm(P.reshape(x, (int(np.prod(shape)),)), None, (0,)),
                         shape, tuple(range(nd)), keepdims) if nd else _abs(x)
    if axis is None:
        axis = tuple(range(nd))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(normalise_axis(a, nd) for a in axes)
    if len(axes) == 1:
        result = _vector_norm(x, ord, axes)
    elif len(axes) == 2 and axes[0] != axes[1]:
        result = _matrix_norm(x, ord, axes)
    else:
        raise ValueError(f"np.linalg.norm: improper axis {axis} for an array of shape {shape}")
    return keep_dims(result, shape, axes, keepdims)
