"""Arrays built from traced values the way users write them: ``np.array([x[1],
-k * x[0]])`` in an ODE right-hand side, a residual vector of a least-squares
fit, ``np.r_``/``np.c_``/``np.append`` -- gradients and Jacobians against
finite differences -- and the mechanism behind it (``numpy_api.building``):
NumPy's own functions outside traces, in other threads and after errors, and
nested traces."""
from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

import jitad
from jitad.numpy_api import building

numpy_array = np.array  # bound before any trace: NumPy's own function


# ------------------------------------------------ physics, as users write it

def pendulum(state, k):
    """A 2-state ODE right-hand side."""
    return np.array([state[1], -k * np.sin(state[0]) - 0.1 * state[1]])


def rk4(state, k, dt=0.1, steps=10):
    for _ in range(steps):
        k1 = pendulum(state, k)
        k2 = pendulum(state + 0.5 * dt * k1, k)
        k3 = pendulum(state + 0.5 * dt * k2, k)
        k4 = pendulum(state + dt * k3, k)
        state = state + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return state


def shooting_loss(params):
    """Where the pendulum ends up, from (angle, velocity, stiffness)."""
    final = rk4(np.array([params[0], params[1]]), params[2])
    return np.sum((final - np.array([0.3, -0.2])) ** 2)


T = np.linspace(0.0, 1.0, 6)
Y = 1.5 * np.exp(-0.7 * T) + 0.2


def residuals(p):
    """A least-squares residual, one entry per data point, from a list."""
    return np.array([p[0] * np.exp(-p[1] * t) + p[2] - y for t, y in zip(T, Y)])


def _central_jacobian(f, x, h=1e-6):
    cols = [(np.asarray(f(x + h * e)) - np.asarray(f(x - h * e))) / (2 * h)
            for e in np.eye(x.size)]
    return np.stack(cols, axis=-1)


P0 = np.array([0.8, 0.1, 2.0])


def test_rk4_shooting_gradient_against_finite_differences():
    g = jitad.grad(shooting_loss)(P0)
    np.testing.assert_allclose(g, jitad.fd.grad(shooting_loss, P0, method="complex"),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g, jitad.fd.grad(shooting_loss, P0), rtol=1e-8, atol=1e-10)


def test_rk4_jacobian_of_the_flow_both_modes():
    flow = lambda p: rk4(np.array([p[0], p[1]]), p[2])  # noqa: E731
    expected = _central_jacobian(flow, P0)
    for mode in ("fwd", "rev"):
        np.testing.assert_allclose(jitad.jacobian(flow, mode=mode)(P0), expected, rtol=1e-8,
                                   atol=1e-10)


def test_least_squares_residual_jacobian_and_gauss_newton_gradient():
    p = np.array([1.0, 0.5, 0.1])
    J = jitad.jacobian(residuals)(p)
    np.testing.assert_allclose(J, _central_jacobian(residuals, p), rtol=1e-8, atol=1e-10)
    exact = np.stack([np.exp(-p[1] * T), -p[0] * T * np.exp(-p[1] * T), np.ones_like(T)], 1)
    np.testing.assert_allclose(J, exact, rtol=1e-14, atol=1e-15)
    loss = lambda p: 0.5 * np.sum(residuals(p) ** 2)  # noqa: E731
    np.testing.assert_allclose(jitad.grad(loss)(p), J.T @ residuals(p), rtol=1e-13)


def test_hessian_is_a_nested_trace():
    """forward over reverse: np.array is recorded at both levels."""
    h = jitad.hessian(shooting_loss)(P0)
    expected = _central_jacobian(jitad.grad(shooting_loss), P0)
    np.testing.assert_allclose(h, expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-14)


def test_grad_of_grad_with_arrays_built_inside():
    def f(x):
        return np.sum(np.array([x ** 3, 2.0 * x]) ** 2)
    d2 = jitad.grad(jitad.grad(f))(0.7)
    assert d2 == pytest.approx(30 * 0.7 ** 4 + 8.0, rel=1e-14)


# --------------------------------------------------------- what np.array does

def test_nested_mixed_dtype_and_ndmin():
    def f(x):
        a = np.array([[x[0], 1.0], [np.sin(x[1]), x[2]]])
        b = np.asarray((x, np.ones(3), [x[0], 2, x[1]]))
        c = np.array([x[:2], [3.0, x[2]]], ndmin=3)
        c32 = np.array([x[:2], [3.0, x[2]]], dtype=np.float32)
        assert a.shape == (2, 2) and b.shape == (3, 3) and c.shape == (1, 2, 2)
        assert c32.dtype == np.float32 and c.dtype == np.float64
        return np.sum(a ** 2) + np.sum(b * np.arange(9.0).reshape(3, 3)) + np.sum(c ** 3)
    x = np.array([0.3, -0.4, 1.2])
    np.testing.assert_allclose(jitad.grad(f)(x), jitad.fd.grad(f, x), rtol=1e-6)
    np.testing.assert_allclose(jitad.jit(f)(x), f(x), rtol=1e-7)


def test_float32_arguments_stay_float32():
    x = np.array([0.5, 1.5], np.float32)
    g = jitad.grad(lambda x: np.sum(np.array([x[1] * x[0], x[0]]) ** 2))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [2 * 0.75 * 1.5 + 1.0, 2 * 0.75 * 0.5], rtol=1e-6)


def test_copy_and_view_semantics():
    """np.array copies, np.asarray is the same array (as for an ndarray)."""
    def f(x):
        y = x * 1.0
        copied, same = np.array(y), np.asarray(y)
        copied[0] = 100.0
        same[1] = 10.0 * y[2]
        return np.sum(y * np.arange(1.0, 4.0)) + copied[0]
    x = np.array([1.0, 2.0, 3.0])
    assert jitad.jit(f)(x) == pytest.approx(f(x))
    np.testing.assert_allclose(jitad.grad(f)(x), [1.0, 0.0, 3.0 + 20.0])


def test_r_c_and_append():
    def f(x):
        r = np.r_[x, 1.0, x[:2], 0:2]
        c = np.c_[x, x ** 2]
        a = np.append(x, [x[0], 2.0]) + np.append(x[:2], 5.0).sum()
        m = np.append(c, c[:1], axis=0)
        assert r.shape == (8,) and c.shape == (3, 2) and a.shape == (5,) and m.shape == (4, 2)
        return np.sum(r ** 2) + np.sum(c * np.arange(6.0).reshape(3, 2)) + np.sum(a ** 2) \
            + np.sum(m ** 3)
    x = np.array([0.5, 1.5, -1.0])
    np.testing.assert_allclose(jitad.grad(f)(x), jitad.fd.grad(f, x, method="complex"),
                               rtol=1e-13)


def test_column_stack_of_one_array():
    f = lambda x: np.sum(np.column_stack(x) * np.arange(6.0).reshape(3, 2))  # noqa: E731
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(jitad.grad(f)(x), np.arange(6.0).reshape(3, 2).T)
    assert np.column_stack(x).shape == (3, 2)


def test_errors_name_the_operation():
    with pytest.raises(ValueError, match="inhomogeneous"):
        jitad.grad(lambda x: np.sum(np.array([x, [1.0]])))(np.ones(2))
    with pytest.raises(TypeError, match="dtype=object"):
        jitad.grad(lambda x: np.sum(np.array([x[0], x[1]], dtype=object)))(np.ones(2))
    with pytest.raises(TypeError, match="dtype=object"):
        jitad.grad(lambda x: np.sum(np.asarray(x, dtype=object)))(np.ones(2))
    with pytest.raises(TypeError, match=r"np\.pad\(mode='mean'\).*'wrap'.*np\.concatenate"):
        jitad.grad(lambda x: np.sum(np.pad(x, 1, mode="mean")))(np.ones(2))
    with pytest.raises(TypeError, match="reflect_type='odd'"):
        jitad.grad(lambda x: np.sum(np.pad(x, 1, mode="reflect", reflect_type="odd")))(np.ones(2))
    with pytest.raises(TypeError, match="coordinates must be constants"):
        jitad.grad(lambda x: np.sum(np.gradient(x, x)))(np.arange(3.0))
    with pytest.raises(TypeError, match=r"np\.partition"):
        jitad.grad(lambda x: np.sum(np.partition(x, 1)))(np.ones(3))
    with pytest.raises(TypeError, match=r"from numpy import array.*np\.array\(\.\.\.\)"):
        jitad.grad(lambda x: np.sum(numpy_array([x[0], x[1]])))(np.ones(2))


# ------------------------------------------- compiled: sorting, structure

def test_sort_happens_when_the_kernel_runs():
    """One kernel, new values in a new order: the permutation is the call's
    (no re-trace), ties are stable as in NumPy, the gradient is the gather."""
    def f(x):
        s = np.sort(x, axis=-1)
        return np.sum(s * np.arange(1.0, 5.0)) + np.sum(np.argsort(x, axis=0))
    g = jitad.value_and_grad(f)
    rng = np.random.default_rng(1)
    for x in [rng.standard_normal((3, 4)), rng.standard_normal((3, 4)),
              np.array([[1.0, 0.0, 1.0, 0.0]] * 3)]:
        value, grad = g(x)
        assert value == pytest.approx(f(x), rel=1e-14)
        expected = np.zeros_like(x)
        np.put_along_axis(expected, np.argsort(x, axis=-1, kind="stable"),
                          np.broadcast_to(np.arange(1.0, 5.0), x.shape), axis=-1)
        np.testing.assert_array_equal(grad, expected)
    assert g.cache.traces == 1
    np.testing.assert_array_equal(jitad.jit(lambda x: np.argsort(x))(x[0]), [1, 3, 0, 2])


def test_structure_in_a_compiled_kernel():
    def f(x):
        return (np.sum(np.tril(x) ** 2) + np.sum(np.pad(x, ((1, 2), (3, 0)), mode="reflect") ** 3)
                + np.sum(np.gradient(x ** 2, 0.3, edge_order=2)[1] ** 2)
                + np.sum(np.stack(np.meshgrid(x[0], x[1])) ** 2)
                + np.sum(np.pad(x, 1, constant_values=x[0, 0]) ** 2))
    x = np.random.default_rng(2).standard_normal((3, 4))
    assert jitad.jit(f)(x) == pytest.approx(f(x), rel=1e-13)
    np.testing.assert_allclose(jitad.grad(f)(x), jitad.fd.grad(f, x, method="complex"),
                               rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------ scalar casts

def test_float64_and_float32_casts_keep_the_derivative():
    def f(x):
        a = np.float64(x[0] * x[1])
        b = np.float32(x[2])
        assert a.dtype == np.float64 and b.dtype == np.float32 and a.shape == ()
        return a * x[2] + np.float64(b) ** 2 + np.sum(np.float64(x) ** 2)
    x = np.array([0.5, 1.5, 2.0])
    np.testing.assert_allclose(jitad.grad(f)(x), [1.5 * 2 * 1 + 1.0, 0.5 * 2 + 3.0,
                                                  0.75 + 4.0 + 4.0], rtol=1e-7)
    assert jitad.jit(lambda x: np.float32(x))(x).dtype == np.float32


def test_int64_cast_is_a_guard_like_int():
    def f(x):
        return x[np.int64(x[2])] * x[0]
    g = jitad.grad(f)
    np.testing.assert_array_equal(g(np.array([2.0, 3.0, 1.4])), [3.0, 2.0, 0.0])
    np.testing.assert_array_equal(g(np.array([2.0, 3.0, 1.9])), [3.0, 2.0, 0.0])
    assert g.cache.traces == 1  # the same integer: the guard holds
    np.testing.assert_array_equal(g(np.array([2.0, 3.0, 0.2])), [4.0, 0.0, 0.0])
    assert g.cache.traces == 2  # a new integer: re-traced


def test_numpy_classes_behave_during_a_trace():
    def f(x):
        assert isinstance(np.float64(1.0), np.float64) and issubclass(np.float64, np.floating)
        assert np.dtype(np.float64) == np.float64 and np.zeros(2, np.float32).dtype == np.float32
        assert type(np.float64(2.0)) is np.dtype(np.float64).type
        return x * 2.0
    jitad.grad(f)(1.0)
    assert np.float64 is np.dtype("float64").type


# ---------------------------------------------------------- the mechanism

def test_numpy_is_restored_after_a_trace_and_after_an_error():
    assert np.array is numpy_array and not building.installed()
    jitad.grad(lambda x: np.sum(np.array([x, x])))(1.0)
    assert np.array is numpy_array and not building.installed()

    def fails(x):
        assert np.array is not numpy_array  # installed while f runs
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        jitad.grad(fails)(1.0)
    assert np.array is numpy_array and np.asarray.__class__ is not building.NumpyFunction
    assert np.float64 is np.dtype("float64").type and not building.installed()


def test_other_threads_get_numpys_results_during_a_trace():
    """Another thread calls np.array, np.asarray and np.r_ (and numba compiles
    a function calling np.asarray) while a trace is paused inside f."""
    inside, release, seen = threading.Event(), threading.Event(), {}

    def f(x):
        inside.set()
        assert release.wait(30)
        return np.sum(np.array([x[0], 2.0 * x[1]]) ** 2)

    def other():
        assert inside.wait(30)
        assert building.installed()
        a = np.array([1.0, 2.0], dtype=np.float32)
        b = np.asarray([[1, 2], [3, 4]])
        c = np.r_[np.ones(2), 3.0]
        d = np.ascontiguousarray(np.ones((2, 3)).T)

        e = np.float64(2.5)

        @numba.njit
        def kernel(v):
            return np.asarray(v).sum() + np.ascontiguousarray(v).sum() + np.float64(v[0]) \
                + np.float32(v[1])
        seen.update(a=a, b=b, c=c, d=d, e=e, k=kernel(np.ones(3)))
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    g = jitad.grad(f)(np.array([1.0, 2.0]))
    thread.join()
    np.testing.assert_array_equal(g, [2.0, 16.0])
    assert type(seen["a"]) is np.ndarray and seen["a"].dtype == np.float32
    np.testing.assert_array_equal(seen["b"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(seen["c"], [1.0, 1.0, 3.0])
    assert seen["d"].flags.c_contiguous and seen["k"] == 8.0
    assert type(seen["e"]) is np.dtype(np.float64).type and isinstance(seen["e"], np.float64)
    assert not building.installed()


def test_traces_in_many_threads_at_once():
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        scale = float(seed + 1)
        g = jitad.grad(lambda x: scale * np.sum(np.array([x[0] * x[1], x[1]]) ** 2))
        for _ in range(10):
            x = rng.uniform(-1, 1, 2)
            expected = scale * np.array([2 * x[0] * x[1] ** 2,
                                         2 * x[0] ** 2 * x[1] + 2 * x[1]])
            try:
                np.testing.assert_allclose(g(x), expected, rtol=1e-13)
                assert type(np.array([1.0])) is np.ndarray
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert not building.installed() and np.array is numpy_array


def test_a_kernel_compiled_while_a_trace_records():
    """numba compiles (in the tracing thread) a kernel that calls
    np.ascontiguousarray and np.float32 while the stand-ins are installed."""
    def solved(w):
        return np.sum(np.linalg.solve(np.outer(w, w) + np.eye(3), w).T.reshape(-1))

    def inner(w):
        return solved(w) + np.sum(np.float32(w) * np.float64(2.0))

    def outer(x):
        assert building.installed()
        return np.sum(x * jitad.grad(inner)(np.array([0.1, 0.2, 0.3])))
    w = np.array([0.1, 0.2, 0.3])
    expected = jitad.fd.grad(solved, w, method="complex") + 2.0
    np.testing.assert_allclose(jitad.grad(outer)(np.ones(3)), expected, rtol=1e-13)
