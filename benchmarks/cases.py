"""The benchmark cases: loss functions, their inputs and their exact derivatives.

Each loss is written once against the NumPy API, as a factory taking the array
module: ``rosenbrock(numpy)`` is what jitad and finite differences
differentiate, ``rosenbrock(autograd.numpy)`` what HIPS autograd does and
``rosenbrock(jax.numpy)`` what JAX does, so all three run the same source text.
The PyTorch version stands beside it (``dim=``, ``.values`` and ``torch.logaddexp``
differ); where torch spells every call the same way the factory is reused.
A factory also gives each peer a fresh function object, so first calls are
real first calls (jitad, like JAX, caches per function object).

The exact derivative of each case is closed form (hand-derived) or the complex
step, which is exact to rounding for analytic code; ``exact_how`` says which.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy

SEED = 0


@dataclass(frozen=True)
class Case:
    name: str                  # selects the case: --cases rosenbrock-1000 (or rosenbrock: all n)
    title: str
    kind: str                  # "grad", "jacobian", "hessian" or "per-example" (vmap of grad)
    loss: Callable             # loss(numpy-like module) -> f
    loss_torch: Callable | None  # loss_torch(torch) -> f, the same computation; None: no torch row
    make_args: Callable        # () -> arguments as NumPy values, seeded
    exact: Callable            # exact(*args) -> the exact derivative, structured like a peer's
    exact_how: str
    size: int                  # number of inputs differentiated: n of the scaling plot
    argnums: int | tuple = 0
    group: str = ""            # cases drawn together in the scaling plot
    gradient: Callable | None = None  # hessian cases: what finite differences differentiate
    # Optional fields added for the open issues (keep them optional: benchmarks.adbench
    # builds Cases with the fields above only).
    loss_scan: Callable | None = None  # loss_scan(jax.numpy, jax.lax) -> f with lax.scan: jax[scan]
    in_axes: tuple | None = None       # per-example cases: vmap's in_axes


def rng():
    return numpy.random.default_rng(SEED)


# --- The classic example: f(x1, x2) = x1 sqrt(log(x1 / sin(x2**2))) -------------

def classic(np):
    def f(x1, x2):
        return x1 * np.sqrt(np.log(x1 / np.sin(x2 ** 2)))
    return f


def classic_exact(x1, x2):
    log_term = numpy.log(x1 / numpy.sin(x2 ** 2))
    root = numpy.sqrt(log_term)
    d_log_d_x2 = -2.0 * x2 * numpy.cos(x2 ** 2) / numpy.sin(x2 ** 2)
    return (root + 1.0 / (2.0 * root), x1 / (2.0 * root) * d_log_d_x2)


# --- Rosenbrock: sum 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2 --------------------

def rosenbrock(np):
    def f(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return f


def rosenbrock_gradient(x):
    inner = x[1:] - x[:-1] ** 2
    g = numpy.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * inner
    return g


def rosenbrock_hessian(x):
    diagonal = numpy.zeros_like(x)
    diagonal[:-1] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diagonal[1:] += 200.0
    off_diagonal = -400.0 * x[:-1]
    return numpy.diag(diagonal) + numpy.diag(off_diagonal, 1) + numpy.diag(off_diagonal, -1)


def uniform_args(n, low, high):
    return lambda: (rng().uniform(low, high, n),)


# --- The 2-layer network: ReLU hidden layer, MSE loss ---------------------------

def network(np):
    def f(params, x, y):
        h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
        return np.sum((h @ params["W2"] + params["b2"] - y) ** 2)
    return f


def network_torch(torch):
    def f(params, x, y):
        h = torch.relu(x @ params["W1"] + params["b1"])
        return torch.sum((h @ params["W2"] + params["b2"] - y) ** 2)
    return f


def network_exact(params, x, y):
    """Backpropagation by hand (ReLU' taken as 0 at 0; no pre-activation is exactly 0)."""
    pre = x @ params["W1"] + params["b1"]
    h = numpy.maximum(pre, 0.0)
    d_out = 2.0 * (h @ params["W2"] + params["b2"] - y)
    d_pre = (d_out @ params["W2"].T) * (pre > 0)
    return {"W1": x.T @ d_pre, "b1": d_pre.sum(axis=0),
            "W2": h.T @ d_out, "b2": d_out.sum(axis=0)}


def network_args(n, d_in, hidden, d_out):
    def make():
        r = rng()
        params = {"W1": r.standard_normal((d_in, hidden)) / numpy.sqrt(d_in),
                  "b1": r.standard_normal(hidden) * 0.1,
                  "W2": r.standard_normal((hidden, d_out)) / numpy.sqrt(hidden),
                  "b2": r.standard_normal(d_out) * 0.1}
        return params, r.standard_normal((n, d_in)), r.standard_normal((n, d_out))
    return make


# --- Logistic regression: negative log-likelihood --------------------------------

def logistic_nll(np):
    def f(w, X, y):
        z = X @ w
        return np.sum(np.logaddexp(0.0, z) - y * z)
    return f


def logistic_nll_torch(torch):
    def f(w, X, y):
        z = X @ w
        return torch.sum(torch.logaddexp(torch.zeros_like(z), z) - y * z)
    return f


def logistic_nll_exact(w, X, y):
    z = X @ w
    sigmoid = numpy.exp(-numpy.logaddexp(0.0, -z))
    return X.T @ (sigmoid - y)


def logistic_args(n, d):
    def make():
        r = rng()
        X = r.standard_normal((n, d))
        return r.standard_normal(d) * 0.3, X, (r.random(n) < 0.5).astype(numpy.float64)
    return make


# --- Softmax cross-entropy with integer labels ------------------------------------

def softmax_cross_entropy(np):
    def f(W, X, labels):
        z = X @ W
        z = z - np.max(z, axis=1, keepdims=True)
        log_normaliser = np.log(np.sum(np.exp(z), axis=1))
        return np.mean(log_normaliser - z[np.arange(X.shape[0]), labels])
    return f


def softmax_cross_entropy_torch(torch):
    def f(W, X, labels):
        z = X @ W
        z = z - torch.max(z, dim=1, keepdim=True).values
        log_normaliser = torch.log(torch.sum(torch.exp(z), dim=1))
        return torch.mean(log_normaliser - z[torch.arange(X.shape[0]), labels])
    return f


def softmax_cross_entropy_exact(W, X, labels):
    z = X @ W
    p = numpy.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[numpy.arange(len(labels)), labels] -= 1.0
    return X.T @ p / len(labels)


def softmax_args(n, d, classes):
    def make():
        r = rng()
        return (r.standard_normal((d, classes)) * 0.1, r.standard_normal((n, d)),
                r.integers(0, classes, n))
    return make


# --- A long elementwise chain: 30 ufuncs ------------------------------------------

# sin -> exp -> sqrt -> log1p -> tanh keeps every value in (0, 1], inside each
# next function's domain; torch spells all five the same, so the factory serves it.
CHAIN_UFUNCS = ("sin", "exp", "sqrt", "log1p", "tanh") * 6


def elementwise_chain_body(np):
    ufuncs = [getattr(np, name) for name in CHAIN_UFUNCS]

    def body(x):
        for ufunc in ufuncs:
            x = ufunc(x)
        return x
    return body


def elementwise_chain(np):
    body = elementwise_chain_body(np)

    def f(x):
        return np.sum(body(x))
    return f


def elementwise_chain_exact(x):
    """The complex step in one vectorised sweep: f is a sum of one function of
    each x_i, so perturbing every x_i by i*h at once is exact coordinate-wise."""
    h = 1e-20 * numpy.maximum(numpy.abs(x), 1.0)
    return elementwise_chain_body(numpy)(x + 1j * h).imag / h


# --- A scalar loop that the tracer unrolls: 1,000 steps ---------------------------

LOOP_STEPS = 1000


def scalar_loop(np, steps=LOOP_STEPS):
    def f(x):
        for _ in range(steps):
            x = np.sin(x) * 1.01 + 0.1 * x
        return x
    return f


def scalar_loop_exact(x):
    """The complex step (the derivative, a product of 1,000 factors near 0.79,
    is ~1e-103: only a method free of cancellation can resolve it)."""
    h = 1e-20
    return float(scalar_loop(numpy)(x + 1j * h).imag / h)


# --- Jacobian of tanh(W @ x) (issue 3) ---------------------------------------------

def tanh_layer(np):
    def f(x, W):
        return np.tanh(W @ x)
    return f


def tanh_layer_exact(x, W):
    return (1.0 - numpy.tanh(W @ x) ** 2)[:, None] * W


def tanh_layer_args(outputs, inputs):
    def make():
        r = rng()
        return r.standard_normal(inputs), r.standard_normal((outputs, inputs)) / numpy.sqrt(inputs)
    return make


# --- The suite ---------------------------------------------------------------------

ROSENBROCK_SIZES = {"full": (10, 100, 1_000, 10_000, 100_000, 1_000_000),
                    "quick": (10, 100, 1_000, 10_000)}
SIZES = {
    "full": dict(network=(64, 1000, 100, 10), logistic=(1000, 100), softmax=(500, 100, 10),
                 chain=100_000, jacobian=(10, 1000), hessian=100),
    "quick": dict(network=(16, 100, 20, 5), logistic=(100, 10), softmax=(50, 10, 5),
                  chain=1_000, jacobian=(5, 50), hessian=20),
}


def core_cases(quick: bool) -> list[Case]:
    """The suite's first cases (the loss functions of issues 1-3)."""
    mode = "quick" if quick else "full"
    size = SIZES[mode]
    cases = [Case("classic", "x1*sqrt(log(x1/sin(x2**2))) at (2.0, 0.5)", "grad", classic,
                  classic, lambda: (2.0, 0.5), classic_exact, "hand-derived", 2, argnums=(0, 1))]
    cases += [Case(f"rosenbrock-{n}", f"Rosenbrock, n = {n:,}", "grad", rosenbrock, rosenbrock,
                   uniform_args(n, -1.0, 1.5), rosenbrock_gradient, "closed form", n, group="rosenbrock")
              for n in ROSENBROCK_SIZES[mode]]
    n, d_in, hidden, d_out = size["network"]
    cases.append(Case("network", f"2-layer ReLU network, MSE (N={n}, D_in={d_in}, H={hidden}, "
                      f"D_out={d_out})", "grad", network, network_torch,
                      network_args(n, d_in, hidden, d_out), network_exact,
                      "hand-written backpropagation", d_in * hidden + hidden + hidden * d_out + d_out))
    n, d = size["logistic"]
    cases.append(Case("logistic", f"logistic regression NLL (N={n}, D={d})", "grad", logistic_nll,
                      logistic_nll_torch, logistic_args(n, d), logistic_nll_exact,
                      "closed form X^T (sigmoid(Xw) - y)", d))
    n, d, classes = size["softmax"]
    cases.append(Case("softmax-xent", f"softmax cross-entropy, integer labels (N={n}, D={d}, "
                      f"C={classes})", "grad", softmax_cross_entropy, softmax_cross_entropy_torch,
                      softmax_args(n, d, classes), softmax_cross_entropy_exact,
                      "closed form X^T (softmax - onehot) / N", d * classes))
    n = size["chain"]
    cases.append(Case("chain", f"{len(CHAIN_UFUNCS)} chained ufuncs, n = {n:,}", "grad",
                      elementwise_chain, elementwise_chain,
                      uniform_args(n, -2.0, 2.0), elementwise_chain_exact,
                      "complex step, one vectorised sweep", n))
    cases.append(Case("scalar-loop", f"x = sin(x)*1.01 + 0.1*x, {LOOP_STEPS:,} steps", "grad",
                      scalar_loop, scalar_loop, lambda: (0.3,), scalar_loop_exact,
                      "complex step", 1))
    short, long = size["jacobian"]
    for outputs, inputs in ((short, long), (long, short)):
        cases.append(Case(f"jacobian-{outputs}x{inputs}", f"Jacobian of tanh(W @ x), W {outputs}x"
                          f"{inputs}", "jacobian", tanh_layer, tanh_layer,
                          tanh_layer_args(outputs, inputs), tanh_layer_exact, "closed form",
                          inputs))
    n = size["hessian"]
    cases.append(Case(f"hessian-rosenbrock-{n}", f"Hessian of Rosenbrock, n = {n}", "hessian",
                      rosenbrock, rosenbrock, uniform_args(n, -1.0, 1.5), rosenbrock_hessian,
                      "closed form (tridiagonal)", n, gradient=rosenbrock_gradient))
    return cases
