"""Linear algebra: ``@``/matmul/dot/vdot/inner/outer/tensordot for 1-d, 2-d
and batched operands, ``np.einsum``, trace/diagonal/diag, and the dense
``np.linalg`` routines (solve, inv, det, slogdet, cholesky, svd, eigh,
eigvalsh, qr, lstsq, pinv, matrix_power, cond).

Everything reduces to a few primitives: 2-d products go to BLAS (``dot``),
batched ones to ``matmul`` (a loop of BLAS calls), einsum to transposes,
reshapes, products, sums and diagonals (gathers).
"""
from __future__ import annotations

import operator
import string
from collections import Counter, namedtuple

import numpy as np

from .. import primitives as P
from . import inplace
from .reductions import norm
from .dispatch import (UFUNCS, as_dtype, dtype_of, float_dtype, implements, ndim_of,
                       normalise_axis, shape_of, unsupported)

SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _in_float(fn, *xs):
    """fn on xs converted to their common floating dtype (BLAS and LAPACK
    work in floats); integer operands give an integer result, as in NumPy."""
    dtype = np.result_type(*(dtype_of(x) for x in xs))
    result = fn(*(as_dtype(x, float_dtype(*xs)) for x in xs))
    return result if np.issubdtype(dtype, np.floating) else as_dtype(result, dtype)


def _dot2(a, b):
    return _in_float(P.dot, a, b)


# --------------------------------------------------------------- products

@implements(np.matmul)
def matmul(a, b):
    """``a @ b`` with NumPy's rules: 1-d operands are vectors, leading axes
    are batch axes that broadcast."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {sa} "
                         f"and {sb} (use * to multiply by a scalar)")
    if len(sa) <= 2 and len(sb) <= 2:
        return _dot2(a, b)
    vector_a, vector_b = len(sa) == 1, len(sb) == 1
    a = P.reshape(a, (1,) + sa) if vector_a else a
    b = P.reshape(b, sb + (1,)) if vector_b else b
    sa, sb = shape_of(a), shape_of(b)
    if sa[-1] != sb[-2]:
        raise ValueError(f"matmul: shapes {shape_of(a)} and {shape_of(b)} are not aligned "
                         f"({sa[-1]} != {sb[-2]})")
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    (n, k), m = sa[-2:], sb[-1]
    if len(sb) == 2:    # one matrix for the whole batch: fold the batch into rows
        flat = P.reshape(P.broadcast_to(a, batch + (n, k)), (_size(batch) * n, k))
        out = P.reshape(_dot2(flat, b), batch + (n, m))
    elif len(sa) == 2:  # fold the batch into columns
        b = P.broadcast_to(b, batch + (k, m))
        nb = len(batch)
        cols = P.reshape(P.transpose(b, (nb,) + tuple(range(nb)) + (nb + 1,)), (k, _size(batch) * m))
        out = P.reshape(_dot2(a, cols), (n,) + batch + (m,))
        out = P.transpose(out, tuple(range(1, nb + 1)) + (0, nb + 1))
    else:
        out = _in_float(P.matmul, P.broadcast_to(a, batch + (n, k)),
                        P.broadcast_to(b, batch + (k, m)))
    shape = shape_of(out)
    if vector_a:
        shape = shape[:-2] + shape[-1:]
    if vector_b:
        shape = shape[:-1]
    return P.reshape(out, shape)


UFUNCS[np.matmul] = matmul  # ndarray @ tracer arrives as the matmul ufunc


@implements(np.dot)
def dot(a, b):
    """Scalars multiply; 1-d and 2-d operands are BLAS products; N-d contract
    the last axis of a with the second-to-last of b."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return P.mul(a, b)
    if len(sa) <= 2 and len(sb) <= 2:
        return _dot2(a, b)
    return tensordot(a, b, axes=([len(sa) - 1], [max(len(sb) - 2, 0)]))


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    sa, sb = shape_of(a), shape_of(b)
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    axes_a = [normalise_axis(d, len(sa)) for d in axes_a]
    axes_b = [normalise_axis(d, len(sb)) for d in axes_b]
    if [sa[d] for d in axes_a] != [sb[d] for d in axes_b]:
        raise ValueError(f"tensordot: shape mismatch for sum over axes {axes_a} of {sa} and "
                         f"{axes_b} of {sb}")
    free_a = [d for d in range(len(sa)) if d not in axes_a]
    free_b = [d for d in range(len(sb)) if d not in axes_b]
    c = _size([sa[d] for d in axes_a])
    left = P.transpose(a, tuple(free_a + axes_a))
    right = P.transpose(b, tuple(axes_b + free_b))
    left = P.reshape(left, (_size([sa[d] for d in free_a]), c) if free_a else (c,))
    right = P.reshape(right, (c, _size([sb[d] for d in free_b])) if free_b else (c,))
    return P.reshape(_dot2(left, right), tuple(sa[d] for d in free_a) + tuple(sb[d] for d in free_b))


@implements(np.vdot)
def vdot(a, b):
    return _dot2(P.reshape(a, (_size(shape_of(a)),)), P.reshape(b, (_size(shape_of(b)),)))


@implements(np.inner)
def inner(a, b):
    if not shape_of(a) or not shape_of(b):
        return P.mul(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


@implements(np.outer)
def outer(a, b, out=None):
    if out is not None:
        raise TypeError("np.outer(..., out=...) is not supported on traced values")
    na, nb = _size(shape_of(a)), _size(shape_of(b))
    return P.mul(P.reshape(a, (na, 1)), P.reshape(b, (1, nb)))


@implements(np.convolve)
def convolve(a, v, mode="full"):
    """NumPy's modes, as slices of the full convolution."""
    a, v = (P.reshape(x, (1,)) if not shape_of(x) else x for x in (a, v))
    if ndim_of(a) != 1 or ndim_of(v) != 1:
        raise ValueError(f"np.convolve: operands must be 1-d, got shapes {shape_of(a)} and "
                         f"{shape_of(v)}")
    full = _in_float(P.convolve, a, v)
    n, m = shape_of(a)[0], shape_of(v)[0]
    if mode == "full":
        return full
    if mode == "same":
        start, stop = (min(n, m) - 1) // 2, (min(n, m) - 1) // 2 + max(n, m)
    elif mode == "valid":
        start, stop = min(n, m) - 1, max(n, m)
    else:
        raise ValueError(f"np.convolve: mode must be 'full', 'same' or 'valid', not {mode!r}")
    return P.getitem(full, P.BasicIndex.normalise((slice(start, stop),), shape_of(full)))


@implements(np.linalg.multi_dot)
def multi_dot(arrays, *, out=None):
    result = arrays[0]
    for x in arrays[1:]:
        result = dot(result, x)
    return result


# ------------------------------------------------------- diagonal, trace

@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    """A gather of (i, i + offset) pairs; the diagonal axis goes last."""
    nd = ndim_of(a)
    axis1, axis2 = normalise_axis(axis1, nd), normalise_axis(axis2, nd)
    if axis1 == axis2:
        raise ValueError("np.diagonal: axis1 and axis2 cannot be the same")
    n1, n2 = shape_of(a)[axis1], shape_of(a)[axis2]
    count = max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))
    rows = np.arange(count) + max(0, -offset)
    cols = np.arange(count) + max(0, offset)
    rest = [d for d in range(nd) if d not in (axis1, axis2)]
    taken = P.take(P.transpose(a, (axis1, axis2) + tuple(rest)), rows, cols)
    return inplace.read_only(P.transpose(taken, tuple(range(1, len(rest) + 1)) + (0,)))


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if out is not None:
        raise TypeError("np.trace(..., out=...) is not supported on traced values")
    d = diagonal(a, offset, axis1, axis2)
    d = as_dtype(d, dtype) if dtype is not None else d
    return P.reduce_sum(d, (ndim_of(d) - 1,))


@implements(np.diag)
def diag(v, k=0):
    """2-d: the k-th diagonal; 1-d: a matrix with v on its k-th diagonal (a
    scatter of v into zeros, the adjoint of the gather above)."""
    if ndim_of(v) == 2:
        return diagonal(v, k)
    if ndim_of(v) != 1:
        raise ValueError(f"np.diag: input must be 1-d or 2-d, got shape {shape_of(v)}")
    m = shape_of(v)[0]
    n = m + abs(k)
    rows, cols = np.arange(m) + max(0, -k), np.arange(m) + max(0, k)
    return P.add_at(v, (rows, cols), (n, n))


# ---------------------------------------------------------------- einsum

def _einsum_terms(subscripts, shapes):
    """(input letter strings, output letters), '...' expanded to letters."""
    lhs, arrow, rhs = subscripts.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"np.einsum: {len(terms)} subscripts for {len(shapes)} operands")
    used = set(subscripts)
    fresh = [c for c in string.ascii_letters if c not in used]
    ell_ndim = max([len(s) - len(t) + 3 for t, s in zip(terms, shapes) if "..." in t], default=0)
    ellipsis = "".join(fresh[:ell_ndim])
    expanded = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            k = len(shape) - len(term) + 3
            term = term.replace("...", ellipsis[ell_ndim - k:])
        if len(term) != len(shape) or not all(c.isalpha() for c in term):
            raise ValueError(f"np.einsum: subscripts {term!r} do not fit an operand of shape "
                             f"{shape}")
        expanded.append(term)
    if arrow:
        output = rhs.replace("...", ellipsis)
    else:  # implicit mode: the letters seen once, in alphabetical order
        counts = Counter("".join(expanded))
        output = ellipsis + "".join(sorted(c for c, n in counts.items()
                                           if n == 1 and c not in ellipsis))
    return expanded, output


def _sum_out(x, letters, drop):
    axes = tuple(d for d, c in enumerate(letters) if drop(c))
    return P.reduce_sum(x, axes), "".join(c for c in letters if not drop(c))


def _diagonals(x, letters):
    """Repeated letters in one operand ('ii') select a diagonal."""
    while len(set(letters)) < len(letters):
        c = next(c for c in letters if letters.count(c) > 1)
        p1 = letters.index(c)
        p2 = letters.index(c, p1 + 1)
        x = diagonal(x, 0, p1, p2)
        letters = "".join(ch for d, ch in enumerate(letters) if d not in (p1, p2)) + c
    return x, letters


def _arrange(x, letters, order, sizes, ones_at=()):
    """x transposed to ``order``, with size-1 axes inserted at ``ones_at``."""
    x = P.transpose(x, tuple(letters.index(c) for c in order))
    shape = [sizes[c] for c in order]
    for position in ones_at:
        shape.insert(position, 1)
    return P.reshape(x, tuple(shape))


def _contract(a, la, b, lb, keep, sizes):
    """The product of two operands, summed over the letters not in ``keep``."""
    a, la = _sum_out(a, la, lambda c: c not in lb and c not in keep)
    b, lb = _sum_out(b, lb, lambda c: c not in la and c not in keep)
    batch = [c for c in la if c in lb and c in keep]
    summed = [c for c in la if c in lb and c not in keep]
    fa = [c for c in la if c not in lb]
    fb = [c for c in lb if c not in la]
    out_letters = "".join(batch + fa + fb)
    if not summed or (batch and (not fa or not fb)):
        # elementwise (or a batch of dot products): multiply, then sum; fuses
        nb, na = len(batch), len(fa)
        left = _arrange(a, la, batch + fa + summed, sizes, range(nb + na, nb + na + len(fb)))
        right = _arrange(b, lb, batch + fb + summed, sizes, range(nb, nb + na))
        rank = nb + na + len(fb)
        product = P.mul(left, right)
        return P.reduce_sum(product, tuple(range(rank, rank + len(summed)))), out_letters
    c = _size([sizes[ch] for ch in summed])
    left = P.transpose(a, tuple(la.index(ch) for ch in batch + fa + summed))
    right = P.transpose(b, tuple(lb.index(ch) for ch in batch + summed + fb))
    na, nf = _size([sizes[ch] for ch in fa]), _size([sizes[ch] for ch in fb])
    if batch:
        nbatch = _size([sizes[ch] for ch in batch])
        out = _in_float(P.matmul, P.reshape(left, (nbatch, na, c)), P.reshape(right, (nbatch, c, nf)))
    else:
        out = _dot2(P.reshape(left, (na, c) if fa else (c,)), P.reshape(right, (c, nf) if fb else (c,)))
    return P.reshape(out, tuple(sizes[ch] for ch in out_letters)), out_letters


def _sublist_subscripts(args):
    """NumPy's sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as the
    subscripts string ('ab,bc->ac') and the operands."""
    letters = string.ascii_letters

    def term(sublist):
        try:
            return "".join("..." if i is Ellipsis else letters[operator.index(i)]
                           for i in sublist)
        except (TypeError, IndexError):
            raise ValueError(f"np.einsum: a sublist holds integers in [0, 52) and '...', "
                             f"got {sublist!r}") from None
    operands, terms = list(args[0::2]), [term(s) for s in args[1::2]]
    if len(args) % 2:  # the output sublist
        output = term(operands.pop())
        return ",".join(terms) + "->" + output, tuple(operands)
    return ",".join(terms), tuple(operands)


@implements(np.einsum)
def einsum(subscripts, *operands, out=None, dtype=None, order="K", casting="safe",
           optimize=False):
    """Subscript strings ('ij,jk->ik', 'bij,bjk->bik', 'ii->', '...ij->...ji'),
    contracted pairwise from the left."""
    if not isinstance(subscripts, str):
        subscripts, operands = _sublist_subscripts((subscripts,) + operands)
    if out is not None:
        raise TypeError("np.einsum(..., out=...) is not supported on traced values")
    terms, output = _einsum_terms(subscripts, [shape_of(x) for x in operands])
    sizes = {}
    for term, x in zip(terms, operands):
        for c, n in zip(term, shape_of(x)):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"np.einsum: letter {c!r} has sizes {sizes[c]} and {n}")
    reduced = []
    for k, (term, x) in enumerate(zip(terms, operands)):
        x, term = _diagonals(x, term)
        elsewhere = set(output).union(*(t for j, t in enumerate(terms) if j != k))
        reduced.append(_sum_out(x, term, lambda c: c not in elsewhere))
    acc, letters = reduced[0]
    for k, (x, term) in enumerate(reduced[1:], start=1):
        keep = set(output).union(*(t for _, t in reduced[k + 1:]))
        acc, letters = _contract(acc, letters, x, term, keep, sizes)
    acc, letters = _sum_out(acc, letters, lambda c: c not in output)
    acc = P.transpose(acc, tuple(letters.index(c) for c in output))
    return as_dtype(acc, dtype) if dtype is not None else acc


# ----------------------------------------------------------- np.linalg

def _matrices(name, *xs):
    """Stacks of matrices in their common floating dtype, batch axes broadcast."""
    for x in xs:
        if ndim_of(x) < 2:
            raise ValueError(f"np.linalg.{name}: expected (a stack of) matrices, got an array "
                             f"of shape {shape_of(x)}")
    dtype = float_dtype(*xs)
    batch = np.broadcast_shapes(*(shape_of(x)[:-2] for x in xs))
    return [P.broadcast_to(as_dtype(x, dtype), batch + shape_of(x)[-2:]) for x in xs]


@implements(np.linalg.solve)
def solve(a, b):
    """NumPy 2's rule: ``b`` is a vector only when it is 1-d."""
    if ndim_of(b) == 1:
        (a,) = _matrices("solve", a)
        b = P.reshape(as_dtype(b, float_dtype(a, b)), shape_of(b) + (1,))
        a = as_dtype(a, float_dtype(a, b))
        x = P.solve(a, P.broadcast_to(b, shape_of(a)[:-2] + shape_of(b)))
        return P.reshape(x, shape_of(x)[:-1])
    a, b = _matrices("solve", a, b)
    return P.solve(a, b)


@implements(np.linalg.inv)
def inv(a):
    return P.inv(*_matrices("inv", a))


@implements(np.linalg.det)
def det(a):
    """The gradient det(A) A^-T needs A invertible."""
    return P.det_p.bind(*_matrices("det", a))


def _last(x, k):
    nd = ndim_of(x)
    return P.getitem(x, P.BasicIndex.normalise((slice(None),) * (nd - 1) + (k,), shape_of(x)))


@implements(np.linalg.slogdet)
def slogdet(a):
    """(sign, log|det A|) as NumPy's named tuple; log|det A| has gradient A^-T."""
    both = P.slogdet_p.bind(*_matrices("slogdet", a))
    return SlogdetResult(_last(both, 0), _last(both, 1))


@implements(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    """Reads one triangle of A only, as NumPy does (the lower one; the upper
    one with ``upper=True``), so its gradient lives on that triangle."""
    (a,) = _matrices("cholesky", a)
    if upper:
        return P.swap_last(P.cholesky_p.bind(P.swap_last(a)))
    return P.cholesky_p.bind(a)


SVDResult = namedtuple("SVDResult", "U S Vh")
EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")
QRResult = namedtuple("QRResult", "Q R")


def _index_last(x, *entries):
    """x[..., *entries] (entries: ints or slices over the last axes)."""
    lead = (slice(None),) * (ndim_of(x) - len(entries))
    return P.getitem(x, P.BasicIndex.normalise(lead + entries, shape_of(x)))


def _no_hermitian(name, hermitian):
    """NumPy's hermitian=True reads one triangle only (through eigh); jitad
    does not record that path, and the general one differs for a
    non-symmetric input."""
    if hermitian:
        raise TypeError(f"np.linalg.{name}(hermitian=True) is not supported on traced values; "
                        "use hermitian=False (the same result for a symmetric matrix)")


@implements(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """U, s, Vh of (a stack of) matrices, s descending. The singular values
    are always differentiable (along a symmetric function of repeated ones);
    U and Vh only where the singular values are distinct (and, for a
    non-square matrix, nonzero): elsewhere the kernel raises ValueError. The
    extra columns of a non-square ``full_matrices=True`` U (rows of Vh) are
    not unique and have no derivative. Losses should not depend on the sign
    of a singular vector pair (LAPACK's choice)."""
    _no_hermitian("svd", hermitian)
    (a,) = _matrices("svd", a)
    if not compute_uv:
        return P.svd_p.bind(a)[1]
    u, s, vh = P.svd_p.bind(a)
    m, n = shape_of(a)[-2:]
    if full_matrices and m != n:  # NumPy's full U (Vh) begins with the reduced one
        extra = P.svd_complement_p.bind(a)
        if m > n:
            u = P.concatenate([u, extra], ndim_of(a) - 1)
        else:
            vh = P.concatenate([vh, extra], ndim_of(a) - 2)
    return SVDResult(u, s, vh)


@implements(np.linalg.svdvals)
def svdvals(x, /):
    """The singular values (descending), always differentiable."""
    return svd(x, compute_uv=False)


def _symmetric(name, a, UPLO):
    (a,) = _matrices(name, a)
    if UPLO not in ("L", "U"):
        raise ValueError(f"np.linalg.{name}: UPLO must be 'L' or 'U', not {UPLO!r}")
    # 'U' reads the upper triangle: the lower one of the transpose
    return P.swap_last(a) if UPLO == "U" else a


@implements(np.linalg.eigh)
def eigh(a, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix (one
    triangle of it, as NumPy reads). The eigenvectors' derivative needs
    distinct eigenvalues: elsewhere the kernel raises ValueError."""
    w, v = P.eigh_p.bind(_symmetric("eigh", a, UPLO))
    return EighResult(w, v)


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    """The eigenvalues (ascending) of a symmetric matrix, always differentiable."""
    return P.eigh_p.bind(_symmetric("eigvalsh", a, UPLO))[0]


@implements(np.linalg.qr)
def qr(a, mode="reduced"):
    """Reduced QR of (stacks of) matrices with m >= n and full column rank
    (R invertible); ``mode='r'`` gives R alone, ``'complete'`` is the same as
    'reduced' for a square matrix."""
    (a,) = _matrices("qr", a)
    m, n = shape_of(a)[-2:]
    if mode not in ("reduced", "r", "complete") or (mode == "complete" and m != n):
        raise TypeError(f"np.linalg.qr(mode={mode!r}) of a {m}x{n} matrix is not supported on "
                        "traced values (the complement of a complete Q has no derivative); "
                        "use mode='reduced' or 'r'")
    q, r = P.qr_p.bind(a)
    return r if mode == "r" else QRResult(q, r)


_RANK_DEFICIENT = ("np.linalg.{name} of a {m}x{n} matrix: jitad differentiates it at full rank "
                   "only, and this matrix is rank-deficient (a singular value at or below "
                   "{rcond:.3g} * max(s), where NumPy would drop it)")


def _full_rank(x, a, name, rcond=None):
    """x, once the kernel has checked that the matrices a have full rank:
    no singular value at or below ``rcond * max(s)`` (NumPy's cutoff, below
    which it would drop that singular value; default max(m, n) * eps)."""
    m, n = shape_of(a)[-2:]
    s = P.svd_p.bind(a)[1]
    if rcond is None:
        rcond = max(m, n) * float(np.finfo(dtype_of(a)).eps)
    elif not isinstance(rcond, (int, float, np.integer, np.floating)):
        raise TypeError(f"np.linalg.{name}: rcond must be a number on traced values, got "
                        f"{type(rcond).__name__}")
    return P.check(x, s, "nonzero", float(rcond),
                   _RANK_DEFICIENT.format(name=name, m=m, n=n, rcond=float(rcond))), s


def _tall_pinv(a):
    """R^-1 Q^T for m >= n: the pseudo-inverse of a full-column-rank matrix."""
    q, r = P.qr_p.bind(a)
    return P.solve(r, P.swap_last(q))


@implements(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """The pseudo-inverse of a full-rank matrix (stack), through QR (so it is
    differentiable at repeated singular values); the kernel raises
    ValueError for a rank-deficient one."""
    _no_hermitian("pinv", hermitian)
    (a,) = _matrices("pinv", a)
    m, n = shape_of(a)[-2:]
    result = _tall_pinv(a) if m >= n else P.swap_last(_tall_pinv(P.swap_last(a)))
    cutoff = rtol if rtol is not None else 1e-15 if rcond is None else rcond  # NumPy's
    return _full_rank(result, a, "pinv", cutoff)[0]


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """(x, residuals, rank, s) as NumPy gives them, for a of full column rank
    (m >= n; the kernel raises ValueError otherwise): x = R^-1 Q^T b."""
    if ndim_of(a) != 2 or ndim_of(b) not in (1, 2):
        raise ValueError(f"np.linalg.lstsq: a must be 2-d and b 1-d or 2-d, got shapes "
                         f"{shape_of(a)} and {shape_of(b)}")
    dtype = float_dtype(a, b)
    a, b = as_dtype(a, dtype), as_dtype(b, dtype)
    m, n = shape_of(a)
    if shape_of(b)[0] != m:
        raise ValueError(f"np.linalg.lstsq: a of shape {(m, n)} and b of shape {shape_of(b)} "
                         "have different numbers of rows")
    if m < n:
        raise TypeError(f"np.linalg.lstsq of a {m}x{n} matrix: jitad supports full column rank "
                        "(m >= n) only; for the minimum-norm solution use "
                        "np.linalg.pinv(a) @ b")
    q, r = P.qr_p.bind(a)
    x = P.solve(r, _dot2(P.swap_last(q), b if ndim_of(b) == 2 else P.reshape(b, (m, 1))))
    x = x if ndim_of(b) == 2 else P.reshape(x, (n,))
    x, s = _full_rank(x, a, "lstsq", None if rcond is None or rcond == -1 else rcond)
    if m > n:
        r_ = P.sub(_dot2(a, x), b)
        residuals = P.reduce_sum(P.integer_pow(r_, 2), (0,))
        residuals = residuals if ndim_of(b) == 2 else P.reshape(residuals, (1,))
    else:
        residuals = np.zeros((0,), dtype)
    return x, residuals, n, s


@implements(np.linalg.matrix_power)
def matrix_power(a, n):
    """A^n by repeated squaring (n < 0: of inv(A); n = 0: the identity)."""
    if not isinstance(n, (int, np.integer)):
        raise TypeError(f"np.linalg.matrix_power: the exponent must be a Python int, got {n!r}")
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"np.linalg.matrix_power: expected a (stack of) square matrices, got "
                         f"shape {shape}")
    if n == 0:
        return P.broadcast_to(np.eye(shape[-1], dtype=dtype_of(a)), shape)
    if n < 0:
        a, n = inv(a), -n
    result, power = None, a
    while True:
        if n & 1:
            result = power if result is None else matmul(result, power)
        n >>= 1
        if not n:
            return result
        power = matmul(power, power)


@implements(np.linalg.cond)
def cond(x, p=None):
    """The 2-norm condition number s_max / s_min (p None or 2) through the
    singular values; other p as norm(x, p) * norm(inv(x), p)."""
    if p is None or p == 2 or p == -2:
        s = svd(x, compute_uv=False)
        top, bottom = _index_last(s, 0), _index_last(s, -1)
        return P.div(bottom, top) if p == -2 else P.div(top, bottom)
    return P.mul(norm(x, p, axis=(-2, -1)), norm(inv(x), p, axis=(-2, -1)))


unsupported("its result is an integer (no derivative) that jitad cannot compute on traced "
            "values; compute it outside the traced function", np.linalg.matrix_rank)
unsupported("jitad has no derivative rule for the general (non-symmetric) eigendecomposition; "
            "for a symmetric matrix use np.linalg.eigh or np.linalg.eigvalsh",
            np.linalg.eig, np.linalg.eigvals)
