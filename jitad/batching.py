"""Batching: carry a block of k tangent (or cotangent) directions through one
sweep, as a leading axis of length k on every value that depends on them.

A Jacobian by forward mode is the tangent sweep applied to the identity: with
the block of all unit directions as a batched tangent, one kernel call builds
the whole Jacobian (and likewise in reverse with a block of cotangents).

Elementwise primitives batch by NumPy broadcasting once the batched operands
are lifted to the output's rank, so they need no rule; the structural ones
have a rule below. A primitive with neither is batched by unrolling over the
k directions, which is correct for any primitive, so adding a primitive to the
table still needs nothing here.
"""
from __future__ import annotations

from . import primitives as P
from .ir import Graph, Lit
from .primitives import BasicIndex


def _lift(x, batched, rank):
    """A batched operand as (k, 1, .., 1, *shape) of rank 1 + rank."""
    if not batched:
        return x
    shape = P.shape_of(x)
    return P.reshape(x, shape[:1] + (1,) * (rank + 1 - len(shape)) + shape[1:])


def _elementwise(prim, args, batched, k, out_rank, **params):
    return prim.bind(*(_lift(a, b, out_rank) for a, b in zip(args, batched)), **params)


def _all_batched(args, batched, k):
    return [a if b else P.broadcast_to(a, (k,) + P.shape_of(a)) for a, b in zip(args, batched)]


def _shifted(axes):
    return tuple(a + 1 for a in axes)


def _batched_index(index, k):
    return BasicIndex(((0, k, 1),) + index.entries)


def _dot(args, batched, k):
    a, b = args
    sa, sb = P.shape_of(a), P.shape_of(b)
    if batched[0] and not batched[1]:
        # (k, [m,] n) @ b: fold k into the rows
        flat = P.reshape(a, (sa[0] * sa[1], sa[2]) if len(sa) == 3 else sa)
        out = P.dot(flat, b)
        return P.reshape(out, (k,) + sa[1:-1] + sb[1:])
    if batched[1] and not batched[0]:
        if len(sb) == 2:  # a @ (k, n): (k, n) @ a^T
            return P.dot(b, P.transpose(a, (1, 0))) if len(sa) == 2 else P.dot(b, a)
        # a @ (k, n, p): fold k into the columns
        folded = P.reshape(P.transpose(b, (1, 0, 2)), (sb[1], k * sb[2]))
        out = P.reshape(P.dot(a, folded), sa[:-1] + (k, sb[2]))
        return P.transpose(out, (len(sa) - 1,) + tuple(range(len(sa) - 1)) + (len(sa),))
    return None  # both batched: unrolled


RULES = {
    "broadcast_in_dim": lambda args, batched, k, shape, dims: P.broadcast_in_dim(
        args[0], (k,) + shape, (0,) + _shifted(dims)),
    "reduce_sum": lambda args, batched, k, axes: P.reduce_sum(args[0], _shifted(axes)),
    "reduce_max": lambda args, batched, k, axes: P.reduce_max(args[0], _shifted(axes)),
    "reshape": lambda args, batched, k, shape: P.reshape(args[0], (k,) + shape),
    "transpose": lambda args, batched, k, perm: P.transpose(args[0], (0,) + _shifted(perm)),
    "getitem": lambda args, batched, k, index: P.getitem(args[0], _batched_index(index, k)),
    "scatter_add": lambda args, batched, k, shape, index: P.scatter_add(
        args[0], (k,) + shape, _batched_index(index, k)),
    "dot": lambda args, batched, k: _dot(args, batched, k),
}


def _unrolled(prim, args, batched, k, params):
    """Apply the primitive to each direction and scatter the results into the
    batch: correct for any primitive."""
    out = None
    for i in range(k):
        row = [P.getitem(a, BasicIndex.normalise((i,), P.shape_of(a))) if b else a
               for a, b in zip(args, batched)]
        y = prim.bind(*row, **params)
        shape = P.shape_of(y)
        placed = P.scatter_add(y, (k,) + shape, BasicIndex.normalise((i,), (k,) + shape))
        out = placed if out is None else P.add(out, placed)
    return out


def apply_batched(prim, args, batched, k, params):
    """The primitive on operands of which ``batched`` ones carry the leading
    k axis; the result carries it."""
    if prim.elementwise and prim.name not in RULES:
        out_rank = len(prim.abstract_eval(*(_unbatched_aval(a, b) for a, b in zip(args, batched)),
                                          **params)[0][0])
        return _elementwise(prim, args, batched, k, out_rank, **params)
    rule = RULES.get(prim.name)
    out = rule(args, batched, k, **params) if rule else None
    return out if out is not None else _unrolled(prim, args, batched, k, params)


class _Aval:
    """Shape and dtype of one direction of an operand (for shape rules)."""

    def __init__(self, shape, dtype, weak=False):
        self.shape, self.dtype, self.weak = tuple(shape), dtype, weak
        self.ndim = len(self.shape)
        self.size = 1
        for n in self.shape:
            self.size *= n


def _unbatched_aval(a, batched):
    if isinstance(a, (int, float, bool)):
        return Lit.of(a)
    shape = P.shape_of(a)
    return _Aval(shape[1:] if batched else shape, P.dtype_of(a))


def batch_sweep(graph: Graph, inputs, batched_inputs: set, k: int) -> tuple[list, list]:
    """Re-emit ``graph`` with the inputs at positions ``batched_inputs``
    carrying a leading axis of k. Returns (outputs, batched flags)."""
    env = {}
    for i, (v, x) in enumerate(zip(graph.inputs, inputs)):
        env[v] = (x, i in batched_inputs)

    def read(a):
        return (a.val, False) if isinstance(a, Lit) else env[a]

    for op in graph.ops:
        args, flags = zip(*map(read, op.inputs)) if op.inputs else ((), ())
        if any(flags):
            out = apply_batched(op.primitive, list(args), list(flags), k, op.params)
        else:
            out = op.primitive.bind(*args, **op.params)
        for v in op.outputs:
            env[v] = (out, any(flags))
    results = [read(o) for o in graph.outputs]
    return [r[0] for r in results], [r[1] for r in results]
