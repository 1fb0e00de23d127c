"""np.linalg through compiled kernels: decompositions (svd, eigh, qr), the
routines built on them (lstsq, pinv, matrix norms, cond, matrix_power), and
the dense routines on stacks of matrices -- values against NumPy, gradients
against central differences, and the run-time refusals where a derivative
does not exist. (The spec table in test_primitives.py checks the rules, both
modes and second order, through the reference interpreter.)"""
from __future__ import annotations

import numpy as np
import pytest

import jitad

RNG = np.random.default_rng(20161)


def spectral(m, n, rng=RNG, gap=0.7):
    """An m x n matrix with singular values about gap apart, away from 0."""
    k = min(m, n)
    q1 = np.linalg.qr(rng.standard_normal((m, m)))[0]
    q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
    s = gap * np.arange(k, 0, -1) + 0.6
    return (q1[:, :k] * s) @ q2[:k]


def central(f, x, h=None):
    """Central differences, step eps^(1/3): error ~1e-10 on these sizes."""
    h = h or np.finfo(float).eps ** (1 / 3)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def check_grad(f, x, rtol=1e-8):
    got = jitad.grad(f)(x)
    expected = central(f, x)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))
    fwd = jitad.jacfwd(f)(x)
    np.testing.assert_allclose(fwd, got, rtol=1e-12, atol=1e-12 * np.max(np.abs(got)))


# ------------------------------------------------------------------ values

@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3)])
def test_svd_values_match_numpy(shape):
    a = RNG.standard_normal(shape)
    for full in (False, True):
        u, s, vh = jitad.jit(lambda x: tuple(np.linalg.svd(x, full_matrices=full)))(a)
        ur, sr, vr = np.linalg.svd(a, full_matrices=full)
        assert u.shape == ur.shape and vh.shape == vr.shape
        np.testing.assert_allclose(s, sr, rtol=1e-14)
        # the same LAPACK routine: the same signs
        np.testing.assert_allclose(u, ur, atol=1e-13)
        np.testing.assert_allclose(vh, vr, atol=1e-13)
    s = jitad.jit(lambda x: np.linalg.svd(x, compute_uv=False))(a)
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), rtol=1e-14)


def test_eigh_qr_lstsq_pinv_norms_match_numpy():
    a = RNG.standard_normal((5, 3))
    sym = a.T @ a
    b = RNG.standard_normal(5)

    def f(a, sym, b):
        w, v = np.linalg.eigh(sym)
        q, r = np.linalg.qr(a)
        x, res, rank, s = np.linalg.lstsq(a, b)
        return (w, v, np.linalg.eigvalsh(sym), q, r, x, res, s, np.linalg.pinv(a),
                np.linalg.norm(a, "nuc"), np.linalg.norm(a, 2), np.linalg.norm(a, -2),
                np.linalg.cond(sym), np.linalg.matrix_power(sym, 3),
                np.linalg.matrix_power(sym, -2), np.linalg.matrix_power(sym, 0))
    got = jitad.jit(f)(a, sym, b)
    w, v = np.linalg.eigh(sym)
    q, r = np.linalg.qr(a)
    x, res, rank, s = np.linalg.lstsq(a, b)
    assert rank == 3
    expected = (w, v, np.linalg.eigvalsh(sym), q, r, x, res, s, np.linalg.pinv(a),
                np.linalg.norm(a, "nuc"), np.linalg.norm(a, 2), np.linalg.norm(a, -2),
                np.linalg.cond(sym), np.linalg.matrix_power(sym, 3),
                np.linalg.matrix_power(sym, -2), np.eye(3))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12 * np.max(np.abs(e)))


# --------------------------------------------------------------- gradients

def test_gradients_of_sign_invariant_svd_losses():
    """sum(s), sum((U*s) @ Vt) (= sum(A)), projections U W U^T, and U*V
    (signs cancel pairwise): none depends on LAPACK's signs."""
    a = spectral(4, 3)
    check_grad(lambda x: np.sum(np.linalg.svd(x, compute_uv=False)), a)
    check_grad(lambda x: (lambda u, s, vt: np.sum((u * s) @ vt))(
        *np.linalg.svd(x, full_matrices=False)), a)
    np.testing.assert_allclose(jitad.grad(lambda x: (lambda u, s, vt: np.sum((u * s) @ vt))(
        *np.linalg.svd(x, full_matrices=False)))(a), np.ones_like(a), rtol=1e-13)
    w = np.arange(1.0, 4.0)
    check_grad(lambda x: (lambda u, s, vt: np.sum(np.sin((u * w) @ u.T)))(
        *np.linalg.svd(x, full_matrices=False)), a)
    check_grad(lambda x: (lambda u, s, vt: np.sum(np.cos(vt.T @ (vt * w[:, None]))))(
        *np.linalg.svd(x.T, full_matrices=False)), a)
    sq = spectral(3, 3)
    check_grad(lambda x: (lambda u, s, vt: np.sum((u * vt.T) ** 2 * s))(*np.linalg.svd(x)), sq)


def test_gradient_of_the_nuclear_norm_is_u_vt():
    a = spectral(3, 4)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(jitad.grad(lambda x: np.linalg.norm(x, "nuc"))(a), u @ vt,
                               atol=1e-14)
    np.testing.assert_allclose(jitad.grad(lambda x: np.linalg.norm(x, 2))(a),
                               np.outer(u[:, 0], vt[0]), atol=1e-14)


def test_gradients_of_eigh_qr_lstsq_pinv_matrix_power():
    a = spectral(5, 3)
    b = RNG.standard_normal(5)
    sym = spectral(3, 3) + spectral(3, 3).T
    check_grad(lambda x: np.sum(np.linalg.eigvalsh(x) ** 3), sym)
    check_grad(lambda x: (lambda w, v: np.sum(np.exp((v * w) @ v.T) * np.arange(9.0).reshape(3, 3)))(
        *np.linalg.eigh(x)), sym, rtol=1e-7)
    check_grad(lambda x: (lambda q, r: np.sum(q @ r[:, :1]) + np.sum(np.abs(np.diag(r))))(
        *np.linalg.qr(x)), a)
    check_grad(lambda x: np.sum(np.linalg.lstsq(x, b)[0] ** 2) + np.linalg.lstsq(x, b)[1][0], a)
    check_grad(lambda x: np.sum(np.linalg.pinv(x) ** 2), a)
    check_grad(lambda x: np.sum(np.linalg.matrix_power(x, 5) + np.linalg.matrix_power(x, -1)),
               spectral(3, 3, gap=0.2))


def test_eigenvalues_are_differentiated_at_repeated_ones():
    """At A = I the eigenvalues are repeated; sum(w**2) = |A|_F^2 still has
    gradient 2A (and hessian 2), as does the sum of the singular values."""
    eye = np.eye(3)
    np.testing.assert_allclose(jitad.grad(lambda x: np.sum(np.linalg.eigvalsh(x) ** 2))(eye),
                               2 * np.tril(eye), atol=1e-14)
    np.testing.assert_allclose(
        jitad.grad(lambda x: np.sum(np.linalg.svd(x, compute_uv=False)))(eye), eye, atol=1e-14)
    # U, s, Vt all taken, only s used: no derivative of U is needed
    np.testing.assert_allclose(jitad.grad(lambda x: np.sum(np.linalg.svd(x)[1]))(eye), eye,
                               atol=1e-14)


# ------------------------------------------------------------- refusals

def test_repeated_singular_values_refuse_the_vectors_at_run_time():
    g = jitad.grad(lambda x: np.sum(np.linalg.svd(x)[0] ** 3))
    g(spectral(3, 3))  # distinct: fine, and the kernel is compiled
    with pytest.raises(ValueError, match=r"np\.linalg\.svd of a 3x3 matrix: the derivative of "
                                         r"U and Vt does not exist where two singular values"):
        g(np.diag([2.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"derivative of U does not exist at a zero singular"):
        jitad.grad(lambda x: np.sum(np.linalg.svd(x, full_matrices=False)[0] ** 3))(
            np.outer(np.arange(1.0, 5.0), [1.0, 2.0]))
    with pytest.raises(ValueError, match=r"np\.linalg\.eigh of a 3x3 matrix: the derivative of "
                                         r"the eigenvectors"):
        jitad.jacfwd(lambda x: np.linalg.eigh(x)[1])(np.eye(3))


def test_full_matrices_complement_has_no_derivative():
    a = spectral(4, 2)
    with pytest.raises(TypeError, match=r"full_matrices=True\) of a 4x2 matrix: the last 2 "
                                        r"columns of U.*full_matrices=False"):
        jitad.grad(lambda x: np.sum(np.linalg.svd(x)[0] ** 2))(a)
    with pytest.raises(ValueError, match=r"the last 2 rows of Vt"):
        jitad.jacfwd(lambda x: np.linalg.svd(x)[2])(a.T)
    # the default full_matrices=True is fine where only s (or the unique factor) is used
    check_grad(lambda x: np.sum(np.linalg.svd(x)[1] ** 2) + np.sum(np.linalg.svd(x)[2] ** 4), a)


def test_rank_deficient_lstsq_and_pinv_raise():
    low = np.outer(np.arange(1.0, 5.0), [1.0, 2.0])
    for f, name in [(lambda x: np.linalg.pinv(x), "pinv"),
                    (lambda x: np.linalg.lstsq(x, np.ones(4))[0], "lstsq")]:
        with pytest.raises(ValueError, match=rf"np\.linalg\.{name} of a 4x2 matrix: .*"
                                             "rank-deficient"):
            jitad.jit(f)(low)


def test_unsupported_shapes_and_modes_say_what_to_do():
    with pytest.raises(ValueError, match=r"np\.linalg\.qr.*factor its transpose"):
        jitad.grad(lambda x: np.sum(np.linalg.qr(x)[0]))(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"mode='complete'.*use mode='reduced'"):
        jitad.grad(lambda x: np.sum(np.linalg.qr(x, mode="complete")[0]))(np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"lstsq of a 2x3 matrix.*pinv"):
        jitad.grad(lambda x: np.sum(np.linalg.lstsq(x, np.ones(2))[0]))(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"pinv\(hermitian=True\).*hermitian=False"):
        jitad.grad(lambda x: np.sum(np.linalg.pinv(x, hermitian=True)))(np.eye(2))
    with pytest.raises(TypeError, match=r"np\.linalg\.eig.*np\.linalg\.eigh"):
        jitad.grad(lambda x: np.sum(np.linalg.eigvals(x)))(np.eye(2))


def test_float32_stays_float32():
    a = spectral(4, 3).astype(np.float32)
    f = lambda x: np.linalg.norm(x, "nuc") + np.sum(np.linalg.pinv(x) ** 2) \
        + np.sum(np.linalg.eigvalsh(x.T @ x))
    g = jitad.grad(f)(a)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, jitad.grad(f)(a.astype(float)), rtol=2e-5, atol=2e-5)


# ------------------------------------------------------ stacks of matrices

def test_stacked_dense_routines_match_numpy_and_differentiate():
    a = RNG.standard_normal((2, 3, 4, 4)) + 4 * np.eye(4)
    b_vec, b_mat = RNG.standard_normal(4), RNG.standard_normal((3, 4, 2))
    spd = a @ np.swapaxes(a, -1, -2)

    def f(a, spd):
        return (np.linalg.det(a), np.linalg.inv(a), np.linalg.slogdet(a)[1],
                np.linalg.solve(a, b_vec), np.linalg.solve(a, b_mat), np.linalg.cholesky(spd))
    for g, e in zip(jitad.jit(f)(a, spd), f(a, spd)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12 * np.max(np.abs(e)))
    loss = lambda x: np.sum(np.linalg.inv(x) ** 2) + np.sum(np.linalg.slogdet(x)[1]) \
        + np.sum(np.linalg.solve(x, b_mat) ** 2) + np.sum(np.linalg.det(x[0]))
    check_grad(loss, a[:1])


def test_gaussian_process_marginal_likelihood_on_a_batch_of_kernels():
    """-log p(y | X, theta) for a batch of RBF kernels (one per length
    scale), through cholesky and solve on a stack; gradient in theta against
    central differences, and against the closed form
    0.5 tr((alpha alpha^T - K^-1) dK/dtheta)."""
    x = np.linspace(0.0, 3.0, 6)
    y = np.sin(2 * x)
    sq = (x[:, None] - x[None, :]) ** 2

    def nll(log_ell):
        ell = np.exp(log_ell)[:, None, None]
        k = np.exp(-0.5 * sq / ell ** 2) + 0.1 * np.eye(6)
        chol = np.linalg.cholesky(k)
        alpha = np.linalg.solve(np.swapaxes(chol, -1, -2), np.linalg.solve(chol, y[:, None]))
        logdet = 2 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
        return np.sum(0.5 * np.sum(y[:, None] * alpha, axis=(-2, -1)) + 0.5 * logdet)
    theta = np.log(np.array([0.3, 0.7, 1.5]))
    check_grad(nll, theta, rtol=1e-8)
    g = jitad.grad(nll)(theta)
    for i, ell in enumerate(np.exp(theta)):
        k = np.exp(-0.5 * sq / ell ** 2) + 0.1 * np.eye(6)
        dk = np.exp(-0.5 * sq / ell ** 2) * sq / ell ** 2
        kinv = np.linalg.inv(k)
        alpha = kinv @ y
        np.testing.assert_allclose(g[i], -0.5 * np.trace((np.outer(alpha, alpha) - kinv) @ dk),
                                   rtol=1e-11)
    hess, grad, step = jitad.hessian(nll)(theta), jitad.grad(nll), 1e-5
    by_differences = np.stack([(grad(theta + step * e) - grad(theta - step * e)) / (2 * step)
                               for e in np.eye(3)])
    np.testing.assert_allclose(hess, by_differences, rtol=1e-7, atol=1e-8)


def test_vmap_of_the_decompositions():
    a = np.stack([spectral(4, 3) for _ in range(3)])
    f = lambda x: np.sum(np.linalg.svd(x, compute_uv=False)) + np.sum(np.linalg.qr(x)[1] ** 2)
    got = jitad.vmap(jitad.grad(f))(a)
    np.testing.assert_allclose(got, np.stack([jitad.grad(f)(m) for m in a]), rtol=1e-13)
