"""Hand-written numba gradients of the loop cases (loop_cases.py, recurrent_cases.py),
registered into handwritten.HANDWRITTEN: discrete adjoints, as an expert writes them.

- RK4 (both ODEs): the forward pass stores the state after every step; the
  backward pass walks the steps in reverse, recomputes the four stages of a
  step from its stored state and pulls the adjoint back through them with
  the right-hand side's hand-written vector-Jacobian product (one for the
  state, one accumulated into the parameters). Preallocated stage buffers.
- Kalman filter: the forward pass stores each step's predicted covariance,
  innovation, inverse innovation covariance and gain; the backward pass is
  the matrix adjoint of every line of the filter, 2x2 algebra written out.
- HMM: forward log-probabilities stored per step; the backward pass takes the
  softmax weights of each log-sum-exp; the logits' gradient through the row
  log-softmax at the end.
- LSTM: the gates, cell states and tanh(c) stored per step; backpropagation
  through time with BLAS products (np.dot) and one fused loop per step for
  the gate derivatives.
"""
from __future__ import annotations

import math

import numpy as np

from . import loop_cases, recurrent_cases
from .handwritten import jit, register


def _steps(case) -> int:
    return case.loss.keywords["steps"]  # the loop cases' losses are partials with steps=


# --- RK4 discrete adjoint, for any right-hand side with a hand-written VJP ---------------

def make_rk4_adjoint(rhs, rhs_vjp, steps, step_size, trajectory):
    """rhs(s, p, out); rhs_vjp(s, p, w, s_bar, p_bar): s_bar = (df/ds)^T w, p_bar += (df/dp)^T w.
    The loss: sum of squares of (final state - target), or with ``trajectory`` of
    (state after step t - targets[t]) over all steps."""
    rhs, rhs_vjp = jit(rhs), jit(rhs_vjp)

    def gradient(p, state0, targets):
        n, h = state0.shape[0], step_size
        states = np.empty((steps + 1, n))
        states[0] = state0
        k1, k2, k3, k4 = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        u2, u3, u4 = np.empty(n), np.empty(n), np.empty(n)
        for t in range(steps):
            s = states[t]
            rhs(s, p, k1)
            for i in range(n):
                u2[i] = s[i] + 0.5 * h * k1[i]
            rhs(u2, p, k2)
            for i in range(n):
                u3[i] = s[i] + 0.5 * h * k2[i]
            rhs(u3, p, k3)
            for i in range(n):
                u4[i] = s[i] + h * k3[i]
            rhs(u4, p, k4)
            for i in range(n):
                states[t + 1, i] = s[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])
        s_bar, pulled, p_bar = np.zeros(n), np.empty(n), np.zeros(p.shape[0])
        k1_bar, k2_bar, k3_bar, k4_bar = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        if not trajectory:
            for i in range(n):
                s_bar[i] = 2.0 * (states[steps, i] - targets[i])
        for t in range(steps - 1, -1, -1):
            if trajectory:
                for i in range(n):
                    s_bar[i] += 2.0 * (states[t + 1, i] - targets[t, i])
            s = states[t]  # recompute the stage inputs of step t
            rhs(s, p, k1)
            for i in range(n):
                u2[i] = s[i] + 0.5 * h * k1[i]
            rhs(u2, p, k2)
            for i in range(n):
                u3[i] = s[i] + 0.5 * h * k2[i]
            rhs(u3, p, k3)
            for i in range(n):
                u4[i] = s[i] + h * k3[i]
            for i in range(n):
                k1_bar[i] = k4_bar[i] = h / 6.0 * s_bar[i]
                k2_bar[i] = k3_bar[i] = h / 3.0 * s_bar[i]
            rhs_vjp(u4, p, k4_bar, pulled, p_bar)
            for i in range(n):
                s_bar[i] += pulled[i]
                k3_bar[i] += h * pulled[i]
            rhs_vjp(u3, p, k3_bar, pulled, p_bar)
            for i in range(n):
                s_bar[i] += pulled[i]
                k2_bar[i] += 0.5 * h * pulled[i]
            rhs_vjp(u2, p, k2_bar, pulled, p_bar)
            for i in range(n):
                s_bar[i] += pulled[i]
                k1_bar[i] += 0.5 * h * pulled[i]
            rhs_vjp(s, p, k1_bar, pulled, p_bar)
            for i in range(n):
                s_bar[i] += pulled[i]
        return p_bar
    return jit(gradient)


def oscillators_rhs(s, p, out):
    pull = p[4] * (s[2] - s[0])
    out[0] = s[1]
    out[1] = -p[0] * s[0] - p[1] * s[1] - p[5] * s[0] ** 3 + pull
    out[2] = s[3]
    out[3] = -p[2] * s[2] - p[3] * s[3] - pull


def oscillators_vjp(s, p, w, s_bar, p_bar):
    s_bar[0] = w[1] * (-p[0] - 3.0 * p[5] * s[0] * s[0] - p[4]) + w[3] * p[4]
    s_bar[1] = w[0] - w[1] * p[1]
    s_bar[2] = w[1] * p[4] - w[3] * (p[2] + p[4])
    s_bar[3] = w[2] - w[3] * p[3]
    p_bar[0] -= w[1] * s[0]
    p_bar[1] -= w[1] * s[1]
    p_bar[2] -= w[3] * s[2]
    p_bar[3] -= w[3] * s[3]
    p_bar[4] += (w[1] - w[3]) * (s[2] - s[0])
    p_bar[5] -= w[1] * s[0] ** 3


def lotka_volterra_rhs(s, p, out):
    out[0] = p[0] * s[0] - s[0] * s[1]
    out[1] = s[0] * s[1] - p[1] * s[1]


def lotka_volterra_vjp(s, p, w, s_bar, p_bar):
    s_bar[0] = w[0] * (p[0] - s[1]) + w[1] * s[1]
    s_bar[1] = -w[0] * s[0] + w[1] * (s[0] - p[1])
    p_bar[0] += w[0] * s[0]
    p_bar[1] -= w[1] * s[1]


register(loop_cases.rk4_oscillators, "grad", lambda case: make_rk4_adjoint(
    oscillators_rhs, oscillators_vjp, _steps(case), loop_cases.STEP_SIZE, False))
register(loop_cases.lotka_volterra, "grad", lambda case: make_rk4_adjoint(
    lotka_volterra_rhs, lotka_volterra_vjp, _steps(case), loop_cases.LV_STEP_SIZE, True))


# --- Kalman filter: the adjoint of each line, 2x2 matrices written out -------------------

def _mm(a, b, out):          # out = a @ b
    for i in range(2):
        for j in range(2):
            out[i, j] = a[i, 0] * b[0, j] + a[i, 1] * b[1, j]


def _mmt(a, b, out):         # out = a @ b.T
    for i in range(2):
        for j in range(2):
            out[i, j] = a[i, 0] * b[j, 0] + a[i, 1] * b[j, 1]


def _tmm(a, b, out):         # out = a.T @ b
    for i in range(2):
        for j in range(2):
            out[i, j] = a[0, i] * b[0, j] + a[1, i] * b[1, j]


def make_kalman_gradient(steps):
    mm, mmt, tmm = jit(_mm), jit(_mmt), jit(_tmm)

    def gradient(theta, observations, H, m0, P0):
        A = theta[:4].copy().reshape((2, 2))
        q0, q1, r0, r1 = (math.exp(theta[4]), math.exp(theta[5]), math.exp(theta[6]),
                          math.exp(theta[7]))
        ms, Ps = np.empty((steps + 1, 2)), np.empty((steps + 1, 2, 2))
        m_pred, P_pred = np.empty((steps, 2)), np.empty((steps, 2, 2))
        v, S_inv, K, S = (np.empty((steps, 2)), np.empty((steps, 2, 2)), np.empty((steps, 2, 2)),
                          np.empty((steps, 2, 2)))
        ms[0], Ps[0] = m0, P0
        t1, t2, t3 = np.empty((2, 2)), np.empty((2, 2)), np.empty((2, 2))
        for t in range(steps):
            for i in range(2):
                m_pred[t, i] = A[i, 0] * ms[t, 0] + A[i, 1] * ms[t, 1]
            mm(A, Ps[t], t1)
            mmt(t1, A, P_pred[t])
            P_pred[t, 0, 0] += q0
            P_pred[t, 1, 1] += q1
            for i in range(2):
                v[t, i] = observations[t, i] - H[i, 0] * m_pred[t, 0] - H[i, 1] * m_pred[t, 1]
            mm(H, P_pred[t], t1)
            mmt(t1, H, S[t])
            S[t, 0, 0] += r0
            S[t, 1, 1] += r1
            det = S[t, 0, 0] * S[t, 1, 1] - S[t, 0, 1] * S[t, 1, 0]
            S_inv[t, 0, 0], S_inv[t, 1, 1] = S[t, 1, 1] / det, S[t, 0, 0] / det
            S_inv[t, 0, 1], S_inv[t, 1, 0] = -S[t, 0, 1] / det, -S[t, 1, 0] / det
            mmt(P_pred[t], H, t1)               # P H^T
            mm(t1, S_inv[t], K[t])
            for i in range(2):
                ms[t + 1, i] = m_pred[t, i] + K[t, i, 0] * v[t, 0] + K[t, i, 1] * v[t, 1]
            mm(K[t], S[t], t1)
            mmt(t1, K[t], t2)                   # K S K^T
            for i in range(2):
                for j in range(2):
                    Ps[t + 1, i, j] = P_pred[t, i, j] - t2[i, j]
        A_bar, m_bar, P_bar = np.zeros((2, 2)), np.zeros(2), np.zeros((2, 2))
        q_bar, r_bar = np.zeros(2), np.zeros(2)
        S_bar, K_bar, Pp_bar, a = np.empty((2, 2)), np.empty((2, 2)), np.empty((2, 2)), np.empty(2)
        v_bar, mp_bar = np.empty(2), np.empty(2)
        for t in range(steps - 1, -1, -1):
            for i in range(2):                  # a = S^-1 v
                a[i] = S_inv[t, i, 0] * v[t, 0] + S_inv[t, i, 1] * v[t, 1]
            for i in range(2):                  # nll_t = 1/2 (log det S + v^T S^-1 v)
                v_bar[i] = a[i] + K[t, 0, i] * m_bar[0] + K[t, 1, i] * m_bar[1]
                for j in range(2):
                    S_bar[i, j] = 0.5 * (S_inv[t, i, j] - a[i] * a[j])
                    K_bar[i, j] = m_bar[i] * v[t, j]   # m = m_pred + K v
            for i in range(2):                  # P = P_pred - K S K^T
                for j in range(2):
                    t3[i, j] = P_bar[i, j] + P_bar[j, i]
            mm(t3, K[t], t1)
            mm(t1, S[t], t2)
            tmm(K[t], P_bar, t1)
            mm(t1, K[t], Pp_bar)
            for i in range(2):
                for j in range(2):
                    K_bar[i, j] -= t2[i, j]
                    S_bar[i, j] -= Pp_bar[i, j]
            mm(K_bar, S_inv[t], t1)             # K = (P_pred H^T) S^-1: B_bar = K_bar S^-1
            mm(t1, H, Pp_bar)                   # P_pred gets B_bar H ...
            tmm(K[t], t1, t2)                   # ... and S gets -K^T K_bar S^-1
            for i in range(2):
                for j in range(2):
                    S_bar[i, j] -= t2[i, j]
                    Pp_bar[i, j] += P_bar[i, j]
            tmm(H, S_bar, t1)                   # S = H P_pred H^T + R
            mm(t1, H, t2)
            for i in range(2):
                r_bar[i] += S_bar[i, i]
                for j in range(2):
                    Pp_bar[i, j] += t2[i, j]
            for i in range(2):                  # v = y - H m_pred
                mp_bar[i] = m_bar[i] - H[0, i] * v_bar[0] - H[1, i] * v_bar[1]
            mm(Pp_bar, A, t1)                   # P_pred = A P A^T + Q
            mmt(t1, Ps[t], t2)
            for i in range(2):
                q_bar[i] += Pp_bar[i, i]
                for j in range(2):
                    A_bar[i, j] += t2[i, j] + mp_bar[i] * ms[t, j]   # and m_pred = A m
            tmm(Pp_bar, A, t1)
            mm(t1, Ps[t], t2)
            for i in range(2):
                for j in range(2):
                    A_bar[i, j] += t2[i, j]
            tmm(A, Pp_bar, t1)
            mm(t1, A, P_bar)
            for i in range(2):
                m_bar[i] = A[0, i] * mp_bar[0] + A[1, i] * mp_bar[1]
        g = np.empty(8)
        g[:4] = A_bar.ravel()
        g[4], g[5], g[6], g[7] = q_bar[0] * q0, q_bar[1] * q1, r_bar[0] * r0, r_bar[1] * r1
        return g
    return jit(gradient)


register(loop_cases.kalman_nll, "grad", lambda case: make_kalman_gradient(_steps(case)))


# --- HMM forward algorithm: stored log-probabilities, softmax weights on the way back -------

def _log_softmax_rows(logits):
    out = np.empty_like(logits)
    for i in range(logits.shape[0]):
        top = logits[i].max()
        total = 0.0
        for j in range(logits.shape[1]):
            total += math.exp(logits[i, j] - top)
        for j in range(logits.shape[1]):
            out[i, j] = logits[i, j] - top - math.log(total)
    return out


def _through_log_softmax(log_probabilities, bar):
    """The logits' gradient from the log-probabilities' (rows): bar - softmax * row sum."""
    out = np.empty_like(bar)
    for i in range(bar.shape[0]):
        total = bar[i].sum()
        for j in range(bar.shape[1]):
            out[i, j] = bar[i, j] - math.exp(log_probabilities[i, j]) * total
    return out


def make_hmm_gradient():
    log_softmax_rows, through_log_softmax = jit(_log_softmax_rows), jit(_through_log_softmax)

    def gradient(transition_logits, emission_logits, log_initial, observations):
        log_A, log_B = log_softmax_rows(transition_logits), log_softmax_rows(emission_logits)
        steps, states = observations.shape[0], log_A.shape[0]
        alpha, normaliser = np.empty((steps, states)), np.empty((steps, states))
        for j in range(states):
            alpha[0, j] = log_initial[j] + log_B[j, observations[0]]
        for t in range(1, steps):
            for j in range(states):
                top = -np.inf
                for i in range(states):
                    top = max(top, alpha[t - 1, i] + log_A[i, j])
                total = 0.0
                for i in range(states):
                    total += math.exp(alpha[t - 1, i] + log_A[i, j] - top)
                normaliser[t, j] = top + math.log(total)  # the log-sum-exp of step t, state j
                alpha[t, j] = normaliser[t, j] + log_B[j, observations[t]]
        top = alpha[steps - 1].max()
        total = 0.0
        for j in range(states):
            total += math.exp(alpha[steps - 1, j] - top)
        alpha_bar, previous_bar = np.empty(states), np.empty(states)
        for j in range(states):  # loss = -log-sum-exp(alpha_T)
            alpha_bar[j] = -math.exp(alpha[steps - 1, j] - top) / total
        A_bar, B_bar = np.zeros_like(log_A), np.zeros_like(log_B)
        for t in range(steps - 1, 0, -1):
            previous_bar[:] = 0.0
            for j in range(states):
                B_bar[j, observations[t]] += alpha_bar[j]
                for i in range(states):
                    pulled = alpha_bar[j] * math.exp(alpha[t - 1, i] + log_A[i, j]
                                                     - normaliser[t, j])
                    previous_bar[i] += pulled
                    A_bar[i, j] += pulled
            alpha_bar, previous_bar = previous_bar, alpha_bar
        for j in range(states):
            B_bar[j, observations[0]] += alpha_bar[j]
        return through_log_softmax(log_A, A_bar), through_log_softmax(log_B, B_bar)
    return jit(gradient)


register(recurrent_cases.hmm_nll, "grad", lambda case: make_hmm_gradient())


# --- LSTM: backpropagation through time, BLAS for the products, one fused loop per step ----

def lstm_gradient(Wx, Wh, b, Wy, by, xs, targets, h0, c0):
    steps, batch = xs.shape[0], xs.shape[1]
    hidden, outputs = Wh.shape[0], Wy.shape[1]
    scale = 2.0 / (steps * batch * outputs)
    gates = np.empty((steps, batch, 4 * hidden))     # i, f, g, o after their nonlinearities
    hs, cs = np.empty((steps + 1, batch, hidden)), np.empty((steps + 1, batch, hidden))
    tanh_c = np.empty((steps, batch, hidden))
    residuals = np.empty((steps, batch, outputs))
    hs[0], cs[0] = h0, c0
    for t in range(steps):
        z = np.dot(xs[t], Wx) + np.dot(hs[t], Wh)
        for n in range(batch):
            for j in range(hidden):
                i = 1.0 / (1.0 + math.exp(-(z[n, j] + b[j])))
                f = 1.0 / (1.0 + math.exp(-(z[n, hidden + j] + b[hidden + j])))
                g = math.tanh(z[n, 2 * hidden + j] + b[2 * hidden + j])
                o = 1.0 / (1.0 + math.exp(-(z[n, 3 * hidden + j] + b[3 * hidden + j])))
                c = f * cs[t, n, j] + i * g
                tc = math.tanh(c)
                gates[t, n, j], gates[t, n, hidden + j] = i, f
                gates[t, n, 2 * hidden + j], gates[t, n, 3 * hidden + j] = g, o
                cs[t + 1, n, j], tanh_c[t, n, j], hs[t + 1, n, j] = c, tc, o * tc
        y = np.dot(hs[t + 1], Wy)
        for n in range(batch):
            for k in range(outputs):
                residuals[t, n, k] = scale * (y[n, k] + by[k] - targets[t, n, k])
    g_Wx, g_Wh, g_b = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    g_Wy, g_by = np.zeros_like(Wy), np.zeros_like(by)
    h_bar, c_bar = np.zeros((batch, hidden)), np.zeros((batch, hidden))
    z_bar = np.empty((batch, 4 * hidden))
    for t in range(steps - 1, -1, -1):
        g_Wy += np.dot(hs[t + 1].T, residuals[t])
        h_bar += np.dot(residuals[t], Wy.T)
        for n in range(batch):
            for k in range(outputs):
                g_by[k] += residuals[t, n, k]
            for j in range(hidden):
                i, f = gates[t, n, j], gates[t, n, hidden + j]
                g, o = gates[t, n, 2 * hidden + j], gates[t, n, 3 * hidden + j]
                tc = tanh_c[t, n, j]
                cb = c_bar[n, j] + h_bar[n, j] * o * (1.0 - tc * tc)
                z_bar[n, j] = cb * g * i * (1.0 - i)
                z_bar[n, hidden + j] = cb * cs[t, n, j] * f * (1.0 - f)
                z_bar[n, 2 * hidden + j] = cb * i * (1.0 - g * g)
                z_bar[n, 3 * hidden + j] = h_bar[n, j] * tc * o * (1.0 - o)
                c_bar[n, j] = cb * f
            for j in range(4 * hidden):
                g_b[j] += z_bar[n, j]
        g_Wx += np.dot(xs[t].T, z_bar)
        g_Wh += np.dot(hs[t].T, z_bar)
        h_bar = np.dot(z_bar, Wh.T)
    return g_Wx, g_Wh, g_b, g_Wy, g_by


def _lstm_pack(params, xs, targets, h0, c0):
    return tuple(params[name] for name in recurrent_cases.LSTM_WEIGHTS) + (xs, targets, h0, c0)


def _lstm_unpack(result, params, *data):
    return dict(zip(recurrent_cases.LSTM_WEIGHTS, result))


register(recurrent_cases.lstm_mse, "grad", lambda case: jit(lstm_gradient), pack=_lstm_pack,
         unpack=_lstm_unpack)
