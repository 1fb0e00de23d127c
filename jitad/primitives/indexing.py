"""Indexing and assembling: basic indexing and its scatter, gathers by
integer arrays and their scatter-add, concatenation.

A gather (``take``) reads ``x[i0[b], i1[b], ..., rest]``; its adjoint
(``add_at``, NumPy's ``np.add.at``) *adds* each cotangent element into place,
so an index that appears twice receives the sum of both cotangents. The index
arrays may be traced integer inputs (labels); they get no derivative.
"""
from __future__ import annotations

import numpy as np

from .core import BasicIndex, Primitive, Variadic, shape_of


def getitem(x, index): return getitem_p.bind(x, index=index)
def scatter_add(g, shape, index): return scatter_add_p.bind(g, shape=tuple(shape), index=index)
def take(x, *indices): return take_p(len(indices)).bind(x, *indices)


def add_at(g, indices, shape):
    return add_at_p(len(indices)).bind(g, *indices, shape=tuple(shape))


def concatenate(xs, axis):
    xs = list(xs)
    return xs[0] if len(xs) == 1 else concatenate_p(len(xs)).bind(*xs, axis=axis)


def slab(shape, axis, start, stop) -> BasicIndex:
    """The basic index of ``start:stop`` along ``axis``."""
    return BasicIndex.normalise((slice(None),) * axis + (slice(start, stop),), shape)


# ------------------------------------------------------------ basic index

def _index_impl(x, index):
    return np.asarray(x)[index.numpy()]


def _scatter_add_impl(g, shape, index):
    out = np.zeros(shape, np.asarray(g).dtype)
    out[index.numpy()] += g
    return out


getitem_p = Primitive(
    "getitem", _index_impl, lambda x, index: (index.result_shape(x.shape), x.dtype),
    jvps=[lambda t, y, x, index: getitem(t, index)],
    vjps=[lambda g, y, x, index: scatter_add(g, x.shape, index)],
    fmt=lambda x, index: f"{x}[{index}]")

scatter_add_p = Primitive(
    "scatter_add", _scatter_add_impl, lambda g, shape, index: (shape, g.dtype),
    jvps=[lambda t, y, g, shape, index: scatter_add(t, shape, index)],
    vjps=[lambda h, y, g, shape, index: getitem(h, index)])

# ----------------------------------------------------------------- gather


def _check_indices(what, x_shape, indices):
    if len(indices) > len(x_shape):
        raise IndexError(f"{what}: {len(indices)} index arrays for an array of shape {x_shape}")
    shapes = {tuple(i.shape) for i in indices}
    if len(shapes) != 1:
        raise ValueError(f"{what}: index arrays must have one shape (broadcast them first), "
                         f"got {sorted(shapes)}")
    for i in indices:
        if not np.issubdtype(i.dtype, np.integer):
            raise IndexError(f"{what}: index arrays must be integers, got {i.dtype}")
    return shapes.pop()


def _take_shape(x, *indices):
    batch = _check_indices("take", x.shape, indices)
    return batch + tuple(x.shape[len(indices):]), x.dtype


def _add_at_impl(g, *indices, shape):
    out = np.zeros(shape, np.asarray(g).dtype)
    np.add.at(out, tuple(indices), g)
    return out


def _add_at_shape(g, *indices, shape):
    batch = _check_indices("add_at", shape, indices)
    if tuple(g.shape) != batch + tuple(shape[len(indices):]):
        raise ValueError(f"add_at: values of shape {g.shape} do not fit indices of shape "
                         f"{batch} into {shape}")
    return tuple(shape), g.dtype


def _make_take(k):
    return Primitive(
        "take", lambda x, *idx: np.asarray(x)[tuple(idx)], _take_shape,
        jvps=[lambda t, y, x, *idx: take(t, *idx)] + [None] * k,
        vjps=[lambda g, y, x, *idx: add_at(g, idx, shape_of(x))] + [None] * k,
        fmt=lambda x, *idx: f"{x}[{', '.join(idx)}]")


def _make_add_at(k):
    return Primitive(
        "add_at", _add_at_impl, _add_at_shape,
        jvps=[lambda t, y, g, *idx, shape: add_at(t, idx, shape)] + [None] * k,
        vjps=[lambda h, y, g, *idx, shape: take(h, *idx)] + [None] * k)


take_p = Variadic("take", _make_take)
add_at_p = Variadic("add_at", _make_add_at)

# ---------------------------------------------------------- concatenate


def _concatenate_shape(*xs, axis):
    first = xs[0].shape
    for x in xs:
        if len(x.shape) != len(first) or any(a != b for d, (a, b) in enumerate(zip(x.shape, first))
                                             if d != axis):
            raise ValueError(f"concatenate: shapes {[x.shape for x in xs]} differ off axis {axis}")
    size = sum(x.shape[axis] for x in xs)
    return first[:axis] + (size,) + first[axis + 1:], np.result_type(*(x.dtype for x in xs))


def _make_concatenate(n):
    def piece(k, y_shape, xs, axis):
        start = sum(shape_of(x)[axis] for x in xs[:k])
        return slab(y_shape, axis, start, start + shape_of(xs[k])[axis])

    def rules(k):
        return (lambda t, y, *xs, axis: scatter_add(t, shape_of(y), piece(k, shape_of(y), xs, axis)),
                lambda g, y, *xs, axis: getitem(g, piece(k, shape_of(y), xs, axis)))
    jvps, vjps = zip(*(rules(k) for k in range(n)))
    return Primitive("concatenate", lambda *xs, axis: np.concatenate(xs, axis),
                     _concatenate_shape, jvps=jvps, vjps=vjps)


concatenate_p = Variadic("concatenate", _make_concatenate)
