"""Graph -> Python source -> numba kernel; and the NumPy reference interpreter."""

from ..ir import Graph
from .codegen import generate_with_modes, without_forwarding
from .sizes import has_family, kernel_for, other_modes
from .interpreter import InterpretedKernel, encode, interpretable


def lower(graph: Graph, parallel: bool = False, families=None):
    """A callable kernel for ``graph``: ``kernel(*inputs) -> tuple of outputs``.

    Long all-scalar graphs go to the op-array interpreter (no compilation, so
    a trace of any length is ready at once); everything else is generated
    source, fused and compiled by numba (``parallel``: large loops on every
    core); a source that differs from an earlier one of ``families`` (a
    dict a function's cache keeps) only in sizes reuses that family's
    size-generic kernel (``sizes.py``); where a loop's size crossed
    ``codegen.VECTOR_ABOVE``, the source is written again with the loop
    modes of an earlier family, and joins it if that makes it one.
    """
    graph = without_forwarding(graph)
    if interpretable(graph):
        return InterpretedKernel(encode(graph))
    source, consts, modes = generate_with_modes(graph, parallel)
    for wanted in other_modes(source, modes, families):
        candidate = generate_with_modes(graph, parallel, wanted)
        if has_family(candidate[0], families):
            source, consts, modes = candidate
            break
    return kernel_for(source, consts, families, modes)
