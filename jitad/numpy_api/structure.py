"""Structure of arrays: triangles (tril, triu), the split family, padding,
finite-difference gradients, meshgrids, sorting.

All but sorting are written with slices, gathers by constant indices,
concatenation and ``np.where`` with constant masks, so their derivatives
are those of the primitives. Where NumPy's own rule is intricate (which
element np.pad copies where, the coefficients of np.gradient at uneven
spacing and the edges) jitad asks NumPy for it on constants -- indices or
coefficients -- so the semantics are NumPy's by construction. Sorting runs
when the kernel runs (``argsort_p``, on the values of that call); np.sort is
the gather by that permutation, whose derivative is the gather.
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..errors import TraceError
from . import inplace
from .dispatch import as_dtype, dtype_of, implements, is_traced, ndim_of, normalise_axis, shape_of
from .indexing import take, take_along_axis
from .shape import _new_array, _slice_along, concatenate, reshape, split


def _flat(a):
    return reshape(a, -1)


# ------------------------------------------------------------- triangles

def _triangle(m, k, lower):
    shape = shape_of(m)
    n, cols = (shape[-1], shape[-1]) if len(shape) == 1 else shape[-2:]
    mask = np.tri(n, cols, k, dtype=bool)
    if not lower:
        mask = ~np.tri(n, cols, k - 1, dtype=bool)
    return np.where(mask, m, np.zeros((), dtype_of(m)))


@implements(np.tril)
def tril(m, k=0):
    """np.where with a constant mask (entries above diagonal k become 0)."""
    return _triangle(m, int(k), lower=True)


@implements(np.triu)
def triu(m, k=0):
    """np.where with a constant mask (entries below diagonal k become 0)."""
    return _triangle(m, int(k), lower=False)


# ----------------------------------------------------------------- splits

def _split_on(axis, least, name):
    def split_axis(ary, indices_or_sections):
        if ndim_of(ary) < least:
            raise ValueError(f"{name} only works on arrays of {least} or more dimensions")
        return split(ary, indices_or_sections, axis if ndim_of(ary) > 1 or name != "hsplit"
                     else 0)
    split_axis.__name__ = name
    split_axis.__doc__ = (f"np.split along axis {axis}" + (" (axis 0 of a 1-d array)"
                                                           if name == "hsplit" else "") + ".")
    return split_axis


vsplit = implements(np.vsplit)(_split_on(0, 2, "vsplit"))
hsplit = implements(np.hsplit)(_split_on(1, 1, "hsplit"))
dsplit = implements(np.dsplit)(_split_on(2, 3, "dsplit"))


# ---------------------------------------------------------------- padding

_COPYING_MODES = ("edge", "reflect", "symmetric", "wrap")


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    """Axis by axis, as NumPy pads: ``constant`` concatenates blocks of the
    value (a number or a traced one, per axis and side); ``edge``,
    ``reflect``, ``symmetric`` and ``wrap`` gather along the axis by the
    indices NumPy's np.pad gives for an arange."""
    nd = ndim_of(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2)).tolist()
    if mode == "constant":
        unknown = set(kwargs) - {"constant_values"}
        values = kwargs.get("constant_values", 0)
    else:
        unknown = set(kwargs) - ({"reflect_type"} if mode in ("reflect", "symmetric") else set())
        if kwargs.get("reflect_type", "even") != "even":
            raise TraceError(f"np.pad(mode={mode!r}, reflect_type='odd') of a traced array: "
                             "not supported; pad with reflect_type='even' and adjust")
    if unknown:
        raise TypeError(f"np.pad(mode={mode!r}): unsupported keyword(s) {sorted(unknown)}")
    if mode != "constant" and mode not in _COPYING_MODES:
        modes = ", ".join(map(repr, ("constant",) + _COPYING_MODES))
        raise TraceError(f"np.pad(mode={mode!r}) of a traced array of shape {shape_of(array)}: "
                         f"jitad supports the modes {modes}; write the others with "
                         "np.concatenate")
    x = array
    for axis, (before, after) in enumerate(widths):
        if before < 0 or after < 0:
            raise ValueError("index can't contain negative values")
        if not before and not after:
            continue
        if mode == "constant":
            x = _pad_constant(x, axis, before, after, _side_values(values, nd, axis))
        else:
            n = shape_of(x)[axis]
            index = np.pad(np.arange(n), (before, after), mode=mode)
            x = take(x, index, axis=axis)
    return x if x is not array else _new_array(x)


def _side_values(values, nd, axis):
    if is_traced(values) and ndim_of(values) == 0:
        return values, values
    if is_traced(values):
        raise TraceError(f"np.pad: traced constant_values must be one number (0-d), got shape "
                         f"{shape_of(values)}")
    pairs = np.broadcast_to(np.asarray(values), (nd, 2))
    return pairs[axis, 0], pairs[axis, 1]


def _pad_constant(x, axis, before, after, sides):
    shape, dtype = list(shape_of(x)), dtype_of(x)
    pieces = []
    for width, value in ((before, sides[0]), (after, sides[1])):
        block = tuple(shape[:axis] + [width] + shape[axis + 1:])
        if not width:
            pieces.append(None)
        elif is_traced(value):
            pieces.append(P.broadcast_to(as_dtype(value, dtype), block))
        else:
            pieces.append(np.full(block, value, dtype))
    return concatenate([p for p in (pieces[0], x, pieces[1]) if p is not None], axis=axis)


# ---------------------------------------------------------------- gradient

def _spacings(varargs, axes, shape):
    if not varargs:
        return [1.0] * len(axes)
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        return list(varargs) * len(axes)
    if len(varargs) != len(axes):
        raise TypeError("invalid number of arguments")
    return list(varargs)


@implements(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """Central differences inside, one-sided at the edges (``edge_order`` 1
    or 2), as NumPy: each output element is a fixed combination of two or
    three neighbours, with the coefficients NumPy's np.gradient gives for
    the columns of an identity matrix (exact for uneven coordinates too). A
    traced spacing h divides the result for h = 1."""
    nd = ndim_of(f)
    axes = tuple(range(nd)) if axis is None else tuple(
        normalise_axis(a, nd) for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis))
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    out = [_gradient_along(f, d, h, edge_order)
           for d, h in zip(axes, _spacings(varargs, axes, shape_of(f)))]
    return out[0] if len(out) == 1 else tuple(out)


def _gradient_along(f, axis, h, edge_order):
    n = shape_of(f)[axis]
    if n < edge_order + 1:
        raise ValueError("Shape of array too small to calculate a numerical gradient, at least "
                         "(edge_order + 1) elements are required.")
    traced_h = is_traced(h)
    if traced_h and ndim_of(h) != 0:
        raise TraceError("np.gradient: a traced spacing must be one number per axis (0-d); "
                         "coordinates must be constants")
    coeffs = np.gradient(np.eye(n), 1.0 if traced_h else h, axis=0, edge_order=edge_order)
    dtype = np.result_type(dtype_of(f), np.float64) if not np.issubdtype(
        dtype_of(f), np.floating) else dtype_of(f)
    f = as_dtype(f, dtype)
    shape = [1] * ndim_of(f)
    shape[axis] = -1

    def weighted(i0, i1, j):  # sum over the row's stencil of coeffs[i, i + j] * f[i + j]
        rows = np.arange(i0, i1)
        total = None
        for offset in j:
            c = coeffs[rows, rows + offset].astype(dtype)
            c = c[0] if np.all(c == c[0]) else c.reshape(shape)
            term = _slice_along(f, axis, i0 + offset, i1 + offset) * c
            total = term if total is None else total + term
        return total
    k = edge_order
    pieces = [weighted(0, 1, range(0, k + 1))]
    if n > 2:
        pieces.append(weighted(1, n - 1, (-1, 0, 1)))
    pieces.append(weighted(n - 1, n, range(-k, 1)))
    out = concatenate(pieces, axis=axis)
    return out / as_dtype(h, dtype) if traced_h else out


# ---------------------------------------------------------------- meshgrid

@implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Each input raveled, reshaped to lie along its own axis, and broadcast
    to the full grid (the first two axes swapped for ``indexing='xy'``)."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    k = len(xi)
    flat = [_flat(x) for x in xi]
    sizes = [shape_of(x)[0] for x in flat]
    axes = list(range(k))
    if indexing == "xy" and k > 1:
        axes[0], axes[1] = 1, 0
        full = tuple([sizes[1], sizes[0]] + sizes[2:])
    else:
        full = tuple(sizes)
    out = []
    for x, d in zip(flat, axes):
        shape = [1] * k
        shape[d] = shape_of(x)[0]
        y = P.reshape(x, tuple(shape))
        if not sparse:
            y = P.broadcast_to(y, full)
            if not copy:
                y = inplace.read_only(y)
        out.append(y)
    return tuple(out)


# ---------------------------------------------------------------- sorting

@implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """The sorting permutation, computed when the kernel runs (stable: ties
    keep their order, for every ``kind``); integers, no derivative."""
    if order is not None:
        raise TypeError("np.argsort(order=...) is for structured arrays, which jitad does not "
                        "trace")
    if axis is None:
        a, axis = _flat(a), 0
    return P.argsort(a, normalise_axis(axis, ndim_of(a)))


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """The gather by np.argsort's permutation: the derivative of each sorted
    element is that of the element it came from (ties: the first in order)."""
    if axis is None:
        a, axis = _flat(a), 0
    axis = normalise_axis(axis, ndim_of(a))
    return take_along_axis(a, argsort(a, axis, kind, order), axis)

