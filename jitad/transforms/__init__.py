"""Graph -> Graph transforms, each testable without tracing user code or
compiling: the adjoint and tangent sweeps (``sweeps``), batching
(``batching``), Jacobians by batched sweeps (``jacobians``), and the one
rewrite pass (``simplify``).

>>> import numpy as np
>>> from jitad.tracer import trace
>>> print(vjp_graph(trace(lambda x: np.sin(x), (1.0,))[0], [0], seed=1.0))
v_0 = x1
v_1 = sin(v_0)
v_2 = cos(v_0)
y1 = v_1
y2 = v_2
"""
from .batching import batch_function, batch_sweep
from .jacobians import jacfwd_graph, jacrev_graph
from .simplify import cse, dce, rewrite, simplify
from .sweeps import (active_vars, floats_taken_from, inline, is_float, jvp_graph, jvp_sweep,
                     vjp_graph, vjp_sweep)

__all__ = ["batch_function", "batch_sweep", "jacfwd_graph", "jacrev_graph", "cse", "dce",
           "rewrite", "simplify", "active_vars", "floats_taken_from", "inline", "is_float", "jvp_graph", "jvp_sweep",
           "vjp_graph", "vjp_sweep"]
