"""In-place writes with NumPy's semantics: every alias and view of the array
sees them, in value and derivative; and numbers taken out of a trace are
guarded, allowed where they only steer control flow, refused where they would
drop a term of the derivative."""
from __future__ import annotations

import math

import numpy as np
import pytest

import jitad

X = np.array([0.5, -1.2, 2.0, 0.3])


def alias(x):
    z = x * 1.0
    w = z                  # one array, two names
    w += 1.0
    return np.sum(z ** 2)


def view_write(x):
    z = x * 2.0
    v = z[1:]              # a view: writing through it changes z
    v *= 3.0
    return np.sum(z ** 2 * np.arange(4.0))


def slice_of_slice(x):
    z = np.sin(x)
    v = z[1:][::2]
    v[0] = x[0] ** 3
    return np.sum(z * z)


def setitem_pieces(x):
    y = np.zeros_like(x)
    y[0] = x[1] ** 2
    y[2:] = x[:2] * 3
    return np.sum(y * y)


def traced_mask(x):
    y = x * 1.0
    y[y < 0] = 0.0
    return np.sum(y ** 2)


def repeated_fancy_index(x):
    y = x * 1.0
    y[[0, 2, 0]] = np.array([1.0, 2.0, 3.0]) * x[1]   # the last write wins
    return np.sum(y ** 3)


def constant_mask_values(x):
    y = x * 1.0
    y[np.array([True, False, True, False])] = x[2:] ** 2
    return np.sum(y ** 2)


def through_a_transpose(x):
    m = np.outer(x, x[:3])
    m.T[0] += 1.0
    return np.sum(m ** 2)


def through_a_reshape(x):
    m = x * 1.0
    r = m.reshape(2, 2)
    r[1] = r[0] * 5
    return np.sum(m * np.arange(4.0))


def reshape_of_a_transpose_is_a_copy(x):
    m = np.outer(x[:2], x[2:])
    flat = m.T.reshape(-1)   # NumPy copies: writing into it leaves m alone
    flat[0] = 100.0
    return np.sum(m ** 2) + np.sum(flat)


def out_argument(x):
    y = x * 1.0
    np.multiply(y, x, out=y)
    return np.sum(y)


def copies_are_independent(x):
    y = x * 1.0
    c = y.copy()
    c += 10.0
    d = np.copy(y)
    d[0] = 0.0
    return np.sum(y * c * d)


def rows_while_iterating(x):
    m = np.outer(x, x) * 1.0
    for row in m:          # each row is a view
        row -= row.mean()
    return np.sum(m ** 2)


def residual_loop(x):
    r = np.zeros_like(x[:3])
    for i in range(3):
        r[i] = x[i] * x[i + 1] - 1.0
    return np.sum(r ** 2)


def add_at_repeated(x):
    y = x * 1.0
    np.add.at(y, [0, 0, 3, 1], x ** 2)       # unbuffered: index 0 gets both adds
    np.subtract.at(y, (np.array([2, 2]),), x[1])
    return np.sum(y ** 2 * np.arange(1.0, 5.0))


def copyto_where(x):
    y = np.zeros_like(x)
    np.copyto(y, np.sin(x))
    np.copyto(y, x[0], where=x > 0)         # a traced mask, a broadcast value
    return np.sum(y * np.arange(4.0))


def fill_a_diagonal(x):
    m = np.outer(x, x)
    np.fill_diagonal(m, x[0] * 2.0)
    t = np.outer(x, x[:2])                    # tall: NumPy fills 2 of its 4 rows
    np.fill_diagonal(t, x[2:])
    return np.sum(m * np.arange(16.0).reshape(4, 4)) + np.sum(t ** 2)


PROGRAMS = [alias, view_write, slice_of_slice, setitem_pieces, traced_mask,
            repeated_fancy_index, constant_mask_values, through_a_transpose, through_a_reshape,
            reshape_of_a_transpose_is_a_copy, out_argument, copies_are_independent,
            rows_while_iterating, residual_loop, add_at_repeated, copyto_where, fill_a_diagonal]


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_value_and_derivative_follow_numpy(f):
    expected = f(X.copy())
    assert float(jitad.jit(f)(X.copy())) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(jitad.grad(f)(X.copy()), jitad.fd.grad(f, X.copy()), rtol=1e-7,
                               atol=1e-8)
    np.testing.assert_allclose(jitad.jacfwd(f)(X.copy()), jitad.grad(f)(X.copy()), rtol=1e-12)


def test_an_in_place_update_of_a_float32_array_stays_float32():
    def f(x):
        y = x * 1.0
        y += 0.5               # a Python float into a float32 array: NumPy keeps float32
        return np.sum(y ** 2)
    x = X.astype(np.float32)
    assert jitad.jit(f)(x).dtype == f(x).dtype == np.float32
    np.testing.assert_allclose(jitad.grad(f)(x), 2 * (x + np.float32(0.5)), rtol=1e-7)


def test_the_callers_array_is_not_changed():
    def f(x):
        x[0] = 5.0
        return np.sum(x ** 2)
    x = X.copy()
    np.testing.assert_allclose(jitad.grad(f)(x), [0.0, 2 * X[1], 2 * X[2], 2 * X[3]])
    np.testing.assert_array_equal(x, X)


@pytest.mark.parametrize("f, error, match", [
    (lambda x: np.sum(np.broadcast_to(x, (2, 4)).__setitem__(0, 1.0) or x), ValueError,
     "read-only"),
    (lambda x: x.__iadd__(np.ones((2, 4))), ValueError, "non-broadcastable"),
    (lambda x: np.sum((x > 0).astype(np.int64).__iadd__(x)), TypeError, "cannot cast"),
    (lambda x: np.add.at(np.zeros(4), [0], x), TypeError, "np.add.at writes into a NumPy"),
    (lambda x: np.multiply.at(x * 1.0, [0], x[0]), TypeError, "np.add.at and np.subtract.at"),
    (lambda x: np.fill_diagonal(x * 1.0, 0.0), ValueError, "at least 2-d"),
], ids=["read_only_view", "broadcast_into_smaller", "float_into_int", "add_at_into_numpy",
        "multiply_at", "fill_diagonal_1d"])
def test_writes_numpy_refuses_are_refused(f, error, match):
    with pytest.raises(error, match=match):
        jitad.jit(f)(X.copy())


def test_a_traced_mask_with_an_array_of_values_says_what_to_write():
    def f(x):
        y = x * 1.0
        y[x > 0] = x[:2]
        return np.sum(y)
    with pytest.raises(TypeError, match=r"traced boolean mask.*np\.where"):
        jitad.jit(f)(X.copy())


# --------------------------------------------- numbers taken out of a trace

@pytest.mark.parametrize("f", [
    lambda x: x[int(x[0] * 10) % 3] * np.sum(x),          # an index
    lambda x: sum(x[i] for i in range(int(np.sum(x) + 2))),  # a loop count
    lambda x: np.sum(x ** 2) if x[1].item() > 0 else np.sum(x),
    lambda x: np.sum(x ** 3) if float(x[0]) * 3 + 1 > 2.5 else np.sum(x),
], ids=["int_index", "int_loop_count", "item_branch", "float_branch"])
def test_numbers_that_steer_control_flow_are_guarded(f):
    x = np.array([0.32, 1.2, -0.7])
    g = jitad.grad(f)
    np.testing.assert_allclose(g(x), jitad.fd.grad(f, x), rtol=1e-7, atol=1e-9)
    other = np.array([0.11, -0.5, 0.3])    # another path: re-traced, still right
    np.testing.assert_allclose(g(other), jitad.fd.grad(f, other), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(g(x), jitad.fd.grad(f, x), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("f", [
    lambda x: np.sum(x) * float(x[0]),
    lambda x: math.exp(x[0]) * np.sum(x),
    lambda x: np.sum(x) + math.sin(x[1].item()),
], ids=["float", "math_function", "item"])
def test_a_number_that_flows_into_the_result_is_refused_at_its_line(f):
    with pytest.raises(TypeError, match=r"test_inplace\.py:\d+, flows into the result"):
        jitad.grad(f)(np.array([0.32, 1.2, -0.7]))


def test_not_differentiated_numbers_flow_freely():
    f = lambda x, s: np.sum(x) * float(s)  # noqa: E731
    g = jitad.grad(f)
    assert g(np.ones(2), 3.0).tolist() == [3.0, 3.0]
    assert g(np.ones(2), 4.0).tolist() == [4.0, 4.0]  # guarded: a new value re-traces


def scalar_from_an_index(x):
    z = x * 1.0
    s = z[0]        # a NumPy scalar, a copy: s += 1 leaves z alone
    s += 1.0
    return np.sum(z * s)


def scalar_from_a_reduction(x):
    s = np.sum(x ** 2)
    t = s           # two names, one immutable scalar
    s += 1.0
    return t * s


def zero_d_view_writes_through(x):
    z = x * 1.0
    v = z[0, ...]   # a 0-d array, a view of z: a write changes z
    v += 1.0
    return np.sum(z ** 2)


@pytest.mark.parametrize("f", [scalar_from_an_index, scalar_from_a_reduction,
                               zero_d_view_writes_through], ids=lambda f: f.__name__)
def test_numpy_scalars_are_rebound_and_zero_d_arrays_change(f):
    """NumPy's 0-d results are scalars, which ``+=`` rebinds; 0-d views are
    arrays, which it changes (found by tests/test_random_programs.py)."""
    expected = f(X.copy())
    assert float(jitad.jit(f)(X.copy())) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(jitad.grad(f)(X.copy()), jitad.fd.grad(f, X.copy()), rtol=1e-7,
                               atol=1e-8)


def test_zero_d_argument_is_an_array_and_a_float_is_not():
    def f(x):
        y = x
        y += 1.0    # changes x if x is a 0-d array, rebinds y if x is a scalar
        return x * y
    for x in (np.array(0.5), np.float64(0.5), 0.5):
        expected = f(np.array(0.5) if type(x) is np.ndarray else x)
        assert float(jitad.jit(f)(x)) == pytest.approx(float(expected), rel=1e-14), type(x)
        assert float(jitad.grad(f)(x)) == pytest.approx(3.0 if type(x) is np.ndarray else 2.0)


def test_item_assignment_into_a_numpy_scalar_is_numpys_type_error():
    def f(x):
        s = np.sum(x)
        s[...] = 1.0
        return s
    with pytest.raises(TypeError, match="does not support item assignment"):
        f(X.copy())
    with pytest.raises(TypeError, match="does not support item assignment"):
        jitad.jit(f)(X.copy())
