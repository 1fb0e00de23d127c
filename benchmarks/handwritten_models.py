"""Hand-written numba gradients of the kernel-speed and first-call cases
(kernel_cases.py, first_call_cases.py), registered into handwritten.HANDWRITTEN.

Each is one fused pass over the data where the math allows it: the
elementwise-heavy loss computes its value and derivative per element in one
loop; the Gaussian mixture computes each point's responsibilities and adds
them into the three gradients in the same sweep, reusing one (K, D) scratch
buffer for the standardised residuals.
"""
from __future__ import annotations

import math

import numpy as np

from . import first_call_cases, kernel_cases
from .handwritten import jit, register, simple
from .kernel_cases import HEAVY_SLOPE, LOG_2PI


def heavy_gradient(x):
    g = np.empty_like(x)
    for i in range(x.shape[0]):
        xi = x[i]
        decay = math.exp(-xi * xi)
        t = math.tanh(HEAVY_SLOPE * xi)
        g[i] = (-2.0 * xi * decay / (1.0 + decay) * t
                + math.log1p(decay) * HEAVY_SLOPE * (1.0 - t * t)
                + math.cos(xi) * xi + math.sin(xi))
    return g


register(kernel_cases.heavy, "grad", simple(heavy_gradient))


def gmm_gradient(means, log_scales, log_weights, X):
    n, d = X.shape
    k = means.shape[0]
    inverse_scale = np.exp(-log_scales)
    top = log_weights.max()
    log_normaliser = top + math.log(np.sum(np.exp(log_weights - top)))
    constant = np.empty(k)  # log weight + log normalising constant of each component
    for c in range(k):
        constant[c] = log_weights[c] - log_normaliser - 0.5 * d * LOG_2PI - np.sum(log_scales[c])
    g_means, g_log_scales = np.zeros((k, d)), np.zeros((k, d))
    responsibility_sums = np.zeros(k)
    z = np.empty((k, d))
    joint = np.empty(k)
    for i in range(n):
        best = -np.inf
        for c in range(k):
            square = 0.0
            for j in range(d):
                z[c, j] = (X[i, j] - means[c, j]) * inverse_scale[c, j]
                square += z[c, j] * z[c, j]
            joint[c] = constant[c] - 0.5 * square
            best = max(best, joint[c])
        total = 0.0
        for c in range(k):
            joint[c] = math.exp(joint[c] - best)
            total += joint[c]
        for c in range(k):
            r = joint[c] / total
            responsibility_sums[c] += r
            for j in range(d):
                g_means[c, j] -= r * z[c, j]  # times 1/scale once, after the sweep
                g_log_scales[c, j] -= r * (z[c, j] * z[c, j] - 1.0)
    g_log_weights = np.empty(k)
    for c in range(k):
        g_log_weights[c] = n * math.exp(log_weights[c] - log_normaliser) - responsibility_sums[c]
        for j in range(d):
            g_means[c, j] *= inverse_scale[c, j]
    return g_means, g_log_scales, g_log_weights


register(kernel_cases.gmm, "grad", simple(gmm_gradient))


# --- The GP marginal likelihood: K and its parameter derivatives built in one pass over
# the pairs (symmetric: half of them), K^-1 from the Cholesky factor ---------------------

def _gp_kernel(log_params, X):
    """(K, K_f, S): the kernel matrix, its noise-free part, the scaled squared distances."""
    inverse_length2 = math.exp(-2.0 * log_params[0])
    variance, noise = math.exp(log_params[1]), math.exp(log_params[2])
    n, d = X.shape
    K, K_f, S = np.empty((n, n)), np.empty((n, n)), np.empty((n, n))
    for a in range(n):
        for b in range(a + 1):
            square = 0.0
            for j in range(d):
                difference = X[a, j] - X[b, j]
                square += difference * difference
            s = square * inverse_length2
            S[a, b] = S[b, a] = s
            K_f[a, b] = K_f[b, a] = K[a, b] = K[b, a] = variance * math.exp(-0.5 * s)
        K[a, a] += noise
    return K, K_f, S, noise


def _spd_inverse(K):
    """K^-1 = L^-T L^-1 from K = L L^T: forward substitution row by row (each row of
    L^-1 is a contiguous combination of the rows above it), then one BLAS product."""
    L = np.linalg.cholesky(K)
    n = K.shape[0]
    L_inv = np.zeros((n, n))
    for i in range(n):
        L_inv[i, i] = 1.0
        for k in range(i):
            factor = L[i, k]
            for j in range(k + 1):
                L_inv[i, j] -= factor * L_inv[k, j]
        for j in range(i + 1):
            L_inv[i, j] /= L[i, i]
    return np.dot(L_inv.T, L_inv)


def make_gp_gradient():
    kernel, spd_inverse = jit(_gp_kernel), jit(_spd_inverse)

    def gp_gradient(log_params, X, y):
        K, K_f, S, noise = kernel(log_params, X)
        K_inv = spd_inverse(K)
        alpha = np.dot(K_inv, y)
        g = np.zeros(3)
        for a in range(K.shape[0]):
            for b in range(K.shape[0]):
                w = K_inv[a, b] - alpha[a] * alpha[b]
                g[0] += w * K_f[a, b] * S[a, b]
                g[1] += w * K_f[a, b]
            g[2] += (K_inv[a, a] - alpha[a] * alpha[a]) * noise
        return 0.5 * g
    return jit(gp_gradient)


def make_gp_hessian():
    kernel, spd_inverse = jit(_gp_kernel), jit(_spd_inverse)

    def gp_hessian(log_params, X, y):
        K, K_f, S, noise = kernel(log_params, X)
        n = K.shape[0]
        K_inv = spd_inverse(K)
        alpha = np.dot(K_inv, y)
        K_0 = K_f * S
        products = (np.dot(K_inv, K_0), np.dot(K_inv, K_f), noise * K_inv)  # K^-1 K_i
        pushed = (np.dot(K_0, alpha), np.dot(K_f, alpha), noise * alpha)   # K_i alpha
        second = np.zeros(3)  # 1/2 sum(W * K_ii) for i = 0, 1, 2, and the (0, 1) term below
        cross = 0.0
        for a in range(n):
            for b in range(n):
                w = K_inv[a, b] - alpha[a] * alpha[b]
                second[0] += w * K_0[a, b] * (S[a, b] - 2.0)
                cross += w * K_0[a, b]
                second[1] += w * K_f[a, b]
            second[2] += (K_inv[a, a] - alpha[a] * alpha[a]) * noise
        H = np.empty((3, 3))
        for i in range(3):
            through = np.dot(K_inv, pushed[i])
            for j in range(i, 3):
                trace = 0.0
                for a in range(n):
                    for b in range(n):
                        trace += products[i][a, b] * products[j][b, a]
                H[i, j] = np.dot(pushed[j], through) - 0.5 * trace
        H[0, 0] += 0.5 * second[0]
        H[0, 1] += 0.5 * cross
        H[1, 1] += 0.5 * second[1]
        H[2, 2] += 0.5 * second[2]
        for i in range(3):
            for j in range(i):
                H[i, j] = H[j, i]
        return H
    return jit(gp_hessian)


register(first_call_cases.gp_nll, "grad", lambda case: make_gp_gradient())
register(first_call_cases.gp_nll, "hessian", lambda case: make_gp_hessian())
