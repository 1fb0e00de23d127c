"""Indexing: NumPy's basic and advanced (integer-array) indexing, boolean
masks that are constants, ``np.take``/``np.take_along_axis``, and the error
for assignment into a traced array.

Basic indexing (integers, slices with any step, ``...``, ``None``) is the
``getitem`` primitive. Integer arrays -- constants or traced integer inputs
such as labels -- are a gather (``take``): its adjoint adds into place, so a
repeated index receives the sum of its cotangents. Result axes are placed as
NumPy places them (the broadcast index axes replace the indexed axes when
those are adjacent in the index, else they come first).
"""
from __future__ import annotations

import builtins
import functools
import operator

import numpy as np

from .. import primitives as P
from . import inplace
from .dispatch import implements, is_traced, ndim_of, normalise_axis, shape_of

_MASK_ADVICE = ("the result's shape would depend on the mask's values, which jitad does not "
                "record. Use np.where(mask, x, 0.0) (and np.sum(mask) to count), or make the "
                "mask a constant (a NumPy array the function closes over, not an argument)")


def _entries(x, index) -> list:
    """The index as a list of None, slices, ints and integer index arrays
    (constant ndarrays or traced integers), with ``...`` expanded and
    constant boolean masks replaced by their integer arrays."""
    index = index if isinstance(index, tuple) else (index,)
    entries = []
    for i in index:
        if is_traced(i):
            if i.dtype == np.bool_:
                raise TypeError(f"indexing a traced array of shape {shape_of(x)} with a traced "
                                f"boolean mask: {_MASK_ADVICE}")
            if not np.issubdtype(i.dtype, np.integer):
                raise IndexError(f"arrays used as indices must be integers or booleans, got a "
                                 f"traced {i.dtype} array")
            entries.append(i)
        elif isinstance(i, (list, np.ndarray)):
            arr = np.asarray(i)
            if arr.dtype == np.bool_:
                entries.append(("mask", arr))
            elif np.issubdtype(arr.dtype, np.integer) or arr.size == 0:
                entries.append(arr.astype(np.intp))
            else:
                raise IndexError(f"arrays used as indices must be integers or booleans, "
                                 f"got {arr.dtype}")
        elif i is None or i is Ellipsis or isinstance(i, slice):
            entries.append(i)
        elif isinstance(i, (bool, np.bool_)):
            raise TypeError("a boolean scalar as an index is not supported on traced arrays")
        else:
            entries.append(operator.index(i))

    def width(e):
        return 0 if e is None or e is Ellipsis else e[1].ndim if isinstance(e, tuple) else 1
    used = builtins.sum(width(e) for e in entries)
    if used > ndim_of(x):
        raise IndexError(f"too many indices for an array of shape {shape_of(x)}: {used} given")
    if builtins.sum(e is Ellipsis for e in entries) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    expanded, axis = [], 0
    for e in entries:
        if e is Ellipsis:
            expanded.extend([slice(None)] * (ndim_of(x) - used))
            axis += ndim_of(x) - used
        elif isinstance(e, tuple):
            mask = e[1]
            if mask.shape != shape_of(x)[axis:axis + mask.ndim]:
                raise IndexError(f"boolean index of shape {mask.shape} does not match the "
                                 f"indexed axes {shape_of(x)[axis:axis + mask.ndim]}")
            expanded.extend(np.nonzero(mask))
            axis += mask.ndim
        else:
            expanded.append(e)
            axis += width(e)
    return expanded


def _is_array(e) -> bool:
    return is_traced(e) or isinstance(e, np.ndarray)


def _basic(x, entries, ellipsis=False):
    """Integers, slices and None: one getitem, then a reshape for the None
    axes -- a view of x, as in NumPy, except that integers down to a 0-d
    result without ``...`` give a NumPy scalar, a copy (``x[0]`` of a vector)."""
    basic = tuple(e for e in entries if e is not None)
    index = P.BasicIndex.normalise(basic, shape_of(x))
    result = P.getitem(x, index)
    if shape_of(result) == () and len(basic) == len(entries) and not ellipsis:
        return result
    result = inplace.view(result, x, "getitem", index)
    if len(basic) == len(entries):
        return result
    out_shape, kept = [], iter(shape_of(result))
    for e in list(entries) + [slice(None)] * (ndim_of(x) - len(basic)):
        if e is None:
            out_shape.append(1)
        elif isinstance(e, slice):
            out_shape.append(next(kept))
    return inplace.view(P.reshape(result, tuple(out_shape)), result, "reshape", tuple(out_shape))


def _constant_index(a, n, axis):
    a = np.asarray(a, np.intp)
    if a.size and (a.min() < -n or a.max() >= n):
        bad = a[(a < -n) | (a >= n)].flat[0]
        raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")
    return np.where(a < 0, a + n, a)


def _advanced(x, entries):
    """Integer arrays (and the integers beside them): a gather."""
    advanced = [d for d, e in enumerate(entries) if _is_array(e) or isinstance(e, int)]
    y = _basic(x, [slice(None) if d in advanced else e for d, e in enumerate(entries)])
    arrays = [entries[d] for d in advanced]
    batch = np.broadcast_shapes(*(shape_of(a) for a in arrays))
    indices = []
    for d, a in zip(advanced, arrays):
        if is_traced(a):  # checked (and wrapped) by the kernel: its values vary per call
            indices.append(P.broadcast_to(a, batch))
        else:
            index = _constant_index(a, shape_of(y)[d], d)
            indices.append(np.array(np.broadcast_to(index, batch)))
    rest = [d for d in range(ndim_of(y)) if d not in advanced]
    out = P.take(P.transpose(y, tuple(advanced + rest)), *indices)
    first = advanced[0]
    if advanced == list(range(first, first + len(advanced))) and first > 0:
        nb = len(batch)
        perm = tuple(range(nb, nb + first)) + tuple(range(nb)) + tuple(range(nb + first, ndim_of(out)))
        out = P.transpose(out, perm)
    return out


@functools.lru_cache(maxsize=4096)
def _vector_entry(k, n) -> P.BasicIndex:
    """``v[k]`` of a vector of length n: a scalar loop indexes its parameter
    vector thousands of times with the same few k."""
    return P.BasicIndex.normalise((k,), (n,))


def getitem(x, index):
    """``x[index]`` with NumPy's semantics.

    >>> import jitad, numpy as np
    >>> f = lambda x, labels: np.sum(x[np.arange(2), labels])
    >>> jitad.grad(f)(np.ones((2, 3)), np.array([2, 2]))
    array([[0., 0., 1.],
           [0., 0., 1.]])
    """
    if type(index) is int and len(shape_of(x)) == 1:  # v[k] of a vector, the common case
        return P.getitem(x, _vector_entry(index, shape_of(x)[0]))
    entries = _entries(x, index)
    if any(_is_array(e) for e in entries):
        return _advanced(x, entries)
    ellipsis = any(i is Ellipsis for i in (index if isinstance(index, tuple) else (index,)))
    return _basic(x, entries, ellipsis)


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None or mode != "raise":
        raise TypeError("np.take: out= and mode= other than 'raise' are not supported on "
                        "traced values")
    if axis is None:
        return getitem(P.reshape(a, (int(np.prod(shape_of(a))),)), indices)
    axis = normalise_axis(axis, ndim_of(a))
    return getitem(a, (slice(None),) * axis + (indices,))


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis):
    """``arr[..., indices, ...]`` along ``axis`` with the other axes matched:
    the index arrays are aranges shaped to broadcast against ``indices``."""
    nd = ndim_of(arr)
    if axis is None:
        return getitem(P.reshape(arr, (int(np.prod(shape_of(arr))),)), indices)
    axis = normalise_axis(axis, nd)
    if ndim_of(indices) != nd:
        raise ValueError(f"np.take_along_axis: indices of shape {shape_of(indices)} must have "
                         f"as many dimensions as the array ({nd})")
    index = []
    for d in range(nd):
        if d == axis:
            index.append(indices)
        else:
            shape = [1] * nd
            shape[d] = shape_of(arr)[d]
            index.append(np.arange(shape_of(arr)[d]).reshape(shape))
    return getitem(arr, tuple(index))


def basic_index(x, index):
    """The BasicIndex of a purely basic index (integers and slices), or None."""
    entries = _entries(x, index)
    if any(e is None or _is_array(e) for e in entries):
        return None
    return P.BasicIndex.normalise(tuple(entries), shape_of(x))


def _flat_positions(x, index):
    """The flat positions in x that ``x[index]`` selects, as a constant array
    of the selection's shape (NumPy indexes an arange of x's size)."""
    entries = _entries(x, index)
    if any(is_traced(e) for e in entries):
        raise TypeError(
            f"x[index] = value with a traced integer index into an array of shape "
            f"{shape_of(x)}: where the values go depends on the index's values, which jitad "
            "does not record; write np.where(np.arange(n) == i, value, x) (one position) or "
            "build the result with np.concatenate")
    size = int(np.prod(shape_of(x), dtype=np.int64))
    return np.arange(size).reshape(shape_of(x))[tuple(entries)]


def setitem(x, index, value):
    """``x[index] = value`` with NumPy's semantics: the value is broadcast
    and cast to x's dtype, a repeated index keeps the last write, and every
    alias and view of x sees the change (``jitad.numpy_api.inplace``).

    >>> import jitad, numpy as np
    >>> def f(x):
    ...     y = np.zeros_like(x)
    ...     y[0] = x[1] ** 2
    ...     y[x > 1.5] = 7.0
    ...     return np.sum(y)
    >>> jitad.grad(f)(np.array([1.0, 2.0]))
    array([0., 4.])
    """
    if is_traced(index) and index.dtype == np.bool_:
        return inplace.assign(x, inplace.masked(x, index, value))
    basic = basic_index(x, index)
    if basic is not None:
        part = P.broadcast_to(inplace.cast(value, x, "unsafe"), basic.result_shape(shape_of(x)))
        return inplace.assign(x, inplace.put(x, basic, part))
    return inplace.assign(x, inplace.scattered(x, _flat_positions(x, index), value))


def _writable(x, what):
    if not is_traced(x):
        raise TypeError(
            f"{what} writes into a NumPy array ({type(x).__name__} of shape {np.shape(x)}), which "
            "cannot hold traced values; make the array from a traced one (np.zeros_like(x)) so "
            "jitad traces it, or use the function's returned value")


def ufunc_at(ufunc, x, index, value=None):
    """``np.add.at(x, index, value)`` (and ``np.subtract.at``): unbuffered,
    so a repeated index adds once per occurrence, unlike ``x[index] += value``.

    >>> import jitad, numpy as np
    >>> def f(v):
    ...     y = np.zeros(3) * v[0]
    ...     np.add.at(y, [0, 0, 2], v)
    ...     return y
    >>> jitad.jit(f)(np.array([1.0, 2.0, 3.0]))
    array([3., 0., 3.])
    """
    if ufunc not in (np.add, np.subtract) or value is None:
        raise TypeError(f"np.{ufunc.__name__}.at on a traced value: jitad records np.add.at and "
                        "np.subtract.at; write other updates as x = np.<ufunc>(x, ...)")
    _writable(x, f"np.{ufunc.__name__}.at")
    where = _flat_positions(x, index)
    size = int(np.prod(shape_of(x), dtype=np.int64))
    values = P.reshape(P.broadcast_to(inplace.cast(value, x, "unsafe"), where.shape),
                       (where.size,))
    if ufunc is np.subtract:
        values = P.neg(values)
    added = P.reshape(P.add_at(values, (where.reshape(-1),), (size,)), shape_of(x))
    return inplace.assign(x, inplace.cast(P.add(x, added), x, "unsafe"))


@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    """``np.copyto``: ``src`` broadcast into ``dst``, where ``where`` holds."""
    _writable(dst, "np.copyto")
    new = P.broadcast_to(inplace.cast(src, dst, casting), shape_of(dst))
    if where is not True:
        mask = P.broadcast_to(where, shape_of(dst))
        new = P.select(mask, new, dst)
    inplace.assign(dst, new)


@implements(np.fill_diagonal)
def fill_diagonal(a, val, wrap=False):
    """``np.fill_diagonal``: NumPy's positions (``a.flat[:end:step]``), with
    ``val`` repeated along them when it is an array."""
    _writable(a, "np.fill_diagonal")
    shape = shape_of(a)
    if len(shape) < 2 or (len(shape) > 2 and len(set(shape)) != 1):
        raise ValueError("np.fill_diagonal: array must be at least 2-d, and all of its "
                         f"dimensions equal beyond 2-d (got shape {shape})")
    if len(shape) == 2:
        step, end = shape[1] + 1, None if wrap else shape[1] * shape[1]
    else:
        step, end = 1 + int(np.sum(np.cumprod(shape[:-1]))), None
    where = np.arange(int(np.prod(shape)))[:end:step]
    count = int(np.prod(shape_of(val), dtype=np.int64))
    if shape_of(val) and count != where.size:  # NumPy repeats (or cuts) val along the positions
        val = P.take(P.reshape(val, (count,)), np.arange(where.size) % count) if is_traced(val) \
            else np.resize(val, where.size)
    inplace.assign(a, inplace.scattered(a, where.reshape(-1), val))
