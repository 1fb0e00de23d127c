"""``jitad.vmap``: a function of one example applied to a batch, as one kernel.

``vmap(f, in_axes, out_axes)(*args)`` traces ``f`` once on one example (the
first of the batch, so value-dependent Python sees real numbers), and the
batching rules of every primitive carry the batch axis through that trace
(``transforms.batch_sweep``): the result is one graph with the batch loop
inside its fused loops and BLAS calls, not a Python loop of calls. Called on
concrete arrays it is compiled and cached like ``jitad.jit``; inside another
transform it is part of that trace, so it composes with all of them:
``vmap(grad(loss), in_axes=(None, 0, 0))`` gives per-example gradients,
``jacfwd(vmap(f))`` and ``vmap(vmap(f))`` work.

JAX's semantics: ``in_axes`` is an int, None, or one entry per positional
argument (an int, None, or a tree of them matching that argument); ``None``
broadcasts the argument to every example. ``out_axes`` likewise for the
output. Python control flow that depends on a batched value is an error
(each example could take another path): write it with ``np.where``.
"""
from __future__ import annotations

import functools

import numpy as np

from . import primitives as P
from . import transforms, tree
from .api import jit
from .state import active_builders, is_tracer
from .tracer import is_static
from .tracer import trace as trace_graph


def vmap(f, in_axes=0, out_axes=0, parallel=None):
    """``f`` mapped over a leading (or ``in_axes``) batch axis of its arguments.

    >>> import numpy as np, jitad
    >>> loss = lambda w, x, y: (x @ w - y) ** 2
    >>> per_example = jitad.vmap(jitad.grad(loss), in_axes=(None, 0, 0))
    >>> per_example(np.ones(2), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 0.0]))
    array([[ 4.,  8.],
           [42., 56.]])
    """
    @functools.wraps(f)
    def batched(*args):
        return _batched_call(f, in_axes, out_axes, args)
    batched.__name__ = f"vmap({getattr(f, '__name__', 'f')})"
    batched.__qualname__ = f"vmap({getattr(f, '__qualname__', 'f')})"
    return jit(batched, parallel=parallel)


def _axes_per_leaf(in_axes, args) -> list:
    """One axis (int or None) per leaf of ``args``, from a prefix tree."""
    if isinstance(in_axes, (int, np.integer)) or in_axes is None:
        return [in_axes] * len(tree.flatten(args)[0])
    if not isinstance(in_axes, (tuple, list)) or len(in_axes) != len(args):
        raise ValueError(f"vmap: in_axes must be an int, None, or one entry per argument "
                         f"({len(args)}), got {in_axes!r}")
    axes = []
    for spec, arg in zip(in_axes, args):
        axes += _prefix(spec, arg)
    return axes


def _prefix(spec, value) -> list:
    if spec is None or isinstance(spec, (int, np.integer)):
        return [spec] * len(tree.flatten(value)[0])
    if isinstance(spec, dict) and isinstance(value, dict) and spec.keys() == value.keys():
        return [a for k in value for a in _prefix(spec[k], value[k])]
    if isinstance(spec, (tuple, list)) and isinstance(value, (tuple, list)) \
            and len(spec) == len(value):
        return [a for s, v in zip(spec, value) for a in _prefix(s, v)]
    raise ValueError(f"vmap: in_axes entry {spec!r} does not match an argument of structure "
                     f"{tree.flatten(value)[1]!r}")


def _batch_size(leaves, axes) -> int:
    sizes = {}
    for n, (leaf, axis) in enumerate(zip(leaves, axes)):
        if axis is None:
            continue
        shape = P.shape_of(leaf)
        if is_static(leaf) or not -len(shape) <= axis < len(shape):
            raise ValueError(f"vmap: in_axes={axis} for an argument leaf of shape "
                             f"{shape if not is_static(leaf) else type(leaf).__name__}")
        sizes.setdefault(shape[axis], n)
    if not sizes:
        raise ValueError("vmap: in_axes maps no argument: at least one must have a batch axis")
    if len(sizes) > 1:
        raise ValueError(f"vmap: the batched arguments disagree on the batch size: "
                         f"{sorted(sizes)}")
    (k,) = sizes
    if k == 0:
        raise ValueError("vmap over an empty batch (size 0)")
    return k


def _example(leaf):
    """The first example of a batched leaf (axis 0), as a concrete value."""
    value = leaf._val if is_tracer(leaf) else leaf
    return None if value is None else np.asarray(value)[0]


def _batched_call(f, in_axes, out_axes, args):
    leaves, treedef = tree.flatten(args)
    axes = _axes_per_leaf(in_axes, args)
    k = _batch_size(leaves, axes)
    moved = [leaf if axis is None else P.transpose(leaf, _to_front(axis, len(P.shape_of(leaf))))
             for leaf, axis in zip(leaves, axes)]
    examples = [leaf if axis is None else _example(m) for leaf, m, axis in zip(leaves, moved, axes)]
    graph, out_treedef, outside = trace_graph(f, tree.unflatten(treedef, examples), reads=True)
    graph = transforms.simplify(graph)
    enclosing = active_builders()[-1]
    for read, value in outside.static_reads:
        enclosing.read(read, value)
    reads = [enclosing.read(r, r.fetch()) for r in outside.reads]
    traced = [m for m, leaf in zip(moved, leaves) if not is_static(leaf)]
    flags = [axis is not None for axis, leaf in zip(axes, leaves) if not is_static(leaf)]
    inputs = traced + reads + list(outside.captured)
    batched_inputs = {i for i, b in enumerate(flags) if b}
    outs, out_flags = transforms.batch_sweep(graph, inputs, batched_inputs, k)
    out_axes_leaves = _out_axes_per_leaf(out_axes, out_treedef, len(outs))
    placed = [_place(o, b, axis, k) for o, b, axis in zip(outs, out_flags, out_axes_leaves)]
    return tree.unflatten(out_treedef, placed)


def _to_front(axis, ndim) -> tuple:
    axis = axis % ndim
    return (axis,) + tuple(d for d in range(ndim) if d != axis)


def _out_axes_per_leaf(out_axes, out_treedef, n) -> list:
    if out_axes is None or isinstance(out_axes, (int, np.integer)):
        return [out_axes] * n
    placeholder = tree.unflatten(out_treedef, [0] * n)
    return _prefix(out_axes, placeholder)


def _place(value, batched, axis, k):
    """An output with its batch axis at ``axis`` (broadcast if it did not
    depend on the batch); ``axis=None``: the output must not depend on it."""
    if axis is None:
        if batched:
            raise ValueError("vmap: out_axes=None for an output that depends on the batched "
                             "arguments")
        return value
    if not batched:
        value = P.broadcast_to(value, (k,) + P.shape_of(value))
    ndim = len(P.shape_of(value))
    axis = axis % ndim
    if axis == 0:
        return value
    order = list(range(1, ndim))
    order.insert(axis, 0)
    return P.transpose(value, tuple(order))
