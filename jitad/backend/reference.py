"""The NumPy interpreter of a graph: the oracle the compiled kernels are
tested against (convention 14). It calls each primitive's ``impl`` directly,
so it shares no code with tracing or code generation.

>>> from jitad import trace
>>> evaluate(trace(lambda x: x * 2.0, 1.0), 3.0)
[np.float64(6.0)]
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, reader


def evaluate_ops(ops, env: dict) -> dict:
    """``env`` extended with the value of every op's output (Var -> value)."""
    env = dict(env)
    read = reader(env)
    with np.errstate(all="ignore"):
        for op in ops:
            out = op.primitive.impl(*map(read, op.inputs), **op.params)
            for v, o in zip(op.outputs, out if op.primitive.multiple_results else [out]):
                # a NumPy scalar of the right type already is its value (most
                # ops of scalar code): asarray would take 0.3 us more
                # (a Var's dtype may also be a scalar type, as np.float64)
                env[v] = o if type(o) is getattr(v.dtype, "type", None) else \
                    np.asarray(o, v.dtype)[()]
    return env


def evaluate(graph: Graph, *args) -> list:
    read = reader(evaluate_ops(graph.ops, dict(zip(graph.inputs, args))))
    return [read(o) for o in graph.outputs]
