"""Matrix decompositions with several results: ``svd`` (U, s, Vt), ``eigh``
(w, V), ``qr`` (Q, R), and ``check``, the run-time test their derivatives
need.

Each decomposition is one primitive with ``multiple_results``, so its rules
see all outputs at once (``jvp_all``/``vjp_all``): a result nobody uses gets
no cotangent (None), and its tangent is dead code the rewrite pass drops.
That is what lets ``sum(s)`` be differentiated at repeated singular values,
where the derivative of U and V does not exist: only the rules for U and V
put a ``check`` in the graph, and the kernel raises ``ValueError`` there,
at run time, since the values change between calls.

The rules are the standard ones, written with primitives so higher
derivatives follow: SVD as in Townsend, "Differentiating the singular value
decomposition" (2016) and JAX's ``svd_jvp_rule``; eigh as in Giles (2008);
QR as in JAX's ``qr_jvp_rule`` (Walter and Lehmann 2018). All operate on
stacks of matrices (any leading batch axes).
"""
from __future__ import annotations

import numpy as np

from .basic import (add, broadcast_to, div, mul, neg, reduce_sum, reshape, sub, swap_last,
                    zeros_like_shape)
from .core import Primitive
from .linalg import _phi, _square, _stack_of_one, mm, solve


# ------------------------------------------------------------- helpers

def _diag(x):
    """The diagonals of a stack of square matrices, (..., k, k) -> (..., k)."""
    k = x.shape[-1]
    return reduce_sum(mul(np.eye(k, dtype=x.dtype), x), (len(x.shape) - 1,))


def _diag_embed(v):
    """(..., k) -> (..., k, k) with v on the diagonals."""
    k = v.shape[-1]
    return mul(reshape(v, v.shape[:-1] + (1, k)), np.eye(k, dtype=v.dtype))


def _row(v):
    """(..., k) -> (..., 1, k): v_j along the columns."""
    return reshape(v, v.shape[:-1] + (1, v.shape[-1]))


def _col(v):
    return reshape(v, v.shape + (1,))


def _gaps(w, square):
    """F_ij = 1 / (g_j - g_i) off the diagonal, 0 on it, for g = w (or w**2
    with ``square``): the coupling of the pairs of a spectrum."""
    k = w.shape[-1]
    g = mul(w, w) if square else w
    eye = np.eye(k, dtype=w.dtype)
    return div(1.0 - eye, add(sub(_row(g), _col(g)), eye))


def _lower_strict(x):
    n = x.shape[-1]
    return mul(np.tril(np.ones((n, n)), -1).astype(x.dtype), x)


def _add(a, b):
    return b if a is None else a if b is None else add(a, b)


# --------------------------------------------------------------- check

def check(x, w, test, rtol, message):
    return check_p.bind(x, w, test=test, rtol=rtol, message=message)


def check_fails(w, test, rtol) -> bool:
    """Does the spectrum ``w`` (last axis; leading axes a stack) fail ``test``?

    ``distinct``: two entries agree to within ``rtol * max|w|``; ``nonzero``:
    an entry is within that of zero (the rank test of ``np.linalg.matrix_rank``);
    ``always``: a value with no derivative (the tangent of what is not unique).
    """
    if test == "always":
        return True
    w = np.abs(np.asarray(w)) if test == "nonzero" else np.asarray(w)
    w = w.reshape(-1, w.shape[-1])
    tol = rtol * np.max(np.abs(w), axis=-1, keepdims=True)
    if test == "nonzero":
        return bool(np.any(w <= tol))
    gaps = np.abs(w[:, :, None] - w[:, None, :])
    gaps[:, np.arange(w.shape[-1]), np.arange(w.shape[-1])] = np.inf
    return bool(np.any(gaps <= tol[:, :, None]))


def _check_impl(x, w, test, rtol, message):
    if check_fails(w, test, rtol):
        raise ValueError(message)
    return x


def _check_batch(prim, args, batched, k, **params):
    x, w = args
    return prim.bind(x if batched[0] else broadcast_to(x, (k,) + x.shape), w, **params)


# x itself, once the kernel has checked that the spectrum w passes ``test``
# (else ValueError(message)); differentiable in x as the identity, not in w.
check_p = Primitive(
    "check", _check_impl, lambda x, w, **params: (x.shape, x.dtype), kind="linalg",
    jvps=[lambda t, y, x, w, **params: t, None], vjps=[lambda g, y, x, w, **params: g, None],
    batch=_check_batch,
    fmt=lambda x, w, test, rtol, message: f"check {test}({w}) -> {x}")


def _eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


# ----------------------------------------------------------------- svd

def _svd_impl(a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return [u, s, vt]


def _svd_shape(a):
    if a.ndim < 2:
        raise ValueError(f"np.linalg.svd: expected a (stack of) matrices, got shape {a.shape}")
    *batch, m, n = a.shape
    k, batch = min(m, n), tuple(batch)
    return [(batch + (m, k), a.dtype), (batch + (k,), a.dtype), (batch + (k, n), a.dtype)]


def _svd_checked(s, m, n):
    """s, with the kernel checking what the derivative of U and V needs."""
    rtol = max(m, n) * _eps(s.dtype)
    s = check(s, s, "distinct", rtol,
              f"np.linalg.svd of a {m}x{n} matrix: the derivative of U and Vt does not exist "
              "where two singular values are equal (to within max(m, n) * eps * max(s)); "
              "differentiate a function of the singular values alone "
              "(np.linalg.svd(a, compute_uv=False)), or perturb the matrix")
    if m != n:
        s = check(s, s, "nonzero", rtol,
                  f"np.linalg.svd of a {m}x{n} matrix: the derivative of "
                  f"{'U' if m > n else 'Vt'} does not exist at a zero singular value (the "
                  "matrix is rank-deficient); differentiate a function of the singular values "
                  "alone (np.linalg.svd(a, compute_uv=False))")
    return s


def _svd_jvp(tangents, outs, a):
    (t,) = tangents
    u, s, vt = outs
    m, n = a.shape[-2:]
    v = swap_last(vt)
    ds_mat = mm(mm(swap_last(u), t), v)          # U^T dA V
    ds = _diag(ds_mat)
    sc = _svd_checked(s, m, n)
    f = _gaps(sc, square=True)
    s_row, s_col = _row(s), _col(s)
    ds_mat_t = swap_last(ds_mat)
    du = mm(u, mul(f, add(mul(ds_mat, s_row), mul(s_col, ds_mat_t))))
    dv = mm(v, mul(f, add(mul(s_col, ds_mat), mul(ds_mat_t, s_row))))
    if m > n:  # the part of dA V outside the span of U
        du = add(du, div(sub(mm(t, v), mm(u, ds_mat)), _row(sc)))
    if n > m:
        dv = add(dv, div(sub(mm(swap_last(t), u), mm(v, ds_mat_t)), _row(sc)))
    return [du, ds, swap_last(dv)]


def _svd_vjp(cts, outs, active, a):
    u_bar, s_bar, vt_bar = cts
    u, s, vt = outs
    m, n = a.shape[-2:]
    inner = None if s_bar is None else _diag_embed(s_bar)
    if u_bar is not None or vt_bar is not None:
        sc = _svd_checked(s, m, n)
        f = _gaps(sc, square=True)
        if u_bar is not None:
            p = mul(f, mm(swap_last(u), u_bar))
            inner = _add(inner, mul(add(p, swap_last(p)), _row(s)))
        if vt_bar is not None:
            q = mul(f, mm(vt, swap_last(vt_bar)))
            inner = _add(inner, mul(_col(s), add(q, swap_last(q))))
    a_bar = None if inner is None else mm(mm(u, inner), vt)
    if u_bar is not None and m > n:
        outside = sub(u_bar, mm(u, mm(swap_last(u), u_bar)))
        a_bar = _add(a_bar, mm(div(outside, _row(sc)), vt))
    if vt_bar is not None and n > m:
        v_bar = swap_last(vt_bar)
        v = swap_last(vt)
        outside = sub(v_bar, mm(v, mm(vt, v_bar)))
        a_bar = _add(a_bar, mm(u, swap_last(div(outside, _row(sc)))))
    return [a_bar]


# A = U diag(s) Vt (reduced), s descending.
svd_p = Primitive("svd", _svd_impl, _svd_shape, kind="linalg", multiple_results=True,
                  jvps=[None], vjps=[None], jvp_all=_svd_jvp, vjp_all=_svd_vjp,
                  batch=_stack_of_one)


def _complement_impl(a):
    m, n = a.shape[-2:]
    u, s, vt = np.linalg.svd(a, full_matrices=True)
    return u[..., :, n:] if m > n else vt[..., m:, :]


def _complement_shape(a):
    *batch, m, n = a.shape
    if m == n:
        raise ValueError("svd_complement: a square matrix has no complement")
    return tuple(batch) + ((m, m - n) if m > n else (n - m, n)), a.dtype


def _complement_refused(a) -> str:
    m, n = a.shape[-2:]
    part = "columns of U" if m > n else "rows of Vt"
    return (f"np.linalg.svd(full_matrices=True) of a {m}x{n} matrix: the last {abs(m - n)} "
            f"{part} are any orthonormal basis of a complement and have no derivative; call "
            "np.linalg.svd(a, full_matrices=False) (U and Vt then hold only what is unique)")


def _complement_jvp(t, y, a):
    # a kernel that needs this tangent raises; one that does not drops it
    return check(zeros_like_shape(y.shape, y.dtype), y, "always", 0.0, _complement_refused(a))


def _complement_vjp(g, y, a):
    raise TypeError(_complement_refused(a))


# The extra columns of U (m > n) or rows of Vt (m < n) of a full SVD: LAPACK's
# choice of a basis of the complement of A's range (row space).
svd_complement_p = Primitive("svd_complement", _complement_impl, _complement_shape,
                             kind="linalg", jvps=[_complement_jvp], vjps=[_complement_vjp],
                             batch=_stack_of_one)


# ---------------------------------------------------------------- eigh

def _eigh_impl(a):
    w, v = np.linalg.eigh(a)
    return [w, v]


def _eigh_shape(a):
    _square("eigh", a)
    return [(a.shape[:-1], a.dtype), (a.shape, a.dtype)]


def _eigh_checked(w):
    n = w.shape[-1]
    return check(w, w, "distinct", n * _eps(w.dtype),
                 f"np.linalg.eigh of a {n}x{n} matrix: the derivative of the eigenvectors does "
                 "not exist where two eigenvalues are equal (to within n * eps * max|w|); "
                 "differentiate a function of the eigenvalues alone (np.linalg.eigvalsh), "
                 "or perturb the matrix")


def _eigh_jvp(tangents, outs, a):
    (t,) = tangents
    w, v = outs
    t_sym = _phi(t)  # eigh reads the lower triangle only, as cholesky does
    t_sym = add(t_sym, swap_last(t_sym))
    inner = mm(mm(swap_last(v), t_sym), v)
    dv = mm(v, mul(_gaps(_eigh_checked(w), square=False), inner))
    return [_diag(inner), dv]


def _eigh_vjp(cts, outs, active, a):
    w_bar, v_bar = cts
    w, v = outs
    inner = None if w_bar is None else _diag_embed(w_bar)
    if v_bar is not None:
        inner = _add(inner, mul(_gaps(_eigh_checked(w), square=False),
                                mm(swap_last(v), v_bar)))
    g = mm(mm(v, inner), swap_last(v))
    return [_phi(add(g, swap_last(g)))]


# A = V diag(w) V^T for symmetric A (its lower triangle), w ascending:
# w_dot = diag(V^T A_dot V), V_dot = V (F o V^T A_dot V), F_ij = 1/(w_j - w_i)
eigh_p = Primitive("eigh", _eigh_impl, _eigh_shape, kind="linalg", multiple_results=True,
                   jvps=[None], vjps=[None], jvp_all=_eigh_jvp, vjp_all=_eigh_vjp,
                   batch=_stack_of_one)


# ------------------------------------------------------------------ qr

def _qr_impl(a):
    q, r = np.linalg.qr(a)
    return [q, r]


def _qr_shape(a):
    if a.ndim < 2 or a.shape[-2] < a.shape[-1]:
        raise ValueError(f"np.linalg.qr: jitad differentiates the reduced QR of (stacks of) "
                         f"matrices with at least as many rows as columns, got shape {a.shape}; "
                         "for a wide matrix factor its transpose")
    n = a.shape[-1]
    return [(a.shape, a.dtype), (a.shape[:-2] + (n, n), a.dtype)]


def _right_solve(x, r):
    """x R^-1: (R^-T x^T)^T."""
    return swap_last(solve(swap_last(r), swap_last(x)))


def _qr_jvp(tangents, outs, a):
    (t,) = tangents
    q, r = outs
    x = _right_solve(t, r)                       # dA R^-1
    c = mm(swap_last(q), x)
    low = _lower_strict(c)
    omega = sub(low, swap_last(low))             # antisymmetric: Q^T dQ
    dq = add(mm(q, sub(omega, c)), x)
    dr = mm(sub(c, omega), r)
    return [dq, dr]


def _qr_vjp(cts, outs, active, a):
    q_bar, r_bar = cts
    q, r = outs
    m_ = None if q_bar is None else mm(swap_last(q), q_bar)
    if r_bar is not None:
        m_ = _add(m_, neg(mm(r_bar, swap_last(r))))
    c_bar = sub(_lower_strict(sub(m_, swap_last(m_))), m_)
    x_bar = _add(mm(q, c_bar), q_bar)
    return [swap_last(solve(r, swap_last(x_bar)))]   # X_bar R^-T


# A = Q R (reduced, m >= n, R invertible): with X = A_dot R^-1, C = Q^T X
# and Omega = tril(C, -1) - tril(C, -1)^T, Q_dot = Q (Omega - C) + X and
# R_dot = (C - Omega) R.
qr_p = Primitive("qr", _qr_impl, _qr_shape, kind="linalg", multiple_results=True,
                 jvps=[None], vjps=[None], jvp_all=_qr_jvp, vjp_all=_qr_vjp,
                 batch=_stack_of_one)
