"""Shape functions (reshape, transpose, concatenate, split, tile, ...) and
array creation from traced arrays (zeros_like, ...).

Arrays created without a traced argument (``np.zeros(3)``, ``np.arange``,
``np.eye``) are ordinary NumPy arrays and enter the trace as constants.
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from . import inplace
from .dispatch import (as_dtype, dtype_of, implements, is_traced, moveaxis_perm, ndim_of,
                       normalise_axis, shape_of)


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _reshaped(a, shape):
    """A reshape, a view of ``a`` where NumPy's would be one."""
    return inplace.reshaped_view(P.reshape(a, tuple(shape)), a, tuple(shape))


def _transposed(a, perm):
    """A transpose: always a view."""
    return inplace.view(P.transpose(a, tuple(perm)), a, "transpose", tuple(perm))


def _new_array(x):
    """A copy: a new array with x's value (writes to one do not reach the other)."""
    return type(x)(x._var, x._val, x._builder) if is_traced(x) else np.array(x)


@implements(np.reshape)
def reshape(a, *shape, order="C", newshape=None, copy=None):
    if order != "C":
        raise TypeError(f"reshape(order={order!r}): jitad supports only order='C'")
    if newshape is not None:
        shape = (newshape,)
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    size = _size(shape_of(a))
    if -1 in shape:
        known = _size([n for n in shape if n != -1])
        shape = tuple(size // known if n == -1 else n for n in shape)
    shape = tuple(int(n) for n in shape)
    if _size(shape) != size:
        raise ValueError(f"cannot reshape an array of shape {shape_of(a)} (size {size}) into "
                         f"shape {shape}")
    return _reshaped(a, shape)


@implements(np.ravel)
def ravel(a, order="C"):
    return reshape(a, -1, order=order)


def flatten(a, order="C"):
    """A copy, unlike ravel."""
    return _new_array(reshape(a, -1, order=order))


@implements(np.transpose, np.permute_dims)
def transpose(a, *axes):
    if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
        axes = () if axes[0] is None else tuple(axes[0])
    ndim = ndim_of(a)
    if not axes:
        return _transposed(a, tuple(reversed(range(ndim))))
    if len(axes) != ndim:
        raise ValueError(f"transpose: axes {axes} do not match an array of shape {shape_of(a)}")
    return _transposed(a, tuple(normalise_axis(i, ndim) for i in axes))


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    ndim = ndim_of(a)
    perm = list(range(ndim))
    i, j = normalise_axis(axis1, ndim), normalise_axis(axis2, ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return _transposed(a, perm)


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    ndim = ndim_of(a)
    source = [source] if isinstance(source, (int, np.integer)) else list(source)
    destination = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    source = [normalise_axis(s, ndim) for s in source]
    destination = [normalise_axis(d, ndim) for d in destination]
    return _transposed(a, moveaxis_perm(ndim, source, destination))


@implements(np.expand_dims)
def expand_dims(a, axis):
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    ndim = ndim_of(a) + len(axes)
    axes = {normalise_axis(d, ndim) for d in axes}
    rest = iter(shape_of(a))
    return _reshaped(a, tuple(1 if d in axes else next(rest) for d in range(ndim)))


@implements(np.squeeze)
def squeeze(a, axis=None):
    shape = shape_of(a)
    if axis is None:
        axes = {d for d, n in enumerate(shape) if n == 1}
    else:
        axes = {normalise_axis(d, len(shape)) for d in
                ((axis,) if isinstance(axis, (int, np.integer)) else axis)}
        if any(shape[d] != 1 for d in axes):
            raise ValueError(f"cannot squeeze axis {axis} of shape {shape}: its size is not 1")
    return _reshaped(a, tuple(n for d, n in enumerate(shape) if d not in axes))


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    np.broadcast_shapes(shape_of(array), shape)  # NumPy's error for incompatible shapes
    return inplace.read_only(P.broadcast_to(array, shape))


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*(shape_of(a) for a in args))
    return tuple(inplace.read_only(P.broadcast_to(a, shape)) for a in args)


def _make_atleast(n, where):
    def atleast(*arys):
        out = [_reshaped(a, where(shape_of(a))) if ndim_of(a) < n else a for a in arys]
        return out[0] if len(out) == 1 else tuple(out)
    return atleast


atleast_1d = implements(np.atleast_1d)(_make_atleast(1, lambda s: (1,)))
atleast_2d = implements(np.atleast_2d)(_make_atleast(2, lambda s: (1,) * (2 - len(s)) + s))
atleast_3d = implements(np.atleast_3d)(_make_atleast(
    3, lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]))


# ------------------------------------------------------------ assembling

def _common(arrays):
    dtype = np.result_type(*(dtype_of(a) for a in arrays))
    return [as_dtype(a, dtype) for a in arrays]


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if out is not None:
        raise TypeError("np.concatenate(..., out=...) is not supported on traced values")
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if any(ndim_of(a) == 0 for a in arrays):
        raise ValueError("np.concatenate: zero-dimensional arrays cannot be concatenated")
    arrays = _common(arrays) if dtype is None else [as_dtype(a, dtype) for a in arrays]
    return P.concatenate(arrays, normalise_axis(axis, ndim_of(arrays[0])))


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    axis = normalise_axis(axis, ndim_of(arrays[0]) + 1)
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis, out=out, dtype=dtype)


@implements(np.hstack)
def hstack(tup, *, dtype=None, casting="same_kind"):
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if ndim_of(arrays[0]) == 1 else 1, dtype=dtype)


@implements(np.vstack)
def vstack(tup, *, dtype=None, casting="same_kind"):
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype)


@implements(np.column_stack)
def column_stack(tup):
    """NumPy's rule: a 0-d or 1-d entry becomes a column (an array passed
    alone is iterated, as NumPy does)."""
    return concatenate([P.reshape(a, (int(np.prod(shape_of(a), dtype=np.int64)), 1))
                        if ndim_of(a) < 2 else a for a in tup], axis=1)


def _slice_along(a, axis, start, stop):
    return P.getitem(a, P.slab(shape_of(a), axis, start, stop))


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    axis = normalise_axis(axis, ndim_of(ary))
    n = shape_of(ary)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        size, extra = divmod(n, sections)
        bounds = np.cumsum([0] + [size + 1] * extra + [size] * (sections - extra)).tolist()
    else:
        bounds = [0] + [min(max(int(i) + n if i < 0 else int(i), 0), n)
                        for i in indices_or_sections] + [n]
    return [_slice_along(ary, axis, lo, max(lo, hi)) for lo, hi in zip(bounds, bounds[1:])]


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    if isinstance(indices_or_sections, (int, np.integer)) \
            and shape_of(ary)[normalise_axis(axis, ndim_of(ary))] % indices_or_sections:
        raise ValueError("np.split: array split does not result in an equal division "
                         "(np.array_split allows unequal parts)")
    return array_split(ary, indices_or_sections, axis)


@implements(np.tile)
def tile(A, reps):
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    shape = shape_of(A)
    nd = max(len(shape), len(reps))
    shape = (1,) * (nd - len(shape)) + shape
    reps = (1,) * (nd - len(reps)) + reps
    A = P.reshape(A, shape)
    # broadcast to (r0, n0, r1, n1, ...), then merge each (r, n) pair
    big = P.broadcast_in_dim(A, tuple(x for pair in zip(reps, shape) for x in pair),
                             tuple(range(1, 2 * nd, 2)))
    return P.reshape(big, tuple(r * n for r, n in zip(reps, shape)))


@implements(np.repeat)
def repeat(a, repeats, axis=None):
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalise_axis(axis, ndim_of(a))
    shape = shape_of(a)
    if isinstance(repeats, (int, np.integer)):
        r = int(repeats)
        spread = shape[:axis + 1] + (r,) + shape[axis + 1:]
        big = P.broadcast_in_dim(a, spread, tuple(d if d <= axis else d + 1 for d in range(len(shape))))
        return P.reshape(big, shape[:axis] + (shape[axis] * r,) + shape[axis + 1:])
    index = np.repeat(np.arange(shape[axis]), np.asarray(repeats))
    moved = P.transpose(a, moveaxis_perm(len(shape), [axis], [0]))
    return P.transpose(P.take(moved, index), moveaxis_perm(len(shape), [0], [axis]))


@implements(np.flip)
def flip(m, axis=None):
    nd = ndim_of(m)
    axes = range(nd) if axis is None else [normalise_axis(d, nd) for d in
                                            ((axis,) if isinstance(axis, (int, np.integer)) else axis)]
    index = tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(nd))
    index = P.BasicIndex.normalise(index, shape_of(m))
    return inplace.view(P.getitem(m, index), m, "getitem", index)


@implements(np.fliplr)
def fliplr(m):
    return flip(m, 1)


@implements(np.flipud)
def flipud(m):
    return flip(m, 0)


@implements(np.roll)
def roll(a, shift, axis=None):
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), shape_of(a))
    shifts = (shift,) if isinstance(shift, (int, np.integer)) else tuple(shift)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    shifts, axes = np.broadcast_arrays(shifts, axes)
    for s, d in zip(shifts.tolist(), axes.tolist()):
        d = normalise_axis(d, ndim_of(a))
        n = shape_of(a)[d]
        s = s % n if n else 0
        if s:
            a = P.concatenate([_slice_along(a, d, n - s, n), _slice_along(a, d, 0, n - s)], d)
    return a


@implements(np.diff)
def diff(a, n=1, axis=-1):
    axis = normalise_axis(axis, ndim_of(a))
    for _ in range(n):
        size = shape_of(a)[axis]
        a = P.sub(_slice_along(a, axis, 1, size), _slice_along(a, axis, 0, size - 1))
    return a


# -------------------------------------------------------- dtype, copies

def astype(a, dtype, copy=True):
    """A new array (NumPy copies, even to the same dtype, unless copy=False)."""
    converted = as_dtype(a, np.dtype(dtype))
    return _new_array(converted) if copy and converted is a else converted


@implements(np.copy)
def copy(a, order="K", subok=False):
    """A new array with a's value: writes to one do not reach the other."""
    return _new_array(a)


@implements(np.shape)
def shape(a):
    return shape_of(a)


@implements(np.ndim)
def ndim(a):
    return ndim_of(a)


@implements(np.size)
def size(a, axis=None):
    s = shape_of(a)
    return _size(s) if axis is None else s[axis]


@implements(np.result_type)
def result_type(*arrays_and_dtypes):
    return np.result_type(*(dtype_of(a) if is_traced(a) else a for a in arrays_and_dtypes))


# --------------------------------------------------------------- creation

def _like(value):
    def create(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
        shape = shape_of(a) if shape is None else ((shape,) if isinstance(shape, int) else tuple(shape))
        return P.full_like_shape(shape, np.dtype(dtype) if dtype is not None else dtype_of(a), value)
    return create


zeros_like = implements(np.zeros_like, np.empty_like)(_like(0))
ones_like = implements(np.ones_like)(_like(1))


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    shape = shape_of(a) if shape is None else ((shape,) if isinstance(shape, int) else tuple(shape))
    dtype = np.dtype(dtype) if dtype is not None else dtype_of(a)
    if is_traced(fill_value):
        return P.broadcast_to(as_dtype(fill_value, dtype), shape)
    return P.full_like_shape(shape, dtype, fill_value)
