"""``jitad.vmap`` against a Python loop of calls: every family of primitives
through its batching rule, composed with the other transforms, nested, with
JAX's in_axes/out_axes; the graphs are checked by the reference interpreter
(no compile) and a few end to end."""
from __future__ import annotations

import numpy as np
import pytest

import jitad
from jitad import transforms
from jitad.backend.reference import evaluate
from jitad.tracer import trace

rng = np.random.default_rng(7)
BATCH = 3

FAMILIES = {
    "elementwise": (lambda x: np.sin(x) * np.exp(-x * x) + np.maximum(x, 0.1) ** 2, (4,)),
    "reductions": (lambda x: np.cumsum(x) ** 2 + np.cumprod(np.cos(x)) + np.max(x) * np.prod(x)
                   + np.argmax(x), (4,)),
    "axis_reductions": (lambda x: np.sum(x, axis=0) + np.max(x, axis=1).sum() + x.mean(), (2, 3)),
    "indexing": (lambda x: x[1:] * x[:-1] + x[::-1][1:] + x[[0, 2, 2]].sum(), (4,)),
    "gather_scatter": (lambda x: np.sum(x[np.array([0, 0, 3])] ** 2) * x, (4,)),
    "concatenate": (lambda x: np.concatenate([x[:2] * 2.0, np.sin(x[2:])]), (4,)),
    "shape": (lambda x: np.transpose(x.reshape(2, 2) ** 2).ravel() + np.roll(x, 1), (4,)),
    "matmul": (lambda x: (np.outer(x, x) + 4 * np.eye(4)) @ x + x @ np.ones((4, 2)) @ np.ones(2),
               (4,)),
    "stacked_matmul": (lambda x: np.sum(x @ np.swapaxes(x, -1, -2)), (2, 3, 3)),
    "solve": (lambda x: np.linalg.solve(np.outer(x[:3], x[:3]) + 3 * np.eye(3), x[1:]), (4,)),
    "inverse_det": (lambda x: np.sum(np.linalg.inv(np.diag(x) + 3 * np.eye(4)))
                    * np.linalg.det(np.diag(x) + 2 * np.eye(4)), (4,)),
    "slogdet_cholesky": (lambda x: np.linalg.slogdet(np.outer(x, x) + 3 * np.eye(4))[1]
                         + np.sum(np.linalg.cholesky(np.outer(x, x) + 3 * np.eye(4))), (4,)),
    "convolve": (lambda x: np.convolve(x, np.array([1.0, -2.0, 0.5])), (4,)),
    "where_select": (lambda x: np.where(x > 0.2, np.log(np.abs(x) + 1.0), x ** 3), (4,)),
}


def _loop(f, xs):
    return np.stack([np.asarray(f(x)) for x in xs])


@pytest.mark.parametrize("name", list(FAMILIES))
def test_vmap_through_every_family_equals_a_loop(name):
    f, shape = FAMILIES[name]
    xs = rng.uniform(0.1, 1.5, (BATCH,) + shape)
    graph = trace(jitad.vmap(f), (xs,))[0]
    (got,) = evaluate(transforms.simplify(graph), xs)
    np.testing.assert_allclose(got, _loop(f, xs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["elementwise", "indexing", "matmul", "solve", "convolve"])
def test_vmap_of_grad_and_grad_of_vmap(name):
    f, shape = FAMILIES[name]
    xs = rng.uniform(0.1, 1.5, (BATCH,) + shape)
    scalar = lambda x: np.sum(f(x) ** 2)  # noqa: E731
    per_example = evaluate(trace(jitad.vmap(jitad.grad(scalar)), (xs,))[0], xs)[0]
    np.testing.assert_allclose(per_example, _loop(jitad.grad(scalar), xs), rtol=1e-10)
    summed = lambda xs: np.sum(jitad.vmap(scalar)(xs))  # noqa: E731
    graph = transforms.vjp_graph(trace(summed, (xs,))[0], [0], seed=1.0)
    np.testing.assert_allclose(evaluate(graph, xs)[1], per_example, rtol=1e-10)


def test_per_example_gradients_compiled():
    def loss(params, x, y):
        h = np.tanh(x @ params["W"] + params["b"])
        return np.sum((h - y) ** 2)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    g = jitad.vmap(jitad.grad(loss), in_axes=(None, 0, 0))(params, X, Y)
    for i in range(5):
        one = jitad.grad(loss)(params, X[i], Y[i])
        np.testing.assert_allclose(g["W"][i], one["W"], rtol=1e-12)
        np.testing.assert_allclose(g["b"][i], one["b"], rtol=1e-12)


def test_in_axes_out_axes_and_nesting():
    f = lambda a, b: a * np.sum(b)  # noqa: E731
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    got = jitad.vmap(f, in_axes=(1, None), out_axes=1)(a, b)
    np.testing.assert_allclose(got, np.stack([f(a[:, j], b) for j in range(4)], axis=1))
    outer = jitad.vmap(jitad.vmap(lambda u, v: u * v, in_axes=(0, None)), in_axes=(None, 0))
    u, v = rng.standard_normal(3), rng.standard_normal(2)
    np.testing.assert_allclose(outer(u, v), np.outer(v, u))
    tree_axes = jitad.vmap(lambda d: d["x"] * d["s"], in_axes=({"x": 0, "s": None},))
    np.testing.assert_allclose(tree_axes({"x": np.arange(3.0), "s": 2.0}), [0.0, 2.0, 4.0])


def test_jacfwd_of_vmap():
    f, _ = FAMILIES["elementwise"]
    xs = rng.uniform(0.1, 1.5, (2, 3))
    J = jitad.jacfwd(jitad.vmap(f))(xs)
    expected = np.zeros((2, 3, 2, 3))
    for i in range(2):
        expected[i, :, i, :] = jitad.jacfwd(f)(xs[i])
    np.testing.assert_allclose(J, expected, rtol=1e-12)


def test_errors_say_what_to_do():
    with pytest.raises(jitad.errors.BatchingError, match="np.where"):
        jitad.vmap(lambda x: x if x > 0 else -x)(np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="disagree on the batch size"):
        jitad.vmap(lambda a, b: a + b)(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="in_axes"):
        jitad.vmap(lambda a, b: a + b, in_axes=(0,))(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="out_axes=None"):
        jitad.vmap(lambda a: a * 2, out_axes=None)(np.ones(2))
