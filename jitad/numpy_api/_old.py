"""NumPy's API on tracers: the dispatch tables of the tracer.

``UFUNCS`` maps a ufunc to its implementation, ``FUNCTIONS`` maps NumPy
functions reached through ``__array_function__`` (filled by ``@implements``),
and ``METHODS`` lists the ndarray methods a tracer has. Everything here is
written with primitives, so it is recorded; nothing runs NumPy on a tracer.
"""
from __future__ import annotations

import builtins
import operator

import numpy as np

from . import primitives as P
from .primitives import BasicIndex

FUNCTIONS: dict = {}


def implements(*numpy_functions):
    def register(fn):
        for f in numpy_functions:
            FUNCTIONS[f] = fn
        return fn
    return register


shape_of = P.shape_of


def ndim_of(x):
    return len(shape_of(x))


# ------------------------------------------------------------ elementwise

def add(a, b): return P.add(a, b)
def subtract(a, b): return P.sub(a, b)
def multiply(a, b): return P.mul(a, b)
def divide(a, b): return P.div(a, b)
def negative(x): return P.neg(x)


def power(a, b):
    """x ** n with a Python integer n (or an integral float) is integer_pow,
    whose derivative needs no log; any other exponent is the general pow."""
    if isinstance(b, (int, float, np.integer, np.floating)) and not isinstance(b, bool) \
            and float(b).is_integer() and abs(b) <= 64:
        if isinstance(b, (float, np.floating)) and np.issubdtype(P.dtype_of(a), np.integer):
            a = P.convert(a, np.float64)
        return P.integer_pow(a, int(b))
    return P.pow(a, b)


def _unary(prim):
    return lambda x: prim.bind(x)


UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: divide,
    np.power: power, np.negative: negative, np.positive: lambda x: x,
    np.sin: _unary(P.sin_p), np.cos: _unary(P.cos_p), np.tan: _unary(P.tan_p),
    np.exp: _unary(P.exp_p), np.log: _unary(P.log_p), np.sqrt: _unary(P.sqrt_p),
    np.tanh: _unary(P.tanh_p), np.absolute: _unary(P.abs_p), np.sign: _unary(P.sign_p),
    np.square: lambda x: P.integer_pow(x, 2), np.reciprocal: lambda x: P.div(1.0, x),
    np.maximum: lambda a, b: P.max_p.bind(a, b), np.minimum: lambda a, b: P.min_p.bind(a, b),
    np.greater: lambda a, b: P.gt_p.bind(a, b), np.greater_equal: lambda a, b: P.ge_p.bind(a, b),
    np.less: lambda a, b: P.lt_p.bind(a, b), np.less_equal: lambda a, b: P.le_p.bind(a, b),
    np.equal: lambda a, b: P.eq_p.bind(a, b), np.not_equal: lambda a, b: P.ne_p.bind(a, b),
}


@implements(np.where)
def where(condition, x=None, y=None):
    if x is None or y is None:
        raise TypeError("np.where(condition) with one argument returns indices, which depend on "
                        "values; use np.where(condition, x, y)")
    return P.select(condition, x, y)


# ------------------------------------------------------------- reductions

def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    return tuple(sorted(set(out)))


def _keep(result, shape, axes, keepdims):
    if not keepdims:
        return result
    return P.reshape(result, tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _check_reduce_kwargs(name, out=None, where=None, initial=None, **kwargs):
    if out is not None or where is not None or initial is not None or kwargs:
        raise TypeError(f"np.{name}: the keywords out=, where=, initial= are not supported "
                        "on traced values")


@implements(np.sum)
def sum(a, axis=None, dtype=None, keepdims=False, **kwargs):  # noqa: A001 - NumPy's name
    _check_reduce_kwargs("sum", **kwargs)
    shape = shape_of(a)
    if dtype is not None:
        a = P.convert(a, dtype)
    axes = _axes(axis, len(shape))
    result = P.reduce_sum(a, axes) if axes else a
    return _keep(result, shape, axes, keepdims)


@implements(np.mean)
def mean(a, axis=None, dtype=None, keepdims=False, **kwargs):
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    count = int(np.prod([shape[i] for i in axes]))
    total = sum(a, axis=axes, dtype=dtype, keepdims=keepdims, **kwargs)
    if not np.issubdtype(P.dtype_of(total), np.inexact):
        total = P.convert(total, np.float64)
    return P.mul(total, 1.0 / count)


@implements(np.max, np.amax)
def max(a, axis=None, keepdims=False, **kwargs):  # noqa: A001
    _check_reduce_kwargs("max", **kwargs)
    shape = shape_of(a)
    axes = _axes(axis, len(shape))
    return _keep(P.reduce_max(a, axes) if axes else a, shape, axes, keepdims)


@implements(np.min, np.amin)
def min(a, axis=None, keepdims=False, **kwargs):  # noqa: A001
    return P.neg(max(P.neg(a), axis=axis, keepdims=keepdims, **kwargs))


# ---------------------------------------------------------- linear algebra

@implements(np.dot, np.matmul)
def matmul(a, b):  # np.matmul is also a ufunc (NumPy 2): see UFUNCS below
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return P.mul(a, b)
    if len(sa) > 2 or len(sb) > 2:
        raise TypeError(f"matmul/dot of shapes {sa} and {sb}: jitad supports 1-d and 2-d "
                        "operands; reshape batched operands to 2-d")
    return P.dot(a, b)


UFUNCS[np.matmul] = matmul  # ndarray @ tracer arrives as the matmul ufunc


# ------------------------------------------------------------------ shape

@implements(np.reshape)
def reshape(a, *shape, order="C", newshape=None):
    if order != "C":
        raise TypeError(f"reshape(order={order!r}): jitad supports only order='C'")
    if newshape is not None:
        shape = (newshape,)
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    size = int(np.prod(shape_of(a)))
    if -1 in shape:
        known = int(np.prod([n for n in shape if n != -1]))
        shape = tuple(size // known if n == -1 else n for n in shape)
    shape = tuple(int(n) for n in shape)
    if shape == shape_of(a):
        return a
    return P.reshape(a, shape)


@implements(np.transpose)
def transpose(a, *axes):
    if len(axes) == 1 and axes[0] is not None and not isinstance(axes[0], int):
        axes = tuple(axes[0])
    ndim = ndim_of(a)
    perm = tuple(reversed(range(ndim))) if not axes or axes == (None,) else \
        tuple(operator.index(i) % ndim for i in axes)
    if perm == tuple(range(ndim)):
        return a
    return P.transpose(a, perm)


@implements(np.shape)
def shape(a):
    return shape_of(a)


@implements(np.ndim)
def ndim(a):
    return ndim_of(a)


@implements(np.size)
def size(a, axis=None):
    s = shape_of(a)
    return int(np.prod(s)) if axis is None else s[axis]


def ravel(a, order="C"):
    return reshape(a, -1, order=order)


def flatten(a, order="C"):
    return reshape(a, -1, order=order)


def astype(a, dtype, copy=True):
    return a if np.dtype(dtype) == a.dtype else P.convert(a, dtype)


def copy(a):
    return a  # values are immutable in a trace: a copy is the value itself


def dot(a, b):
    return matmul(a, b)


# --------------------------------------------------------------- indexing

def getitem(x, index):
    """Basic indexing: integers, slices (any step), ``...`` and ``None``."""
    index = index if isinstance(index, tuple) else (index,)
    # a 0-d traced integer is a Python int under a guard (Tracer.__index__)
    index = tuple(operator.index(i) if hasattr(i, "_var") and i.shape == () else i for i in index)
    for i in index:
        if hasattr(i, "_var") or isinstance(i, (np.ndarray, list)):
            raise TypeError(f"indexing a traced array of shape {x.shape} with an array is not "
                            "supported yet; use integers and slices")
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        fill = x.ndim - (len(index) - 1 - builtins.sum(i is None for i in index))
        index = index[:at] + (slice(None),) * fill + index[at + 1:]
    basic = tuple(i for i in index if i is not None)
    norm = BasicIndex.normalise(basic, x.shape)
    result = x if all(e == (0, n, 1) for e, n in zip(norm.entries, x.shape)) \
        else P.getitem(x, norm)
    if len(basic) == len(index):
        return result
    # None inserts a new axis of length 1 where it stands among the kept axes.
    out_shape, kept = [], iter(shape_of(result))
    for i in index + (slice(None),) * (x.ndim - len(basic)):
        if i is None:
            out_shape.append(1)
        elif isinstance(i, slice):
            out_shape.append(next(kept))
    return P.reshape(result, tuple(out_shape))


METHODS = ("sum", "mean", "max", "min", "reshape", "transpose", "ravel", "flatten",
           "astype", "copy", "dot")
