"""Cases for first calls: a Gaussian-process marginal likelihood, its gradient and Hessian.

The negative log marginal likelihood of N = 200 noisy observations under a
GP with an RBF kernel, in the 3 log-parameters (lengthscale, variance,
noise), written as users write it: the kernel matrix by broadcasting,
``np.linalg.cholesky``, two ``np.linalg.solve`` calls with the factor (NumPy
has no triangular solve), the log-determinant from the factor's diagonal.
Few inputs, an O(N^3) factorisation, and a graph with linear algebra in it:
what an optimiser's first step costs is the first call.

With K = K_f + noise I, K_f = variance exp(-S / 2), S = |x_a - x_b|^2 / lengthscale^2,
alpha = K^-1 y and W = K^-1 - alpha alpha^T, the exact derivatives (by hand,
exact to rounding) are

    g_i  = 1/2 sum(W * K_i)
    H_ij = 1/2 sum(W * K_ij) + (K_i alpha)^T K^-1 (K_j alpha) - 1/2 tr(K^-1 K_i K^-1 K_j)

with K_0 = K_f S, K_1 = K_f, K_2 = noise I (derivatives in the log-parameters),
K_00 = K_f S (S - 2), K_01 = K_f S, K_11 = K_f, K_22 = noise I, the rest 0.
"""
from __future__ import annotations

import numpy

from .cases import Case, rng
from .kernel_cases import LOG_2PI


def gp_nll(np):
    def f(log_params, X, y):
        lengthscale, variance, noise = (np.exp(log_params[0]), np.exp(log_params[1]),
                                        np.exp(log_params[2]))
        n = X.shape[0]
        squared = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=2)
        K = variance * np.exp(-0.5 * squared / lengthscale ** 2) + noise * np.eye(n)
        L = np.linalg.cholesky(K)
        alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
        return 0.5 * y @ alpha + np.sum(np.log(np.diag(L))) + 0.5 * n * LOG_2PI
    return f


def gp_nll_torch(torch):
    def f(log_params, X, y):
        lengthscale, variance, noise = torch.exp(log_params)
        n = X.shape[0]
        squared = torch.sum((X[:, None, :] - X[None, :, :]) ** 2, dim=2)
        K = (variance * torch.exp(-0.5 * squared / lengthscale ** 2)
             + noise * torch.eye(n, dtype=X.dtype))
        L = torch.linalg.cholesky(K)
        alpha = torch.linalg.solve(L.T, torch.linalg.solve(L, y))
        return 0.5 * y @ alpha + torch.sum(torch.log(torch.diag(L))) + 0.5 * n * LOG_2PI
    return f


def _kernel_parts(log_params, X):
    """(K, K_f, S, noise) at the parameters (also for complex parameters)."""
    lengthscale, variance, noise = numpy.exp(log_params)
    scaled = numpy.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=2) / lengthscale ** 2
    K_f = variance * numpy.exp(-0.5 * scaled)
    return K_f + noise * numpy.eye(X.shape[0]), K_f, scaled, noise


def gp_gradient(log_params, X, y):
    K, K_f, S, noise = _kernel_parts(log_params, X)
    K_inv = numpy.linalg.inv(K)
    alpha = K_inv @ y
    W = K_inv - numpy.outer(alpha, alpha)
    return 0.5 * numpy.array([numpy.sum(W * K_f * S), numpy.sum(W * K_f),
                              noise * numpy.trace(W)])


def gp_hessian(log_params, X, y):
    K, K_f, S, noise = _kernel_parts(log_params, X)
    K_inv = numpy.linalg.inv(K)
    alpha = K_inv @ y
    W = K_inv - numpy.outer(alpha, alpha)
    firsts = [K_f * S, K_f, noise * numpy.eye(len(y))]
    seconds = {(0, 0): K_f * S * (S - 2.0), (0, 1): K_f * S, (1, 1): K_f,
               (2, 2): noise * numpy.eye(len(y))}
    products = [K_inv @ K_i for K_i in firsts]
    pushed = [K_i @ alpha for K_i in firsts]
    H = numpy.empty((3, 3))
    for i in range(3):
        for j in range(i, 3):
            K_ij = seconds.get((i, j))
            H[i, j] = H[j, i] = (0.5 * numpy.sum(W * K_ij) if K_ij is not None else 0.0) \
                + pushed[i] @ K_inv @ pushed[j] - 0.5 * numpy.sum(products[i] * products[j].T)
    return H


def gp_args(n):
    def make():
        r = rng()
        X = r.uniform(-3.0, 3.0, (n, 2))
        y = numpy.sin(X[:, 0]) * numpy.cos(X[:, 1]) + 0.1 * r.standard_normal(n)
        return numpy.array([0.2, 0.1, numpy.log(0.1)]), X, y
    return make


SIZES = {"full": 200, "quick": 30}


def first_call_cases(quick: bool) -> list[Case]:
    n = SIZES["quick" if quick else "full"]
    title = f"GP marginal likelihood, RBF kernel, N = {n} (cholesky + solve), 3 log-parameters"
    return [Case("gp", f"{title}: gradient", "grad", gp_nll, gp_nll_torch, gp_args(n),
                 gp_gradient, "hand-derived (K^-1 from np.linalg.inv)", 3, group="gp"),
            Case("hessian-gp", f"{title}: Hessian", "hessian", gp_nll, gp_nll_torch, gp_args(n),
                 gp_hessian, "hand-derived (K^-1 from np.linalg.inv)", 3, gradient=gp_gradient,
                 group="gp")]
