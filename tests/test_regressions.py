"""Named regressions: programs nobody wrote for jitad's tests that once failed
to compile or gave a wrong number (size-1 and 0-d shapes, reductions to
shape (1,)*ndim, negative strides, float32 corners, the NaN-safe product in
reverse over reverse, complex constants). Each is compiled and checked
against NumPy finite differences, in both modes where it has a Jacobian."""
from __future__ import annotations

import numpy as np
import pytest

import jitad

X = np.array([0.3, 1.2, -0.7])
M = np.arange(6.0).reshape(2, 3) / 5 + 0.1

PROGRAMS = {
    "sum_keepdims_all_axes": lambda x: np.sum(np.sum(x, keepdims=True) ** 2),
    "mean_keepdims_all_axes": lambda x: np.sum(np.mean(M * x, keepdims=True) ** 2),
    "prod_keepdims_all_axes": lambda x: np.sum(np.prod(x, keepdims=True)),
    "max_keepdims_vector": lambda x: np.sum(np.max(x, axis=-1, keepdims=True) * x),
    "min_keepdims_all_axes": lambda x: np.sum(np.min(x, keepdims=True) * x),
    "var_all_axes": np.var,
    "std_method": lambda x: (M * x).std(),
    "var_keepdims_ddof": lambda x: np.sum(np.var(x, keepdims=True, ddof=1)),
    "flip": lambda x: np.sum(np.flip(x) * x),
    "reversed_slice": lambda x: np.sum(x[::-1]),
    "reversed_columns": lambda x: np.sum((M * x)[:, ::-1] * M),
    "outer_of_a_0d": lambda x: np.sum(np.outer(np.sum(x), x)),
    "reshape_0d_to_1": lambda x: np.sum(np.reshape(np.sum(x), (1,)) * 2),
    "atleast_1d_of_0d": lambda x: np.sum(np.atleast_1d(np.sum(x)) * x),
    "ravel_of_0d": lambda x: np.sum(np.ravel(np.sum(x ** 2)) * x),
    "minimum_with_shape_1": lambda x: np.sum(np.minimum(x, x[:1])),
    "column_stack_of_one_vector": lambda x: np.sum(np.column_stack(x) ** 2 * np.arange(3.0)),
    "branch_on_any": lambda x: np.sum(x ** 2) if np.any(x > -0.5) else np.sum(x),
    "branch_on_any_method_2d": lambda x: np.sum(x ** 2) if ((M * x) > 0.9).any() else 0.0,
    "reshape_a_norm": lambda x: np.sum(np.reshape(np.linalg.norm(x), (1, 1))),
    "outer_of_a_norm": lambda x: np.sum(np.outer(np.linalg.norm(x), x)),
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_compiles_and_is_exact(name):
    f = PROGRAMS[name]
    expected = jitad.fd.grad(f, X, method="central")
    np.testing.assert_allclose(jitad.grad(f)(X), expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(jitad.jit(f)(X), f(X), rtol=1e-14)
    np.testing.assert_allclose(jitad.jacfwd(f)(X), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("f", [
    lambda x: np.max(x + 1.0), lambda x: np.max(1.0 / x), lambda x: np.min(x * 1.1),
    lambda x: np.max(np.sqrt(x + 1.0)),
], ids=["max_plus", "max_reciprocal", "min_scaled", "max_sqrt"])
def test_float32_max_and_min_of_computed_values(f):
    """The running maximum and the tie test use the same float32 values."""
    x = X.astype(np.float32)
    g = jitad.grad(f)(x)
    assert g.dtype == np.float32 and np.all(np.isfinite(g))
    np.testing.assert_allclose(g, jitad.fd.grad(f, X, method="central"), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n", [-1, -2, -3])
def test_float32_negative_integer_powers_stay_float32(n):
    x = X.astype(np.float32)
    out = jitad.jit(lambda x: x ** n)(x)
    assert out.dtype == (x ** n).dtype == np.float32
    np.testing.assert_allclose(out, x ** n, rtol=1e-6)


def test_second_derivative_of_power_at_zero_base_in_every_mode():
    """d^2/dy^2 0**y = 0: the NaN-safe product is safe whichever operand is 0."""
    f = lambda y: np.power(0.0, y)  # noqa: E731
    assert jitad.grad(jitad.grad(f))(1.5) == 0.0
    assert jitad.hessian(f)(1.5) == 0.0
    _, vjp_fn = jitad.vjp(lambda y: jitad.jvp(f, (y,), (1.0,))[1], 1.5)
    assert vjp_fn(1.0) == (0.0,)


@pytest.mark.parametrize("f", [lambda x: x * (1 + 0.2j), lambda x: x + np.array([1j, 2.0])],
                         ids=["scalar", "array"])
def test_a_complex_constant_is_an_error_not_a_dropped_imaginary_part(f):
    with pytest.raises(TypeError, match="complex"):
        jitad.jit(f)(1.0)


def test_hessian_through_solve_reshapes_lapacks_fortran_result():
    """numba's solve/cholesky return Fortran-order arrays: a reshape of one in
    the Hessian kernel of a GP likelihood raised numba's 'incompatible shape'."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-3.0, 3.0, (12, 2))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(12)

    def nll(p):
        K = np.exp(p[1]) * np.exp(-0.5 * np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=2)
                                  / np.exp(p[0]) ** 2) + np.exp(p[2]) * np.eye(12)
        L = np.linalg.cholesky(K)
        alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
        return 0.5 * y @ alpha + np.sum(np.log(np.diag(L)))
    p = np.array([0.2, 0.1, np.log(0.1)])
    H = jitad.hessian(nll)(p)
    g = jitad.grad(nll)
    h = 1e-5
    columns = [(g(p + h * e) - g(p - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(H, np.array(columns).T, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, jitad.hessian(nll)(p), rtol=0)  # warm: the same kernel


def test_hessian_of_a_product_transposes_three_axes_without_numpy_transpose():
    """The Hessian of sum(sin(A @ B)) moves three axes of a Jacobian block
    around; numba took 14-20 s to compile ``x.transpose(perm)`` of a 3-d
    array, so kernels make that view with ``backend.strided.transposed``.
    H[i, j, k, l] = -[i == k] sum_c sin(AB)[i, c] B[j, c] B[l, c]."""
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    h = jitad.hessian(lambda a: np.sum(np.sin(np.dot(a, B))))
    got = h(A)
    s = np.sin(A @ B)
    expected = -np.einsum("ik,ic,jc,lc->ijkl", np.eye(3), s, B, B)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    source = "".join(entry.kernel.source for variants in h.cache.entries.values()
                     for entry in variants)
    assert "transposed(" in source and ".transpose(" not in source


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_trace_time_arithmetic_is_the_ufuncs_for_every_operand_type():
    """add/sub/mul/div compute trace-time values through the Python operator
    for speed; an ndarray subclass whose operator is not the ufunc (np.matrix:
    ``*`` is a matrix product) and two Python numbers (1.0 / 0.0) still get
    the ufunc's answer."""
    from jitad import primitives as P
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    pairs = [(np.ones((2, 2)) * 2.0, m), (m, np.float64(3.0)), (np.float32(2.0), 1.5),
             (np.int64(7), 2), (np.True_, np.True_), (3.0, np.arange(3.0)), (1.0, 0.0)]
    with np.errstate(all="ignore"):
        for prim, ufunc in ((P.add_p, np.add), (P.sub_p, np.subtract), (P.mul_p, np.multiply),
                            (P.div_p, np.true_divide)):
            for a, b in pairs:
                if prim is P.sub_p and isinstance(a, np.bool_):
                    continue  # NumPy refuses boolean subtraction either way
                got, expected = prim.impl(a, b), ufunc(a, b)
                assert np.asarray(got).dtype == np.asarray(expected).dtype
                np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
