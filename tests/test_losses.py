"""Real loss functions, written with plain NumPy, through the public API:
compiled gradients (reverse mode) and directional derivatives (forward mode)
against finite differences. Each loss is one or two kernels, so this file
stays quick."""
from __future__ import annotations

import numpy as np
import pytest

import jitad

rng = np.random.default_rng(7)


def softmax_cross_entropy(W, b, X, labels):
    """Mean negative log-likelihood of integer labels, with the max
    subtracted before exponentiating (the usual stable form)."""
    logits = X @ W + b
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(X.shape[0]), labels])


def logistic_nll(w, X, y):
    """Logistic regression: sum log(1 + exp(z)) - y z, plus an L2 penalty."""
    z = X @ w
    return np.sum(np.logaddexp(0.0, z) - y * z) + 0.5e-2 * np.dot(w, w)


def gaussian_nll(mu, A, X):
    """Negative log-likelihood of rows of X under N(mu, A A^T + 0.1 I)."""
    n, d = X.shape
    cov = A @ A.T + 0.1 * np.eye(d)
    _, logdet = np.linalg.slogdet(cov)
    centred = X - mu
    mahalanobis = np.sum(centred.T * np.linalg.solve(cov, centred.T))
    return 0.5 * (mahalanobis + n * logdet + n * d * np.log(2 * np.pi))


def kernel_ridge_loss(log_scale, log_ridge, X, y):
    """Kernel ridge regression with an RBF kernel: fit the weights in closed
    form and score the fit plus the ridge penalty (hyperparameters are the
    differentiated arguments)."""
    sq_norms = np.sum(X ** 2, axis=1)
    sq_dists = np.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * X @ X.T, 0.0)
    K = np.exp(-0.5 * sq_dists / np.exp(2.0 * log_scale))
    ridge = np.exp(log_ridge)
    alpha = np.linalg.solve(K + ridge * np.eye(len(y)), y)
    residual = K @ alpha - y
    return np.mean(residual ** 2) + ridge * alpha @ K @ alpha


X_CLS = rng.standard_normal((6, 4))
LABELS = np.array([0, 2, 1, 2, 2, 0])
X_REG = rng.standard_normal((8, 2))

LOSSES = {
    "softmax_cross_entropy": (softmax_cross_entropy, (0.5 * rng.standard_normal((4, 3)),
                                                      0.1 * rng.standard_normal(3), X_CLS, LABELS),
                              (0, 1)),
    "logistic_nll": (logistic_nll, (rng.standard_normal(4), X_CLS, (LABELS > 0).astype(float)),
                     0),
    "gaussian_nll": (gaussian_nll, (rng.standard_normal(3), rng.standard_normal((3, 3)),
                                    rng.standard_normal((5, 3))), (0, 1)),
    "kernel_ridge": (kernel_ridge_loss, (0.2, -1.0, X_REG, np.sin(X_REG[:, 0])), (0, 1)),
}


def _leaves(g, argnums):
    return g if isinstance(argnums, tuple) else (g,)


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_matches_finite_differences(name):
    f, args, argnums = LOSSES[name]
    value, grads = jitad.value_and_grad(f, argnums=argnums)(*args)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    fd = jitad.fd.grad(f, *args, argnums=argnums, method="richardson")
    for g, expected in zip(_leaves(grads, argnums), _leaves(fd, argnums)):
        assert type(g) is type(expected)
        np.testing.assert_allclose(g, expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "gaussian_nll"])
def test_forward_mode_matches_reverse_mode(name):
    f, args, argnums = LOSSES[name]
    directions = [rng.standard_normal(np.shape(args[i])) for i in argnums]
    grads = jitad.grad(f, argnums=argnums)(*args)
    n = len(args)

    def along(*moving):
        return f(*moving, *args[len(moving):n])
    _, derivative = jitad.jvp(along, tuple(args[:len(argnums)]), tuple(directions))
    expected = sum(np.sum(g * v) for g, v in zip(grads, directions))
    np.testing.assert_allclose(derivative, expected, rtol=1e-12)


def test_float32_softmax_cross_entropy():
    f, (W, b, X, labels), _ = LOSSES["softmax_cross_entropy"]
    W32, b32, X32 = W.astype(np.float32), b.astype(np.float32), X.astype(np.float32)
    value, (gW, gb) = jitad.value_and_grad(f, argnums=(0, 1))(W32, b32, X32, labels)
    assert np.asarray(value).dtype == np.float32
    assert gW.dtype == np.float32 and gb.dtype == np.float32
    expected = jitad.grad(f, argnums=0)(W, b, X, labels)
    np.testing.assert_allclose(gW, expected, rtol=2e-5, atol=1e-6)


def test_labels_out_of_range_raise_index_error():
    """Labels vary per call, so the compiled kernel checks them."""
    f, (W, b, X, labels), argnums = LOSSES["softmax_cross_entropy"]
    grad = jitad.grad(f, argnums=argnums)
    grad(W, b, X, labels)
    with pytest.raises(IndexError, match="out of bounds"):
        grad(W, b, X, np.array([0, 3, 1, 2, 2, 0]))
