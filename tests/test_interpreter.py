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


SLOPE = 1.0001
AROUND_THRESHOLD = range(INTERPRET_ABOVE - 3, INTERPRET_ABOVE + 4)


def _scaled(n):
    """x <- x * SLOPE, n times: an n-op graph whose derivative is a constant."""
    def f(x):
        for _ in range(n):
            x = x * SLOPE
        return x
    return f


def _lowered(f, args, sweep):
    graph = sweep(transforms.simplify(trace(f, args)[0]))
    return graph, lower(graph)


@pytest.mark.parametrize("n", AROUND_THRESHOLD)
def test_a_constant_derivative_at_every_size_around_the_threshold(n):
    """The gradient is a literal output, numbered after every op's slot: at
    301 ops it once indexed past the value buffer (IndexError in encode)."""
    graph, kernel = _lowered(_scaled(n), (0.3,), lambda g: transforms.vjp_graph(g, [0], seed=1.0))
    assert len(graph.ops) == n
    assert isinstance(kernel, InterpretedKernel) == (n > INTERPRET_ABOVE)
    value, slope = kernel(0.3)
    assert value == pytest.approx(0.3 * SLOPE ** n, rel=1e-13)
    assert slope == pytest.approx(SLOPE ** n, rel=1e-13)


def _mixed(m, pad):
    """Literal outputs (a constant, a zero gradient) between outputs the ops
    compute, over an m-op chain; ``pad`` extra ops on y adjust the size."""
    def f(x, y, unused):
        x = _scaled(m)(x)
        for _ in range(pad):
            y = y + 0.0625
        return x, np.sin(y) * x, 2.0, x + 1.5
    return f


def _of_size(size, sweep):
    """The swept graph of ``_mixed`` with exactly ``size`` ops, and its (m, pad)."""
    def swept(m, pad):
        return sweep(transforms.simplify(trace(_mixed(m, pad), (0.3, 0.7, 0.1))[0]))
    per_op = len(swept(11, 0).ops) - len(swept(10, 0).ops)
    m = (size - len(swept(0, 0).ops)) // per_op
    pad = size - len(swept(m, 0).ops)
    graph = swept(m, pad)
    assert len(graph.ops) == size
    return graph, m, pad


@pytest.mark.parametrize("size", AROUND_THRESHOLD)
def test_constant_and_varying_outputs_mixed_around_the_threshold(size):
    """Both sweeps, each graph at exactly ``size`` ops, against the closed form."""
    args = (0.3, 0.7, 0.1)
    graph, m, pad = _of_size(size, lambda g: transforms.vjp_graph(g, [0, 1, 2], seed=1.0))
    kernel = lower(graph)
    assert isinstance(kernel, InterpretedKernel) == (size > INTERPRET_ABOVE)
    scale, y = SLOPE ** m, 0.7 + 0.0625 * pad
    value = (0.3 * scale, np.sin(y) * 0.3 * scale, 2.0, 0.3 * scale + 1.5)
    got = kernel(*args)
    np.testing.assert_allclose(got[:4], value, rtol=1e-13)
    # seed 1.0 on every output: the gradient of their sum
    np.testing.assert_allclose(got[4:], [scale * (1.0 + np.sin(y) + 1.0),
                                         np.cos(y) * 0.3 * scale, 0.0], rtol=1e-13)

    graph, m, pad = _of_size(size, lambda g: transforms.jvp_graph(g, [0, 1, 2]))
    kernel = lower(graph)
    assert isinstance(kernel, InterpretedKernel) == (size > INTERPRET_ABOVE)
    scale, y = SLOPE ** m, 0.7 + 0.0625 * pad
    got = kernel(*args, 1.0, 0.0, 0.0)  # the tangent along x
    np.testing.assert_allclose(got[:4], (0.3 * scale, np.sin(y) * 0.3 * scale, 2.0,
                                         0.3 * scale + 1.5), rtol=1e-13)
    np.testing.assert_allclose(got[4:], [scale, np.sin(y) * scale, 0.0, scale], rtol=1e-13)


@pytest.mark.parametrize("n", [INTERPRET_ABOVE - 1, INTERPRET_ABOVE + 1])
def test_jacrev_of_several_outputs_with_constant_entries(n):
    """End to end: a Jacobian whose entries are constants and zeros beside
    ones that vary, against the closed form."""
    f = _scaled(n)
    jac = jitad.jacrev(lambda x, y: (f(x), f(x) * y, np.cos(y), 4.0), argnums=(0, 1))
    scale = SLOPE ** n
    got = jac(0.3, 0.7)
    expected = ((scale, 0.0), (scale * 0.7, 0.3 * scale), (0.0, -np.sin(0.7)), (0.0, 0.0))
    np.testing.assert_allclose(np.array(got, float), np.array(expected), rtol=1e-12)


def rows_loop(xs):
    """A loop reading a row of a vector each step (a stacked input of the scan)."""
    s = 1.0
    for t in range(40):
        s = s * np.cos(xs[t]) + 0.5 * xs[t]
    return s


def guarded_loop(x):
    """A loop whose every step takes a branch (a guard in the scan's body)."""
    for _ in range(40):
        x = np.sin(x) * 1.5 if x > -0.9 else x + 1.0
    return x


@pytest.mark.parametrize("f, args, wrt", [
    (every_opcode, (0.3, -0.7), [0, 1]),
    (rows_loop, (np.linspace(-1.0, 1.0, 40),), [0]),
    (guarded_loop, (0.4,), [0])], ids=["every_opcode", "stacked_rows", "guarded"])
def test_loops_of_scalars_run_on_the_interpreter_as_on_numpy(f, args, wrt, monkeypatch):
    """While a kernel compiles, NumPy answers the first call; the steps of
    its scans of scalars (forward and adjoint) run on the op-table
    interpreter: the same values as the reference, bool carries, guards and
    stacked rows included."""
    from jitad import compiler
    from jitad.backend.interpreter import TableScan
    from jitad.dispatcher import _prepared
    monkeypatch.setattr(compiler, "TABLE_SCAN_ABOVE", 0)
    grad = transforms.vjp_graph(_prepared(trace(f, args)[0]), wrt, seed=1.0)
    stand_ins = [op for op in compiler._with_table_scans(grad).ops
                 if isinstance(op.primitive, TableScan)]
    assert len(stand_ins) >= 2  # the forward loop and the adjoint's reverse loop
    for got, expected in zip(compiler.interpreted(grad)(*args), evaluate(grad, *args)):
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-300)
        assert np.asarray(got).dtype == np.asarray(expected).dtype


def test_a_guard_failing_in_a_step_of_an_interpreted_loop():
    from jitad import compiler
    from jitad.dispatcher import _prepared
    graph = _prepared(trace(guarded_loop, (0.4,))[0])
    assert compiler._with_table_scans(graph) is not graph or \
        not any(op.primitive.name == "scan" for op in graph.ops)
    with pytest.raises(GuardFailure):
        compiler.interpreted(graph)(-3.0)
    with pytest.raises(GuardFailure):
        evaluate(graph, -3.0)
