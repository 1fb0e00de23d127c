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
