"""Graph -> Python source -> numba kernel; and the NumPy reference interpreter."""

from ..ir import Graph
from .codegen import generate, without_forwarding
from .sizes import kernel_for
from .interpreter import InterpretedKernel, encode, interpretable


def lower(graph: Graph, parallel: bool = False, families=None):
    """A callable kernel for ``graph``: ``kernel(*inputs) -> tuple of outputs``.

    Long all-scalar graphs go to the op-array interpreter (no compilation, so
    a trace of any length is ready at once); everything else is generated
    source, fused and compiled by numba (``parallel``: large loops on every
    core); a source that differs from an earlier one of ``families`` (a
    dict a function's cache keeps) only in sizes reuses that family's
    size-generic kernel (``sizes.py``).
    """
    graph = without_forwarding(graph)
    if interpretable(graph):
        return InterpretedKernel(encode(graph))
    source, consts = generate(graph, parallel)
    return kernel_for(source, consts, families)
