"""Loop cases, part 1: time-stepping losses (RK4 integrations and a Kalman filter).

Users' time-stepping losses are Python loops over NumPy code. jitad unrolls
them into the trace (today: no loop primitive), JAX's ``jax.jit(jax.grad(f))``
unrolls the same Python loop in its tracer, and ``jax[scan]`` is the same
loss written with ``jax.lax.scan`` as a JAX user would; PyTorch and HIPS
autograd run the loop eagerly. Their first calls can take minutes: every
build runs under the runner's budget (runner.py).

1. ``rk4-<steps>``: two coupled damped oscillators, one of them with a cubic
   spring (4 states, 6 parameters), integrated by classic RK4 with time step
   0.01 for 100, 1,000 and 10,000 steps, written with scalar state
   variables; the loss is the squared error of the final state.
2. ``rk4-stack``: a user-style RK4 of the Lotka-Volterra equations (2 states),
   the right-hand side built with ``np.stack``, 200 steps, the two rate
   parameters arriving as ``np.array([a, b])`` (as scipy.optimize passes
   them), the squared error of the whole trajectory against observations.
3. ``kalman``: the negative log-likelihood of a 2-d linear-Gaussian state
   space model over 50 steps (the Kalman filter: matrix products,
   ``np.linalg.inv``, ``np.linalg.solve``, ``np.linalg.slogdet``) in the 4
   transition-matrix entries and the log-variances of the process and
   observation noise (8 parameters).

The exact derivatives are the complex step, one evaluation per parameter:
every case is analytic (the Kalman reference takes log det S as
``log(det(S))``, analytic where slogdet's absolute value is not).
"""
from __future__ import annotations

import functools

import numpy

from .cases import Case, rng
from .kernel_cases import LOG_2PI

COMPLEX_STEP = 1e-20


def complex_step(f, theta, *rest):
    """d f / d theta by the complex step, one evaluation per entry of theta."""
    gradient = numpy.empty(len(theta))
    for i in range(len(theta)):
        shifted = numpy.asarray(theta, dtype=numpy.complex128).copy()
        shifted[i] += 1j * COMPLEX_STEP
        gradient[i] = numpy.imag(f(shifted, *rest)) / COMPLEX_STEP
    return gradient


# --- 1. RK4 of two coupled damped oscillators -----------------------------------------

STEP_SIZE = 0.01
OSCILLATOR_PARAMETERS = ("stiffness 1", "damping 1", "stiffness 2", "damping 2", "coupling",
                         "cubic stiffness 1")


def oscillators_rhs(x1, v1, x2, v2, p):
    pull = p[4] * (x2 - x1)
    return (v1, -p[0] * x1 - p[1] * v1 - p[5] * x1 ** 3 + pull,
            v2, -p[2] * x2 - p[3] * v2 - pull)


def rk4_step(rhs, state, p, h):
    k1 = rhs(*state, p)
    k2 = rhs(*[s + 0.5 * h * k for s, k in zip(state, k1)], p)
    k3 = rhs(*[s + 0.5 * h * k for s, k in zip(state, k2)], p)
    k4 = rhs(*[s + h * k for s, k in zip(state, k3)], p)
    return tuple(s + h / 6.0 * (a + 2.0 * b + 2.0 * c + d)
                 for s, a, b, c, d in zip(state, k1, k2, k3, k4))


def rk4_oscillators(np, steps):
    """The loss uses no function of the array module: it serves NumPy, JAX, torch, autograd."""
    def f(p, state0, target):
        state = (state0[0], state0[1], state0[2], state0[3])
        for _ in range(steps):
            state = rk4_step(oscillators_rhs, state, p, STEP_SIZE)
        return sum((s - t) ** 2 for s, t in zip(state, target))
    return f


def rk4_oscillators_scan(jnp, lax, steps):
    def f(p, state0, target):
        def step(state, _):
            return rk4_step(oscillators_rhs, state, p, STEP_SIZE), None
        state, _ = lax.scan(step, (state0[0], state0[1], state0[2], state0[3]), None,
                            length=steps)
        return sum((s - t) ** 2 for s, t in zip(state, target))
    return f


def rk4_oscillators_exact(p, state0, target, steps):
    # Python complex numbers in lists: the loss only indexes and does arithmetic.
    f = rk4_oscillators(numpy, steps)
    return complex_step(lambda q, s, t: f([complex(v) for v in q], s, t), p, list(state0),
                        list(target))


def oscillator_args():
    return (numpy.array([1.0, 0.1, 1.5, 0.2, 0.3, 0.5]), numpy.array([1.0, 0.0, -0.5, 0.2]),
            numpy.array([0.1, -0.2, 0.3, 0.0]))


# --- 2. RK4 of Lotka-Volterra with np.stack, 200 steps -------------------------------

LV_STEPS, LV_STEP_SIZE = 200, 0.05
LV_TRUE = (1.1, 0.9)


def lotka_volterra_rhs(np, s, p):
    prey, predator = s[0], s[1]
    return np.stack([p[0] * prey - prey * predator, prey * predator - p[1] * predator])


def lotka_volterra_step(np, s, p, h):
    k1 = lotka_volterra_rhs(np, s, p)
    k2 = lotka_volterra_rhs(np, s + 0.5 * h * k1, p)
    k3 = lotka_volterra_rhs(np, s + 0.5 * h * k2, p)
    k4 = lotka_volterra_rhs(np, s + h * k3, p)
    return s + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def lotka_volterra(np, steps=LV_STEPS):
    """torch spells np.stack and np.sum the same: the factory serves it too."""
    def f(p, s0, observed):
        s, loss = s0, 0.0
        for t in range(steps):
            s = lotka_volterra_step(np, s, p, LV_STEP_SIZE)
            loss = loss + np.sum((s - observed[t]) ** 2)
        return loss
    return f


def lotka_volterra_scan(jnp, lax, steps=LV_STEPS):
    def f(p, s0, observed):
        def step(carry, seen):
            s, loss = carry
            s = lotka_volterra_step(jnp, s, p, LV_STEP_SIZE)
            return (s, loss + jnp.sum((s - seen) ** 2)), None
        (_, loss), _ = lax.scan(step, (s0, 0.0), observed[:steps])
        return loss
    return f


def lotka_volterra_args(steps):
    def make():
        s, observed = numpy.array([1.5, 0.5]), []
        for _ in range(steps):
            s = lotka_volterra_step(numpy, s, numpy.array(LV_TRUE), LV_STEP_SIZE)
            observed.append(s)
        noisy = numpy.array(observed) * (1.0 + 0.05 * rng().standard_normal((steps, 2)))
        return numpy.array([1.0, 1.0]), numpy.array([1.5, 0.5]), noisy
    return make


def lotka_volterra_exact(p, s0, observed, steps=LV_STEPS):
    return complex_step(lotka_volterra(numpy, steps), p, s0, observed)


# --- 3. Kalman filter negative log-likelihood, 50 steps ------------------------------

KALMAN_STEPS = 50


def kalman_nll(np, steps=KALMAN_STEPS, log_det=None):
    """torch.linalg and jax.numpy.linalg spell inv, solve and slogdet as NumPy does."""
    def f(theta, observations, H, m0, P0):
        A = np.reshape(theta[:4], (2, 2))
        Q = np.diag(np.exp(theta[4:6]))
        R = np.diag(np.exp(theta[6:8]))
        m, P, nll = m0, P0, 0.0
        for t in range(steps):
            m = A @ m
            P = A @ P @ A.T + Q
            v = observations[t] - H @ m
            S = H @ P @ H.T + R
            K = P @ H.T @ np.linalg.inv(S)
            m = m + K @ v
            P = P - K @ S @ K.T
            log_det_S = np.linalg.slogdet(S)[1] if log_det is None else log_det(S)
            nll = nll + 0.5 * (log_det_S + v @ np.linalg.solve(S, v) + 2.0 * LOG_2PI)
        return nll
    return f


def kalman_nll_scan(jnp, lax, steps=KALMAN_STEPS):
    def f(theta, observations, H, m0, P0):
        A = jnp.reshape(theta[:4], (2, 2))
        Q = jnp.diag(jnp.exp(theta[4:6]))
        R = jnp.diag(jnp.exp(theta[6:8]))

        def step(carry, y):
            m, P, nll = carry
            m = A @ m
            P = A @ P @ A.T + Q
            v = y - H @ m
            S = H @ P @ H.T + R
            K = P @ H.T @ jnp.linalg.inv(S)
            nll = nll + 0.5 * (jnp.linalg.slogdet(S)[1] + v @ jnp.linalg.solve(S, v)
                               + 2.0 * LOG_2PI)
            return (m + K @ v, P - K @ S @ K.T, nll), None
        (_, _, nll), _ = lax.scan(step, (m0, P0, 0.0), observations[:steps])
        return nll
    return f


def kalman_args(steps):
    def make():
        r = rng()
        A = numpy.array([[0.95, 0.1], [-0.1, 0.9]])
        H = numpy.array([[1.0, 0.0], [0.5, 1.0]])
        state, observations = numpy.zeros(2), []
        for _ in range(steps):
            state = A @ state + 0.3 * r.standard_normal(2)
            observations.append(H @ state + 0.2 * r.standard_normal(2))
        theta = numpy.array([0.9, 0.05, -0.05, 0.85, numpy.log(0.1), numpy.log(0.1),
                             numpy.log(0.05), numpy.log(0.05)])
        return theta, numpy.array(observations), H, numpy.zeros(2), numpy.eye(2)
    return make


def kalman_exact(theta, observations, H, m0, P0, steps=KALMAN_STEPS):
    f = kalman_nll(numpy, steps, log_det=lambda S: numpy.log(numpy.linalg.det(S)))
    return complex_step(f, theta, observations, H, m0, P0)


# --- The cases --------------------------------------------------------------------------

SIZES = {"full": dict(rk4=(100, 1_000, 10_000), lotka_volterra=LV_STEPS, kalman=KALMAN_STEPS),
         "quick": dict(rk4=(2, 4), lotka_volterra=3, kalman=2)}


def time_stepping_cases(quick: bool) -> list[Case]:
    size = SIZES["quick" if quick else "full"]
    found = [Case(f"rk4-{steps}", f"RK4, two coupled damped oscillators (4 states, 6 "
                  f"parameters), {steps:,} steps, scalar state variables", "grad",
                  functools.partial(rk4_oscillators, steps=steps),
                  functools.partial(rk4_oscillators, steps=steps), oscillator_args,
                  functools.partial(rk4_oscillators_exact, steps=steps), "complex step", 6,
                  group="loops", loss_scan=functools.partial(rk4_oscillators_scan, steps=steps))
             for steps in size["rk4"]]
    steps = size["lotka_volterra"]
    found.append(Case("rk4-stack", f"RK4, Lotka-Volterra with np.stack, {steps} steps, "
                      "p = np.array([a, b]), trajectory loss", "grad",
                      functools.partial(lotka_volterra, steps=steps),
                      functools.partial(lotka_volterra, steps=steps), lotka_volterra_args(steps),
                      functools.partial(lotka_volterra_exact, steps=steps), "complex step", 2,
                      group="loops", loss_scan=functools.partial(lotka_volterra_scan,
                                                                 steps=steps)))
    steps = size["kalman"]
    found.append(Case("kalman", f"Kalman filter NLL, 2-d state, {steps} steps (inv, solve, "
                      "slogdet), 8 parameters", "grad",
                      functools.partial(kalman_nll, steps=steps),
                      functools.partial(kalman_nll, steps=steps), kalman_args(steps),
                      functools.partial(kalman_exact, steps=steps), "complex step", 8,
                      group="loops", loss_scan=functools.partial(kalman_nll_scan, steps=steps)))
    return found
