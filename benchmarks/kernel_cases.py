"""Cases for kernel speed: a large elementwise-heavy loss, and a Gaussian mixture.

1. ``heavy-<n>``: sum(log1p(exp(-x**2)) * tanh(0.7 x) + sin(x) x) at n = 10**6
   and 10**7: four transcendental functions per element, where the cost is
   the math library and the memory traffic, not the bookkeeping.
2. ``gmm``: the log-likelihood of N = 10,000 points under a mixture of
   K = 25 diagonal Gaussians in D = 10, the log-sum-exp over components
   written with max-subtraction, as users write it; the gradient with respect
   to the means, the log-scales and the log-weights (a (K, D), (K, D), (K,) tuple).

Both exact derivatives are worked out by hand below (closed forms, exact to
rounding).
"""
from __future__ import annotations

import math

import numpy

from .cases import Case, rng

LOG_2PI = math.log(2.0 * math.pi)


# --- Elementwise-heavy: sum(log1p(exp(-x**2)) * tanh(a x) + sin(x) x) ---------------

HEAVY_SLOPE = 0.7


def heavy(np):
    def f(x):
        return np.sum(np.log1p(np.exp(-x ** 2)) * np.tanh(HEAVY_SLOPE * x) + np.sin(x) * x)
    return f


def heavy_exact(x):
    """d/dx log1p(exp(-x^2)) = -2x exp(-x^2) / (1 + exp(-x^2)) = -2x / (1 + exp(x^2));
    d/dx tanh(a x) = a (1 - tanh(a x)^2); d/dx sin(x) x = cos(x) x + sin(x)."""
    t = numpy.tanh(HEAVY_SLOPE * x)
    return (-2.0 * x / (1.0 + numpy.exp(x ** 2)) * t
            + numpy.log1p(numpy.exp(-x ** 2)) * HEAVY_SLOPE * (1.0 - t ** 2)
            + numpy.cos(x) * x + numpy.sin(x))


# --- Gaussian mixture log-likelihood ---------------------------------------------------

def gmm(np):
    def f(means, log_scales, log_weights, X):
        z = (X[:, None, :] - means[None, :, :]) * np.exp(-log_scales)[None, :, :]
        log_density = (-0.5 * np.sum(z ** 2, axis=2) - np.sum(log_scales, axis=1)
                       - 0.5 * X.shape[1] * LOG_2PI)
        top = np.max(log_weights)
        log_mix = log_weights - (top + np.log(np.sum(np.exp(log_weights - top))))
        joint = log_density + log_mix
        best = np.max(joint, axis=1, keepdims=True)
        return -np.sum(best[:, 0] + np.log(np.sum(np.exp(joint - best), axis=1)))
    return f


def gmm_torch(torch):
    def f(means, log_scales, log_weights, X):
        z = (X[:, None, :] - means[None, :, :]) * torch.exp(-log_scales)[None, :, :]
        log_density = (-0.5 * torch.sum(z ** 2, dim=2) - torch.sum(log_scales, dim=1)
                       - 0.5 * X.shape[1] * LOG_2PI)
        top = torch.max(log_weights)
        log_mix = log_weights - (top + torch.log(torch.sum(torch.exp(log_weights - top))))
        joint = log_density + log_mix
        best = torch.max(joint, dim=1, keepdim=True).values
        return -torch.sum(best[:, 0] + torch.log(torch.sum(torch.exp(joint - best), dim=1)))
    return f


def _softmax(a, axis):
    e = numpy.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def gmm_exact(means, log_scales, log_weights, X):
    """With responsibilities r_nk = softmax_k(joint_nk) and mixture weights
    pi = softmax(log_weights), the negative log-likelihood has
    d/d mean_kd = -sum_n r_nk z_nkd / scale_kd, d/d log_scale_kd = -sum_n r_nk (z_nkd^2 - 1),
    d/d log_weight_k = N pi_k - sum_n r_nk."""
    inverse_scale = numpy.exp(-log_scales)
    z = (X[:, None, :] - means[None, :, :]) * inverse_scale[None, :, :]
    weights = _softmax(log_weights, 0)
    joint = (-0.5 * numpy.sum(z ** 2, axis=2) - numpy.sum(log_scales, axis=1)
             - 0.5 * X.shape[1] * LOG_2PI + numpy.log(weights))
    r = _softmax(joint, 1)
    return (-numpy.einsum("nk,nkd->kd", r, z) * inverse_scale,
            -numpy.einsum("nk,nkd->kd", r, z ** 2 - 1.0),
            X.shape[0] * weights - r.sum(axis=0))


def gmm_args(n, d, k):
    def make():
        r = rng()
        centres = r.standard_normal((k, d)) * 2.0
        X = centres[r.integers(0, k, n)] + r.standard_normal((n, d))
        return (centres + 0.3 * r.standard_normal((k, d)), r.uniform(-0.3, 0.3, (k, d)),
                r.standard_normal(k) * 0.3, X)
    return make


# --- The cases ---------------------------------------------------------------------------

SIZES = {"full": dict(heavy=(1_000_000, 10_000_000), gmm=(10_000, 10, 25)),
         "quick": dict(heavy=(1_000, 10_000), gmm=(200, 3, 4))}


def kernel_cases(quick: bool) -> list[Case]:
    size = SIZES["quick" if quick else "full"]
    found = [Case(f"heavy-{n}", f"sum(log1p(exp(-x**2))*tanh({HEAVY_SLOPE}x) + sin(x)x), "
                  f"n = {n:,}", "grad", heavy, heavy,
                  lambda n=n: (rng().uniform(-3.0, 3.0, n),), heavy_exact, "hand-derived", n,
                  group="heavy")
             for n in size["heavy"]]
    n, d, k = size["gmm"]
    found.append(Case("gmm", f"Gaussian mixture NLL (N={n:,}, D={d}, K={k} diagonal "
                      "components), gradient in means, log-scales, log-weights", "grad", gmm,
                      gmm_torch, gmm_args(n, d, k), gmm_exact,
                      "hand-derived (responsibilities)", 2 * k * d + k, argnums=(0, 1, 2)))
    return found
