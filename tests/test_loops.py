"""Loops stay loops: ``jitad.loop`` and re-rolled Python loops against the
unrolled computation, in value and in every derivative mode; carried values
of every structure; a body that changes branch part-way is split."""
from __future__ import annotations

import numpy as np
import pytest

import jitad
from jitad import transforms
from jitad.backend.reference import evaluate
from jitad.dispatcher import _prepared
from jitad.reroll import reroll
from jitad.tracer import trace

P = np.array([2.0, 0.3, 0.7])


def oscillator(p, steps=60):
    """A damped oscillator by explicit Euler, a Python loop (re-rolled)."""
    x, v = 1.0, 0.0
    for _ in range(steps):
        x, v = x + 0.05 * v, v - 0.05 * (p[0] * x + p[1] * v) + 0.01 * p[2]
    return x ** 2 + v ** 2


def oscillator_loop(p, steps=60):
    """The same with jitad.loop."""
    def step(i, s):
        x, v = s
        return (x + 0.05 * v, v - 0.05 * (p[0] * x + p[1] * v) + 0.01 * p[2])
    x, v = jitad.loop(step, steps, (1.0, 0.0))
    return x ** 2 + v ** 2


def rnn(w, xs):
    """A vector carry, per-step rows xs[t], a matrix const."""
    h = np.zeros(3)
    for t in range(xs.shape[0]):
        h = np.tanh(w @ h + xs[t])
    return np.sum(h ** 2)


def trajectory(p):
    """Stacked per-step outputs (np.stack after the loop) and a time literal."""
    s, t, states = np.array([1.0, 0.5]), 0.0, []
    for _ in range(30):
        s = s + 0.1 * np.stack([s[1], -p[0] * s[0] + np.sin(t)])
        t = t + 0.1
        states.append(s)
    return np.sum(np.stack(states) ** 2)


W = np.random.default_rng(0).standard_normal((3, 3)) * 0.5
XS = np.random.default_rng(1).standard_normal((25, 3))


def _rolled_and_unrolled(f, args):
    """The unrolled trace, simplified, and the graph the transforms get (re-rolled,
    loop-invariant ops out of the loop, simplified)."""
    graph = trace(f, args)[0]
    return transforms.simplify(graph), _prepared(graph)


def test_loop_invariant_ops_run_once_before_the_loop():
    """Re-rolled before simplification, a step takes p[0], p[1], p[2] itself;
    those (and what is computed from them alone) move before the loop, and p
    is no longer the body's: its cotangent is accumulated once, not carried."""
    graph = _prepared(trace(oscillator, (P,))[0])
    (scan,) = [op for op in graph.ops if op.primitive.name == "scan"]
    body = scan.params["body"]
    assert not [op for op in body.ops if op.primitive.name == "getitem"]
    assert all(v.shape == () for v in body.inputs)
    assert sum(op.primitive.name == "getitem" for op in graph.ops) == 3
    assert reroll(graph) is graph  # nothing left to re-roll


@pytest.mark.parametrize("f, args", [(oscillator, (P,)), (rnn, (W, XS)), (trajectory, (P,))],
                         ids=["scalar_carry", "rnn_rows", "stacked_outputs"])
def test_rerolled_equals_unrolled_in_every_mode(f, args):
    unrolled, rolled = _rolled_and_unrolled(f, args)
    assert any(op.primitive.name == "scan" for op in rolled.ops)
    assert len(rolled.ops) < len(unrolled.ops) / 4
    np.testing.assert_allclose(evaluate(rolled, *args), evaluate(unrolled, *args), rtol=1e-14)
    wrt = [0]
    for make in (lambda g: transforms.vjp_graph(g, wrt, seed=1.0),
                 lambda g: transforms.jvp_graph(g, wrt),
                 lambda g: transforms.jacfwd_graph(transforms.vjp_graph(g, wrt, seed=1.0), wrt),
                 lambda g: transforms.jacrev_graph(g, wrt)):
        extra = () if make(unrolled).inputs == unrolled.inputs else (np.ones_like(args[0]),)
        a = evaluate(make(rolled), *args, *extra)
        b = evaluate(make(unrolled), *args, *extra)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("f", [oscillator, oscillator_loop])
def test_compiled_gradient_and_hessian_are_exact(f):
    np.testing.assert_allclose(jitad.grad(f)(P), jitad.fd.grad(f, P, method="complex"),
                               rtol=1e-12)
    np.testing.assert_allclose(jitad.hessian(f)(P),
                               jitad.fd.jacobian(jitad.grad(f), P, method="central"),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(jitad.jacfwd(f)(P), jitad.jacrev(f)(P), rtol=1e-12)


def test_loop_with_structured_carries_and_rows():
    def f(w, xs):
        def step(i, carry):
            h, stats = carry
            h = np.tanh(w @ h + xs[i])
            return h, {"sum": stats["sum"] + np.sum(h), "max": np.maximum(stats["max"], h)}
        h, stats = jitad.loop(step, xs.shape[0],
                              (np.zeros(3), {"sum": 0.0, "max": np.full(3, -1.0)}))
        return np.sum(h) + stats["sum"] + np.sum(stats["max"] ** 2)

    def python(w, xs):
        h, s, m = np.zeros(3), 0.0, np.full(3, -1.0)
        for t in range(xs.shape[0]):
            h = np.tanh(w @ h + xs[t])
            s, m = s + np.sum(h), np.maximum(m, h)
        return np.sum(h) + s + np.sum(m ** 2)
    assert jitad.jit(f)(W, XS) == pytest.approx(python(W, XS), rel=1e-13)
    np.testing.assert_allclose(jitad.grad(f)(W, XS), jitad.fd.grad(python, W, XS), rtol=1e-6,
                               atol=1e-9)


def test_nested_loops():
    def f(a):
        def outer(i, x):
            return jitad.loop(lambda j, y: np.sin(y) * a + 0.1, 5, x) * 0.9
        return jitad.loop(outer, 4, 0.3)

    def python(a):
        x = 0.3
        for _ in range(4):
            for _ in range(5):
                x = np.sin(x) * a + 0.1
            x = x * 0.9
        return x
    assert jitad.jit(f)(0.8) == pytest.approx(python(0.8), rel=1e-14)
    assert jitad.grad(f)(0.8) == pytest.approx(jitad.fd.grad(python, 0.8, method="complex"),
                                               rel=1e-12)


def test_a_loop_that_changes_branch_part_way_is_split():
    def f(x):
        for i in range(120):
            x = np.sin(x) * 0.9 if i < 60 else np.cos(x) * 0.9
        return x
    graph = transforms.simplify(trace(f, (0.4,))[0])
    rolled = reroll(graph)
    assert [op.primitive.name for op in rolled.ops].count("scan") == 2
    assert evaluate(rolled, 0.4) == pytest.approx(f(0.4), rel=1e-14)


def test_a_value_dependent_branch_in_a_loop_body_is_refused():
    def f(x):
        return jitad.loop(lambda i, c: c * 2.0 if c < 1.0 else c, 5, x)
    with pytest.raises(TypeError, match="np.where"):
        jitad.jit(f)(0.1)


def test_the_kernel_shows_the_loop_as_a_loop():
    g = jitad.grad(oscillator)
    g(P)
    source = next(iter(g.cache.entries.values()))[0].kernel.source
    assert "for i_" in source and "@_body_jit" in source and source.count("\n") < 400


def test_the_gradient_runs_the_forward_loop_once():
    """The adjoint's forward loop (the primal body, also stacking each
    step's carry) computes the value too: the value's own loop is merged
    into it, leaving one loop forward and one backward."""
    for f in (oscillator, oscillator_loop):
        g = jitad.value_and_grad(f)
        value, grad = g(P)
        assert value == pytest.approx(f(P), rel=1e-14)
        source = next(iter(g.cache.entries.values()))[0].kernel.source
        kernel = source[source.index("def kernel("):]
        assert kernel.count("for i_") == 2, source
        np.testing.assert_allclose(grad, jitad.grad(oscillator_loop)(P), rtol=1e-14)


def covariance_filter(theta, ys):
    """A Kalman-like recursion: products of carries with a const and its
    transpose (a matrix the loop body gets as it is stored, F-contiguous)."""
    A = theta.reshape(2, 2)
    P, m, total = np.eye(2), np.array([1.0, -0.5]), 0.0
    for t in range(ys.shape[0]):
        P = A @ P @ A.T + 0.1 * np.eye(2)
        m = A @ m
        total = total + np.sum((ys[t] - m) ** 2) + np.sum(P * P)
    return total


def test_products_in_a_loop_body_with_a_transposed_const():
    theta = np.array([0.9, 0.1, -0.2, 0.8])
    ys = np.random.default_rng(4).standard_normal((12, 2))
    graph = _prepared(trace(covariance_filter, (theta, ys))[0])
    assert any(op.primitive.name == "scan" for op in graph.ops)
    g = jitad.grad(covariance_filter)
    g(theta, ys)
    assert g.cache.wait(timeout=300)
    np.testing.assert_allclose(g(theta, ys), jitad.fd.grad(covariance_filter, theta, ys,
                                                             method="complex"), rtol=1e-13)
