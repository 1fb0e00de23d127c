"""Control flow that depends on values (guards), custom rules, and honest
errors: the derivative returned is always that of the path taken."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import jitad
from jitad.cache import MAX_VARIANTS
from jitad.errors import RetraceWarning


def branchy(x):
    if np.sum(x) > 0:
        return np.sum(np.sin(x) * x)
    return np.sum(np.exp(x)) * 2.0


def test_alternating_branches_give_each_paths_gradient():
    g = jitad.grad(branchy)
    positive, negative = np.array([0.5, 1.0]), np.array([-0.5, -1.0])
    for x in (positive, negative, positive, negative, positive * 2, negative * 3):
        np.testing.assert_allclose(g(x), jitad.fd.grad(branchy, x, method="complex"),
                                   rtol=1e-13)
    assert g.cache.traces == 2 and g.cache.compiles == 2  # one kernel per path, reused
    (variants,) = g.cache.entries.values()
    assert len(variants) == 2


def newton_sqrt(a):
    """sqrt(a) by Newton's method, iterated to convergence: a value-dependent
    while loop, unrolled in the trace and guarded on every test."""
    x = a
    while abs(x * x - a) > 1e-13 * a:
        x = 0.5 * (x + a / x)
    return x


@pytest.mark.parametrize("a", [4.0, 2.0, 10.0, 0.5])
def test_newton_solver_loop(a):
    g = jitad.grad(newton_sqrt)
    assert g(a) == pytest.approx(0.5 / np.sqrt(a), rel=1e-10)


def piecewise(x):
    if x < 1.0:
        return x * x
    return 2.0 * x - 1.0 + (x - 1.0) ** 3


def test_piecewise_function_and_its_kink():
    g = jitad.grad(piecewise)
    assert g(0.5) == 1.0
    assert g(2.0) == pytest.approx(2.0 + 3.0)
    # At the kink the branch taken is `x >= 1`: the one-sided derivative from the right.
    assert g(1.0) == 2.0


def recursive_power(x, n):
    return 1.0 if n == 0 else x * recursive_power(x, n - 1)


def decaying(x):
    """Recursion whose depth depends on the value."""
    return x if x < 1.0 else np.sqrt(decaying(x / 2.0)) + 1.0


def test_recursion():
    assert jitad.grad(recursive_power)(2.0, 5) == pytest.approx(5 * 2.0 ** 4)
    g = jitad.grad(decaying)
    for x in (0.5, 3.0, 17.0, 3.0):
        assert g(x) == pytest.approx(jitad.fd.grad(decaying, x, method="central"), rel=1e-8)


def test_python_values_from_integer_data_are_guarded():
    def pick(x, k):
        total = 0.0
        for i in range(int(k[0])):  # range(int(n)) over traced integer data
            total = total + x[i]
        return total * x[k[1]]      # a traced integer used as an index
    g = jitad.grad(pick)
    x = np.arange(1.0, 6.0)
    np.testing.assert_allclose(g(x, np.array([2, 4])), [5.0, 5.0, 0.0, 0.0, 3.0])
    np.testing.assert_allclose(g(x, np.array([3, 0])), [7.0, 1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(g(x, np.array([2, 4])), [5.0, 5.0, 0.0, 0.0, 3.0])
    assert g.cache.compiles == 2


def test_value_guard_under_jit_retraces_with_a_bounded_cache():
    f = jitad.jit(lambda x: x * int(x))   # a new path for every integer part
    with pytest.warns(RetraceWarning, match="re-traced"):
        for k in range(12):
            assert f(k + 0.5) == (k + 0.5) * k
    (variants,) = f.cache.entries.values()
    assert len(variants) == MAX_VARIANTS
    assert f(11.5) == 11.5 * 11   # the most recent paths are kept
    assert f(0.5) == 0.0          # an evicted one is re-traced, still right


def test_float_of_a_differentiated_value_is_refused():
    with pytest.raises(TypeError, match=r"float\(\).*depends on the differentiated input"):
        jitad.grad(lambda x: x * float(x))(2.0)
    with pytest.raises(TypeError, match=r"np.sin, not math.sin"):
        jitad.grad(lambda x: math.exp(x))(2.0)
    # not differentiated: a guarded constant, fine
    assert jitad.grad(lambda x, y: x * float(y), argnums=0)(2.0, 3.0) == 3.0


def test_truth_value_of_an_array_is_ambiguous():
    with pytest.raises(ValueError, match="ambiguous"):
        jitad.grad(lambda x: np.sum(x) if x > 0 else 0.0)(np.ones(3))


def test_non_numpy_library_on_a_traced_value():
    special = pytest.importorskip("scipy.special")
    # scipy.special's ufuncs are recorded (tests/test_special.py); one jitad
    # has no rule for is named
    with pytest.raises(TypeError, match="'gamma' is not NumPy's.*write it with NumPy"):
        jitad.grad(lambda x: np.sum(special.gamma(x)))(np.ones(2))
    with pytest.raises(TypeError, match="cannot turn a traced value into a NumPy array.*"
                                        r"jitad\.scipy\.special\.logsumexp"):
        jitad.grad(lambda x: special.logsumexp(x))(np.ones(2))


# --------------------------------------------------------------- custom_vjp

def make_log1pexp():
    calls = []

    @jitad.custom_vjp
    def log1pexp(x):
        return np.log(1.0 + np.exp(x))

    def fwd(x):
        return log1pexp(x), x

    def bwd(x, y_bar):
        calls.append(1)
        return (y_bar / (1.0 + np.exp(-x)),)
    log1pexp.defvjp(fwd, bwd)
    return log1pexp, calls


def test_custom_vjp_rule_is_used_and_stable():
    log1pexp, calls = make_log1pexp()
    x = np.array([-800.0, -1.0, 0.0, 1.0, 800.0])
    g = jitad.grad(lambda x: np.sum(log1pexp(x)))(x)
    with np.errstate(over="ignore"):  # the reference itself overflows harmlessly at -800
        expected = 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_allclose(g, expected, rtol=1e-15)
    assert calls  # bwd was traced into the kernel
    naive = jitad.grad(lambda x: np.sum(np.log(1.0 + np.exp(x))))(x)
    assert not np.allclose(naive, g)  # the naive gradient breaks at 800


def test_custom_vjp_second_order_goes_through_the_rule():
    log1pexp, _ = make_log1pexp()
    s = 1.0 / (1.0 + np.exp(-0.3))
    assert jitad.grad(jitad.grad(log1pexp))(0.3) == pytest.approx(s * (1 - s), rel=1e-14)


def test_gradient_clipping():
    @jitad.custom_vjp
    def clip_gradient(x):
        return x

    clip_gradient.defvjp(lambda x: (clip_gradient(x), None),
                         lambda _, g: (np.minimum(np.maximum(g, -1.0), 1.0),))
    g = jitad.grad(lambda x: np.sum(np.array([5.0, 0.5, -5.0]) * clip_gradient(x)))
    np.testing.assert_array_equal(g(np.zeros(3)), [1.0, 0.5, -1.0])
    # forward mode differentiates the primal code as written
    assert jitad.jvp(lambda x: 5.0 * clip_gradient(x), (1.0,), (1.0,))[1] == 5.0


def test_implicit_function_gradient_of_an_iterative_solver():
    """y(a) solves y*y = a by iteration; the rule is the implicit function
    theorem (dy/da = 1/(2y)), so reverse mode never differentiates the loop."""
    @jitad.custom_vjp
    def solve(a):
        return newton_sqrt(a)

    solve.defvjp(lambda a: (solve(a), solve(a)), lambda y, y_bar: (y_bar / (2.0 * y),))
    for a in (2.0, 9.0):
        assert jitad.grad(solve)(a) == pytest.approx(0.5 / np.sqrt(a), rel=1e-14)


def test_check_grad_flags_a_wrong_custom_rule():
    @jitad.custom_vjp
    def wrong_sin(x):
        return np.sin(x)

    wrong_sin.defvjp(lambda x: (wrong_sin(x), x), lambda x, g: (g * np.sin(x),))
    report = jitad.check_grad(lambda x: np.sum(wrong_sin(x)), np.linspace(0.1, 1, 4))
    assert not report.passed and "FAIL" in repr(report)
    right = jitad.check_grad(lambda x: np.sum(np.sin(x)), np.linspace(0.1, 1, 4))
    assert right.passed


def test_custom_vjp_errors():
    @jitad.custom_vjp
    def no_rule(x):
        return x
    with pytest.raises(TypeError, match="defvjp"):
        jitad.grad(no_rule)(1.0)

    @jitad.custom_vjp
    def bad_bwd(x):
        return x
    bad_bwd.defvjp(lambda x: (bad_bwd(x), None), lambda _, g: g)
    with pytest.raises(TypeError, match="one cotangent per input"):
        jitad.grad(bad_bwd)(1.0)


def test_outside_a_trace_a_custom_function_is_plain_numpy():
    log1pexp, calls = make_log1pexp()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert log1pexp(0.0) == pytest.approx(np.log(2.0))
    assert not calls
