"""In-place writes with NumPy's semantics for every alias and view.

A tracer is a box: all the names bound to one array share one tracer, and a
write (``x[i] = v``, ``x += v``, ``out=x``) puts the new value in the box, so
every name sees it. A view (``v = x[1:]``, ``x.T``, ``x.reshape(...)`` of a
contiguous array) remembers its base and how it was taken from it; a write
into a view is written back through that chain into the base, and every view
of the base is taken again from the new base. Each write is an ordinary
traced value (``where(mask, new, old)``), so its derivative is the
derivative of what NumPy computes.

Arrays passed in, or read from outside the function, are not changed in the
caller's memory: the kernel computes values. Writes that jitad cannot record
(a traced integer index, a traced mask with an array of values) are errors
that say what to write instead.

>>> import numpy as np, jitad
>>> def f(x):
...     z = x * 1.0
...     w = z            # one array, two names
...     w += 1.0
...     z[1:] *= 2.0     # through a view
...     return np.sum(z ** 2)
>>> float(jitad.jit(f)(np.ones(3))), float(f(np.ones(3)))
(36.0, 36.0)
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..errors import TraceError
from .dispatch import as_dtype, dtype_of, is_traced, shape_of


def view(result, base, kind, params):
    """Mark ``result``, taken from ``base`` by (``kind``, ``params``), as a
    view of it: ``getitem`` (a basic index), ``transpose`` (perm) or
    ``reshape`` (shape). Returns ``result``."""
    if is_traced(result) and is_traced(base) and result is not base:
        result._view = (base, kind, params)
        result._array0d = shape_of(result) == ()
        views = getattr(base, "_views", None)
        if views is None:
            views = base._views = []
        views.append(result)
    return result


def read_only(result):
    """A view NumPy makes read-only (``broadcast_to``, ``diagonal``)."""
    if is_traced(result):
        result._read_only = True
    return result


def contiguous(x) -> bool:
    """Whether ``x`` is C-contiguous as NumPy would lay it out (so a reshape
    of it is a view): a base, or views that keep the layout."""
    chain = getattr(x, "_view", None)
    while chain is not None:
        base, kind, params = chain
        if kind == "transpose" and tuple(params) != tuple(range(len(params))) \
                and sum(n > 1 for n in shape_of(base)) > 1:
            return False
        if kind == "getitem" and not _keeps_layout(params, shape_of(base)):
            return False
        chain = getattr(base, "_view", None)
    return True


def _keeps_layout(index, shape) -> bool:
    """Integers, then at most one step-1 slice, then whole axes."""
    phase = 0
    for entry, n in zip(index.entries, shape):
        if isinstance(entry, int):
            if phase:
                return False
            continue
        start, stop, step = entry
        whole = (start, stop, step) == (0, n, 1)
        if phase == 1 and not whole:
            return False
        if not whole and (step != 1 or stop is None):
            return False
        phase = 1
    return True


def reshaped_view(result, base, shape):
    """A reshape is a view when NumPy's would be one."""
    if contiguous(base) or _only_unit_axes_change(shape_of(base), shape):
        return view(result, base, "reshape", tuple(shape))
    return result


def _only_unit_axes_change(old, new) -> bool:
    return [n for n in old if n != 1] == [n for n in new if n != 1]


# ------------------------------------------------------------------ writes

def _taken(base, kind, params):
    if kind == "getitem":
        return P.getitem(base, params)
    if kind == "transpose":
        return P.transpose(base, params)
    return P.reshape(base, params)


def put(x, index, value):
    """x with ``value`` (of the indexed part's shape and x's dtype) written
    at a basic index: a constant mask selects the scattered values."""
    mask = np.zeros(shape_of(x), bool)
    mask[index.numpy()] = True
    return P.select(mask, P.scatter_add(value, shape_of(x), index), x)


def _written_back(base, kind, params, new):
    if kind == "getitem":
        return put(base, params, new)
    if kind == "transpose":
        return P.transpose(new, tuple(np.argsort(params).tolist()))
    return P.reshape(new, shape_of(base))


def _refresh(box):
    for v in getattr(box, "_views", None) or ():
        _, kind, params = v._view
        _set(v, _taken(box, kind, params))
        _refresh(v)


def _set(box, value):
    if value._builder is not box._builder:
        raise TraceError("an in-place write inside a nested transform changes an array of the "
                         "enclosing trace; write into a copy (x = x.copy()) inside the inner "
                         "function instead")
    box._var, box._val = value._var, value._val


def assign(box, new):
    """Make ``new`` (x's shape and dtype) the value of the array ``box``:
    written back through the views it was taken from into its base, and
    every view of that base taken again."""
    if is_scalar(box):
        raise TypeError(f"'numpy.{dtype_of(box)}' object does not support item assignment "
                        "(a 0-d result of a NumPy operation is a scalar, as in NumPy); "
                        "compute the new value instead: y = ...")
    if getattr(box, "_read_only", False):
        raise ValueError("assignment destination is read-only (a view NumPy makes read-only: "
                         "np.broadcast_to, np.diagonal); copy it first")
    root = box
    while getattr(root, "_view", None) is not None:
        base, kind, params = root._view
        new = _written_back(base, kind, params, new)
        root = base
    _set(root, new)
    _refresh(root)
    return box


def cast(value, x, casting):
    """``value`` as x's dtype, with NumPy's casting rule for the write."""
    source, target = dtype_of(value), dtype_of(x)
    if source != target and not np.can_cast(source, target, casting):
        raise TypeError(f"cannot cast the {source} result to the {target} array it is written "
                        f"into in place (NumPy's rule {casting!r}); write x = x + y instead")
    return as_dtype(value, target)


def is_scalar(x) -> bool:
    """Whether the 0-d traced ``x`` is a NumPy scalar (``np.float64``), which
    ``x += y`` rebinds, rather than a 0-d array, which it changes in place.
    NumPy's 0-d ufunc results, reductions and integer indexing give scalars;
    0-d arrays are arguments passed as ``np.ndarray`` and views (``x[...]``,
    ``x.reshape(())``)."""
    return shape_of(x) == () and not getattr(x, "_array0d", False)


def updating(ufunc):
    """``x op= y`` for a traced x: the result goes into x's box (for a NumPy
    scalar, the name is rebound, as in NumPy)."""
    def op(x, other):
        result = ufunc(x, other)
        if is_scalar(x):
            return result
        if shape_of(result) != shape_of(x):
            raise ValueError(f"non-broadcastable output operand with shape {shape_of(x)} "
                             f"doesn't match the broadcast shape {shape_of(result)}")
        return assign(x, cast(result, x, "same_kind"))
    return op


def write_out(out, result):
    """A ufunc's ``out=``: the result written into the traced array ``out``."""
    if not is_traced(out):
        raise TraceError(
            f"out= names a NumPy array ({type(out).__name__} of shape {np.shape(out)}), which "
            "cannot hold a traced result; use the returned value, or make the array with "
            "np.zeros_like(x) from a traced x so jitad traces it")
    if shape_of(result) != shape_of(out):
        raise ValueError(f"non-broadcastable output operand with shape {shape_of(out)} doesn't "
                         f"match the broadcast shape {shape_of(result)}")
    return assign(out, cast(result, out, "same_kind"))


def masked(x, mask, value):
    """x with value written where the traced boolean ``mask`` holds (a mask
    of x's leading axes selects whole sub-arrays, as in NumPy)."""
    if len(shape_of(value)) and int(np.prod(shape_of(value))) != 1:
        raise TraceError(
            f"x[mask] = values with a traced boolean mask and an array of values (shape "
            f"{shape_of(value)}): how many values go where depends on the mask's values, which "
            "jitad does not record; write np.where(mask, values_broadcast, x) instead")
    if shape_of(mask) != shape_of(x):
        mask = P.broadcast_to(P.reshape(mask, shape_of(mask) + (1,) * (len(shape_of(x))
                                                                      - len(shape_of(mask)))),
                              shape_of(x))
    scalar = P.reshape(cast(value, x, "unsafe"), ())
    return P.select(mask, scalar, x)


def scattered(x, where, value):
    """x with value (cast to x's dtype) written at the flat positions
    ``where`` (a constant array of the indexed part's shape): the last write
    at a repeated position wins, as in NumPy."""
    size = int(np.prod(shape_of(x), dtype=np.int64))
    values = P.reshape(P.broadcast_to(cast(value, x, "unsafe"), where.shape), (where.size,))
    flat = where.reshape(-1)
    last = np.unique(flat[::-1], return_index=True)[1]  # the last occurrence of each
    keep = np.sort(flat.size - 1 - last)
    mask = np.zeros(size, bool)
    mask[flat[keep]] = True
    placed = P.add_at(P.take(values, keep), (flat[keep],), (size,))
    new = P.select(mask, placed, P.reshape(x, (size,)))
    return P.reshape(new, shape_of(x))
