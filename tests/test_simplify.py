"""The rewrite pass (``jitad.transforms.simplify``) on the constants the
sweeps spread over arrays: an elementwise op of broadcast constants folds to
one broadcast, a broadcast scalar operand becomes the scalar, and a
chain-rule product by a finite nonzero constant is a plain product."""
from __future__ import annotations

import numpy as np
import pytest

import jitad
from jitad import primitives as P
from jitad import transforms
from jitad.ir import Lit, Var
from jitad.tracer import trace


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _hessian_graph(f, x):
    grad_graph = transforms.vjp_graph(transforms.simplify(trace(f, (x,))[0]), [0], seed=1.0)
    return transforms.jacfwd_graph(grad_graph, [0])


def _producers(graph):
    return {v: op for op in graph.ops for v in op.outputs}


def _is_constant(a, producers):
    op = producers.get(a) if type(a) is Var else None
    return type(a) is Lit or op is not None and op.primitive is P.broadcast_in_dim_p \
        and type(op.inputs[0]) is Lit


def test_the_rosenbrock_hessian_keeps_no_constant_arithmetic():
    graph = _hessian_graph(rosenbrock, np.linspace(-1.0, 1.0, 20))
    producers = _producers(graph)
    for op in graph.ops:
        if op.primitive.kind == "elementwise":
            assert not all(_is_constant(a, producers) for a in op.inputs), op
        if op.primitive is P.safe_mul_p:
            # its operands are run-time values or constant arrays (the seeds)
            assert all(type(a) is Var or a.shape for a in op.inputs), op
        if op.primitive.kind == "elementwise" and op.out.shape:
            assert not any(type(a) is Var and producers.get(a) is not None
                           and producers[a].primitive is P.broadcast_in_dim_p
                           and producers[a].inputs[0].shape == () for a in op.inputs), op


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_folded_constants_keep_values_and_dtypes(dtype):
    x = np.linspace(-1.0, 1.0, 7).astype(dtype)
    h = jitad.hessian(rosenbrock)(x)
    assert h.dtype == dtype
    # Rosenbrock's Hessian by hand (tridiagonal)
    x64 = x.astype(np.float64)
    n = len(x64)
    d = np.zeros(n)
    d[:-1] += 1200.0 * x64[:-1] ** 2 - 400.0 * x64[1:] + 2.0
    d[1:] += 200.0
    off = -400.0 * x64[:-1]
    by_hand = np.diag(d) + np.diag(off, 1) + np.diag(off, -1)
    tolerance = 1e-13 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(h, by_hand, rtol=tolerance, atol=tolerance * 1e3)


def test_a_product_by_a_nonzero_constant_is_plain_and_by_zero_stays_zero():
    """safe_mul(c, inf) for c != 0 is c * inf, as before; the chain rule's
    zero cotangent still wins over an infinite derivative."""
    def f(x):
        return np.sum(3.0 * np.sqrt(x))  # sqrt'(0) = inf
    g = jitad.grad(f)(np.array([0.0, 4.0]))
    np.testing.assert_array_equal(g, [np.inf, 0.75])

    def masked(x):
        return np.sum(np.where(x > 0, np.sqrt(np.abs(x)), 0.0 * x))
    np.testing.assert_array_equal(jitad.grad(masked)(np.array([0.0, 4.0])), [0.0, 0.25])


@pytest.mark.parametrize("f", [lambda x: np.sum(100.0 * x ** 3),
                               lambda x: np.sum((1.0 - x[:-1]) ** 2 * np.float32(3.0)),
                               lambda x: np.sum(np.exp(2.0 * x))])
def test_second_derivatives_of_float32_stay_float32(f):
    """A folded weak literal of dtype float32 (the seed 1.0 converted) used
    to come back as a float64 when a transform lifted its value again."""
    x = np.linspace(-1.0, 1.0, 6).astype(np.float32)
    assert jitad.hessian(f)(x).dtype == np.float32
    assert jitad.jacfwd(jitad.grad(f))(x).dtype == np.float32


def test_a_diagonal_matrix_product_is_a_scaling():
    """diag(u) @ b and b @ diag(u), diag(u) = safe_mul(I, u) as reverse
    mode's identity seed makes it, are u[:, None] * b and b * u."""
    from jitad.backend.reference import evaluate
    from jitad.ir import Graph, Op, validate
    n, m = 4, 3
    u, b, c, v = Var((n,), np.float64), Var((n, m), np.float64), Var((m, n), np.float64), \
        Var((n,), np.float64)
    d = Var((n, n), np.float64)
    eye = Lit(np.eye(n), (n, n), np.dtype(np.float64))
    outs = [Var(shape, np.float64) for shape in ((n, m), (m, n), (n,), (n,))]
    ops = [Op(P.safe_mul_p, (eye, u), (d,), {})]
    ops += [Op(P.dot_p, pair, (out,), {}) for pair, out in
            zip(((d, b), (c, d), (d, v), (v, d)), outs)]
    graph = Graph((u, b, c, v), tuple(ops), tuple(outs))
    simplified = transforms.simplify(graph)
    validate(simplified)
    assert not [op for op in simplified.ops if op.primitive is P.dot_p], simplified
    rng = np.random.default_rng(3)
    args = [rng.normal(size=a.shape) for a in (u, b, c, v)]
    D = np.diag(args[0])
    expected = [D @ args[1], args[2] @ D, D @ args[3], args[3] @ D]
    for got, want in zip(evaluate(simplified, *args), expected):
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_the_jacobian_of_a_tanh_layer_needs_one_matrix_product():
    rng = np.random.default_rng(4)
    x, W = rng.normal(size=50), rng.normal(size=(10, 50)) / 7
    f = lambda x, W: np.tanh(W @ x)  # noqa: E731
    graph = transforms.jacrev_graph(transforms.simplify(trace(f, (x, W))[0]), [0])
    assert sum(op.primitive is P.dot_p for op in graph.ops) == 1, graph
    t = np.tanh(W @ x)
    np.testing.assert_allclose(jitad.jacrev(f)(x, W), (1.0 - t * t)[:, None] * W, rtol=1e-14)
