"""The public API end to end (compiled): the classic example, the 2-layer
network, the cache, argument structures and dtypes, nesting."""
from __future__ import annotations

import numpy as np
import pytest

import jitad


def classic(x1, x2):
    return x1 * np.sqrt(np.log(x1 / np.sin(x2 ** 2)))


def classic_derivatives(x1, x2):
    """Hand-derived: with L = log(x1 / sin(x2^2)),
    df/dx1 = sqrt(L) + 1 / (2 sqrt(L)),
    df/dx2 = -x1 x2 cos(x2^2) / (sin(x2^2) sqrt(L))."""
    L = np.log(x1 / np.sin(x2 ** 2))
    return (np.sqrt(L) + 1 / (2 * np.sqrt(L)),
            -x1 * x2 * np.cos(x2 ** 2) / (np.sin(x2 ** 2) * np.sqrt(L)))


@pytest.fixture(scope="module")
def classic_grad():
    return jitad.grad(classic, argnums=(0, 1))


@pytest.mark.parametrize("x1, x2", [(2.0, 0.5), (3.5, 1.1), (1.2, 0.3)])
def test_classic_example_matches_hand_derivation(classic_grad, x1, x2):
    got = classic_grad(x1, x2)
    expected = classic_derivatives(x1, x2)
    assert all(type(g) is float for g in got)
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(float).eps)


def test_classic_example_trace_prints_the_wengert_list():
    assert str(jitad.trace(classic, 2.0, 0.5)) == "\n".join([
        "v_-1 = x1", "v_0 = x2", "v_1 = v_0 ** 2", "v_2 = sin(v_1)", "v_3 = v_-1 / v_2",
        "v_4 = log(v_3)", "v_5 = sqrt(v_4)", "v_6 = v_-1 * v_5", "y = v_6"])


# ------------------------------------------------------------- the network

def mlp_loss(params, x, y):
    h = np.maximum(x @ params["W1"] + params["b1"], 0.0)
    return np.sum((h @ params["W2"] + params["b2"] - y) ** 2)


def mlp_grad_by_hand(params, x, y):
    z = x @ params["W1"] + params["b1"]
    h = np.maximum(z, 0.0)
    r = h @ params["W2"] + params["b2"] - y
    r_bar = 2 * r
    h_bar = r_bar @ params["W2"].T
    z_bar = h_bar * (z > 0)
    return {"W1": x.T @ z_bar, "b1": z_bar.sum(0), "W2": h.T @ r_bar, "b2": r_bar.sum(0)}


@pytest.fixture(scope="module")
def network():
    rng = np.random.default_rng(0)
    n, d_in, hidden, d_out = 64, 1000, 100, 10
    params = {"W1": rng.standard_normal((d_in, hidden)) * np.sqrt(2 / d_in),
              "b1": np.zeros(hidden),
              "W2": rng.standard_normal((hidden, d_out)) * np.sqrt(1 / hidden),
              "b2": np.zeros(d_out)}
    x = rng.standard_normal((n, d_in))
    y = rng.standard_normal((n, d_out))
    return params, x, y


def test_network_gradient_equals_hand_written_backprop(network):
    params, x, y = network
    got = jitad.grad(mlp_loss)(params, x, y)
    expected = mlp_grad_by_hand(params, x, y)
    assert got.keys() == expected.keys()
    for k in expected:
        assert got[k].shape == params[k].shape and got[k].dtype == np.float64
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-11, atol=1e-11)


def test_network_sgd_reduces_loss(network):
    params, x, y = network
    params = {k: v.copy() for k, v in params.items()}
    value_and_grad = jitad.value_and_grad(mlp_loss)
    first, _ = value_and_grad(params, x, y)
    for _ in range(500):
        loss, g = value_and_grad(params, x, y)
        params = {k: params[k] - 1e-4 * g[k] for k in params}
    assert loss < 0.5 * first
    assert value_and_grad.cache.traces == 1 and value_and_grad.cache.compiles == 1


# ------------------------------------------------------------------ the cache

def test_second_call_neither_traces_nor_compiles():
    def f(x):
        return np.sum(np.tanh(x) ** 2)
    g = jitad.grad(f)
    x = np.linspace(-1, 1, 7)
    g(x)
    g(x + 1.0)
    g(x * 2.0)
    assert (g.cache.traces, g.cache.compiles, g.cache.hits) == (1, 1, 2)
    assert len(g.cache.entries) == 1


def test_new_shapes_make_new_entries_and_old_ones_keep_working():
    def f(x):
        return np.sum(np.sin(x) * x)
    g = jitad.grad(f)
    small, large = np.linspace(0, 1, 3), np.linspace(0, 1, 5)
    g_small = g(small)
    g(large)
    np.testing.assert_allclose(g(small), g_small)
    np.testing.assert_allclose(g(large), np.cos(large) * large + np.sin(large), rtol=1e-14)
    assert g.cache.compiles == 2 and len(g.cache.entries) == 2
    assert "float64[3]" in repr(g.cache) and "float64[5]" in repr(g.cache)
    assert g.cache.compile_seconds > 0


def test_inline_grad_shares_one_cache():
    """jitad.grad(f) written inline in a loop compiles once."""
    def f(x):
        return x * x
    for x in (1.0, 2.0, 3.0):
        assert jitad.grad(f)(x) == 2 * x
    assert jitad.grad(f).cache.compiles == 1


def test_float32_is_computed_and_returned_in_float32():
    def f(x):
        return np.sum(np.exp(x) * 0.5)
    x = np.linspace(0, 1, 4, dtype=np.float32)
    value, g = jitad.value_and_grad(f)(x)
    assert g.dtype == np.float32 and value.dtype == np.float32
    np.testing.assert_allclose(g, 0.5 * np.exp(x), rtol=1e-6)
    g(x.astype(np.float64)) if callable(g) else None
    assert jitad.grad(f)(x.astype(np.float64)).dtype == np.float64


# ---------------------------------------------------------- structures, API

def test_argument_structures_and_argnums():
    def f(d, xs, scale):
        return scale * d["a"] * np.sum(xs[0] * xs[1])
    d = {"a": 2.0}
    xs = [np.arange(3.0), np.ones(3)]
    gd, gxs = jitad.grad(f, argnums=(0, 1))(d, xs, 3.0)
    assert gd == {"a": 9.0}
    assert isinstance(gxs, list)
    np.testing.assert_allclose(gxs[0], 6.0 * np.ones(3))
    np.testing.assert_allclose(gxs[1], 6.0 * np.arange(3.0))
    assert jitad.grad(f, argnums=2)(d, xs, 3.0) == 6.0
    assert jitad.grad(f, argnums=(2,))(d, xs, 3.0) == (6.0,)


def test_static_integer_arguments_are_part_of_the_key():
    def f(x, n):
        return np.sum(x ** n)
    g = jitad.grad(f)
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(g(x, 2), 2 * x)
    np.testing.assert_allclose(g(x, 3), 3 * x ** 2)
    assert len(g.cache.entries) == 2


def test_value_and_grad_and_jit_agree_with_numpy():
    def f(x):
        return np.mean(np.sin(x) ** 2)
    x = np.linspace(0, 3, 11)
    value, g = jitad.value_and_grad(f)(x)
    assert value == pytest.approx(f(x), rel=1e-15)
    assert jitad.jit(f)(x) == pytest.approx(f(x), rel=1e-15)
    np.testing.assert_allclose(g, 2 * np.sin(x) * np.cos(x) / x.size, rtol=1e-14)


def test_jit_returns_structures():
    out = jitad.jit(lambda x: {"double": 2 * x, "sum": np.sum(x)})(np.arange(3.0))
    np.testing.assert_array_equal(out["double"], [0.0, 2.0, 4.0])
    assert out["sum"] == 3.0


def test_vjp():
    def f(a, b):
        return a * np.sin(b)
    a, b = np.array([1.0, 2.0]), np.array([0.5, 1.5])
    out, vjp_fn = jitad.vjp(f, a, b)
    np.testing.assert_allclose(out, a * np.sin(b))
    ct = np.array([1.0, -1.0])
    a_bar, b_bar = vjp_fn(ct)
    np.testing.assert_allclose(a_bar, ct * np.sin(b), rtol=1e-15)
    np.testing.assert_allclose(b_bar, ct * a * np.cos(b), rtol=1e-15)


def test_stop_gradient():
    assert jitad.grad(lambda x: x * jitad.stop_gradient(x))(3.0) == 3.0


def test_grad_of_grad():
    """Nesting: the inner gradient is inlined into the outer trace."""
    second = jitad.grad(jitad.grad(lambda x: x ** 3 + np.sin(x)))
    assert second(2.0) == pytest.approx(12.0 - np.sin(2.0), rel=1e-15)


def test_closure_over_an_outer_traced_value():
    """The inner function closes over the outer variable (no perturbation
    confusion): d/dx [d/dy (x*y)] = 1."""
    def outer(x):
        return jitad.grad(lambda y: x * y)(1.0)
    assert jitad.grad(outer)(3.0) == 1.0


def test_closure_arrays_are_constants():
    data = np.arange(4.0)

    def loss(w):
        return np.sum((data * w - 1.0) ** 2)
    np.testing.assert_allclose(jitad.grad(loss)(np.ones(4)), 2 * (data - 1.0) * data)


def test_transforms_are_decorators():
    @jitad.grad
    def df(x):
        return x ** 2
    assert df(3.0) == 6.0 and df.__name__ == "df"


def test_gradient_of_an_unused_input_is_zero():
    def f(x, y):
        return np.sum(x * 2.0)
    gx, gy = jitad.grad(f, argnums=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(gy, np.zeros(3))
    np.testing.assert_array_equal(gx, [2.0, 2.0])


def test_gradient_does_not_alias_arguments():
    x = np.ones(3)
    g = jitad.grad(lambda x: np.sum(x))(x)
    g[0] = 5.0
    assert x[0] == 1.0


def test_an_array_of_the_other_byte_order_is_another_key_and_exact():
    g = jitad.grad(lambda x: np.sum(x ** 3))
    native = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g(native), 3 * native ** 2)
    swapped = native.astype(native.dtype.newbyteorder())
    np.testing.assert_array_equal(g(swapped), 3 * native ** 2)
    assert len(g.cache.entries) == 2
