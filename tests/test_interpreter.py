"""The op-array interpreter for long scalar traces, against the reference
interpreter on the same graphs, and its place in the dispatcher."""
from __future__ import annotations

import numpy as np
import pytest

import jitad
from jitad import transforms
from jitad.backend import lower
from jitad.backend.interpreter import INTERPRET_ABOVE, InterpretedKernel, interpretable
from jitad.backend.reference import evaluate
from jitad.errors import GuardFailure
from jitad.tracer import trace

REPEATS = INTERPRET_ABOVE // 20 + 1  # enough to exceed the threshold


def every_opcode(x, y):
    """Each scalar primitive the interpreter knows, repeated past the threshold."""
    for _ in range(REPEATS):
        a = np.tanh(np.sin(x) * np.cos(y) + np.tan(x / 4.0)) - np.exp(-abs(y))
        b = np.sqrt(np.log(2.0 + x * x)) ** 1.5 + np.sign(y) * y ** 3
        c = np.where(a > b, np.maximum(a, 0.1), np.minimum(b, -0.1))
        d = np.where((a >= b) == (x <= y), 1.0, 0.0) + ((a != b) + 0.0)
        x, y = 0.5 * c + 0.01 * d + 0.4 * x, 0.9 * y - 0.1 * (x < 0)
    return x + y


@pytest.fixture(scope="module")
def grad_graph():
    primal = transforms.simplify(trace(every_opcode, (0.3, -0.7))[0])
    return transforms.vjp_graph(primal, [0, 1], seed=1.0)


def test_long_scalar_graphs_are_interpreted(grad_graph):
    assert interpretable(grad_graph)
    assert isinstance(lower(grad_graph), InterpretedKernel)
    short = trace(lambda x: np.sin(x) * 2.0, (0.5,))[0]
    assert not interpretable(short)
    arrays = trace(lambda x: np.sum(np.sin(x)), (np.ones(3),))[0]
    assert not interpretable(arrays)


@pytest.mark.parametrize("x, y", [(0.3, -0.7), (1.2, 0.4), (-2.0, 3.0)])
def test_interpreter_matches_reference(grad_graph, x, y):
    kernel = lower(grad_graph)
    try:
        expected = evaluate(grad_graph, x, y)
    except GuardFailure:
        with pytest.raises(GuardFailure):
            kernel(x, y)
        return
    got = kernel(x, y)
    np.testing.assert_allclose(np.array(got, float), np.array(expected, float),
                               rtol=1e-13, atol=1e-300)


def test_guard_failure_in_the_interpreter():
    def f(start):
        x = start
        for _ in range(INTERPRET_ABOVE):
            x = np.sin(x) + 0.5
        return x * 2.0 if start > 0 else x * 3.0
    graph = transforms.simplify(trace(f, (0.3,))[0])
    kernel = lower(graph)
    assert isinstance(kernel, InterpretedKernel)
    assert kernel(0.7)[0] == pytest.approx(f(0.7), rel=1e-14)
    with pytest.raises(GuardFailure):
        kernel(-0.3)


def test_long_scalar_loop_gradient_end_to_end():
    """x <- sin(x)*1.01 + 0.1*x unrolled; against the chain rule in floats.
    End to end the unrolled steps are re-rolled into one ``scan`` (a compiled
    loop), so the interpreter is not needed; the lowering tests above cover it."""
    n = INTERPRET_ABOVE

    def f(x):
        for _ in range(n):
            x = np.sin(x) * 1.01 + 0.1 * x
        return x
    g = jitad.grad(f)
    for start in (0.3, 2.0):
        x, d = start, 1.0
        for _ in range(n):
            d *= 1.01 * np.cos(x) + 0.1
            x = np.sin(x) * 1.01 + 0.1 * x
        assert g(start) == pytest.approx(d, rel=1e-11)
    ((entry,),) = g.cache.entries.values()
    assert not isinstance(entry.kernel, InterpretedKernel)
    assert any(op.primitive.name == "scan" for op in entry.graph.ops)
