"""Tests of jitad.fd: finite-difference derivatives and check_grad.

The accuracy tests compare against gradients derived by hand and assert the
error bound that the finite-difference theory in jitad/fd.py's docstring gives
at the default steps h_i = eps**p * s_i, s_i = max(|x_i|, 1):

    forward     h M2 / 2        + 2 delta / h      ~ eps**(1/2)
    central     h**2 M3 / 6     + delta / h        ~ eps**(2/3)
    richardson  h**4 M5 / 480   + 3 delta / h      ~ eps**(4/5)
    complex     ROUND_OFF * eps * (sum of |terms| of the partial)   ~ eps

where Mk bounds |d^k f / dx_i^k| within a step of x and delta bounds the
round-off in evaluating f: ROUND_OFF * eps * (f with every subtraction turned
into an addition, the standard running bound on rounding errors). Each bound is
proportional to eps**order times problem constants, so it is the error order
with its constants made explicit rather than a tolerance picked to pass.
"""
import dataclasses
import doctest
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jitad import fd

# Evaluating f, or the imaginary part of f(x + ih), takes a handful of roundings,
# each at most eps/2 of the running magnitude for arithmetic and about that for
# NumPy's sin, exp and log. Eight of them, 4 eps, cover the evaluation chains of
# the functions below; it is about 3x the largest round-off measured over 10**4
# random points (rounding errors rarely all align), yet a bound of the wrong
# order in eps would still be exceeded many times over.
ROUND_OFF = 4
STEP_EXPONENT = {"forward": 1 / 2, "central": 1 / 3, "richardson": 1 / 5}


@dataclasses.dataclass(frozen=True)
class Smooth:
    """A test function with its gradient and rounding magnitudes worked out by hand."""

    f: Callable  # x -> scalar
    grad: Callable  # x -> exact gradient
    f_magnitude: Callable  # x -> f with subtractions made additions: bounds f's round-off
    grad_magnitude: Callable  # x -> the same for each partial (complex step's round-off)


SIN_EXP = Smooth(
    f=lambda x: np.sum(np.sin(x) * np.exp(x)),
    grad=lambda x: np.exp(x) * (np.sin(x) + np.cos(x)),
    f_magnitude=lambda x: np.sum(np.abs(np.sin(x)) * np.exp(x)),
    grad_magnitude=lambda x: np.exp(x) * (np.abs(np.sin(x)) + np.abs(np.cos(x))),
)


def _log_ratio(x):
    return np.log(x[0] / np.sin(x[1] ** 2))


SQRT_LOG = Smooth(  # x1 sqrt(log(x1 / sin(x2**2))) on x1 in [2, 3], x2 in [0.5, 1.5], where log(...) > 0.69
    f=lambda x: x[0] * np.sqrt(np.log(x[0] / np.sin(x[1] ** 2))),
    grad=lambda x: np.array([
        np.sqrt(_log_ratio(x)) + 1 / (2 * np.sqrt(_log_ratio(x))),
        -x[0] * x[1] / (np.sqrt(_log_ratio(x)) * np.tan(x[1] ** 2)),
    ]),
    # log's relative condition number is 1 / |log|: rounding of the ratio is amplified by it.
    f_magnitude=lambda x: x[0] * np.sqrt(_log_ratio(x)) * (1 + 1 / _log_ratio(x)),
    grad_magnitude=lambda x: (np.sqrt(_log_ratio(x)) + 1 / np.sqrt(_log_ratio(x))
                              + np.abs(x[0] * x[1] / (np.sqrt(_log_ratio(x)) * np.tan(x[1] ** 2))))
    * (1 + 1 / _log_ratio(x)),
)


def _rosenbrock_grad(x):
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


def _rosenbrock_grad_magnitude(x):
    g = np.zeros_like(x)
    g[:-1] = 400 * np.abs(x[:-1]) * (np.abs(x[1:]) + x[:-1] ** 2) + 2 * (1 + np.abs(x[:-1]))
    g[1:] += 200 * (np.abs(x[1:]) + x[:-1] ** 2)
    return g


ROSENBROCK = Smooth(
    f=lambda x: np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
    grad=_rosenbrock_grad,
    f_magnitude=lambda x: np.sum(100 * (np.abs(x[1:]) + x[:-1] ** 2) ** 2 + (1 + np.abs(x[:-1])) ** 2),
    grad_magnitude=_rosenbrock_grad_magnitude,
)


def near_max(values, x, reach):
    """Per i, the max of |values(x + t e_i, i)| over five t in [-reach_i, reach_i]."""
    result = np.zeros_like(x)
    for i in range(x.size):
        for t in np.linspace(-reach[i], reach[i], 5):
            shifted = x.copy()
            shifted[i] += t
            value = values(shifted, i)
            result[i] = max(result[i], abs(value))
    return result


def partial(grad, order, tau=1e-2):
    """(point, i) -> d^order f / dx_i^order from the hand-written gradient.

    By a coarse (order-1)-th central difference of grad_i: only magnitudes
    enter the error bounds, so a few correct digits suffice.
    """
    m = order - 1
    stencil = [((-1) ** (m - j) * math.comb(m, j), (j - m / 2) * tau) for j in range(m + 1)]

    def derivative(point, i):
        total = 0.0
        for weight, offset in stencil:
            shifted = point.copy()
            shifted[i] += offset
            total += weight * grad(shifted)[i]
        return total / tau ** m

    return derivative


# The coarse differences in `partial` are O(tau**2) = 1e-4 relative off, and five
# samples only approximate the maximum over the step; 10% covers both.
ESTIMATE_SLACK = 1.1


def error_bound(function, x, method):
    """The theoretical bound on |fd.grad(function.f, x, method=method) - exact| (module docstring)."""
    eps = np.finfo(x.dtype).eps
    x = x.astype(np.float64)
    # Rounding the result to the argument's dtype (float32) adds eps/2 relative.
    result_rounding = eps * np.abs(function.grad(x))
    if method == "complex":  # truncation, h**2 M3 / 6 at h = 1e-20, is negligible
        return ROUND_OFF * eps * function.grad_magnitude(x) + result_rounding
    h = eps ** STEP_EXPONENT[method] * np.maximum(np.abs(x), 1)
    delta = ROUND_OFF * eps * near_max(lambda point, i: function.f_magnitude(point), x, h)

    def m(order):
        return ESTIMATE_SLACK * near_max(partial(function.grad, order), x, h)

    if method == "forward":
        return h * m(2) / 2 + 2 * delta / h + result_rounding
    if method == "central":
        return h ** 2 * m(3) / 6 + delta / h + result_rounding
    return h ** 4 * m(5) / 480 + 3 * delta / h + result_rounding


def assert_within_theory(function, x, method):
    approx = fd.grad(function.f, x, method=method)
    error = np.abs(approx.astype(np.float64) - function.grad(x.astype(np.float64)))
    bound = error_bound(function, x, method)
    assert approx.dtype == x.dtype
    assert np.all(error <= bound), f"error {error} exceeds bound {bound} at x = {x!r}"


def no_underflow(value):
    """0 for |value| < 1e-30: keeps x**2 and products with the complex step 1e-20
    clear of underflow (1e-308; 1e-38 in float32), which the error model leaves out."""
    return value if abs(value) >= 1e-30 else 0.0


def vectors(low, high, min_size=1, max_size=8, dtype=np.float64):
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(low, high, width=width).map(no_underflow)
    return hnp.arrays(dtype, st.integers(min_size, max_size), elements=elements)


all_methods = pytest.mark.parametrize("method", fd.METHODS)
relaxed = settings(deadline=None, max_examples=60, database=None)


# --- Accuracy: error within the theoretical bound ---------------------------

@all_methods
@relaxed
@given(x=vectors(-3.0, 3.0))
def test_sin_exp_within_theory(method, x):
    assert_within_theory(SIN_EXP, x, method)


@all_methods
@relaxed
@given(x1=st.floats(2.0, 3.0), x2=st.floats(0.5, 1.5))
def test_sqrt_log_within_theory(method, x1, x2):
    assert_within_theory(SQRT_LOG, np.array([x1, x2]), method)


@all_methods
@relaxed
@given(x=vectors(-2.0, 2.0, min_size=2))
def test_rosenbrock_within_theory(method, x):
    assert_within_theory(ROSENBROCK, x, method)


@all_methods
@relaxed
@given(x=vectors(-3.0, 3.0, dtype=np.float32))
def test_float32_within_theory(method, x):
    assert_within_theory(SIN_EXP, x, method)


@pytest.mark.parametrize("method, order", [("forward", 1 / 2), ("central", 2 / 3),
                                           ("richardson", 4 / 5), ("complex", 1)])
def test_error_order_at_a_well_scaled_point(method, order):
    # sin(x) exp(x) on [0, 1]: f, its derivatives and the gradient are all O(1)
    # (gradient >= 1), so the relative error is a small multiple of eps**order.
    x = np.linspace(0.0, 1.0, 5)
    relative_error = np.abs(fd.grad(SIN_EXP.f, x, method=method) / SIN_EXP.grad(x) - 1)
    assert np.max(relative_error) <= 4 * np.finfo(float).eps ** order


def test_steps_are_representable():
    # Near 1e8 the nominal step 1.5e-8 * 1e8 is not representable relative to x;
    # dividing by the step actually taken makes the derivative of x exactly 1.
    for method in ["forward", "central", "richardson"]:
        assert fd.grad(lambda x: x, 1e8 + 0.1, method=method) == 1.0


def test_explicit_step_is_absolute():
    # Central difference of x**3 is 3 x**2 + h**2 exactly; a step scaled by |x| = 10 would give 325.
    assert fd.grad(lambda x: x ** 3, 10.0, h=0.5) == pytest.approx(300.25, rel=1e-14)
    assert fd.grad(lambda x: x ** 2, 10.0, h=0.5, method="forward") == pytest.approx(20.5, rel=1e-14)


# --- Cost: calls to f --------------------------------------------------------

@pytest.mark.parametrize("method, calls", [("forward", 6 + 1), ("central", 2 * 6), ("complex", 6),
                                           ("richardson", 4 * 6)])
def test_number_of_evaluations(method, calls):
    count = []

    def f(x):
        count.append(1)
        return np.sum(x ** 2)

    fd.grad(f, np.ones((2, 3)), method=method)
    assert len(count) == calls


def test_argument_is_not_modified():
    x = np.linspace(0.0, 1.0, 4)
    before = x.copy()
    fd.grad(SIN_EXP.f, x, method="complex")
    fd.grad(SIN_EXP.f, x)
    np.testing.assert_array_equal(x, before)


# --- Structures ---------------------------------------------------------------

def test_dict_of_arrays_and_scalars():
    params = {"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": 0.5, "scale": [np.float64(2.0), np.array(3.0)]}

    def loss(p):
        return p["scale"][0] * p["scale"][1] * np.sum(p["W"] ** 2) + p["b"] ** 2

    g = fd.grad(loss, params)
    assert set(g) == {"W", "b", "scale"}
    np.testing.assert_allclose(g["W"], 12.0 * params["W"], rtol=1e-9)
    assert type(g["b"]) is float and g["b"] == pytest.approx(1.0, rel=1e-9)
    assert isinstance(g["scale"], list)
    assert isinstance(g["scale"][0], np.float64) and g["scale"][0] == pytest.approx(90.0, rel=1e-9)
    assert isinstance(g["scale"][1], np.ndarray) and g["scale"][1].shape == ()
    assert g["scale"][1] == pytest.approx(60.0, rel=1e-9)


def test_tuple_argument_and_argnums_tuple():
    def f(pair, y, n):
        return n * pair[0] * np.sum(pair[1]) * y

    pair, y = (2.0, np.array([1.0, 2.0])), 3.0
    g_pair, g_y = fd.grad(f, pair, y, 4, argnums=(0, 1), method="complex")
    assert isinstance(g_pair, tuple) and type(g_pair[0]) is float
    assert g_pair[0] == pytest.approx(36.0, rel=1e-15)
    np.testing.assert_allclose(g_pair[1], [24.0, 24.0], rtol=1e-15)
    assert g_y == pytest.approx(24.0, rel=1e-15)
    assert fd.grad(f, pair, y, 4, argnums=-2) == pytest.approx(24.0, rel=1e-9)


def test_python_float_returns_python_float():
    g = fd.grad(math.sin, 0.5)
    assert type(g) is float and g == pytest.approx(math.cos(0.5), rel=1e-10)


@pytest.mark.parametrize("method", fd.METHODS)
def test_float32_argument_returns_float32(method):
    g = fd.grad(lambda x: np.sum(x ** 2), np.array([1.0, 2.0], dtype=np.float32), method=method)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-3)  # accuracy: test_float32_within_theory


def test_empty_argument():
    assert fd.grad(lambda x, y: np.sum(x) + y, np.zeros(0), 1.0).shape == (0,)


# --- Jacobian layout ----------------------------------------------------------

def test_jacobian_of_matrix_vector_product():
    A = np.arange(12.0).reshape(4, 3)
    J = fd.jacobian(lambda x: A @ x, np.array([0.5, -1.0, 2.0]))
    assert J.shape == (4, 3)
    np.testing.assert_allclose(J, A, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("method", fd.METHODS)
def test_jacobian_of_elementwise_sin_is_output_shape_plus_input_shape(method):
    x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    J = fd.jacobian(np.sin, x, method=method)
    assert J.shape == (2, 3, 2, 3)
    expected = np.einsum("ij,ik,jl->ijkl", np.cos(x), np.eye(2), np.eye(3))
    np.testing.assert_allclose(J, expected, rtol=1e-7, atol=1e-7)


def test_jacobian_with_several_argnums_and_scalar_argument():
    def f(x, t):
        return np.array([t * x[0], t ** 2 * x[1], x[0] * x[1]])

    J_x, J_t = fd.jacobian(f, np.array([2.0, 3.0]), 0.5, argnums=(0, 1), method="complex")
    np.testing.assert_allclose(J_x, [[0.5, 0.0], [0.0, 0.25], [3.0, 2.0]], rtol=1e-15)
    assert isinstance(J_t, np.ndarray) and J_t.shape == (3,)
    np.testing.assert_allclose(J_t, [2.0, 3.0, 0.0], rtol=1e-15)


# --- Errors -------------------------------------------------------------------

def test_grad_rejects_non_scalar_output():
    with pytest.raises(TypeError, match=r"scalar.*\(2, 3\)"):
        fd.grad(lambda x: x, np.ones((2, 3)))


@pytest.mark.parametrize("argument", [3, np.arange(3), {"a": 1.0, "n": np.int32(2)}, True])
def test_integer_argument_is_rejected(argument):
    with pytest.raises(TypeError, match="integer arguments are not differentiated"):
        fd.grad(lambda a: 0.0, argument)


@pytest.mark.parametrize("f, argument", [
    (lambda x: np.sum(np.abs(x)), np.array([1.0, 2.0])),  # drops the imaginary part
    (lambda x: np.float64(x[0]) * x[1], np.array([1.0, 2.0])),  # casts complex to real
    (lambda x: math.exp(x[0]) * x[1], np.array([1.0, 2.0])),  # math works on reals only
    (lambda t: max(t, 0.0), 1.0),  # Python complex numbers are not ordered
])
def test_complex_step_on_non_complex_safe_f(f, argument):
    with pytest.raises(ValueError, match="complex-safe.*method='central'"):
        fd.grad(f, argument, method="complex")


def test_bad_method_argnums_and_step():
    with pytest.raises(ValueError, match="method"):
        fd.grad(np.sum, np.ones(2), method="backward")
    with pytest.raises(ValueError, match="argnums"):
        fd.grad(np.sum, np.ones(2), argnums=1)
    with pytest.raises(ValueError, match="too small"):
        fd.grad(np.sum, np.ones(2), h=1e-30)


@pytest.mark.parametrize("name", ["grad", "jacobian"])
def test_docstring_examples(name):
    finder = doctest.DocTestFinder()
    [test] = [t for t in finder.find(fd) if t.name == f"jitad.fd.{name}"]
    assert doctest.DocTestRunner().run(test).failed == 0


# --- check_grad (needs jitad.grad from jitad.api) -----------------------------

def test_check_grad_passes_on_sum_of_sin():
    def f(x):
        return np.sum(np.sin(x))

    report = fd.check_grad(f, np.linspace(-2.0, 2.0, 7))
    assert report.passed and bool(report)
    assert report.max_abs_err <= report.atol
    assert report.rtol == pytest.approx(np.finfo(float).eps ** (1 / 3))
    [leaf] = report.leaves
    assert leaf.name == "x" and leaf.shape == (7,) and leaf.passed


def test_check_grad_report_names_every_leaf():
    def loss(params, x):
        hidden = np.tanh(params["W1"] @ x + params["b1"])
        return np.sum(params["w2"] * hidden)

    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=3), "w2": rng.normal(size=3)}
    report = fd.check_grad(loss, params, np.array([0.3, -0.7]), argnums=(0, 1))
    assert report
    names = ["params['W1']", "params['b1']", "params['w2']", "x"]
    assert [leaf.name for leaf in report.leaves] == names
    text, page = repr(report), report._repr_html_()
    assert "PASS" in text and "PASS" in page and "<table>" in page
    assert all(name in text for name in names)
    assert all(name.replace("'", "&#x27;") in page for name in names)


def test_check_grad_docstring_example():
    [test] = [t for t in doctest.DocTestFinder().find(fd) if t.name == "jitad.fd.check_grad"]
    assert doctest.DocTestRunner().run(test).failed == 0
