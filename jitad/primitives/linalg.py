"""Linear algebra: matrix products (BLAS through ``np.dot``) and the dense
``np.linalg`` routines numba supports, with the standard matrix-calculus rules
(Giles, "Collected matrix derivative results", 2008; Murray, "Differentiation
of the Cholesky decomposition", 2016), each written with primitives.

The routines take one square matrix (2-d); the NumPy layer refuses batches.
"""
from __future__ import annotations

import numpy as np

from .basic import add, mul, neg, reduce_sum, reshape, swap_last, transpose
from .core import BasicIndex, Primitive
from .indexing import getitem, scatter_add


def dot(a, b): return dot_p.bind(a, b)
def matmul(a, b): return matmul_p.bind(a, b)
def solve(a, b): return solve_p.bind(a, b)
def inv(a): return inv_p.bind(a)


def _outer(u, v):
    return mul(reshape(u, (u.shape[0], 1)), reshape(v, (1, v.shape[0])))


# ----------------------------------------------------------- products

def _dot_shape(a, b):
    if a.ndim not in (1, 2) or b.ndim not in (1, 2):
        raise TypeError(f"dot: operands must be 1-d or 2-d, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[0]:
        raise ValueError(f"dot: shapes {a.shape} and {b.shape} not aligned")
    return a.shape[:-1] + b.shape[1:], np.result_type(a.dtype, b.dtype)


def _dot_vjp_a(g, y, a, b):
    if b.ndim == 1:
        return mul(g, b) if a.ndim == 1 else _outer(g, b)
    return dot(b, g) if a.ndim == 1 else dot(g, transpose(b, (1, 0)))


def _dot_vjp_b(g, y, a, b):
    if a.ndim == 1:
        return mul(g, a) if b.ndim == 1 else _outer(a, g)
    return dot(transpose(a, (1, 0)), g)


dot_p = Primitive("dot", np.dot, _dot_shape,
                  jvps=[lambda t, y, a, b: dot(t, b), lambda t, y, a, b: dot(a, t)],
                  vjps=[_dot_vjp_a, _dot_vjp_b], infix="@")


def _matmul_shape(a, b):
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"matmul: batched operands must be (k, n, m) and (k, m, p), got "
                         f"{a.shape} and {b.shape}")
    return (a.shape[0], a.shape[1], b.shape[2]), np.result_type(a.dtype, b.dtype)


# A batch of matrix products of equal batch size (the NumPy layer broadcasts
# batch axes and folds them into one).
matmul_p = Primitive(
    "matmul", np.matmul, _matmul_shape,
    jvps=[lambda t, y, a, b: matmul(t, b), lambda t, y, a, b: matmul(a, t)],
    vjps=[lambda g, y, a, b: matmul(g, swap_last(b)), lambda g, y, a, b: matmul(swap_last(a), g)])

# ------------------------------------------------------------- np.linalg


def _square(name, a):
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"np.linalg.{name}: expected a square matrix, got shape {a.shape}")


def _solve_shape(a, b):
    _square("solve", a)
    if b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ValueError(f"np.linalg.solve: right-hand side of shape {b.shape} does not fit "
                         f"a matrix of shape {a.shape}")
    return b.shape, np.result_type(a.dtype, b.dtype)


def _solve_vjp_a(g, y, a, b):
    b_bar = solve(transpose(a, (1, 0)), g)
    return neg(_outer(b_bar, y) if y.ndim == 1 else dot(b_bar, transpose(y, (1, 0))))


# x = A^-1 b:  x_dot = A^-1 (b_dot - A_dot x);  b_bar = A^-T x_bar, A_bar = -b_bar x^T
solve_p = Primitive(
    "solve", np.linalg.solve, _solve_shape,
    jvps=[lambda t, y, a, b: neg(solve(a, dot(t, y))), lambda t, y, a, b: solve(a, t)],
    vjps=[_solve_vjp_a, lambda g, y, a, b: solve(transpose(a, (1, 0)), g)])


def _matrix_shape(name):
    def rule(a):
        _square(name, a)
        return a.shape, a.dtype
    return rule


def _scalar_shape(name):
    def rule(a):
        _square(name, a)
        return (), a.dtype
    return rule


def _inv_t(a):
    return transpose(inv(a), (1, 0))


def _trace_of_inv_times(a, t):
    """trace(A^-1 T) = sum(A^-T * T): the derivative of log|det A| along T."""
    return reduce_sum(mul(_inv_t(a), t), (0, 1))


# Y = A^-1:  Y_dot = -Y A_dot Y;  A_bar = -Y^T Y_bar Y^T
inv_p = Primitive(
    "inv", np.linalg.inv, _matrix_shape("inv"),
    jvps=[lambda t, y, a: neg(dot(dot(y, t), y))],
    vjps=[lambda g, y, a: neg(dot(dot(transpose(y, (1, 0)), g), transpose(y, (1, 0))))])

# d = det A:  d_dot = d tr(A^-1 A_dot);  A_bar = d_bar d A^-T (A must be invertible)
det_p = Primitive(
    "det", np.linalg.det, _scalar_shape("det"),
    jvps=[lambda t, y, a: mul(y, _trace_of_inv_times(a, t))],
    vjps=[lambda g, y, a: mul(mul(g, y), _inv_t(a))])

_LOGABSDET = BasicIndex((1,))


def _slogdet_impl(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return np.array([sign, logabsdet])


def _slogdet_shape(a):
    _square("slogdet", a)
    return (2,), a.dtype


# One output [sign, log|det A|] (the NumPy layer splits it); the sign is
# piecewise constant, log|det A| has gradient A^-T.
slogdet_p = Primitive(
    "slogdet", _slogdet_impl, _slogdet_shape,
    jvps=[lambda t, y, a: scatter_add(_trace_of_inv_times(a, t), (2,), _LOGABSDET)],
    vjps=[lambda g, y, a: mul(getitem(g, _LOGABSDET), _inv_t(a))])


def _phi(x):
    """Murray's Phi: the lower triangle with the diagonal halved (a constant
    mask, so it fuses into a multiplication)."""
    n = x.shape[0]
    mask = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return mul(mask.astype(x.dtype), x)


def _cholesky_jvp(t, y, a):
    # np.linalg.cholesky reads only the lower triangle of A, so the direction
    # it sees is the symmetric matrix built from t's lower triangle.
    t_sym = _phi(t)
    t_sym = add(t_sym, transpose(t_sym, (1, 0)))
    left = solve(y, t_sym)                                   # L^-1 T
    middle = transpose(solve(y, transpose(left, (1, 0))), (1, 0))   # L^-1 T L^-T
    return dot(y, _phi(middle))


def _cholesky_vjp(g, y, a):
    # raw = L^-T Phi(L^T L_bar) L^-1; the lower triangle carries raw + raw^T
    inner = _phi(dot(transpose(y, (1, 0)), g))
    left = solve(transpose(y, (1, 0)), inner)
    raw = transpose(solve(transpose(y, (1, 0)), transpose(left, (1, 0))), (1, 0))
    return _phi(add(raw, transpose(raw, (1, 0))))


# L = cholesky(A), lower, A = L L^T: L_dot = L Phi(L^-1 A_dot L^-T) (Murray 2016)
cholesky_p = Primitive("cholesky", np.linalg.cholesky, _matrix_shape("cholesky"),
                       jvps=[_cholesky_jvp], vjps=[_cholesky_vjp])
