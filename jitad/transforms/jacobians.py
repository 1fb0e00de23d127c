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


def jacfwd_graph(graph: Graph, wrt) -> Graph:
    """Outputs: for each graph output o and wrt input i, d o / d i with shape
    o.shape + i.shape, from ONE batched tangent sweep over all unit directions."""
    tangent_graph = jvp_graph(graph, wrt)
    n = len(graph.inputs)
    wrt_avals = [graph.inputs[i] for i in wrt]
    with Builder(concrete=False) as builder:
        primals = new_inputs(builder, graph.inputs)
        directions, total = _unit_blocks(wrt_avals)
        outs, flags = batch_sweep(tangent_graph, primals + directions,
                                  set(range(n, n + len(wrt))), total)
        jac = []
        for o, dot, batched in zip(graph.outputs, outs[len(graph.outputs):],
                                   flags[len(graph.outputs):]):
            if not batched:
                dot = P.broadcast_to(dot, (total,) + o.shape)
            jac.extend(_split_columns(dot, wrt_avals, o.shape))
    return simplify(builder.graph(jac))


def jacrev_graph(graph: Graph, wrt) -> Graph:
    """The same Jacobian blocks (output-major) from ONE batched adjoint sweep
    over all unit cotangents."""
    adjoint_graph = vjp_graph(graph, wrt)
    n = len(graph.inputs)
    wrt_avals = [graph.inputs[i] for i in wrt]
    outputs = [o if isinstance(o, Var) else Var(o.shape, o.dtype) for o in graph.outputs]
    with Builder(concrete=False) as builder:
        primals = new_inputs(builder, graph.inputs)
        cotangents, total = _unit_blocks(outputs)
        outs, flags = batch_sweep(adjoint_graph, primals + cotangents,
                                  set(range(n, n + len(outputs))), total)
        bars = []
        for bar, batched, a in zip(outs[len(graph.outputs):], flags[len(graph.outputs):],
                                   wrt_avals):
            bars.append(bar if batched else P.broadcast_to(bar, (total,) + a.shape))
        jac = []
        for o, rows in zip(outputs, _unit_row_ranges(outputs)):
            for bar, a in zip(bars, wrt_avals):
                block = P.getitem(bar, P.BasicIndex.normalise((rows,), P.shape_of(bar)))
                jac.append(P.reshape(block, o.shape + a.shape))
    return simplify(builder.graph(jac))


def _unit_row_ranges(avals):
    offset = 0
    for a in avals:
        yield slice(offset, offset + a.size)
        offset += a.size
