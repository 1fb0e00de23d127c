"""Products, cumulative sums and products, argmax, argsort.

The product rules are exact where inputs are zero: "the product of the
others" is not y / x there, so the rules count the zeros of each group and
use the expression that holds near such a point (exact to second order).
"""
from __future__ import annotations

import numpy as np

from .basic import (add, batch_reduction, broadcast_in_dim, convert, div, eq, mul, reduce_sum,
                    select, sub)
from .core import Primitive, kept_dims, reduced_shape


def reduce_prod(x, axes): return reduce_prod_p.bind(x, axes=tuple(axes))
def cumsum(x, axis, reverse=False): return cumsum_p.bind(x, axis=axis, reverse=reverse)
def cumprod(x, axis): return cumprod_p.bind(x, axis=axis)
def argmax(x, axis): return argmax_p.bind(x, axis=axis)
def argsort(x, axis): return argsort_p.bind(x, axis=axis)


def _by_count(count, none, one, two):
    """Pick by the number of zeros: the derivative of a product changes form
    with it. Each form is the exact expression near such a point, so the
    derivative is exact to second order there (three or more zeros: 0)."""
    return select(eq(count, 0.0), none, select(eq(count, 1.0), one,
                                               select(eq(count, 2.0), two, 0.0)))


def _prod_others(y, x, axes):
    """For each element, the product of the other elements of its group:
    y / x without zeros; with zeros, from the product of the non-zeros and
    the sum of the zeros (0, but its derivative is not)."""
    dims = kept_dims(x.ndim, axes)

    def spread(v):
        return broadcast_in_dim(v, x.shape, dims)
    zero = eq(x, 0.0)
    count = spread(reduce_sum(convert(zero, x.dtype), axes))
    nonzero = spread(reduce_prod(select(zero, 1.0, x), axes))
    zeros = spread(reduce_sum(select(zero, x, 0.0), axes))
    one = select(zero, nonzero, div(mul(zeros, nonzero), x))
    two = select(zero, mul(sub(zeros, x), nonzero), 0.0)
    return _by_count(count, div(spread(y), x), one, two)


reduce_prod_p = Primitive(
    "reduce_prod", lambda x, axes: np.prod(x, axis=axes),
    lambda x, axes: (reduced_shape(x.shape, axes), x.dtype), kind="reduction",
    batch=batch_reduction,
    jvps=[lambda t, y, x, axes: reduce_sum(mul(t, _prod_others(y, x, axes)), axes)],
    vjps=[lambda g, y, x, axes: mul(broadcast_in_dim(g, x.shape, kept_dims(x.ndim, axes)),
                                    _prod_others(y, x, axes))])


def _cumsum_impl(x, axis, reverse):
    x = np.asarray(x)
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis), axis)
    return np.cumsum(x, axis)


cumsum_p = Primitive(
    "cumsum", _cumsum_impl, lambda x, axis, reverse: (x.shape, x.dtype), kind="reduction",
    jvps=[lambda t, y, x, axis, reverse: cumsum(t, axis, reverse)],
    vjps=[lambda g, y, x, axis, reverse: cumsum(g, axis, not reverse)],
    batch=lambda prim, args, batched, k, axis, reverse: cumsum(args[0], axis + 1, reverse))


def _cumprod_parts(x, axis):
    """Zero mask; running count of zeros; running sum of the zeros (0, with a
    derivative); running product of the non-zeros."""
    zero = eq(x, 0.0)
    return (zero, cumsum(convert(zero, x.dtype), axis), cumsum(select(zero, x, 0.0), axis),
            cumprod(select(zero, 1.0, x), axis))


def _cumprod_jvp(t, y, x, axis):
    # y_dot[i] = sum_{k<=i} t[k] prod_{j<=i, j!=k} x[j], written per zero count
    zero, count, zeros, nonzero = _cumprod_parts(x, axis)
    at_zeros = cumsum(select(zero, t, 0.0), axis)
    elsewhere = cumsum(select(zero, 0.0, div(t, x)), axis)
    one = mul(nonzero, add(at_zeros, mul(zeros, elsewhere)))
    two = mul(nonzero, sub(mul(at_zeros, zeros), cumsum(select(zero, mul(t, x), 0.0), axis)))
    return _by_count(count, mul(y, elsewhere), one, two)


def _cumprod_vjp(g, y, x, axis):
    # the transpose of _cumprod_jvp, term by term
    zero, count, zeros, nonzero = _cumprod_parts(x, axis)

    def back(n, v):
        return cumsum(select(eq(count, n), v, 0.0), axis, reverse=True)
    g_nonzero = mul(g, nonzero)
    at_zeros = add(back(1.0, g_nonzero), back(2.0, mul(g_nonzero, zeros)))
    elsewhere = add(back(0.0, mul(g, y)), back(1.0, mul(g_nonzero, zeros)))
    return select(zero, sub(at_zeros, mul(back(2.0, g_nonzero), x)), div(elsewhere, x))


cumprod_p = Primitive(
    "cumprod", lambda x, axis: np.cumprod(x, axis), lambda x, axis: (x.shape, x.dtype),
    kind="reduction", jvps=[_cumprod_jvp], vjps=[_cumprod_vjp],
    batch=lambda prim, args, batched, k, axis: cumprod(args[0], axis + 1))

# An integer output: no derivative. np.argmin is argmax of the negation.
argmax_p = Primitive(
    "argmax", lambda x, axis: np.argmax(x, axis=axis),
    lambda x, axis: (reduced_shape(x.shape, (axis,)), np.dtype(np.intp)), kind="reduction",
    jvps=[None], vjps=[None],
    batch=lambda prim, args, batched, k, axis: argmax(args[0], axis + 1))

# The permutation that sorts x along axis, computed when the kernel runs, on
# the values of that call. Stable (ties keep their order), so the kernel and
# NumPy agree. An integer output: no derivative; np.sort gathers by it, so
# the derivative of a sort is the gather by the permutation.
argsort_p = Primitive(
    "argsort", lambda x, axis: np.argsort(x, axis=axis, kind="stable"),
    lambda x, axis: (x.shape, np.dtype(np.intp)), kind="structural",
    jvps=[None], vjps=[None],
    batch=lambda prim, args, batched, k, axis: argsort(args[0], axis + 1))
