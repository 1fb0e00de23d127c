"""The NumPy interpreter of a graph: the oracle the compiled kernels are
tested against (convention 14). It calls each primitive's ``impl`` directly,
so it shares no code with tracing or code generation.

>>> from jitad import trace
>>> evaluate(trace(lambda x: x * 2.0, 1.0), 3.0)
[np.float64(6.0)]
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Lit


def evaluate(graph: Graph, *args) -> list:
    env = dict(zip(graph.inputs, args))

    def read(a):
        return a.val if isinstance(a, Lit) else env[a]

    with np.errstate(all="ignore"):
        for op in graph.ops:
            out = op.primitive.impl(*map(read, op.inputs), **op.params)
            for v in op.outputs:
                env[v] = np.asarray(out, v.dtype)[()]
    return [read(o) for o in graph.outputs]
