"""Linear algebra: matrix products (BLAS through ``np.dot``) and the dense
``np.linalg`` routines, with the standard matrix-calculus rules (Giles,
"Collected matrix derivative results", 2008; Murray, "Differentiation of the
Cholesky decomposition", 2016), each written with primitives.

``matmul`` and the ``np.linalg`` routines take stacks of matrices: any number
of leading batch axes, equal between operands (the NumPy layer broadcasts
them), so a batch of directions (a Jacobian) or of examples is one more
leading axis. ``solve``'s right-hand side is always a stack of matrices (the
NumPy layer turns a vector into a column).
"""
from __future__ import annotations

import numpy as np

from .basic import (add, broadcast_in_dim, broadcast_to, mul, neg, reduce_sum, reshape,
                    swap_last, transpose)
from .core import BasicIndex, Primitive
from .indexing import getitem, scatter_add


def dot(a, b): return dot_p.bind(a, b)
def matmul(a, b): return matmul_p.bind(a, b)
def solve(a, b): return solve_p.bind(a, b)
def inv(a): return inv_p.bind(a)


def mm(a, b):
    """The matrix product of two stacks of equal batch axes (BLAS for 2-d)."""
    return dot(a, b) if len(a.shape) == 2 else matmul(a, b)


def _outer(u, v):
    return mul(reshape(u, (u.shape[0], 1)), reshape(v, (1, v.shape[0])))


def _square(name, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"np.linalg.{name}: expected a (stack of) square matrices, got shape "
                         f"{a.shape}")


def _spread(v, like):
    """v of shape batch broadcast over the matrix axes of ``like`` (batch, n, n)."""
    return broadcast_in_dim(v, like.shape, tuple(range(len(like.shape) - 2)))


def _fold_batch(x):
    """(k, *batch, n, m) -> (*batch, n, k*m): k directions as extra columns."""
    rank = len(x.shape)
    moved = transpose(x, tuple(range(1, rank - 1)) + (0, rank - 1))
    return reshape(moved, x.shape[1:-1] + (x.shape[0] * x.shape[-1],))


def _unfold_batch(y, k):
    """The inverse of ``_fold_batch``: (*batch, n, k*m) -> (k, *batch, n, m)."""
    rank = len(y.shape)
    split = reshape(y, y.shape[:-1] + (k, y.shape[-1] // k))
    return transpose(split, (rank - 1,) + tuple(range(rank - 1)) + (rank,))


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


def _dot_batch(prim, args, batched, k):
    """Directions of one operand fold into the rows (or columns) of one BLAS
    product; directions of both are a stack of products."""
    a, b = args
    sa, sb = a.shape, b.shape
    if batched[0] and not batched[1]:
        flat = reshape(a, (sa[0] * sa[1], sa[2]) if len(sa) == 3 else sa)
        return reshape(dot(flat, b), (k,) + sa[1:-1] + sb[1:])
    if batched[1] and not batched[0]:
        if len(sb) == 2:  # a @ (k, n): (k, n) @ a^T
            return dot(b, transpose(a, (1, 0))) if len(sa) == 2 else dot(b, a)
        folded = reshape(transpose(b, (1, 0, 2)), (sb[1], k * sb[2]))
        out = reshape(dot(a, folded), sa[:-1] + (k, sb[2]))
        return transpose(out, (len(sa) - 1,) + tuple(range(len(sa) - 1)) + (len(sa),))
    a3 = reshape(a, (k, 1, sa[1])) if len(sa) == 2 else a
    b3 = reshape(b, (k, sb[1], 1)) if len(sb) == 2 else b
    return reshape(matmul(a3, b3), (k,) + sa[1:-1] + sb[2:])


dot_p = Primitive("dot", np.dot, _dot_shape, kind="linalg", batch=_dot_batch,
                  jvps=[lambda t, y, a, b: dot(t, b), lambda t, y, a, b: dot(a, t)],
                  vjps=[_dot_vjp_a, _dot_vjp_b], infix="@")


def _matmul_shape(a, b):
    if a.ndim < 3 or a.shape[:-2] != b.shape[:-2] or a.ndim != b.ndim \
            or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: stacked operands must be (*batch, n, m) and (*batch, m, p) "
                         f"with equal batch axes, got {a.shape} and {b.shape}")
    return a.shape[:-1] + b.shape[-1:], np.result_type(a.dtype, b.dtype)


def _matmul_batch(prim, args, batched, k):
    """Directions of one operand fold into the rows or columns of the other's
    products; directions of both are one more batch axis."""
    a, b = args
    if batched[0] and batched[1]:
        return matmul(a, b)
    if batched[0]:  # (k, *B, n, m) @ (*B, m, p): k*n rows per product
        rank = len(a.shape)
        rows = transpose(a, tuple(range(1, rank - 2)) + (0, rank - 2, rank - 1))
        rows = reshape(rows, b.shape[:-2] + (k * a.shape[-2], a.shape[-1]))
        out = reshape(matmul(rows, b), b.shape[:-2] + (k, a.shape[-2], b.shape[-1]))
        return transpose(out, (rank - 3,) + tuple(range(rank - 3)) + (rank - 2, rank - 1))
    return _unfold_batch(matmul(a, _fold_batch(b)), k)


matmul_p = Primitive(
    "matmul", np.matmul, _matmul_shape, kind="linalg", batch=_matmul_batch,
    jvps=[lambda t, y, a, b: matmul(t, b), lambda t, y, a, b: matmul(a, t)],
    vjps=[lambda g, y, a, b: matmul(g, swap_last(b)), lambda g, y, a, b: matmul(swap_last(a), g)])

# ---------------------------------------------------------- convolution

def convolve(a, v): return convolve_p.bind(a, v)


def _convolve_impl(a, v):
    a, v = np.asarray(a), np.asarray(v)
    batch = np.broadcast_shapes(a.shape[:-1], v.shape[:-1])
    a, v = np.broadcast_to(a, batch + a.shape[-1:]), np.broadcast_to(v, batch + v.shape[-1:])
    out = np.empty(batch + (a.shape[-1] + v.shape[-1] - 1,), np.result_type(a, v))
    for i in np.ndindex(batch):
        out[i] = np.convolve(a[i], v[i])
    return out


def _convolve_shape(a, v):
    if a.ndim < 1 or v.ndim < 1 or a.shape[-1] == 0 or v.shape[-1] == 0:
        raise ValueError(f"convolve: operands must be non-empty vectors (or stacks of them), "
                         f"got shapes {a.shape} and {v.shape}")
    batch = np.broadcast_shapes(a.shape[:-1], v.shape[:-1])
    return batch + (a.shape[-1] + v.shape[-1] - 1,), np.result_type(a.dtype, v.dtype)


def _flip_last(x):
    nd = len(x.shape)
    return getitem(x, BasicIndex.normalise((slice(None),) * (nd - 1) + (slice(None, None, -1),),
                                           x.shape))


def _correlate(g, w, n):
    """sum_j g[..., i + j] w[..., j] for i < n: the adjoint of convolving by w."""
    m = w.shape[-1]
    full = convolve(g, _flip_last(w))
    lead = (slice(None),) * (len(full.shape) - 1)
    return getitem(full, BasicIndex.normalise(lead + (slice(m - 1, m - 1 + n),), full.shape))


def _convolve_batch(prim, args, batched, k):
    """Leading axes broadcast, so the batch axis is one more of them (an
    unbatched vector broadcasts against it as it is)."""
    a, v = args
    rank = max(len(a.shape) - batched[0], len(v.shape) - batched[1])
    lifted = [reshape(x, x.shape[:1] + (1,) * (rank + 1 - len(x.shape)) + x.shape[1:])
              if b and len(x.shape) < rank + 1 else x for x, b in zip(args, batched)]
    return prim.bind(*lifted)


# y[..., k] = sum_i a[..., i] v[..., k - i] (np.convolve's 'full' mode, over
# the last axis, leading axes broadcast): bilinear, so the tangent is the sum
# of the two partial convolutions and each adjoint a correlation.
convolve_p = Primitive(
    "convolve", _convolve_impl, _convolve_shape, kind="linalg", batch=_convolve_batch,
    jvps=[lambda t, y, a, v: convolve(t, v), lambda t, y, a, v: convolve(a, t)],
    vjps=[lambda g, y, a, v: _correlate(g, v, a.shape[-1]),
          lambda g, y, a, v: _correlate(g, a, v.shape[-1])])

# ------------------------------------------------------------- np.linalg


def _solve_shape(a, b):
    _square("solve", a)
    if b.ndim != a.ndim or b.shape[:-1] != a.shape[:-1]:
        raise ValueError(f"np.linalg.solve: right-hand side of shape {b.shape} does not fit "
                         f"matrices of shape {a.shape}")
    return b.shape, np.result_type(a.dtype, b.dtype)


def _solve_batch(prim, args, batched, k):
    """Right-hand sides with their own directions are more columns of one
    factorisation; a batched matrix is a larger stack."""
    a, b = args
    if not batched[0]:
        return _unfold_batch(solve(a, _fold_batch(b)), k)
    return solve(a, b if batched[1] else broadcast_to(b, (k,) + b.shape))


def _solve_vjp_a(g, y, a, b):
    return neg(mm(solve(swap_last(a), g), swap_last(y)))


# x = A^-1 b:  x_dot = A^-1 (b_dot - A_dot x);  b_bar = A^-T x_bar, A_bar = -b_bar x^T
solve_p = Primitive(
    "solve", np.linalg.solve, _solve_shape, kind="linalg", batch=_solve_batch,
    jvps=[lambda t, y, a, b: neg(solve(a, mm(t, y))), lambda t, y, a, b: solve(a, t)],
    vjps=[_solve_vjp_a, lambda g, y, a, b: solve(swap_last(a), g)])


def _stack_of_one(prim, args, batched, k):
    """A stack of matrices with a batch axis in front is a larger stack."""
    return prim.bind(*args)


def _matrix_shape(name):
    def rule(a):
        _square(name, a)
        return a.shape, a.dtype
    return rule


def _inv_t(a):
    return swap_last(inv(a))


def _trace_of_inv_times(a, t):
    """trace(A^-1 T) = sum(A^-T * T): the derivative of log|det A| along T."""
    n = len(a.shape)
    return reduce_sum(mul(_inv_t(a), t), (n - 2, n - 1))


# Y = A^-1:  Y_dot = -Y A_dot Y;  A_bar = -Y^T Y_bar Y^T
inv_p = Primitive(
    "inv", np.linalg.inv, _matrix_shape("inv"), kind="linalg", batch=_stack_of_one,
    jvps=[lambda t, y, a: neg(mm(mm(y, t), y))],
    vjps=[lambda g, y, a: neg(mm(mm(swap_last(y), g), swap_last(y)))])


def _det_shape(a):
    _square("det", a)
    return a.shape[:-2], a.dtype


# d = det A:  d_dot = d tr(A^-1 A_dot);  A_bar = d_bar d A^-T (A must be invertible)
det_p = Primitive(
    "det", np.linalg.det, _det_shape, kind="linalg", batch=_stack_of_one,
    jvps=[lambda t, y, a: mul(y, _trace_of_inv_times(a, t))],
    vjps=[lambda g, y, a: mul(_spread(mul(g, y), a), _inv_t(a))])


def _slogdet_impl(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return np.stack([sign, logabsdet], axis=-1)


def _slogdet_shape(a):
    _square("slogdet", a)
    return a.shape[:-2] + (2,), a.dtype


def _logabsdet_index(batch) -> BasicIndex:
    """[..., 1] of slogdet's output: log|det A| of every matrix of the stack."""
    return BasicIndex.normalise((slice(None),) * len(batch) + (1,), batch + (2,))


# One output [..., (sign, log|det A|)] (the NumPy layer splits it); the sign
# is piecewise constant, log|det A| has gradient A^-T.
slogdet_p = Primitive(
    "slogdet", _slogdet_impl, _slogdet_shape, kind="linalg", batch=_stack_of_one,
    jvps=[lambda t, y, a: scatter_add(_trace_of_inv_times(a, t), y.shape,
                                      _logabsdet_index(a.shape[:-2]))],
    vjps=[lambda g, y, a: mul(_spread(getitem(g, _logabsdet_index(a.shape[:-2])), a),
                              _inv_t(a))])


def _phi(x):
    """Murray's Phi: the lower triangle with the diagonal halved (a constant
    mask, so it fuses into a multiplication)."""
    n = x.shape[-1]
    mask = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return mul(mask.astype(x.dtype), x)


def _cholesky_jvp(t, y, a):
    # np.linalg.cholesky reads only the lower triangle of A, so the direction
    # it sees is the symmetric matrix built from t's lower triangle.
    t_sym = _phi(t)
    t_sym = add(t_sym, swap_last(t_sym))
    left = solve(y, t_sym)                               # L^-1 T
    middle = swap_last(solve(y, swap_last(left)))        # L^-1 T L^-T
    return mm(y, _phi(middle))


def _cholesky_vjp(g, y, a):
    # raw = L^-T Phi(L^T L_bar) L^-1; the lower triangle carries raw + raw^T
    inner = _phi(mm(swap_last(y), g))
    left = solve(swap_last(y), inner)
    raw = swap_last(solve(swap_last(y), swap_last(left)))
    return _phi(add(raw, swap_last(raw)))


# L = cholesky(A), lower, A = L L^T: L_dot = L Phi(L^-1 A_dot L^-T) (Murray 2016)
cholesky_p = Primitive("cholesky", np.linalg.cholesky, _matrix_shape("cholesky"),
                       kind="linalg", batch=_stack_of_one, jvps=[_cholesky_jvp],
                       vjps=[_cholesky_vjp])
