"""Linear algebra: ``@``/matmul/dot/vdot/inner/outer/tensordot for 1-d, 2-d
and batched operands, ``np.einsum``, trace/diagonal/diag, and the dense
``np.linalg`` routines (solve, inv, det, slogdet, cholesky).

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


unsupported("jitad has no derivative rule for eigen- or singular-value decompositions yet",
            np.linalg.eig, np.linalg.eigh, np.linalg.eigvals, np.linalg.eigvalsh,
            np.linalg.svd, np.linalg.svdvals, np.linalg.matrix_rank, np.linalg.cond)
unsupported("no rule yet; for a full-rank A use np.linalg.solve(A.T @ A, A.T @ b) or "
            "np.linalg.inv", np.linalg.lstsq, np.linalg.pinv)
unsupported("no rule yet; use np.linalg.cholesky (a QR factorisation is not supported)",
            np.linalg.qr)
