"""Values a loss reads from outside its arguments are current on every call:
globals, closure cells and attributes of ``self`` (issue: captured data went
stale, silently). Every gradient is checked against NumPy finite differences
of the function as it reads its data *now*."""
from __future__ import annotations

import numpy as np
import jitad

data = np.array([1.0, 2.0, 3.0])
scale = 0.5
power = 2
mask = np.array([True, False, True])
params = {"W": np.eye(3), "b": np.zeros(3)}


def global_loss(w):
    return np.sum((w - data) ** 2) * scale


def derived_loss(w):
    centred = data - data.mean()         # NumPy derives a value from the global
    return np.sum((w - centred) ** power)


def masked_loss(w):
    return np.sum(w[mask] ** 2)


def params_loss(x):
    return np.sum(np.tanh(params["W"] @ x + params["b"]))


def fd(f, w):
    return jitad.fd.grad(f, w, method="central")


def test_rebinding_a_global_is_seen():
    global data
    w = np.zeros(3)
    g = jitad.grad(global_loss)
    np.testing.assert_allclose(g(w), [-1.0, -2.0, -3.0])
    saved = data
    try:
        data = np.array([10.0, 20.0, 30.0])   # re-run the data cell
        np.testing.assert_allclose(g(w), [-10.0, -20.0, -30.0])
        np.testing.assert_allclose(jitad.grad(global_loss)(w), [-10.0, -20.0, -30.0])
    finally:
        data = saved
    np.testing.assert_allclose(g(w), [-1.0, -2.0, -3.0])
    assert g.cache.compiles == 1  # same shapes: the same kernel reads the new data


def test_a_global_float_and_a_global_int():
    global scale, power
    w = np.ones(3)
    g = jitad.grad(derived_loss)
    saved = scale, power
    try:
        before = g(w)
        power = 3  # static: a new trace
        np.testing.assert_allclose(g(w), fd(derived_loss, w), rtol=1e-8)
        assert not np.allclose(before, g(w))
        scale = 2.0
        h = jitad.grad(global_loss)
        np.testing.assert_allclose(h(w), fd(global_loss, w), rtol=1e-8)
        scale = 3.0
        np.testing.assert_allclose(h(w), fd(global_loss, w), rtol=1e-8)
        assert h.cache.compiles == 1  # a float is a kernel input, not a constant
    finally:
        scale, power = saved


def test_in_place_change_and_the_values_numpy_derived_from_it():
    w = np.linspace(0.0, 1.0, 3)
    g = jitad.grad(derived_loss)
    g(w)
    saved = data.copy()
    try:
        data[:] = [5.0, -1.0, 7.0]   # in place: direct uses and data.mean() both change
        np.testing.assert_allclose(g(w), fd(derived_loss, w), rtol=1e-8)
    finally:
        data[:] = saved


def test_a_closure_cell():
    def make(target):
        def loss(w):
            return np.sum((w - target) ** 2)
        return loss
    target = np.array([1.0, -1.0])

    def loss(w):
        return np.sum((w - target) ** 2)
    g = jitad.grad(loss)
    np.testing.assert_allclose(g(np.zeros(2)), [-2.0, 2.0])
    target = np.array([3.0, 3.0])  # noqa: F841 - the closure cell is rebound
    np.testing.assert_allclose(g(np.zeros(2)), [-6.0, -6.0])
    other = jitad.grad(make(np.array([0.5, 0.5])))
    np.testing.assert_allclose(other(np.zeros(2)), [-1.0, -1.0])


def test_an_attribute_of_self():
    class Model:
        def __init__(self, target):
            self.target = target

        def loss(self, w):
            return np.sum((w - self.target) ** 2) + self.penalty(w)

        def penalty(self, w):
            return 0.1 * np.sum(w * self.target)

    m = Model(np.array([1.0, 2.0]))
    w = np.array([0.5, 0.5])
    g = jitad.grad(m.loss)
    np.testing.assert_allclose(g(w), fd(m.loss, w), rtol=1e-8)
    m.target = np.array([-4.0, 9.0])
    np.testing.assert_allclose(g(w), fd(m.loss, w), rtol=1e-8)
    np.testing.assert_allclose(jitad.grad(m.loss)(w), fd(m.loss, w), rtol=1e-8)
    assert m.target is not None and isinstance(m.target, np.ndarray)  # untouched by tracing


def test_items_of_a_global_dict():
    x = np.array([0.3, -0.2, 0.1])
    g = jitad.grad(params_loss)
    g(x)
    saved = dict(params)
    try:
        params["W"] = np.arange(9.0).reshape(3, 3) / 9.0
        params["b"] = np.ones(3)
        np.testing.assert_allclose(g(x), fd(params_loss, x), rtol=1e-7)
    finally:
        params.update(saved)


def test_a_boolean_mask_stays_a_constant_keyed_by_its_content():
    w = np.array([1.0, 2.0, 3.0])
    g = jitad.grad(masked_loss)
    np.testing.assert_allclose(g(w), [2.0, 0.0, 6.0])
    saved = mask.copy()
    try:
        mask[:] = [False, True, True]
        np.testing.assert_allclose(g(w), [0.0, 4.0, 6.0])
    finally:
        mask[:] = saved


X = np.random.default_rng(0).standard_normal((64, 3))
y = X @ np.array([1.0, -2.0, 0.5])
Xb, yb = X[:8], y[:8]


def minibatch_loss(w):
    return np.mean((Xb @ w - yb) ** 2)


def test_sgd_over_a_global_minibatch():
    """Each step assigns the next batch to globals; each step's gradient is
    the gradient on that batch."""
    global Xb, yb
    g = jitad.grad(minibatch_loss)
    w = np.zeros(3)
    rng = np.random.default_rng(1)
    for _ in range(6):
        idx = rng.choice(64, 8, replace=False)
        Xb, yb = X[idx], y[idx]
        grad = g(w)
        np.testing.assert_allclose(grad, fd(minibatch_loss, w), rtol=1e-7, atol=1e-9)
        w = w - 0.1 * grad
    assert g.cache.compiles == 1


def test_an_array_turned_back_into_numpy_keys_by_content():
    """np.asarray of read data: jitad cannot follow what NumPy computes from
    it, so its content is part of the key and a change re-traces."""
    def loss(w):
        d = np.asarray(data)
        return np.sum((w - np.sort(d)) ** 2)
    w = np.zeros(3)
    g = jitad.grad(loss)
    np.testing.assert_allclose(g(w), fd(loss, w), rtol=1e-8)
    saved = data.copy()
    try:
        data[:] = [9.0, -3.0, 4.0]
        np.testing.assert_allclose(g(w), fd(loss, w), rtol=1e-8)
    finally:
        data[:] = saved


def test_nested_transforms_read_through():
    """grad of grad: the inner function's reads become the outer kernel's."""
    global scale
    h = jitad.grad(lambda w: np.sum(jitad.grad(global_loss)(w) * w))
    w = np.ones(3)
    saved = scale
    try:
        first = h(w)
        scale = 4.0
        np.testing.assert_allclose(h(w), first * 8.0, rtol=1e-12)
    finally:
        scale = saved


def test_the_cache_display_names_what_was_read():
    g = jitad.grad(global_loss)
    g(np.zeros(3))
    assert "global data: float64[3]" in repr(g.cache) and "global scale: float" in repr(g.cache)


def test_the_function_and_its_module_are_untouched():
    jitad.grad(global_loss)(np.zeros(3))
    assert isinstance(globals()["data"], np.ndarray) and type(scale) is float


# --- what the user's helper functions read is read too ---------------------------

offset = 1.0
bumps = 0


def shifted(w):
    return w - offset * data        # reads two globals the loss does not name


def helper_loss(w):
    return np.sum(shifted(w) ** 2)


def countdown(w, n):
    return w if n == 0 else countdown(w * scale, n - 1)  # recursive, reads a global


def recursive_loss(w):
    return np.sum(countdown(w, 3) ** 2)


def bump():
    global bumps
    bumps += 1                      # reads nothing jitad traces: called as it is


def bumping_loss(w):
    bump()
    return np.sum(w ** 2)


def test_a_global_read_by_a_helper_function_is_seen():
    global offset, data
    w = np.array([0.5, -0.5, 2.0])
    g = jitad.grad(helper_loss)
    np.testing.assert_allclose(g(w), fd(helper_loss, w), rtol=1e-8)
    saved = offset, data
    try:
        offset = 3.0                # a float: a kernel input, no new compile
        np.testing.assert_allclose(g(w), fd(helper_loss, w), rtol=1e-8)
        data = np.array([-2.0, 0.0, 4.0])
        np.testing.assert_allclose(g(w), fd(helper_loss, w), rtol=1e-8)
        assert g.cache.compiles == 1
    finally:
        offset, data = saved
    np.testing.assert_allclose(g(w), fd(helper_loss, w), rtol=1e-8)


def test_a_helper_in_a_closure_reading_a_closure_cell():
    target = np.array([1.0, 2.0])

    def distance(w):
        return w - target

    def loss(w):
        return np.sum(distance(w) ** 2)
    g = jitad.grad(loss)
    np.testing.assert_allclose(g(np.zeros(2)), [-2.0, -4.0])
    target[:] = [3.0, -1.0]         # in place
    np.testing.assert_allclose(g(np.zeros(2)), [-6.0, 2.0])
    target = np.array([0.5, 0.5])   # noqa: F841 - rebound: the helper's cell changes
    np.testing.assert_allclose(g(np.zeros(2)), [-1.0, -1.0])


def test_a_recursive_helper_reading_a_global():
    global scale
    w = np.array([1.0, -2.0])
    g = jitad.grad(recursive_loss)
    saved = scale
    try:
        np.testing.assert_allclose(g(w), 2 * scale ** 6 * w)
        scale = 2.0
        np.testing.assert_allclose(g(w), 2 * 2.0 ** 6 * w)
    finally:
        scale = saved


def test_a_helper_that_reads_nothing_is_called_as_it_is():
    before = bumps
    jitad.grad(bumping_loss)(np.ones(2))
    assert bumps > before           # its global write reached the module, not a copy's view
