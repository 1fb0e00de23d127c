"""Graph -> Python source -> numba kernel; and the NumPy reference interpreter."""

from ..ir import Graph
from .codegen import generate, without_forwarding
from .compile import compile_kernel
from .interpreter import InterpretedKernel, encode, interpretable


def lower(graph: Graph, parallel: bool = False):
    """A callable kernel for ``graph``: ``kernel(*inputs) -> tuple of outputs``.

    Long all-scalar graphs go to the op-array interpreter (no compilation, so
    a trace of any length is ready at once); everything else is generated
    source, fused and compiled by numba (``parallel``: large loops on every
    core).
    """
    graph = without_forwarding(graph)
    if interpretable(graph):
        return InterpretedKernel(encode(graph))
    source, consts = generate(graph, parallel)
    return compile_kernel(source, consts)
