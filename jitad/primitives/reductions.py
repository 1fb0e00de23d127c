"""Products, cumulative sums and products, argmax.

The product rules are exact where inputs are zero: "the product of the
others" is not y / x there, so the rules count the zeros of each group (the
only derivatives that survive are those of groups with at most one zero).
"""
from __future__ import annotations

import numpy as np

from .basic import (broadcast_in_dim, convert, div, eq, mul, reduce_sum, select)
from .core import Primitive, kept_dims, reduced_shape


def reduce_prod(x, axes): return reduce_prod_p.bind(x, axes=tuple(axes)) if len(axes) else x
def cumsum(x, axis, reverse=False): return cumsum_p.bind(x, axis=axis, reverse=reverse)
def cumprod(x, axis): return cumprod_p.bind(x, axis=axis)
def argmax(x, axis): return argmax_p.bind(x, axis=axis)


def _prod_others(y, x, axes):
    """For each element, the product of the other elements of its group:
    y / x without zeros; with one zero, the product of the non-zeros at the
    zero and 0 elsewhere; with two or more zeros, 0."""
    dims = kept_dims(x.ndim, axes)

    def spread(v):
        return broadcast_in_dim(v, x.shape, dims)
    zero = eq(x, 0.0)
    count = spread(reduce_sum(convert(zero, x.dtype), axes))
    nonzero_product = spread(reduce_prod(select(zero, 1.0, x), axes))
    return select(eq(count, 0.0), div(spread(y), x),
                  select(eq(count, 1.0), select(zero, nonzero_product, 0.0), 0.0))


reduce_prod_p = Primitive(
    "reduce_prod", lambda x, axes: np.prod(x, axis=axes),
    lambda x, axes: (reduced_shape(x.shape, axes), x.dtype),
    jvps=[lambda t, y, x, axes: reduce_sum(mul(t, _prod_others(y, x, axes)), axes)],
    vjps=[lambda g, y, x, axes: mul(broadcast_in_dim(g, x.shape, kept_dims(x.ndim, axes)),
                                    _prod_others(y, x, axes))])


def _cumsum_impl(x, axis, reverse):
    x = np.asarray(x)
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis), axis)
    return np.cumsum(x, axis)


cumsum_p = Primitive(
    "cumsum", _cumsum_impl, lambda x, axis, reverse: (x.shape, x.dtype),
    jvps=[lambda t, y, x, axis, reverse: cumsum(t, axis, reverse)],
    vjps=[lambda g, y, x, axis, reverse: cumsum(g, axis, not reverse)])


def _cumprod_parts(x, axis):
    """Zero mask; "no zero up to i"; "exactly one zero up to i"; and the
    running product with zeros replaced by 1."""
    zero = eq(x, 0.0)
    count = cumsum(convert(zero, x.dtype), axis)
    return zero, eq(count, 0.0), eq(count, 1.0), cumprod(select(zero, 1.0, x), axis)


def _cumprod_jvp(t, y, x, axis):
    # y_dot[i] = sum_{k<=i} t[k] prod_{j<=i, j!=k} x[j]: y[i] sum t/x before
    # any zero; after exactly one zero (at k0) only the k0 term survives.
    zero, before, first, q = _cumprod_parts(x, axis)
    no_zero = mul(y, cumsum(select(zero, 0.0, div(t, x)), axis))
    one_zero = mul(q, cumsum(select(zero, t, 0.0), axis))
    return select(before, no_zero, select(first, one_zero, 0.0))


def _cumprod_vjp(g, y, x, axis):
    # the transpose of the linear map in _cumprod_jvp
    zero, before, first, q = _cumprod_parts(x, axis)
    no_zero = div(cumsum(select(before, mul(g, y), 0.0), axis, reverse=True), x)
    one_zero = cumsum(select(first, mul(g, q), 0.0), axis, reverse=True)
    return select(zero, one_zero, no_zero)


cumprod_p = Primitive(
    "cumprod", lambda x, axis: np.cumprod(x, axis), lambda x, axis: (x.shape, x.dtype),
    jvps=[_cumprod_jvp], vjps=[_cumprod_vjp])

# An integer output: no derivative. np.argmin is argmax of the negation.
argmax_p = Primitive(
    "argmax", lambda x, axis: np.argmax(x, axis=axis),
    lambda x, axis: (reduced_shape(x.shape, (axis,)), np.dtype(np.intp)),
    jvps=[None], vjps=[None])
