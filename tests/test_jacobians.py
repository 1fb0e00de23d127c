"""Forward mode, Jacobians and Hessians (compiled), and the batching that
lets one kernel call build a whole Jacobian."""
from __future__ import annotations

import numpy as np
import pytest

import jitad
from jitad import transforms
from jitad.backend.reference import evaluate
from jitad.tracer import trace

rng = np.random.default_rng(7)


# ------------------------------------------------------------ jvp (compiled)

def test_jvp_matches_directional_complex_step():
    def f(x, w):
        return np.tanh(w @ x) * np.sum(x ** 2)
    x, w = rng.standard_normal(4), rng.standard_normal((3, 4))
    tx, tw = rng.standard_normal(4), rng.standard_normal((3, 4))
    out, tangent = jitad.jvp(f, (x, w), (tx, tw))
    h = 1e-30
    expected = np.imag(f(x + 1j * h * tx, w + 1j * h * tw)) / h
    np.testing.assert_allclose(out, f(x, w), rtol=1e-15)
    np.testing.assert_allclose(tangent, expected, rtol=1e-13)


def test_jvp_structure_follows_the_output():
    out, tangent = jitad.jvp(lambda d: {"y": d["a"] * 2.0}, ({"a": 1.0},), ({"a": 3.0},))
    assert out == {"y": 2.0} and tangent == {"y": 6.0}


# ---------------------------------------------------------------- Jacobians

def _map(m, n):
    """f: R^n -> R^m, a mix of matrix product and elementwise ops."""
    A = np.random.default_rng(m * 100 + n).standard_normal((m, n))

    def f(x):
        return np.sin(A @ x) * np.sum(x ** 2) + A @ np.exp(x / 4.0)
    return f


@pytest.mark.parametrize("m, n", [(1, 5), (5, 1), (4, 4), (50, 3), (3, 50)])
def test_jacfwd_equals_jacrev_equals_finite_differences(m, n):
    f = _map(m, n)
    x = rng.standard_normal(n)
    by_fd = jitad.fd.jacobian(f, x, method="complex")
    by_fwd, by_rev = jitad.jacfwd(f)(x), jitad.jacrev(f)(x)
    assert by_fwd.shape == by_rev.shape == (m, n)
    np.testing.assert_allclose(by_fwd, by_fd, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(by_rev, by_fd, rtol=1e-13, atol=1e-13)

    auto = jitad.jacobian(_map(m, n))  # a new function object: caches of its own
    expected_mode = "fwd" if n <= m else "rev"
    np.testing.assert_allclose(auto(x), by_fd, rtol=1e-13, atol=1e-13)
    assert auto.choose(x) == expected_mode
    # one kernel, in auto's own cache, computing what the chosen mode computes
    assert auto.cache.compiles == 1 and auto.cache.traces == 1
    chosen = auto.fwd if expected_mode == "fwd" else auto.rev
    chosen(x)
    (auto_entry,), (chosen_entry,) = auto.cache.entries.values(), chosen.cache.entries.values()
    assert str(auto_entry[0].graph) == str(chosen_entry[0].graph)


def test_one_kernel_call_builds_the_jacobian():
    """The block of directions is one batched sweep: a single entry, and the
    kernel has no per-direction loop in Python."""
    f = _map(3, 20)
    jac = jitad.jacfwd(f)
    jac(np.ones(20))
    ((entry,),) = jac.cache.entries.values()
    assert entry.calls == 1 and jac.cache.compiles == 1


def test_jacobian_layout_output_shape_then_input_shape():
    def f(X, v):
        return {"M": np.sin(X) * v, "s": np.sum(X)}
    X, v = rng.standard_normal((2, 3)), rng.standard_normal(3)
    for mode in ("fwd", "rev"):
        J = jitad.jacobian(f, argnums=(0, 1), mode=mode)(X, v)
        assert J["M"][0].shape == (2, 3, 2, 3) and J["M"][1].shape == (2, 3, 3)
        assert J["s"][0].shape == (2, 3) and J["s"][1].shape == (3,)
        np.testing.assert_allclose(J["M"][1], np.einsum("ij,jk->ijk", np.sin(X), np.eye(3)))
        np.testing.assert_allclose(J["s"][0], np.ones((2, 3)))
        np.testing.assert_array_equal(J["s"][1], np.zeros(3))


def test_jacobian_mode_is_validated():
    with pytest.raises(ValueError, match="mode"):
        jitad.jacobian(np.sin, mode="sideways")


STRUCTURAL = {
    "dot_mv": (lambda a, x: a @ x, ((3, 4), (4,))),
    "dot_vm": (lambda x, a: x @ a, ((3,), (3, 4))),
    "dot_mm": (lambda a, b: a @ b, ((2, 3), (3, 2))),
    "reductions": (lambda a: np.max(a, axis=0) + np.sum(a ** 2, axis=0), ((4, 3),)),
    "indexing": (lambda a: a[1:, ::-1].T * a[0], ((3, 2),)),
    "reshape_broadcast": (lambda a, b: (a.reshape(3, 2) - b).ravel(), ((2, 3), (2,))),
}


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_batching_rules_by_reference_interpreter(name):
    """Batched sweeps through each structural rule equal finite differences
    (no compilation: the reference interpreter evaluates the graphs)."""
    f, shapes = STRUCTURAL[name]
    args = [rng.standard_normal(s) for s in shapes]
    graph = trace(f, tuple(args))[0]
    wrt = list(range(len(args)))
    by_fwd = evaluate(transforms.jacfwd_graph(graph, wrt), *args)
    by_rev = evaluate(transforms.jacrev_graph(graph, wrt), *args)
    for i in wrt:
        by_fd = jitad.fd.jacobian(f, *args, argnums=i, method="central")
        np.testing.assert_allclose(by_fwd[i], by_fd, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(by_rev[i], by_fd, rtol=1e-8, atol=1e-8)


# ----------------------------------------------------------------- Hessians

def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    """Analytic: H[i,i] = 1200 x_i^2 - 400 x_{i+1} + 2 (+200 if i > 0),
    H[-1,-1] = 200, H[i,i+1] = H[i+1,i] = -400 x_i."""
    n = x.size
    H = np.zeros((n, n))
    i = np.arange(n - 1)
    H[i, i] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    H[i + 1, i + 1] += 200
    H[i, i + 1] = H[i + 1, i] = -400 * x[:-1]
    return H


def test_hessian_of_rosenbrock_is_analytic_and_symmetric():
    x = rng.uniform(-1.5, 1.5, 100)
    H = jitad.hessian(rosenbrock)(x)
    assert H.shape == (100, 100)
    np.testing.assert_allclose(H, rosenbrock_hessian(x), rtol=1e-14, atol=1e-12)
    np.testing.assert_array_equal(H, H.T)


def classic(x1, x2):
    return x1 * np.sqrt(np.log(x1 / np.sin(x2 ** 2)))


def classic_second_derivatives(x1, x2):
    """By hand, with L = log(x1) - log(sin(x2^2)), L2 = dL/dx2 = -2 x2 cot(x2^2),
    L22 = -2 cot(x2^2) + 4 x2^2 csc^2(x2^2):
    f_11 = (1/x1) (1/(2 sqrt L) - 1/(4 L^1.5))
    f_12 = L2/(2 sqrt L) - L2/(4 L^1.5)
    f_22 = x1 (L22/(2 sqrt L) - L2^2/(4 L^1.5))"""
    L = np.log(x1 / np.sin(x2 ** 2))
    cot, csc2 = 1 / np.tan(x2 ** 2), 1 / np.sin(x2 ** 2) ** 2
    L2 = -2 * x2 * cot
    L22 = -2 * cot + 4 * x2 ** 2 * csc2
    f11 = (1 / x1) * (1 / (2 * np.sqrt(L)) - 1 / (4 * L ** 1.5))
    f12 = L2 / (2 * np.sqrt(L)) - L2 / (4 * L ** 1.5)
    f22 = x1 * (L22 / (2 * np.sqrt(L)) - L2 ** 2 / (4 * L ** 1.5))
    return f11, f12, f22


@pytest.mark.parametrize("x1, x2", [(2.0, 0.5), (3.0, 1.2)])
def test_grad_of_grad_of_the_classic_example(x1, x2):
    f11, f12, f22 = classic_second_derivatives(x1, x2)
    tol = dict(rel=1e-13)
    assert jitad.grad(jitad.grad(classic, 0), 0)(x1, x2) == pytest.approx(f11, **tol)
    assert jitad.grad(jitad.grad(classic, 0), 1)(x1, x2) == pytest.approx(f12, **tol)
    assert jitad.grad(jitad.grad(classic, 1), 1)(x1, x2) == pytest.approx(f22, **tol)
    H = jitad.hessian(classic, argnums=(0, 1))(x1, x2)
    np.testing.assert_allclose(np.array(H, dtype=float), [[f11, f12], [f12, f22]], rtol=1e-13)


def test_jvp_of_grad_and_jacfwd_of_grad_nest():
    x = rng.standard_normal(5)
    v = rng.standard_normal(5)
    _, hvp = jitad.jvp(jitad.grad(rosenbrock), (x,), (v,))
    np.testing.assert_allclose(hvp, rosenbrock_hessian(x) @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jitad.jacfwd(jitad.grad(rosenbrock))(x), rosenbrock_hessian(x),
                               rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(jitad.jacrev(jitad.grad(rosenbrock))(x), rosenbrock_hessian(x),
                               rtol=1e-13, atol=1e-12)


def test_a_matrix_product_with_the_identity_seed_is_dropped():
    """jacfwd of W @ x seeds the directions with the identity: I @ W.T is
    W.T, no BLAS call and no pass over W for it."""
    from jitad import transforms
    from jitad.primitives.linalg import dot
    from jitad.tracer import trace
    args = (np.ones(4), np.ones((6, 4)))
    for f in (lambda x, W: dot(np.eye(4), W.T), lambda x, W: dot(W, np.eye(4))):
        graph = transforms.simplify(trace(f, args)[0])
        assert not any(op.primitive.name == "dot" for op in graph.ops), graph
    x, W = np.linspace(0.0, 1.0, 4), np.arange(24.0).reshape(6, 4) / 24.0
    J = jitad.jacfwd(lambda x, W: np.tanh(W @ x))(x, W)
    z = np.tanh(W @ x)
    np.testing.assert_allclose(J, (1 - z ** 2)[:, None] * W, rtol=1e-14)  # libm tanh
    g = jitad.jacfwd(lambda x, W: np.tanh(W @ x))
    g(x, W)
    source = next(iter(g.cache.entries.values()))[0].kernel.source
    assert source.count(" @ ") == 1, source  # the comment of the one product


def _stencil(x):
    """A physics residual: a discrete Laplacian with a cubic term and a
    sine of the neighbours' difference (nonzero on three diagonals)."""
    return x[:-2] - 2.0 * x[1:-1] + x[2:] + x[1:-1] ** 3 + np.sin(x[2:] - x[:-2])


def _stencil_jacobian(x):
    n = x.size - 2
    J = np.zeros((n, x.size))
    c = np.cos(x[2:] - x[:-2])
    rows = np.arange(n)
    J[rows, rows] = 1.0 - c
    J[rows, rows + 1] = -2.0 + 3.0 * x[1:-1] ** 2
    J[rows, rows + 2] = 1.0 + c
    return J


def _kernel_sources(transform) -> str:
    return "\n".join(entry.kernel.source for entries in transform.cache.entries.values()
                     for entry in entries)


def test_a_banded_jacobian_or_hessian_runs_its_band_alone():
    """Forward mode's identity seed through NaN-safe products leaves a
    stencil's Jacobian and Rosenbrock's Hessian zero off a few diagonals: the
    loop runs over them alone, with the dense values (against the analytic
    ones, the complex step, and the same kernel without bands)."""
    from jitad.backend import codegen
    x = rng.uniform(-1.5, 1.5, 60)
    jac = jitad.jacfwd(_stencil)
    J = jac(x)
    np.testing.assert_allclose(J, _stencil_jacobian(x), rtol=1e-15, atol=1e-15)
    e = np.eye(x.size)
    complex_step = np.stack([np.imag(_stencil(x + 1e-30j * e[k])) / 1e-30
                             for k in range(x.size)], axis=1)
    np.testing.assert_allclose(J, complex_step, rtol=1e-14, atol=1e-14)
    assert "# diagonals -2 to 0" in _kernel_sources(jac)
    hess = jitad.hessian(rosenbrock)
    H = hess(x)
    np.testing.assert_allclose(H, rosenbrock_hessian(x), rtol=1e-14, atol=1e-12)
    assert "# diagonals -1 to 0" in _kernel_sources(hess)
    original = codegen.SourceWriter.band
    try:
        codegen.SourceWriter.band = lambda self, loop, stored: None
        dense_jac, dense_hess = jitad.jacfwd(_stencil), jitad.hessian(rosenbrock)
        np.testing.assert_array_equal(dense_jac(x), J)
        np.testing.assert_array_equal(dense_hess(x), H)
        assert "# diagonals" not in _kernel_sources(dense_hess)
    finally:
        codegen.SourceWriter.band = original

