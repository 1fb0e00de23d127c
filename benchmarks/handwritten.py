"""The hand-written numba gradient peer (``--peers numba``, row ``numba-hand``).

For each case, the gradient (Jacobian, Hessian) an expert numba user writes by
hand when speed matters: fused single-pass loops over the data, no temporary
arrays beyond the result and what the backward pass must keep, matrix
products through ``np.dot`` (BLAS), the derivative formulas worked out on
paper. It is the ceiling jitad's generated kernels are measured against.

Same float semantics as jitad: ``numba.njit(cache=False, error_model="numpy")``
(jitad's kernels use ``error_model="numpy"`` too: x/0 is inf, not an
exception) and no ``fastmath``. jitad must be exact to rounding, so it cannot
let LLVM reassociate sums or assume no NaN; a ceiling measured with fastmath
would measure a different, inexact computation. ``cache=False`` and a fresh
dispatcher per build make the first call a real compile, reported as the
peer's first call like every other peer's.

Each kernel is registered in ``HANDWRITTEN`` under the case's loss factory and
kind (``(cases.rosenbrock, "grad")``), with how to pass the case's arguments
to it and how to shape its result like the exact derivative. A case with no
entry (the adbench cases) gets a note, not a row. The kernels of the cases
added for the open issues live in handwritten_models.py and
handwritten_loops.py, which register into the same table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import cases
from .peers import Variant
from .timing import first_call


def jit(function):
    """A new numba dispatcher for ``function``: its first call compiles."""
    import numba
    return numba.njit(cache=False, error_model="numpy")(function)


@dataclass(frozen=True)
class HandGradient:
    make: Callable              # make(case) -> a new kernel, compiled on its first call
    pack: Callable = lambda *args: args   # the case's arguments -> the kernel's
    unpack: Callable = lambda result, *args: result  # kernel result -> shaped like exact


HANDWRITTEN: dict = {}  # (loss factory, kind) -> HandGradient


def loss_key(loss):
    """The factory itself; for a partial (``functools.partial(rk4_oscillators, steps=100)``)
    the function it wraps, so one kernel maker serves every size."""
    return getattr(loss, "func", loss)


def register(loss, kind, make, **options):
    HANDWRITTEN[(loss, kind)] = HandGradient(make, **options)


def simple(kernel):
    """A kernel maker for a kernel that needs nothing from the case."""
    return lambda case: jit(kernel)


class NumbaHandPeer:
    family = "numba"

    def setup(self) -> dict:
        import numba
        # The kernels of the newer cases register themselves into HANDWRITTEN on import
        # (they import register from here, so they cannot be imported above).
        from . import handwritten_loops, handwritten_models  # noqa: F401
        # numba's one-time start-up (LLVM, typing tables), as JitadPeer pays it.
        probe = jit(lambda x: x * 2.0)
        _, seconds = first_call(probe, (1.0,))
        return {"version": numba.__version__, "numba_startup_s": seconds,
                "options": "njit(cache=False, error_model='numpy'), no fastmath"}

    def variant_names(self, case) -> list:
        return ["numba-hand"] if (loss_key(case.loss), case.kind) in HANDWRITTEN else []

    def missing(self, case) -> str:
        return "no hand-written gradient for this case"

    def build(self, case, args, plan, name):
        hand = HANDWRITTEN[(loss_key(case.loss), case.kind)]
        kernel_args = hand.pack(*args)
        kernel = hand.make(case)
        result, seconds = first_call(kernel, kernel_args)
        return Variant(name, self.family, kernel, kernel_args, hand.unpack(result, *args), seconds)


# --- classic: f = x1 sqrt(log(x1 / sin(x2**2))) ------------------------------------

def classic_gradient(x1, x2):
    square = x2 * x2
    sine = math.sin(square)
    root = math.sqrt(math.log(x1 / sine))
    return root + 0.5 / root, x1 / (2.0 * root) * (-2.0 * x2 * math.cos(square) / sine)


register(cases.classic, "grad", simple(classic_gradient))


# --- Rosenbrock: one pass; the term of pair i-1 is carried into element i -------------

def rosenbrock_gradient(x):
    n = x.shape[0]
    g = np.empty(n)
    carried = 0.0  # 200 (x[i] - x[i-1]**2): the derivative of pair i-1 by x[i]
    for i in range(n - 1):
        xi = x[i]
        inner = x[i + 1] - xi * xi
        g[i] = carried - 400.0 * xi * inner - 2.0 * (1.0 - xi)
        carried = 200.0 * inner
    g[n - 1] = carried
    return g


def rosenbrock_hessian(x):
    n = x.shape[0]
    hessian = np.zeros((n, n))
    for i in range(n - 1):
        xi = x[i]
        hessian[i, i] += 1200.0 * xi * xi - 400.0 * x[i + 1] + 2.0
        hessian[i + 1, i + 1] += 200.0
        hessian[i, i + 1] = hessian[i + 1, i] = -400.0 * xi
    return hessian


register(cases.rosenbrock, "grad", simple(rosenbrock_gradient))
register(cases.rosenbrock, "hessian", simple(rosenbrock_hessian))


# --- The 2-layer ReLU network: BLAS products, bias and mask fused into one pass each ---

def network_gradient(W1, b1, W2, b2, x, y):
    n, hidden = x.shape[0], W1.shape[1]
    d_out = W2.shape[1]
    h = np.dot(x, W1)
    for i in range(n):
        for j in range(hidden):
            h[i, j] = max(h[i, j] + b1[j], 0.0)
    residual = np.dot(h, W2)
    g_b2 = np.zeros(d_out)
    for i in range(n):
        for j in range(d_out):
            r = 2.0 * (residual[i, j] + b2[j] - y[i, j])
            residual[i, j] = r
            g_b2[j] += r
    d_h = np.dot(residual, W2.T)
    g_b1 = np.zeros(hidden)
    for i in range(n):
        for j in range(hidden):
            if h[i, j] <= 0.0:  # ReLU' = 0 where the unit is off (h = 0 there)
                d_h[i, j] = 0.0
            g_b1[j] += d_h[i, j]
    return np.dot(x.T, d_h), g_b1, np.dot(h.T, residual), g_b2


def _network_pack(params, x, y):
    return params["W1"], params["b1"], params["W2"], params["b2"], x, y


def _network_unpack(result, params, x, y):
    return dict(zip(("W1", "b1", "W2", "b2"), result))


register(cases.network, "grad", simple(network_gradient), pack=_network_pack,
         unpack=_network_unpack)


# --- Logistic regression NLL: X^T (sigmoid(Xw) - y), the residual formed in place -------

def logistic_gradient(w, X, y):
    z = np.dot(X, w)
    for i in range(z.shape[0]):
        if z[i] >= 0.0:  # the stable sigmoid: exp of a non-positive number only
            sigmoid = 1.0 / (1.0 + math.exp(-z[i]))
        else:
            e = math.exp(z[i])
            sigmoid = e / (1.0 + e)
        z[i] = sigmoid - y[i]
    return np.dot(X.T, z)


register(cases.logistic_nll, "grad", simple(logistic_gradient))


# --- Softmax cross-entropy: one pass per row turns the logits into softmax - onehot ----

def softmax_cross_entropy_gradient(W, X, labels):
    z = np.dot(X, W)
    n, classes = z.shape
    for i in range(n):
        largest = z[i, 0]
        for k in range(1, classes):
            largest = max(largest, z[i, k])
        total = 0.0
        for k in range(classes):
            z[i, k] = math.exp(z[i, k] - largest)
            total += z[i, k]
        for k in range(classes):
            z[i, k] = z[i, k] / total / n
        z[i, labels[i]] -= 1.0 / n
    return np.dot(X.T, z)


register(cases.softmax_cross_entropy, "grad", simple(softmax_cross_entropy_gradient))


# --- The 30-ufunc chain: a sum of one function of each x_i, so the derivative of each
# element is a product carried through the chain in the same pass (no stored values) --

CHAIN_PERIOD = ("sin", "exp", "sqrt", "log1p", "tanh")
assert cases.CHAIN_UFUNCS == CHAIN_PERIOD * 6, "the kernel below spells the chain out"


def chain_gradient(x):
    g = np.empty_like(x)
    for i in range(x.shape[0]):
        v, d = x[i], 1.0
        for _ in range(6):
            d *= math.cos(v)
            v = math.exp(math.sin(v))
            d *= v
            v = math.sqrt(v)
            d *= 0.5 / v
            d /= 1.0 + v
            v = math.tanh(math.log1p(v))
            d *= 1.0 - v * v
        g[i] = d
    return g


register(cases.elementwise_chain, "grad", simple(chain_gradient))


# --- The scalar loop: one input, so the forward derivative rides along the loop ---------

def scalar_loop_gradient(x):
    d = 1.0
    for _ in range(cases.LOOP_STEPS):
        d *= math.cos(x) * 1.01 + 0.1
        x = math.sin(x) * 1.01 + 0.1 * x
    return d


register(cases.scalar_loop, "grad", simple(scalar_loop_gradient))


# --- Jacobian of tanh(W @ x): (1 - tanh(Wx)**2)[:, None] * W, one pass over W ----------

def tanh_layer_jacobian(x, W):
    z = np.dot(W, x)
    jacobian = np.empty_like(W)
    for i in range(W.shape[0]):
        t = math.tanh(z[i])
        slope = 1.0 - t * t
        for j in range(W.shape[1]):
            jacobian[i, j] = slope * W[i, j]
    return jacobian


register(cases.tanh_layer, "jacobian", simple(tanh_layer_jacobian))


# --- Per-example gradients of the network: the forward pass batched through BLAS, the
# outer products written into the per-example blocks ------------------------------------

def per_example_network_gradient(W1, b1, W2, b2, x, y):
    batch, d_in = x.shape
    hidden, d_out = W1.shape[1], W2.shape[1]
    h = np.dot(x, W1)
    for n in range(batch):
        for j in range(hidden):
            h[n, j] = max(h[n, j] + b1[j], 0.0)
    residual = np.dot(h, W2)
    for n in range(batch):
        for k in range(d_out):
            residual[n, k] = 2.0 * (residual[n, k] + b2[k] - y[n, k])
    d_h = np.dot(residual, W2.T)
    g_W1, g_W2 = np.empty((batch, d_in, hidden)), np.empty((batch, hidden, d_out))
    for n in range(batch):
        for j in range(hidden):
            if h[n, j] <= 0.0:
                d_h[n, j] = 0.0
        for i in range(d_in):
            for j in range(hidden):
                g_W1[n, i, j] = x[n, i] * d_h[n, j]
        for j in range(hidden):
            for k in range(d_out):
                g_W2[n, j, k] = h[n, j] * residual[n, k]
    return g_W1, d_h, g_W2, residual


register(cases.network, "per-example", simple(per_example_network_gradient),
         pack=_network_pack, unpack=_network_unpack)
