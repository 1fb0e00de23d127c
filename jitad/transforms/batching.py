"""Batching: carry a block of k values (tangent directions, cotangents, or
examples) through one sweep, as a leading axis of length k on every value
that depends on them.

A Jacobian by forward mode is the tangent sweep applied to the identity: with
the block of all unit directions as a batched tangent, one kernel call builds
the whole Jacobian (and likewise in reverse with a block of cotangents).
Every primitive says in its block how it carries the batch axis (``batch``);
values that do not depend on the batched inputs are computed once, unbatched.
"""
from __future__ import annotations

from .. import tree
from ..errors import TraceError
from ..ir import Graph, reader
from ..primitives import dtype_of, shape_of
from ..tracer import Builder


def batch_sweep(graph: Graph, inputs, batched_inputs: set, k: int) -> tuple[list, list]:
    """Re-emit ``graph`` with the inputs at positions ``batched_inputs``
    carrying a leading axis of k. Returns (outputs, batched flags)."""
    env = dict(zip(graph.inputs, inputs))
    batched = {v for i, v in enumerate(graph.inputs) if i in batched_inputs}
    read = reader(env)
    for op in graph.ops:
        args = list(map(read, op.inputs))
        flags = [a in batched for a in op.inputs]
        if any(flags):
            out = op.primitive.batch(op.primitive, args, flags, k, **op.params)
            batched.update(op.outputs)  # a multi-output rule batches every output
        else:
            out = op.primitive.bind(*args, **op.params)
        env.update(zip(op.outputs, out if op.primitive.multiple_results else [out]))
    return [read(o) for o in graph.outputs], [o in batched for o in graph.outputs]


def batch_function(fn, args, flags, k: int) -> tuple:
    """``fn`` applied to each example of ``args`` (``flags[i]``: ``args[i]``
    carries a leading axis of k), as one batched computation: fn is traced
    once on one example's shapes and the trace batched by ``batch_sweep``.
    Returns (outputs, their batched flags), each with fn's output structure;
    None outputs stay None.

    >>> import numpy as np
    >>> outs, flags = batch_function(lambda a, b: (a * b,), [np.ones((3, 2)), np.arange(2.0)],
    ...                              [True, False], 3)
    >>> flags
    (True,)
    """
    with Builder(concrete=False) as builder:
        examples = []
        for a, f in zip(args, flags):
            shape = shape_of(a)
            examples.append(builder.new_input(shape[1:] if f else shape, dtype_of(a)))
        out = fn(*examples)
    leaves, treedef = tree.flatten(out)
    present = [leaf for leaf in leaves if leaf is not None]
    graph = builder.graph(present)
    if builder.captured:
        raise TraceError("a function batched by jitad closes over a traced value of the "
                         "enclosing computation; pass that value as an argument instead")
    values, batched = batch_sweep(graph, list(args), {i for i, f in enumerate(flags) if f}, k)
    values, batched = iter(values), iter(batched)
    outs = [None if leaf is None else next(values) for leaf in leaves]
    out_flags = [False if leaf is None else next(batched) for leaf in leaves]
    return tree.unflatten(treedef, outs), tree.unflatten(treedef, out_flags)
