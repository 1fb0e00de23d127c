"""Loop cases, part 2: recurrent losses (an HMM forward pass and an LSTM).

As in loop_cases.py: the Python loop unrolled by jitad and by JAX's jit, a
``jax.lax.scan`` version for ``jax[scan]``, PyTorch and HIPS autograd eager.

1. ``hmm``: the log-likelihood of 100 observed symbols under a hidden Markov
   model with 8 states and 12 symbols, the forward algorithm in log space
   (log-sum-exp with max-subtraction at every step); the gradient with
   respect to the transition and emission logits (rows normalised by a
   log-softmax inside the loss). Exact: the complex step, one evaluation per
   logit.
2. ``lstm``: an LSTM (hidden size 128, input size 32, a batch of 16) over 100
   steps with a linear readout at every step, the mean squared error against
   targets; the gradient with respect to all weights (83,464 of them). Exact:
   backpropagation through time written out in NumPy below (the test suite
   checks it against the complex step).
"""
from __future__ import annotations

import math

import numpy

from .cases import Case, rng
from .loop_cases import complex_step

# --- 1. HMM forward algorithm in log space -------------------------------------------------


def hmm_nll(np):
    def log_softmax_rows(logits):
        top = np.max(logits, axis=1, keepdims=True)
        return logits - (top + np.log(np.sum(np.exp(logits - top), axis=1, keepdims=True)))

    def f(transition_logits, emission_logits, log_initial, observations):
        log_A = log_softmax_rows(transition_logits)
        log_B = log_softmax_rows(emission_logits)
        alpha = log_initial + log_B[:, observations[0]]
        for t in range(1, observations.shape[0]):
            scores = alpha[:, None] + log_A
            top = np.max(scores, axis=0)
            alpha = top + np.log(np.sum(np.exp(scores - top), axis=0)) + log_B[:, observations[t]]
        top = np.max(alpha)
        return -(top + np.log(np.sum(np.exp(alpha - top))))
    return f


def hmm_nll_torch(torch):
    def log_softmax_rows(logits):
        top = torch.max(logits, dim=1, keepdim=True).values
        return logits - (top + torch.log(torch.sum(torch.exp(logits - top), dim=1, keepdim=True)))

    def f(transition_logits, emission_logits, log_initial, observations):
        log_A = log_softmax_rows(transition_logits)
        log_B = log_softmax_rows(emission_logits)
        alpha = log_initial + log_B[:, observations[0]]
        for t in range(1, observations.shape[0]):
            scores = alpha[:, None] + log_A
            top = torch.max(scores, dim=0).values
            alpha = (top + torch.log(torch.sum(torch.exp(scores - top), dim=0))
                     + log_B[:, observations[t]])
        top = torch.max(alpha)
        return -(top + torch.log(torch.sum(torch.exp(alpha - top))))
    return f


def hmm_nll_scan(jnp, lax):
    def log_softmax_rows(logits):
        top = jnp.max(logits, axis=1, keepdims=True)
        return logits - (top + jnp.log(jnp.sum(jnp.exp(logits - top), axis=1, keepdims=True)))

    def f(transition_logits, emission_logits, log_initial, observations):
        log_A = log_softmax_rows(transition_logits)
        log_B = log_softmax_rows(emission_logits)

        def step(alpha, symbol):
            scores = alpha[:, None] + log_A
            top = jnp.max(scores, axis=0)
            return top + jnp.log(jnp.sum(jnp.exp(scores - top), axis=0)) + log_B[:, symbol], None
        alpha, _ = lax.scan(step, log_initial + log_B[:, observations[0]], observations[1:])
        top = jnp.max(alpha)
        return -(top + jnp.log(jnp.sum(jnp.exp(alpha - top))))
    return f


def hmm_args(steps, states, symbols):
    def make():
        r = rng()
        return (r.standard_normal((states, states)), r.standard_normal((states, symbols)),
                numpy.full(states, -numpy.log(states)), r.integers(0, symbols, steps))
    return make


def hmm_exact(transition_logits, emission_logits, log_initial, observations):
    f = hmm_nll(numpy)
    sizes = (transition_logits.size, emission_logits.size)
    theta = numpy.concatenate([transition_logits.ravel(), emission_logits.ravel()])

    def of_theta(values):
        return f(values[:sizes[0]].reshape(transition_logits.shape),
                 values[sizes[0]:].reshape(emission_logits.shape), log_initial, observations)
    gradient = complex_step(of_theta, theta)
    return (gradient[:sizes[0]].reshape(transition_logits.shape),
            gradient[sizes[0]:].reshape(emission_logits.shape))


# --- 2. LSTM, readout at every step, mean squared error -------------------------------------

LSTM_WEIGHTS = ("Wx", "Wh", "b", "Wy", "by")


def lstm_mse(np):
    """torch spells exp, tanh and sum the same: the factory serves it too."""
    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def f(params, xs, targets, h0, c0):
        hidden = params["Wh"].shape[0]
        h, c, total = h0, c0, 0.0
        for t in range(xs.shape[0]):
            z = xs[t] @ params["Wx"] + h @ params["Wh"] + params["b"]
            i = sigmoid(z[:, :hidden])
            f_gate = sigmoid(z[:, hidden:2 * hidden])
            g = np.tanh(z[:, 2 * hidden:3 * hidden])
            o = sigmoid(z[:, 3 * hidden:])
            c = f_gate * c + i * g
            h = o * np.tanh(c)
            total = total + np.sum((h @ params["Wy"] + params["by"] - targets[t]) ** 2)
        return total / math.prod(targets.shape)
    return f


def lstm_mse_scan(jnp, lax):
    def sigmoid(z):
        return 1.0 / (1.0 + jnp.exp(-z))

    def f(params, xs, targets, h0, c0):
        hidden = params["Wh"].shape[0]

        def step(carry, inputs):
            h, c, total = carry
            x, target = inputs
            z = x @ params["Wx"] + h @ params["Wh"] + params["b"]
            i, f_gate = sigmoid(z[:, :hidden]), sigmoid(z[:, hidden:2 * hidden])
            g, o = jnp.tanh(z[:, 2 * hidden:3 * hidden]), sigmoid(z[:, 3 * hidden:])
            c = f_gate * c + i * g
            h = o * jnp.tanh(c)
            return (h, c, total + jnp.sum((h @ params["Wy"] + params["by"] - target) ** 2)), None
        (_, _, total), _ = lax.scan(step, (h0, c0, 0.0), (xs, targets))
        return total / math.prod(targets.shape)
    return f


def lstm_exact(params, xs, targets, h0, c0):
    """Backpropagation through time, by hand."""
    Wx, Wh, b, Wy, by = (params[name] for name in LSTM_WEIGHTS)
    hidden = Wh.shape[0]
    scale = 2.0 / targets.size
    h, c, tape = h0, c0, []
    for t in range(xs.shape[0]):
        z = xs[t] @ Wx + h @ Wh + b
        gates = 1.0 / (1.0 + numpy.exp(-z))
        gates[:, 2 * hidden:3 * hidden] = numpy.tanh(z[:, 2 * hidden:3 * hidden])
        i, f_gate, g, o = numpy.split(gates, 4, axis=1)
        c_previous, h_previous = c, h
        c = f_gate * c + i * g
        tanh_c = numpy.tanh(c)
        h = o * tanh_c
        tape.append((h_previous, c_previous, i, f_gate, g, o, tanh_c, h,
                     scale * (h @ Wy + by - targets[t])))
    grads = {name: numpy.zeros_like(params[name]) for name in LSTM_WEIGHTS}
    h_bar, c_bar = numpy.zeros_like(h0), numpy.zeros_like(c0)
    for t in reversed(range(xs.shape[0])):
        h_previous, c_previous, i, f_gate, g, o, tanh_c, h, r = tape[t]
        grads["Wy"] += h.T @ r
        grads["by"] += r.sum(axis=0)
        h_bar = h_bar + r @ Wy.T
        c_bar = c_bar + h_bar * o * (1.0 - tanh_c ** 2)
        z_bar = numpy.concatenate([c_bar * g * i * (1.0 - i),
                                   c_bar * c_previous * f_gate * (1.0 - f_gate),
                                   c_bar * i * (1.0 - g ** 2),
                                   h_bar * tanh_c * o * (1.0 - o)], axis=1)
        grads["Wx"] += xs[t].T @ z_bar
        grads["Wh"] += h_previous.T @ z_bar
        grads["b"] += z_bar.sum(axis=0)
        h_bar, c_bar = z_bar @ Wh.T, c_bar * f_gate
    return grads


def lstm_args(steps, batch, inputs, hidden, outputs):
    def make():
        r = rng()
        params = {"Wx": r.standard_normal((inputs, 4 * hidden)) / numpy.sqrt(inputs),
                  "Wh": r.standard_normal((hidden, 4 * hidden)) / numpy.sqrt(hidden),
                  "b": r.standard_normal(4 * hidden) * 0.1,
                  "Wy": r.standard_normal((hidden, outputs)) / numpy.sqrt(hidden),
                  "by": r.standard_normal(outputs) * 0.1}
        return (params, r.standard_normal((steps, batch, inputs)),
                r.standard_normal((steps, batch, outputs)), numpy.zeros((batch, hidden)),
                numpy.zeros((batch, hidden)))
    return make


# --- The cases ------------------------------------------------------------------------------

SIZES = {"full": dict(hmm=(100, 8, 12), lstm=(100, 16, 32, 128, 8)),
         "quick": dict(hmm=(3, 3, 4), lstm=(2, 2, 3, 5, 2))}


def recurrent_cases(quick: bool) -> list[Case]:
    size = SIZES["quick" if quick else "full"]
    steps, states, symbols = size["hmm"]
    found = [Case("hmm", f"HMM forward algorithm in log space, {steps} steps, {states} states, "
                  f"{symbols} symbols", "grad", hmm_nll, hmm_nll_torch,
                  hmm_args(steps, states, symbols), hmm_exact, "complex step",
                  states * (states + symbols), argnums=(0, 1), group="loops",
                  loss_scan=hmm_nll_scan)]
    steps, batch, inputs, hidden, outputs = size["lstm"]
    weights = inputs * 4 * hidden + hidden * 4 * hidden + 4 * hidden + hidden * outputs + outputs
    found.append(Case("lstm", f"LSTM, {steps} steps, hidden {hidden}, input {inputs}, batch "
                      f"{batch}, MSE of a readout", "grad", lstm_mse, lstm_mse,
                      lstm_args(steps, batch, inputs, hidden, outputs), lstm_exact,
                      "backpropagation through time by hand", weights, group="loops",
                      loss_scan=lstm_mse_scan))
    return found
