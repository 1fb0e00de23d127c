"""Arrays built from traced values: ``np.array([x[1], -k * x[0]])``,
``np.asarray``, ``np.r_``/``np.c_``, ``np.append``; and the scalar casts
``np.float64(x)``, ``np.float32(x)`` of traced values.

NumPy does not hand ``np.array``, ``np.asarray``, ``np.asanyarray`` or
``np.ascontiguousarray`` to ``__array_function__``: it asks each element
for ``__array__``, which must return a real ndarray, so a traced value
cannot pass through them. jitad therefore replaces these four names in the
``numpy`` module (and ``AxisConcatenator.__getitem__``, which ``np.r_`` and
``np.c_`` use) *while a trace is recording in some thread* (``enter`` and
``exit``, called by every ``Builder``; counted, so nested traces and traces
in several threads install once and restore when the last one ends, also
when it raises). The replacements are ``NumpyFunction`` objects that call
NumPy's own function unless the calling thread is tracing and the argument
holds a traced value (a tracer, or a list or tuple holding one at any
depth); then the array is built from primitives: the leaves are raveled and
concatenated in C order, and the result reshaped. Shape, dtype and errors
(ragged lists, ``dtype=``, ``ndmin=``) are NumPy's: they come from calling
NumPy on the same structure with each tracer replaced by zeros of its shape
and dtype.

``np.float64`` and ``np.float32`` cannot be wrapped by a function (they are
classes that code uses as dtypes), so while a trace records they are
subclasses with a metaclass (``CastClass``) whose call on a traced value is a
traced cast, and which otherwise behave as NumPy's classes.

Limits:

- Calls from the code of scipy and the other ``LIBRARIES`` (which convert
  their inputs with ``np.asarray``) get NumPy's own function, so such a
  library is refused with the message of ``Tracer.__array__`` instead of
  running on values it was not written for. Every other caller is traced.
- ``from numpy import array`` (or ``asarray``) binds NumPy's C function
  itself, which jitad cannot see: such a call on traced values raises the
  ``TraceError`` of ``Tracer.__array__``, which says to write ``np.array``.
- While any thread traces, other threads calling ``np.array`` go through the
  thin wrapper too (same result, about 0.2 us more per call); numba sees the
  wrapper as NumPy's function (``jitad.backend.compile`` registers it), so
  kernels compiled meanwhile are unaffected.
- While a trace records, ``np.float64 is numpy.float64``'s own class is
  false (``type(v) is np.float64`` is then false in every thread; prefer
  ``isinstance``, which answers as always). ``from numpy import float64``
  binds NumPy's class: its call on a traced value is refused as ``float()``
  of a value that flows into the result is.
- ``np.array(..., dtype=object)`` of traced values is refused; a traced
  value read from outside the function (``jitad.reads``) passed alone to
  ``np.asarray`` stays what it was, a NumPy array (a constant of the trace).

>>> import jitad, numpy as np
>>> def rhs(x, k=2.0):
...     return np.array([x[1], -k * x[0]])
>>> jitad.jacobian(rhs)(np.array([1.0, 3.0]))
array([[ 0.,  1.],
       [-2.,  0.]])
"""
from __future__ import annotations

import functools
import sys
import threading
import types

import numpy as np
from numpy.lib._index_tricks_impl import AxisConcatenator

from .. import primitives as P
from ..errors import TraceError
from ..state import active_builders, is_tracer
from . import inplace
from .dispatch import as_dtype, implements, ndim_of, normalise_axis, shape_of


class NumpyFunction:
    """NumPy's ``original`` unless this thread traces and the first argument
    holds a traced value; then ``traced(*args, **kwargs)``."""

    def __init__(self, original, traced):
        self.original, self.traced = original, traced
        functools.update_wrapper(self, original)

    def __call__(self, *args, **kwargs):
        if args and active_builders() and holds_tracer(args[0]) and not _from_library(1):
            return self.traced(*args, **kwargs)
        return self.original(*args, **kwargs)

    def __repr__(self):
        return f"<jitad's wrapper of {self.original!r}>"


# Libraries that convert their inputs with np.asarray and go on in code that
# was not written for traced values (scipy.special.logsumexp, ...).
LIBRARIES = frozenset({"scipy", "sklearn", "pandas", "statsmodels", "matplotlib", "xarray",
                       "skimage", "numba", "sympy"})


def _from_library(depth) -> bool:
    """Whether the caller ``depth`` frames up is the code of one of
    ``LIBRARIES``: it gets NumPy's own function, whose refusal names the
    conversion, rather than running on half-traced values."""
    name = sys._getframe(depth + 1).f_globals.get("__name__") or ""
    return name.partition(".")[0] in LIBRARIES


def holds_tracer(obj) -> bool:
    if is_tracer(obj):
        return True
    kind = type(obj)
    return (kind is list or kind is tuple) and any(map(holds_tracer, obj))


# --------------------------------------------------------------- building

def _prototype(obj):
    """``obj`` with each tracer replaced by zeros of its shape and dtype."""
    if is_tracer(obj):
        return np.zeros(obj.shape, obj.dtype)
    if type(obj) in (list, tuple):
        return [_prototype(o) for o in obj]
    return obj


def _leaves(obj, out):
    if type(obj) in (list, tuple) and not is_tracer(obj):
        for o in obj:
            _leaves(o, out)
    else:
        out.append(obj)
    return out


def _built(obj, dtype=None, ndmin=0):
    """The tracer of ``np.array(obj, dtype, ndmin=ndmin)`` for a list or tuple
    holding traced values."""
    proto = _ORIGINALS["array"](_prototype(obj), dtype=dtype, ndmin=ndmin)
    if proto.dtype == object:
        raise TraceError(f"np.array(..., dtype=object) of traced values (shape {proto.shape}): "
                         "jitad records numeric arrays only; leave out dtype=object")
    pieces, constants = [], []

    def flush():
        if constants:
            pieces.append(np.concatenate(constants))
            constants.clear()
    for leaf in _leaves(obj, []):
        if is_tracer(leaf):
            flush()
            pieces.append(P.reshape(as_dtype(leaf, proto.dtype), (leaf.size,)))
        else:
            constants.append(_ORIGINALS["array"](leaf, dtype=proto.dtype).reshape(-1))
    flush()
    if sum(shape_of(p)[0] for p in pieces) != proto.size:  # NumPy broadcast a leaf: not here
        raise TraceError(f"np.array of traced values: the elements do not fill shape "
                         f"{proto.shape} exactly; build the array with np.stack or "
                         "np.concatenate")
    return P.reshape(P.concatenate(pieces, 0), proto.shape)


def _with_ndmin(x, ndmin):
    if ndmin > ndim_of(x):
        return P.reshape(x, (1,) * (ndmin - ndim_of(x)) + shape_of(x))
    return x


def _numeric(dtype):
    if dtype is not None and np.dtype(dtype) == object:
        raise TraceError("np.array(..., dtype=object) of traced values: jitad records numeric "
                         "arrays only; leave out dtype=object")
    return dtype


def _is_read(x) -> bool:
    return is_tracer(x) and x._builder.is_read(x)


def _new_box(x):
    return type(x)(x._var, x._val, x._builder)


def array(obj, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, like=None):
    """``np.array`` of traced values (a list or tuple of them, nested and
    mixed with numbers and NumPy arrays, or one tracer): built with
    ``concatenate`` and ``reshape``, so the derivative flows through. A copy
    (writes to it do not reach the elements), as in NumPy."""
    if _is_read(obj):
        return _ORIGINALS["array"](obj, dtype, copy=copy, order=order, subok=subok,
                                   ndmin=ndmin)
    if not is_tracer(obj):
        return _built(obj, dtype, ndmin)
    out = obj if _numeric(dtype) is None else as_dtype(obj, np.dtype(dtype))
    if out is obj and copy is not False:
        out = _new_box(obj)
    return _with_ndmin(out, ndmin)


def asarray(a, dtype=None, order=None, *, device=None, copy=None, like=None):
    """``np.asarray``: a traced array is returned as it is (the same array,
    as NumPy returns an ndarray), a list or tuple holding traced values is
    built as by ``np.array``."""
    if _is_read(a):
        return _ORIGINALS["asarray"](a, dtype, order)
    if not is_tracer(a):
        return _built(a, dtype)
    out = a if _numeric(dtype) is None else as_dtype(a, np.dtype(dtype))
    return _new_box(out) if copy and out is a else out


def asanyarray(a, dtype=None, order=None, *, device=None, copy=None, like=None):
    """As ``np.asarray``."""
    return asarray(a, dtype, order, copy=copy)


def ascontiguousarray(a, dtype=None, *, like=None):
    """As ``np.asarray``, at least 1-d; a copy when a traced array is a view
    NumPy would not lay out contiguously (a transpose)."""
    if _is_read(a):
        return _ORIGINALS["ascontiguousarray"](a, dtype)
    out = asarray(a, dtype)
    if is_tracer(a) and out is a and not inplace.contiguous(a):
        out = _new_box(a)
    return _with_ndmin(out, 1)


def _flat(x):
    return P.reshape(x, (int(np.prod(shape_of(x), dtype=np.int64)),))


def as_array(x):
    """``x`` as something the primitives take: tracers and NumPy values as
    they are, lists and tuples holding tracers built into one."""
    return _built(x) if holds_tracer(x) and not is_tracer(x) else x


@implements(np.append)
def append(arr, values, axis=None):
    """``np.concatenate`` of the two, raveled when ``axis`` is None."""
    arr, values = as_array(arr), as_array(values)
    if axis is None:
        arr, values, axis = _flat(arr), _flat(values), 0
    return np.concatenate([arr, values], axis=normalise_axis(axis, ndim_of(arr)))


# ------------------------------------------------------------ np.r_, np.c_

_original_getitem = AxisConcatenator.__getitem__


def _traced_axis_getitem():
    """NumPy's own ``AxisConcatenator.__getitem__`` (the code of ``np.r_`` and
    ``np.c_``) run with the ``array`` it calls replaced by ours."""
    names = dict(_original_getitem.__globals__)
    names["array"] = lambda obj, dtype=None, **kw: (
        array(obj, dtype, **kw) if holds_tracer(obj) else _ORIGINALS["array"](obj, dtype, **kw))
    return types.FunctionType(_original_getitem.__code__, names, "__getitem__",
                              _original_getitem.__defaults__, _original_getitem.__closure__)


_traced_getitem = _traced_axis_getitem()


def _axis_getitem(self, key):
    if active_builders() and holds_tracer(key if isinstance(key, tuple) else (key,)) \
            and not _from_library(1):
        return _traced_getitem(self, key)
    return _original_getitem(self, key)


# ------------------------------------------------------------ scalar casts

class CastClass(type):
    """The metaclass of the stand-ins for ``np.float64`` and ``np.float32``
    while a trace records. Called on a traced value in a tracing thread, one
    is a traced cast (``x * 1.0`` would keep the derivative the same way);
    otherwise it calls NumPy's class, so every instance is NumPy's own, and
    ``isinstance``, ``issubclass``, ``np.dtype(...)`` and ``dtype == ...``
    answer as for NumPy's class. (``np.int64(x)`` is left to NumPy: it asks
    ``Tracer.__array__`` for an integer, which is a guard, as ``int(x)``.)"""

    def __call__(cls, *args, **kwargs):
        if args and active_builders() and is_tracer(args[0]) and not kwargs \
                and not _from_library(1):
            return _new_box(as_dtype(args[0], np.dtype(cls.numpy_class)))
        return cls.numpy_class(*args, **kwargs)

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.numpy_class)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls.numpy_class)


def _stand_in(numpy_class):
    return CastClass(numpy_class.__name__, (numpy_class,),
                     {"numpy_class": numpy_class, "__module__": "numpy",
                      "__qualname__": numpy_class.__name__, "__doc__": numpy_class.__doc__})


# ------------------------------------------------------------ installing

_ORIGINALS = {name: getattr(np, name) for name in
              ("array", "asarray", "asanyarray", "ascontiguousarray")}
_WRAPPERS = {name: NumpyFunction(_ORIGINALS[name], fn) for name, fn in
             (("array", array), ("asarray", asarray), ("asanyarray", asanyarray),
              ("ascontiguousarray", ascontiguousarray))}
_CASTS = {name: getattr(np, name) for name in ("float64", "float32")}
_STAND_INS = {name: _stand_in(cls) for name, cls in _CASTS.items()}
_lock = threading.Lock()
_depth = 0


def enter():
    """A trace starts recording (in any thread): install the wrappers."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            for name, wrapper in {**_WRAPPERS, **_STAND_INS}.items():
                setattr(np, name, wrapper)
            AxisConcatenator.__getitem__ = _axis_getitem


def exit():
    """A trace stops recording: the last one restores NumPy's functions."""
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0:
            for name, original in {**_ORIGINALS, **_CASTS}.items():
                setattr(np, name, original)
            AxisConcatenator.__getitem__ = _original_getitem


def installed() -> bool:
    return _depth > 0
