"""Jacobians: one batched sweep over all unit directions (forward) or all
unit cotangents (reverse), so one kernel call builds the whole Jacobian.
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..ir import Graph, Var
from ..tracer import Builder
from .batching import batch_sweep
from .simplify import simplify
from .sweeps import jvp_graph, new_inputs, vjp_graph


def _unit_blocks(avals):
    """The identity, split into one block of directions per value: block j
    has shape (total size,) + avals[j].shape."""
    total = sum(a.size for a in avals)
    eye = np.eye(total)
    blocks, offset = [], 0
    for a in avals:
        blocks.append(eye[:, offset:offset + a.size].reshape((total,) + a.shape).astype(a.dtype))
        offset += a.size
    return blocks, total


def _split_columns(batched_value, avals, out_shape):
    """Cut a (total, *out_shape) batch of tangents, one row per input element,
    into one block per input aval, laid out as out_shape + in_shape (JAX's
    convention): the rows move last."""
    blocks, offset = [], 0
    for a in avals:
        rows = P.getitem(batched_value, P.BasicIndex.normalise(
            (slice(offset, offset + a.size),), P.shape_of(batched_value)))
        offset += a.size
        moved = P.transpose(rows, tuple(range(1, len(out_shape) + 1)) + (0,))
        blocks.append(P.reshape(moved, out_shape + a.shape))
    return blocks


def _batched_sweep(builder, graph, swept, unit_avals) -> list:
    """The derivative outputs of ``swept`` (the jvp or vjp graph of
    ``graph``) with the unit blocks of ``unit_avals`` as its derivative
    inputs, in one batched sweep; each output carries the batch axis."""
    n = len(graph.inputs)
    primals = new_inputs(builder, graph.inputs)
    units, total = _unit_blocks(unit_avals)
    outs, flags = batch_sweep(swept, primals + units, set(range(n, n + len(units))), total)
    k = len(graph.outputs)
    return [d if batched else P.broadcast_to(d, (total,) + P.shape_of(d))
            for d, batched in zip(outs[k:], flags[k:])]


def jacfwd_graph(graph: Graph, wrt) -> Graph:
    """Outputs: for each graph output o and wrt input i, d o / d i with shape
    o.shape + i.shape, from ONE batched tangent sweep over all unit directions."""
    wrt_avals = [graph.inputs[i] for i in wrt]
    with Builder(concrete=False) as builder:
        dots = _batched_sweep(builder, graph, jvp_graph(graph, wrt), wrt_avals)
        jac = [block for o, dot in zip(graph.outputs, dots)
               for block in _split_columns(dot, wrt_avals, o.shape)]
    return simplify(builder.graph(jac))


def jacrev_graph(graph: Graph, wrt) -> Graph:
    """The same Jacobian blocks (output-major) from ONE batched adjoint sweep
    over all unit cotangents."""
    wrt_avals = [graph.inputs[i] for i in wrt]
    outputs = [o if isinstance(o, Var) else Var(o.shape, o.dtype) for o in graph.outputs]
    with Builder(concrete=False) as builder:
        bars = _batched_sweep(builder, graph, vjp_graph(graph, wrt), outputs)
        jac = [P.reshape(P.getitem(bar, P.BasicIndex.normalise((rows,), P.shape_of(bar))),
                         o.shape + a.shape)
               for o, rows in zip(outputs, _unit_row_ranges(outputs))
               for bar, a in zip(bars, wrt_avals)]
    return simplify(builder.graph(jac))


def _unit_row_ranges(avals):
    offset = 0
    for a in avals:
        yield slice(offset, offset + a.size)
        offset += a.size
