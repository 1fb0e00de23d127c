"""The core algebra: elementwise arithmetic and functions, comparisons and
``select``, dtype conversion, broadcasting, reshape/transpose, sum and max.

These primitives' rules refer to one another (the adjoint of a broadcast is a
sum, the adjoint of a sum is a broadcast), so they share one module; the other
families (reductions, indexing, linalg) are built on top of them.
"""
from __future__ import annotations

import operator

import numpy as np

from .core import Primitive, elementwise_shape, kept_dims, reduced_shape, shape_of

# ------------------------------------------------------------ batching rules


def batch_elementwise(prim, args, batched, k, **params):
    """Broadcasting carries the batch: each batched operand (k, *s) is lifted
    to (k, 1, .., 1, *s) of the output's rank plus one; the others broadcast
    against its trailing axes as they are."""
    rank = max(len(shape_of(a)) - b for a, b in zip(args, batched))
    lifted = []
    for a, b in zip(args, batched):
        if b and len(shape_of(a)) < rank + 1:
            shape = shape_of(a)
            a = reshape(a, shape[:1] + (1,) * (rank + 1 - len(shape)) + shape[1:])
        lifted.append(a)
    return prim.bind(*lifted, **params)


def shifted(axes) -> tuple:
    """Axes of one direction as axes of the batch (the batch axis is 0)."""
    return tuple(a + 1 for a in axes)


def batch_reduction(prim, args, batched, k, axes):
    return prim.bind(args[0], axes=shifted(axes))


# ------------------------------------------------- rule helpers and functions


_NUMBERS = frozenset({float, int, bool})
# plain arrays and NumPy's numeric scalar types, exactly (not subclasses)
_NUMPY_VALUES = frozenset({np.ndarray} | {t for t in np.sctypeDict.values()
                                          if issubclass(t, (np.number, np.bool_))})


def through_operator(ufunc, operator_fn):
    """The ufunc, called through its Python operator when an operand is a NumPy
    scalar or a plain ndarray (not a subclass: ``np.matrix`` makes ``*`` a
    matrix product) and the other is one too or a Python number: the same
    result (the operator is the ufunc's own method), ten times cheaper on
    scalars (a binary ufunc on NumPy scalars costs ~700 ns, ``*`` ~70 ns), and
    the tracer evaluates one per op of scalar code. Anything else goes to the
    ufunc, so ``1.0 / 0.0`` of two Python numbers is inf, as in NumPy."""
    def impl(a, b):
        ta, tb = type(a), type(b)
        if ta in _NUMPY_VALUES and (tb in _NUMPY_VALUES or tb in _NUMBERS) or \
                tb in _NUMPY_VALUES and ta in _NUMBERS:
            return operator_fn(a, b)
        return ufunc(a, b)
    impl.__name__ = impl.__qualname__ = ufunc.__name__
    return impl


def _implements(impl, kw):
    """A primitive whose impl is a NumPy ufunc implements that ufunc."""
    kw.setdefault("numpy", impl if isinstance(impl, np.ufunc) else None)
    return kw


def elementwise_unary(name, impl, deriv, **kw):
    """f(x) with f'(x) = deriv(y, x): tangent x_dot*f', adjoint y_bar*f'.
    ``deriv=None``: the derivative is zero almost everywhere (sign, floor)."""
    _implements(impl, kw)
    return Primitive(
        name, impl, elementwise_shape(impl), kind="elementwise", batch=batch_elementwise,
        jvps=[None if deriv is None else (lambda t, y, x: safe_mul(t, deriv(y, x)))],
        vjps=[None if deriv is None else (lambda g, y, x: safe_mul(g, deriv(y, x)))], **kw)


def elementwise_binary(name, impl, d_a, d_b, **kw):
    """f(a, b) with partials d_a(y, a, b), d_b(y, a, b)."""
    def rules(d):
        if d is None:
            return None, None
        return (lambda t, y, a, b: safe_mul(t, d(y, a, b)),
                lambda g, y, a, b: safe_mul(g, d(y, a, b)))
    (jvp_a, vjp_a), (jvp_b, vjp_b) = rules(d_a), rules(d_b)
    _implements(impl, kw)
    return Primitive(name, impl, elementwise_shape(impl), kind="elementwise",
                     batch=batch_elementwise, jvps=[jvp_a, jvp_b], vjps=[vjp_a, vjp_b], **kw)


def comparison(name, impl, infix):
    """A mask-producing op: no derivative in any input."""
    return Primitive(name, impl, elementwise_shape(impl), kind="elementwise",
                     batch=batch_elementwise, jvps=[None, None], vjps=[None, None],
                     infix=infix, numpy=impl)


def neg(x): return neg_p.bind(x)
def add(a, b): return add_p.bind(a, b)
def sub(a, b): return sub_p.bind(a, b)
def mul(a, b): return mul_p.bind(a, b)
def div(a, b): return div_p.bind(a, b)
def safe_mul(a, b): return safe_mul_p.bind(a, b)
def sin(x): return sin_p.bind(x)
def cos(x): return cos_p.bind(x)
def sinh(x): return sinh_p.bind(x)
def cosh(x): return cosh_p.bind(x)
def exp(x): return exp_p.bind(x)
def log(x): return log_p.bind(x)
def sqrt(x): return sqrt_p.bind(x)
def sign(x): return sign_p.bind(x)
def floor(x): return floor_p.bind(x)
def integer_pow(x, n): return integer_pow_p.bind(x, n=n)
def pow(a, b): return pow_p.bind(a, b)  # noqa: A001 - the primitive's name
def floor_divide(a, b): return floor_divide_p.bind(a, b)
def trunc(x): return trunc_p.bind(x)
def select(c, a, b): return select_p.bind(c, a, b)
def eq(a, b): return eq_p.bind(a, b)
def ne(a, b): return ne_p.bind(a, b)
def lt(a, b): return lt_p.bind(a, b)
def convert(x, dtype): return convert_p.bind(x, dtype=np.dtype(dtype))
def broadcast_in_dim(x, shape, dims): return broadcast_in_dim_p.bind(x, shape=tuple(shape), dims=tuple(dims))
def reduce_max(x, axes): return reduce_max_p.bind(x, axes=tuple(axes))


def reshape(x, shape): return reshape_p.bind(x, shape=tuple(shape))
def transpose(x, perm): return transpose_p.bind(x, perm=tuple(perm))
def reduce_sum(x, axes): return reduce_sum_p.bind(x, axes=tuple(axes))


def broadcast_to(x, shape):
    """NumPy-style broadcast (right-aligned) as a broadcast_in_dim."""
    shape, ndim = tuple(shape), len(shape_of(x))
    return broadcast_in_dim(x, shape, range(len(shape) - ndim, len(shape)))


def zeros_like_shape(shape, dtype):
    """A fresh zero array (a broadcast literal, so it fuses into loops)."""
    return broadcast_in_dim(np.zeros((), dtype)[()], shape, ())


def full_like_shape(shape, dtype, value):
    """A fresh array filled with ``value`` (a broadcast literal)."""
    return broadcast_in_dim(np.asarray(value, dtype)[()], shape, ())


def swap_last(x):
    """The matrix transpose of the last two axes."""
    n = len(shape_of(x))
    return transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


# ----------------------------------------------------------------- arithmetic

neg_p = Primitive("neg", np.negative, elementwise_shape(np.negative), kind="elementwise",
                  batch=batch_elementwise, numpy=np.negative,
                  jvps=[lambda t, y, x: neg(t)], vjps=[lambda g, y, x: neg(g)], infix="-")

add_p = Primitive("add", through_operator(np.add, operator.add), elementwise_shape(np.add),
                  kind="elementwise", batch=batch_elementwise, numpy=np.add,
                  jvps=[lambda t, y, a, b: t, lambda t, y, a, b: t],
                  vjps=[lambda g, y, a, b: g, lambda g, y, a, b: g], infix="+")

sub_p = Primitive("sub", through_operator(np.subtract, operator.sub),
                  elementwise_shape(np.subtract), kind="elementwise",
                  batch=batch_elementwise, numpy=np.subtract,
                  jvps=[lambda t, y, a, b: t, lambda t, y, a, b: neg(t)],
                  vjps=[lambda g, y, a, b: g, lambda g, y, a, b: neg(g)], infix="-")

mul_p = elementwise_binary("mul", through_operator(np.multiply, operator.mul),
                           lambda y, a, b: b, lambda y, a, b: a, infix="*", numpy=np.multiply)

div_p = elementwise_binary("div", through_operator(np.true_divide, operator.truediv),
                           lambda y, a, b: div(1.0, b),
                           lambda y, a, b: neg(div(y, b)), infix="/", numpy=np.true_divide)


_SCALARS = frozenset(t for t in _NUMPY_VALUES | _NUMBERS if t is not np.ndarray)
_ZEROS: dict = {}  # (type, type) -> the zero of their product's type


def _safe_mul_impl(a, b):
    """a * b, but exactly 0 where a or b is 0 even if the other is inf or nan.

    >>> _safe_mul_impl(0.0, np.inf), _safe_mul_impl(np.float32(2), 3.0), _safe_mul_impl(
    ...     np.array([0.0, 2.0]), np.array([np.nan, 3.0]))
    (0.0, np.float32(6.0), array([0., 6.]))
    """
    ta, tb = type(a), type(b)
    if ta in _SCALARS and tb in _SCALARS:
        # two numbers (the interpreter and the tracer meet them at every op
        # of scalar code): 0.2 us, where np.where takes 5; two nonzero
        # numbers multiply without an invalid-value warning (a NaN is quiet)
        if a != 0 and b != 0:
            return a * b
        zero = _ZEROS.get((ta, tb))
        if zero is None:
            zero = _ZEROS[ta, tb] = type(ta(1) * tb(1))(0)
        return zero
    with np.errstate(invalid="ignore"):
        zero = (np.asarray(a) == 0) | (np.asarray(b) == 0)
        return np.where(zero, np.zeros((), np.result_type(a, b)), np.multiply(a, b))


# The chain-rule product. A zero cotangent (or tangent) times an infinite or
# undefined local derivative is zero, not NaN: this is what makes the gradient
# of np.where(x > 0, np.sqrt(x), 0.0) zero, not NaN, at x < 0. It is safe
# whichever operand is the zero: in reverse over reverse the roles swap.
safe_mul_p = Primitive(
    "safe_mul", _safe_mul_impl, elementwise_shape(np.multiply), kind="elementwise",
    batch=batch_elementwise, infix="*",
    jvps=[lambda t, y, a, b: safe_mul(t, b), lambda t, y, a, b: safe_mul(a, t)],
    vjps=[lambda g, y, a, b: safe_mul(g, b), lambda g, y, a, b: safe_mul(a, g)])


def _integer_pow_deriv(y, x, n):
    if n == 0:
        return 0.0
    return mul(float(n), x if n == 2 else integer_pow(x, n - 1))


def _integer_pow_impl(x, n):
    """x ** n with NumPy's dtypes: a float keeps its precision (float32 stays
    float32), an integer to a negative power is float64."""
    if n >= 0:
        return np.power(x, n)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = x.astype(np.float64)
    return np.reciprocal(np.power(x, -n))[()]


integer_pow_p = Primitive(
    "integer_pow", _integer_pow_impl, elementwise_shape(_integer_pow_impl), kind="elementwise",
    batch=batch_elementwise,
    jvps=[lambda t, y, x, n: safe_mul(t, _integer_pow_deriv(y, x, n))],
    vjps=[lambda g, y, x, n: safe_mul(g, _integer_pow_deriv(y, x, n))],
    fmt=lambda x, n: f"{x} ** {n}")

pow_p = elementwise_binary("pow", np.power,
                           lambda y, a, b: mul(b, pow(a, sub(b, 1.0))),
                           lambda y, a, b: safe_mul(y, log(a)), infix="**")

# a // b is piecewise constant; a % b = a - (a // b) * b has slope 1 in a
floor_divide_p = elementwise_binary("floor_divide", np.floor_divide, None, None, infix="//")
remainder_p = elementwise_binary("remainder", np.remainder, lambda y, a, b: 1.0,
                                 lambda y, a, b: neg(floor_divide(a, b)), infix="%")
# fmod(a, b) = a - trunc(a / b) * b: C's remainder, with the sign of a
fmod_p = elementwise_binary("fmod", np.fmod, lambda y, a, b: 1.0,
                            lambda y, a, b: neg(trunc(div(a, b))))

# ---------------------------------------------------------- unary functions

LN2, LOG2_E, LOG10_E = 0.6931471805599453, 1.4426950408889634, 0.4342944819032518

sin_p = elementwise_unary("sin", np.sin, lambda y, x: cos(x))
cos_p = elementwise_unary("cos", np.cos, lambda y, x: neg(sin(x)))
tan_p = elementwise_unary("tan", np.tan, lambda y, x: add(1.0, mul(y, y)))
arcsin_p = elementwise_unary("arcsin", np.arcsin, lambda y, x: div(1.0, sqrt(sub(1.0, mul(x, x)))))
arccos_p = elementwise_unary("arccos", np.arccos, lambda y, x: div(-1.0, sqrt(sub(1.0, mul(x, x)))))
arctan_p = elementwise_unary("arctan", np.arctan, lambda y, x: div(1.0, add(1.0, mul(x, x))))
sinh_p = elementwise_unary("sinh", np.sinh, lambda y, x: cosh(x))
cosh_p = elementwise_unary("cosh", np.cosh, lambda y, x: sinh(x))
tanh_p = elementwise_unary("tanh", np.tanh, lambda y, x: sub(1.0, mul(y, y)))
arcsinh_p = elementwise_unary("arcsinh", np.arcsinh, lambda y, x: div(1.0, sqrt(add(mul(x, x), 1.0))))
# (x - 1)(x + 1), not x*x - 1: exact near x = 1 where the derivative blows up
arccosh_p = elementwise_unary("arccosh", np.arccosh,
                              lambda y, x: div(1.0, sqrt(mul(sub(x, 1.0), add(x, 1.0)))))
arctanh_p = elementwise_unary("arctanh", np.arctanh, lambda y, x: div(1.0, sub(1.0, mul(x, x))))
exp_p = elementwise_unary("exp", np.exp, lambda y, x: y)
exp2_p = elementwise_unary("exp2", np.exp2, lambda y, x: mul(y, LN2))
expm1_p = elementwise_unary("expm1", np.expm1, lambda y, x: add(y, 1.0))
log_p = elementwise_unary("log", np.log, lambda y, x: div(1.0, x))
log2_p = elementwise_unary("log2", np.log2, lambda y, x: div(LOG2_E, x))
log10_p = elementwise_unary("log10", np.log10, lambda y, x: div(LOG10_E, x))
log1p_p = elementwise_unary("log1p", np.log1p, lambda y, x: div(1.0, add(x, 1.0)))
sqrt_p = elementwise_unary("sqrt", np.sqrt, lambda y, x: div(0.5, y))
cbrt_p = elementwise_unary("cbrt", np.cbrt, lambda y, x: div(1.0, mul(3.0, mul(y, y))))
abs_p = elementwise_unary("abs", np.abs, lambda y, x: sign(x))
# piecewise constant: derivative zero wherever it exists
sign_p = elementwise_unary("sign", np.sign, None)
floor_p = elementwise_unary("floor", np.floor, None)
ceil_p = elementwise_unary("ceil", np.ceil, None)
rint_p = elementwise_unary("rint", np.rint, None)
trunc_p = elementwise_unary("trunc", np.trunc, None)

# maximum/minimum split the derivative evenly at ties (as JAX does), so
# d/dx max(x, 0) at 0 is 1/2; sign() encodes the three cases in one op.
max_p = elementwise_binary("max", np.maximum,
                           lambda y, a, b: mul(0.5, add(1.0, sign(sub(a, b)))),
                           lambda y, a, b: mul(0.5, sub(1.0, sign(sub(a, b)))))
min_p = elementwise_binary("min", np.minimum,
                           lambda y, a, b: mul(0.5, sub(1.0, sign(sub(a, b)))),
                           lambda y, a, b: mul(0.5, add(1.0, sign(sub(a, b)))))


def _squares(a, b):
    return add(mul(a, a), mul(b, b))


arctan2_p = elementwise_binary("arctan2", np.arctan2,
                               lambda y, a, b: div(b, _squares(a, b)),
                               lambda y, a, b: neg(div(a, _squares(a, b))))


def _hypot_partial(y, a):
    # hypot's gradient at the origin is taken as 0 (a subgradient), as for norms
    return select(eq(y, 0.0), 0.0, div(a, y))


hypot_p = elementwise_binary("hypot", np.hypot, lambda y, a, b: _hypot_partial(y, a),
                             lambda y, a, b: _hypot_partial(y, b))
# exp(a - y) <= 1: the softmax weights, without overflow
logaddexp_p = elementwise_binary("logaddexp", np.logaddexp, lambda y, a, b: exp(sub(a, y)),
                                 lambda y, a, b: exp(sub(b, y)))


def _convert_impl(x, dtype):
    return np.asarray(x).astype(dtype)[()]


convert_p = Primitive(
    "convert", _convert_impl, lambda x, dtype: (x.shape, dtype), kind="elementwise",
    batch=batch_elementwise, jvps=[lambda t, y, x, dtype: convert(t, dtype)],
    vjps=[lambda g, y, x, dtype: convert(g, x.dtype)])

stop_gradient_p = Primitive("stop_gradient", lambda x: x, lambda x: (x.shape, x.dtype),
                            kind="elementwise", batch=batch_elementwise, jvps=[None],
                            vjps=[None], forwards=0)

# ----------------------------------------------------- comparisons and where

gt_p = comparison("gt", np.greater, ">")
ge_p = comparison("ge", np.greater_equal, ">=")
lt_p = comparison("lt", np.less, "<")
le_p = comparison("le", np.less_equal, "<=")
eq_p = comparison("eq", np.equal, "==")
ne_p = comparison("ne", np.not_equal, "!=")


def _select_shape(c, a, b):
    shape = np.broadcast_shapes(c.shape, a.shape, b.shape)
    return shape, elementwise_shape(np.add)(a, b)[1]


# The branch not taken gets a zero (co)tangent, and safe_mul turns zero times
# the branch's possibly infinite local derivative into zero, not NaN.
select_p = Primitive(
    "select", np.where, _select_shape,
    jvps=[None, lambda t, y, c, a, b: select(c, t, 0.0), lambda t, y, c, a, b: select(c, 0.0, t)],
    vjps=[None, lambda g, y, c, a, b: select(c, g, 0.0), lambda g, y, c, a, b: select(c, 0.0, g)],
    kind="elementwise", batch=batch_elementwise, fmt=lambda c, a, b: f"where({c}, {a}, {b})")

# ------------------------------------------------------------- broadcasting


def _broadcast_in_dim_impl(x, shape, dims):
    x = np.asarray(x)
    expanded = [1] * len(shape)
    for src, dst in enumerate(dims):
        expanded[dst] = x.shape[src]
    return np.broadcast_to(x.reshape(expanded), shape).copy()


def _broadcast_in_dim_shape(x, shape, dims):
    if len(dims) != x.ndim or any(x.shape[i] not in (1, shape[d]) for i, d in enumerate(dims)):
        raise ValueError(f"broadcast_in_dim: cannot map shape {x.shape} into {shape} at dims {dims}")
    return tuple(shape), x.dtype


def _unbroadcast_in_dim(g, x, shape, dims):
    """Sum g over the output axes that broadcasting created."""
    summed = [d for d in range(len(shape)) if d not in dims]
    summed += [d for i, d in enumerate(dims) if x.shape[i] == 1 and shape[d] != 1]
    return reshape(reduce_sum(g, sorted(summed)), x.shape)


broadcast_in_dim_p = Primitive(
    "broadcast_in_dim", _broadcast_in_dim_impl, _broadcast_in_dim_shape, kind="structural",
    jvps=[lambda t, y, x, shape, dims: broadcast_in_dim(t, shape, dims)],
    vjps=[lambda g, y, x, shape, dims: _unbroadcast_in_dim(g, x, shape, dims)],
    batch=lambda prim, args, batched, k, shape, dims: broadcast_in_dim(
        args[0], (k,) + shape, (0,) + shifted(dims)))

# ------------------------------------------------------ reshape, transpose


def _reshape_shape(x, shape):
    if int(np.prod(shape)) != x.size:
        raise ValueError(f"reshape: cannot reshape {x.shape} into {shape}")
    return shape, x.dtype


reshape_p = Primitive(
    "reshape", lambda x, shape: np.reshape(x, shape), _reshape_shape, kind="structural",
    jvps=[lambda t, y, x, shape: reshape(t, shape)],
    vjps=[lambda g, y, x, shape: reshape(g, x.shape)],
    batch=lambda prim, args, batched, k, shape: reshape(args[0], (k,) + shape))

transpose_p = Primitive(
    "transpose", lambda x, perm: np.transpose(x, perm),
    lambda x, perm: (tuple(x.shape[p] for p in perm), x.dtype), kind="structural",
    jvps=[lambda t, y, x, perm: transpose(t, perm)],
    vjps=[lambda g, y, x, perm: transpose(g, np.argsort(perm).tolist())],
    batch=lambda prim, args, batched, k, perm: transpose(args[0], (0,) + shifted(perm)))

# ----------------------------------------------------------- sum and max

reduce_sum_p = Primitive(
    "reduce_sum", lambda x, axes: np.sum(x, axis=axes),
    lambda x, axes: (reduced_shape(x.shape, axes), x.dtype), kind="reduction",
    batch=batch_reduction, jvps=[lambda t, y, x, axes: reduce_sum(t, axes)],
    vjps=[lambda g, y, x, axes: broadcast_in_dim(g, x.shape, kept_dims(x.ndim, axes))])


def _max_share(y, x, axes):
    """Where x attains its max, 1/(number of ties); 0 elsewhere: the gradient
    of a max is split evenly between tied elements."""
    hit = convert(eq(x, broadcast_in_dim(y, x.shape, kept_dims(x.ndim, axes))), x.dtype)
    count = reduce_sum(hit, axes)
    return div(hit, broadcast_in_dim(count, x.shape, kept_dims(x.ndim, axes)))


reduce_max_p = Primitive(
    "reduce_max", lambda x, axes: np.max(x, axis=axes),
    lambda x, axes: (reduced_shape(x.shape, axes), x.dtype), kind="reduction",
    batch=batch_reduction,
    jvps=[lambda t, y, x, axes: reduce_sum(mul(t, _max_share(y, x, axes)), axes)],
    vjps=[lambda g, y, x, axes: mul(broadcast_in_dim(g, x.shape, kept_dims(x.ndim, axes)),
                                    _max_share(y, x, axes))])
