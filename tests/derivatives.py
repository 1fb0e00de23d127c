"""Derivative checks by projection (convention 12): for f with inputs x and a
random direction v and output weight u, compare <u, J v> computed

- by jitad's adjoint sweep:  <vjp(u), v>
- by jitad's tangent sweep:  <u, jvp(v)>
- independently: complex step Im(<u, f(x + i h v)>)/h (error ~ eps) where f
  is analytic, else central differences (error ~ eps^(2/3)).

The jitad side is evaluated by the NumPy reference interpreter, so these
tests exercise the tracer, the rules and the transforms without compiling.
"""
from __future__ import annotations

import numpy as np

import jitad  # noqa: F401  (installs the tracer's operator methods)
from jitad import transforms
from jitad.backend.reference import evaluate
from jitad.tracer import trace

EPS = np.finfo(float).eps


def traced(f, args):
    graph, _, _ = trace(f, tuple(args))
    assert len(graph.outputs) == 1, "checks take functions with one output"
    return graph


def ad_vjp(f, args, u):
    graph = traced(f, args)
    tg = transforms.vjp_graph(graph, list(range(len(args))))
    outs = evaluate(tg, *args, u)
    return [np.asarray(b) for b in outs[1:]]


def ad_jvp(f, args, vs):
    graph = traced(f, args)
    tg = transforms.jvp_graph(graph, list(range(len(args))))
    return np.asarray(evaluate(tg, *args, *vs)[1])


def ad_hvp(f, args, vs):
    """Forward over reverse: the derivative along vs of the gradient (f scalar)."""
    graph = traced(f, args)
    grad_graph = transforms.vjp_graph(graph, list(range(len(args))), seed=1.0)
    n = len(args)
    hvp_graph = transforms.jvp_graph(grad_graph, list(range(n)))
    outs = evaluate(hvp_graph, *args, *vs)
    return [np.asarray(t) for t in outs[1 + n + 1:]]


def ad_grad(f, args):
    graph = traced(f, args)
    tg = transforms.vjp_graph(graph, list(range(len(args))), seed=1.0)
    return [np.asarray(b) for b in evaluate(tg, *args)[1:]]


def directional(f, args, vs, method):
    """d/dt f(args + t vs) at t = 0, by complex step or central differences."""
    if method == "complex":
        h = 1e-30
        out = f(*[np.asarray(a) + 1j * h * v for a, v in zip(args, vs)])
        return np.imag(out) / h
    scale = max(1.0, max(float(np.max(np.abs(a), initial=0.0)) for a in args))
    h = EPS ** (1 / 3) * scale
    plus = f(*[np.asarray(a) + h * v for a, v in zip(args, vs)])
    minus = f(*[np.asarray(a) - h * v for a, v in zip(args, vs)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * h)


def tolerance(method, scale):
    """Relative tolerance from the reference's own error: complex step is
    exact to rounding, central differences ~ eps^(2/3) times the size of the
    third derivative (taken as the function's scale)."""
    return 1e-12 if method == "complex" else 1e-7 * max(1.0, scale)


def check_first_order(f, args, method, rng):
    args = [np.asarray(a, float) for a in args]
    out = np.asarray(f(*args))
    u = rng.standard_normal(out.shape)
    vs = [rng.standard_normal(np.shape(a)) for a in args]
    reference = np.sum(u * directional(f, args, vs, method))
    by_reverse = sum(np.sum(b * v) for b, v in zip(ad_vjp(f, args, u), vs))
    by_forward = np.sum(u * ad_jvp(f, args, vs))
    scale = max(1.0, abs(reference))
    tol = tolerance(method, float(np.max(np.abs(out), initial=1.0)))
    assert abs(by_reverse - reference) <= tol * scale, (by_reverse, reference)
    assert abs(by_forward - reference) <= tol * scale, (by_forward, reference)


def check_second_order(f, args, rng):
    """Forward-over-reverse against central differences of the AD gradient."""
    args = [np.asarray(a, float) for a in args]
    vs = [rng.standard_normal(np.shape(a)) for a in args]
    hvp = ad_hvp(f, args, vs)
    h = EPS ** (1 / 3) * max(1.0, max(float(np.max(np.abs(a), initial=0.0)) for a in args))
    plus = ad_grad(f, [a + h * v for a, v in zip(args, vs)])
    minus = ad_grad(f, [a - h * v for a, v in zip(args, vs)])
    for got, p, m in zip(hvp, plus, minus):
        expected = (p - m) / (2 * h)
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * scale)
