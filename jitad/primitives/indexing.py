"""Indexing and assembling: basic indexing and its scatter, gathers by
integer arrays and their scatter-add, concatenation.

A gather (``take``) reads ``x[i0[b], i1[b], ..., rest]``; its adjoint
(``add_at``, NumPy's ``np.add.at``) *adds* each cotangent element into place,
so an index that appears twice receives the sum of both cotangents. The index
arrays may be traced integer inputs (labels); they get no derivative.
"""
from __future__ import annotations

import numpy as np

from .basic import broadcast_to, transpose
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


def _batched_index(index, k) -> BasicIndex:
    return BasicIndex(((0, k, 1),) + index.entries)


getitem_p = Primitive(
    "getitem", _index_impl, lambda x, index: (index.result_shape(x.shape), x.dtype),
    kind="structural", jvps=[lambda t, y, x, index: getitem(t, index)],
    vjps=[lambda g, y, x, index: scatter_add(g, x.shape, index)],
    batch=lambda prim, args, batched, k, index: getitem(args[0], _batched_index(index, k)),
    fmt=lambda x, index: f"{x}[{index}]")

# zeros(shape) with g written at a basic index: the adjoint of getitem
scatter_add_p = Primitive(
    "scatter_add", _scatter_add_impl, lambda g, shape, index: (shape, g.dtype),
    kind="structural", jvps=[lambda t, y, g, shape, index: scatter_add(t, shape, index)],
    vjps=[lambda h, y, g, shape, index: getitem(h, index)],
    batch=lambda prim, args, batched, k, shape, index: scatter_add(
        args[0], (k,) + shape, _batched_index(index, k)))

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


def _batch_last(x, n):
    """(k, a_1..a_n, *rest) -> (a_1..a_n, k, *rest): the batch axis after the
    n indexed axes, so the gather indexes the same axes as unbatched."""
    rank = len(shape_of(x))
    return transpose(x, tuple(range(1, n + 1)) + (0,) + tuple(range(n + 1, rank)))


def _batch_first(x, n):
    """(b_1..b_n, k, *rest) -> (k, b_1..b_n, *rest)."""
    rank = len(shape_of(x))
    return transpose(x, (n,) + tuple(range(n)) + tuple(range(n + 1, rank)))


def _per_example(indices, flags, k):
    """Index arrays of which some are batched (``flags``), as arrays of shape
    (k, *batch) led by the arange that picks each example's own row."""
    batch = np.broadcast_shapes(*(shape_of(i)[1:] if b else shape_of(i)
                                  for i, b in zip(indices, flags)))
    rows = np.arange(k).reshape((k,) + (1,) * len(batch))
    # right-aligned broadcasting puts a batched index's k on the new axis 0
    return [np.broadcast_to(rows, (k,) + batch).copy()] + [broadcast_to(i, (k,) + batch)
                                                            for i in indices]


def _take_batch(prim, args, batched, k):
    """A batched operand with shared indices gathers its transposed view (no
    index arrays grow); per-example indices gather with a leading arange."""
    x, *idx = args
    if not any(batched[1:]):
        out = take(_batch_last(x, len(idx)), *idx)
        return _batch_first(out, len(shape_of(idx[0])))
    x = x if batched[0] else broadcast_to(x, (k,) + shape_of(x))
    return take(x, *_per_example(idx, batched[1:], k))


def _add_at_batch(prim, args, batched, k, shape):
    g, *idx = args
    if not any(batched[1:]):
        n = len(idx)
        out = add_at(_batch_last(g, len(shape_of(idx[0]))), idx, shape[:n] + (k,) + shape[n:])
        return _batch_first(out, n)
    g = g if batched[0] else broadcast_to(g, (k,) + shape_of(g))
    return add_at(g, _per_example(idx, batched[1:], k), (k,) + shape)


def _make_take(k):
    return Primitive(
        "take", lambda x, *idx: np.asarray(x)[tuple(idx)], _take_shape, kind="structural",
        jvps=[lambda t, y, x, *idx: take(t, *idx)] + [None] * k,
        vjps=[lambda g, y, x, *idx: add_at(g, idx, shape_of(x))] + [None] * k,
        batch=_take_batch, fmt=lambda x, *idx: f"{x}[{', '.join(idx)}]")


def _make_add_at(k):
    return Primitive(
        "add_at", _add_at_impl, _add_at_shape, kind="structural",
        jvps=[lambda t, y, g, *idx, shape: add_at(t, idx, shape)] + [None] * k,
        vjps=[lambda h, y, g, *idx, shape: take(h, *idx)] + [None] * k, batch=_add_at_batch)


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
                     _concatenate_shape, kind="structural", jvps=jvps, vjps=vjps,
                     batch=_concatenate_batch)


def _concatenate_batch(prim, args, batched, k, axis):
    xs = [x if b else broadcast_to(x, (k,) + shape_of(x)) for x, b in zip(args, batched)]
    return prim.bind(*xs, axis=axis + 1)


concatenate_p = Variadic("concatenate", _make_concatenate)
