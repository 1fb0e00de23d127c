"""The primitive table: the one place a primitive is defined.

Each block defines a primitive with its NumPy reference ``impl``, its
shape/dtype rule, and one tangent rule and one adjoint rule per positional
input (``None``: not differentiable in that input). Rules have the signature
``rule(g, y, *inputs, **params)`` -- ``g`` is the input's tangent (forward) or
the output's cotangent (reverse), ``y`` the primal output -- and are written
with primitives, never raw NumPy, so a derivative is an ordinary graph and
derivatives of derivatives need no extra code.

Rules may return a value whose shape is broadcast-compatible with the target;
the sweeps in ``transforms`` broadcast tangents up and reduce cotangents down
(convention 7: once, in the sweep, not in each rule).

The lowering of each primitive to numba source lives in
``jitad.backend.lowering``; ``tests/test_primitives.py`` asserts both exist.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


class Primitive:
    """A primitive operation: name, impl, shape rule, per-input jvp/vjp rules.

    >>> sin_p.bind(0.0)   # concrete inputs: evaluated with the NumPy impl
    np.float64(0.0)
    """

    def __init__(self, name, impl, shape_rule, *, jvps, vjps, infix=None, fmt=None,
                 elementwise=False, effect=False):
        self.name = name
        self.fmt = fmt
        self.impl = impl
        self.shape_rule = shape_rule
        self.jvps = tuple(jvps)
        self.vjps = tuple(vjps)
        self.infix = infix
        self.elementwise = elementwise
        self.effect = effect  # kept by dead-code elimination (guards)
        PRIMITIVES[name] = self

    def bind(self, *args, **params):
        """Apply the primitive: recorded if any argument is a tracer, else
        evaluated (which is how rules constant-fold on literal inputs)."""
        builder = None
        for a in args:
            b = getattr(a, "_builder", None)
            if b is not None and (builder is None or b.level > builder.level):
                builder = b
        if builder is None:
            value = self.impl(*args, **params)
            # Constant inputs fold to a value only when it is a scalar: an array
            # result (a broadcast gradient seed, say) is recorded in the trace
            # being built, so it becomes a fused loop, not a baked-in constant.
            if not ACTIVE_BUILDERS or np.ndim(value) == 0:
                return value
            builder = ACTIVE_BUILDERS[-1]
        return builder.apply(self, args, params)

    def abstract_eval(self, *atoms, **params):
        """[(shape, dtype)] of the outputs, from the inputs' shapes and dtypes
        (effect primitives, the guards, have no outputs)."""
        return [] if self.effect else [self.shape_rule(*atoms, **params)]

    def format(self, *names, **params):
        if self.fmt:
            return self.fmt(*names, **params)
        if self.infix and not params:
            return f" {self.infix} ".join(names) if len(names) == 2 else f"{self.infix}{names[0]}"
        args = list(names) + [f"{k}={_fmt_param(v)}" for k, v in params.items()]
        return f"{self.name}({', '.join(args)})"

    def __repr__(self):
        return f"{self.name}_p"


PRIMITIVES: dict[str, Primitive] = {}
ACTIVE_BUILDERS: list = []  # innermost last; pushed by ``with builder:``


def _fmt_param(v):
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, BasicIndex):
        return f"[{v}]"
    return repr(v)


# ---------------------------------------------------------------- shape rules

def _dtype_key(a):
    """A Python number stays weak: it takes the dtype of the array it meets
    (NumPy 2 promotion, ``float32_array * 2.0`` is float32)."""
    return type(a.dtype.type(0).item()) if getattr(a, "weak", False) else a.dtype


@functools.lru_cache(maxsize=None)
def _result_dtype(impl, keys, params):
    """The dtype NumPy itself gives: impl applied to ones of the input dtypes."""
    vals = [np.ones((), k) if isinstance(k, np.dtype) else k(1) for k in keys]
    with np.errstate(all="ignore"):
        return np.asarray(impl(*vals, **dict(params))).dtype


def elementwise_shape(impl):
    """Shape rule of an elementwise op: NumPy broadcasting and NumPy's dtype."""
    def rule(*atoms, **params):
        shape = np.broadcast_shapes(*(a.shape for a in atoms))
        return shape, _result_dtype(impl, tuple(map(_dtype_key, atoms)), tuple(params.items()))
    return rule


# ------------------------------------------------- rule helpers and functions

def elementwise_unary(name, impl, deriv, **kw):
    """f(x) with f'(x) = deriv(y, x): tangent x_dot*f', adjoint y_bar*f'."""
    return Primitive(
        name, impl, elementwise_shape(impl),
        jvps=[None if deriv is None else (lambda t, y, x: safe_mul(t, deriv(y, x)))],
        vjps=[None if deriv is None else (lambda g, y, x: safe_mul(g, deriv(y, x)))],
        elementwise=True, **kw)


def elementwise_binary(name, impl, d_a, d_b, **kw):
    """f(a, b) with partials d_a(y, a, b), d_b(y, a, b)."""
    def rules(d):
        if d is None:
            return None, None
        return (lambda t, y, a, b: safe_mul(t, d(y, a, b)),
                lambda g, y, a, b: safe_mul(g, d(y, a, b)))
    (jvp_a, vjp_a), (jvp_b, vjp_b) = rules(d_a), rules(d_b)
    return Primitive(name, impl, elementwise_shape(impl), jvps=[jvp_a, jvp_b],
                     vjps=[vjp_a, vjp_b], elementwise=True, **kw)


def comparison(name, impl, infix):
    """A mask-producing op: no derivative in any input."""
    return Primitive(name, impl, elementwise_shape(impl), jvps=[None, None],
                     vjps=[None, None], infix=infix, elementwise=True)


def neg(x): return neg_p.bind(x)
def add(a, b): return add_p.bind(a, b)
def sub(a, b): return sub_p.bind(a, b)
def mul(a, b): return mul_p.bind(a, b)
def div(a, b): return div_p.bind(a, b)
def safe_mul(a, b): return safe_mul_p.bind(a, b)
def sin(x): return sin_p.bind(x)
def cos(x): return cos_p.bind(x)
def exp(x): return exp_p.bind(x)
def log(x): return log_p.bind(x)
def sqrt(x): return sqrt_p.bind(x)
def sign(x): return sign_p.bind(x)
def integer_pow(x, n): return integer_pow_p.bind(x, n=n)
def pow(a, b): return pow_p.bind(a, b)  # noqa: A001 - the primitive's name
def select(c, a, b): return select_p.bind(c, a, b)
def eq(a, b): return eq_p.bind(a, b)
def convert(x, dtype): return convert_p.bind(x, dtype=np.dtype(dtype))
def broadcast_in_dim(x, shape, dims): return broadcast_in_dim_p.bind(x, shape=tuple(shape), dims=tuple(dims))
def reshape(x, shape):
    return x if shape_of(x) == tuple(shape) else reshape_p.bind(x, shape=tuple(shape))


def transpose(x, perm):
    return x if tuple(perm) == tuple(range(len(perm))) else transpose_p.bind(x, perm=tuple(perm))


def reduce_sum(x, axes):
    return reduce_sum_p.bind(x, axes=tuple(axes)) if len(axes) else x



def reduce_max(x, axes): return reduce_max_p.bind(x, axes=tuple(axes))
def dot(a, b): return dot_p.bind(a, b)
def getitem(x, index): return getitem_p.bind(x, index=index)
def scatter_add(g, shape, index): return scatter_add_p.bind(g, shape=tuple(shape), index=index)


def shape_of(x) -> tuple:
    """Shape of a tracer or a concrete value (tracers carry it; asking NumPy
    would dispatch back to the tracer)."""
    return x.shape if hasattr(x, "_var") else np.shape(x)


def dtype_of(x) -> np.dtype:
    return x.dtype if hasattr(x, "_var") else np.result_type(x)


def broadcast_to(x, shape):
    """NumPy-style broadcast (right-aligned) as a broadcast_in_dim."""
    shape = tuple(shape)
    ndim = len(shape_of(x))
    if shape_of(x) == shape:
        return x
    return broadcast_in_dim(x, shape, range(len(shape) - ndim, len(shape)))


def zeros_like_shape(shape, dtype):
    """A fresh zero array (a broadcast literal, so it fuses into loops)."""
    return broadcast_in_dim(np.zeros((), dtype)[()], shape, ())


# ----------------------------------------------------------------- arithmetic

neg_p = Primitive("neg", np.negative, elementwise_shape(np.negative),
                  jvps=[lambda t, y, x: neg(t)], vjps=[lambda g, y, x: neg(g)],
                  infix="-", elementwise=True)

add_p = Primitive("add", np.add, elementwise_shape(np.add),
                  jvps=[lambda t, y, a, b: t, lambda t, y, a, b: t],
                  vjps=[lambda g, y, a, b: g, lambda g, y, a, b: g],
                  infix="+", elementwise=True)

sub_p = Primitive("sub", np.subtract, elementwise_shape(np.subtract),
                  jvps=[lambda t, y, a, b: t, lambda t, y, a, b: neg(t)],
                  vjps=[lambda g, y, a, b: g, lambda g, y, a, b: neg(g)],
                  infix="-", elementwise=True)

mul_p = elementwise_binary("mul", np.multiply, lambda y, a, b: b, lambda y, a, b: a, infix="*")

div_p = elementwise_binary("div", np.true_divide,
                           lambda y, a, b: div(1.0, b),
                           lambda y, a, b: neg(div(y, b)), infix="/")


def _safe_mul_impl(a, b):
    """a * b, but exactly 0 where a is 0 even if b is inf or nan."""
    with np.errstate(invalid="ignore"):
        return np.where(np.asarray(a) == 0, np.zeros((), np.result_type(a, b)), np.multiply(a, b))


# The chain-rule product. A zero cotangent (or tangent) times an infinite or
# undefined local derivative is zero, not NaN: this is what makes the gradient
# of np.where(x > 0, np.sqrt(x), 0.0) zero, not NaN, at x < 0.
safe_mul_p = Primitive(
    "safe_mul", _safe_mul_impl, elementwise_shape(np.multiply),
    jvps=[lambda t, y, a, b: safe_mul(t, b), lambda t, y, a, b: safe_mul(a, t)],
    vjps=[lambda g, y, a, b: safe_mul(g, b), lambda g, y, a, b: safe_mul(a, g)],
    elementwise=True)



def _integer_pow_deriv(y, x, n):
    if n == 0:
        return 0.0
    return mul(float(n), x if n == 2 else integer_pow(x, n - 1))


def _integer_pow_impl(x, n):
    return np.power(x, n) if n >= 0 else np.power(np.asarray(x, float) if np.ndim(x) else float(x), n)


integer_pow_p = Primitive(
    "integer_pow", _integer_pow_impl, elementwise_shape(_integer_pow_impl),
    jvps=[lambda t, y, x, n: safe_mul(t, _integer_pow_deriv(y, x, n))],
    vjps=[lambda g, y, x, n: safe_mul(g, _integer_pow_deriv(y, x, n))],
    fmt=lambda x, n: f"{x} ** {n}", elementwise=True)

pow_p = elementwise_binary("pow", np.power,
                           lambda y, a, b: mul(b, pow(a, sub(b, 1.0))),
                           lambda y, a, b: safe_mul(y, log(a)), infix="**")

# ---------------------------------------------------------- unary functions

sin_p = elementwise_unary("sin", np.sin, lambda y, x: cos(x))
cos_p = elementwise_unary("cos", np.cos, lambda y, x: neg(sin(x)))
tan_p = elementwise_unary("tan", np.tan, lambda y, x: add(1.0, mul(y, y)))
exp_p = elementwise_unary("exp", np.exp, lambda y, x: y)
log_p = elementwise_unary("log", np.log, lambda y, x: div(1.0, x))
sqrt_p = elementwise_unary("sqrt", np.sqrt, lambda y, x: div(0.5, y))
tanh_p = elementwise_unary("tanh", np.tanh, lambda y, x: sub(1.0, mul(y, y)))
abs_p = elementwise_unary("abs", np.abs, lambda y, x: sign(x))
sign_p = elementwise_unary("sign", np.sign, None)

# maximum/minimum split the derivative evenly at ties (as JAX does), so
# d/dx max(x, 0) at 0 is 1/2; sign() encodes the three cases in one op.
max_p = elementwise_binary("max", np.maximum,
                           lambda y, a, b: mul(0.5, add(1.0, sign(sub(a, b)))),
                           lambda y, a, b: mul(0.5, sub(1.0, sign(sub(a, b)))))
min_p = elementwise_binary("min", np.minimum,
                           lambda y, a, b: mul(0.5, sub(1.0, sign(sub(a, b)))),
                           lambda y, a, b: mul(0.5, add(1.0, sign(sub(a, b)))))


def _convert_impl(x, dtype):
    return np.asarray(x).astype(dtype)[()]


convert_p = Primitive(
    "convert", _convert_impl, lambda x, dtype: (x.shape, dtype),
    jvps=[lambda t, y, x, dtype: convert(t, dtype)],
    vjps=[lambda g, y, x, dtype: convert(g, x.dtype)], elementwise=True)

stop_gradient_p = Primitive("stop_gradient", lambda x: x, lambda x: (x.shape, x.dtype),
                            jvps=[None], vjps=[None], elementwise=True)

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


select_p = Primitive(
    "select", np.where, _select_shape,
    jvps=[None, lambda t, y, c, a, b: select(c, t, 0.0), lambda t, y, c, a, b: select(c, 0.0, t)],
    vjps=[None, lambda g, y, c, a, b: select(c, g, 0.0), lambda g, y, c, a, b: select(c, 0.0, g)],
    fmt=lambda c, a, b: f"where({c}, {a}, {b})", elementwise=True)

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
    "broadcast_in_dim", _broadcast_in_dim_impl, _broadcast_in_dim_shape,
    jvps=[lambda t, y, x, shape, dims: broadcast_in_dim(t, shape, dims)],
    vjps=[lambda g, y, x, shape, dims: _unbroadcast_in_dim(g, x, shape, dims)],
    elementwise=True)

# --------------------------------------------------------------- reductions


def _reduced_shape(shape, axes):
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _kept_dims(ndim, axes):
    return [i for i in range(ndim) if i not in axes]


reduce_sum_p = Primitive(
    "reduce_sum", lambda x, axes: np.sum(x, axis=axes),
    lambda x, axes: (_reduced_shape(x.shape, axes), x.dtype),
    jvps=[lambda t, y, x, axes: reduce_sum(t, axes)],
    vjps=[lambda g, y, x, axes: broadcast_in_dim(g, x.shape, _kept_dims(x.ndim, axes))])


def _max_share(y, x, axes):
    """Where x attains its max, 1/(number of ties); 0 elsewhere."""
    hit = convert(eq(x, broadcast_in_dim(y, x.shape, _kept_dims(x.ndim, axes))), x.dtype)
    count = reduce_sum(hit, axes)
    return div(hit, broadcast_in_dim(count, x.shape, _kept_dims(x.ndim, axes)))


reduce_max_p = Primitive(
    "reduce_max", lambda x, axes: np.max(x, axis=axes),
    lambda x, axes: (_reduced_shape(x.shape, axes), x.dtype),
    jvps=[lambda t, y, x, axes: reduce_sum(mul(t, _max_share(y, x, axes)), axes)],
    vjps=[lambda g, y, x, axes: mul(broadcast_in_dim(g, x.shape, _kept_dims(x.ndim, axes)),
                                    _max_share(y, x, axes))])

# ------------------------------------------------------------ linear algebra


def _dot_shape(a, b):
    if a.ndim not in (1, 2) or b.ndim not in (1, 2):
        raise TypeError(f"dot: operands must be 1-d or 2-d, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[0]:
        raise ValueError(f"dot: shapes {a.shape} and {b.shape} not aligned")
    return a.shape[:-1] + b.shape[1:], np.result_type(a.dtype, b.dtype)


def _outer(u, v):
    return mul(reshape(u, (u.shape[0], 1)), reshape(v, (1, v.shape[0])))


def _dot_vjp_a(g, y, a, b):
    if b.ndim == 1:
        return mul(g, b) if a.ndim == 1 else _outer(g, b)
    return dot(b, g) if a.ndim == 1 else dot(g, transpose(b, (1, 0)))


def _dot_vjp_b(g, y, a, b):
    if a.ndim == 1:
        return mul(g, a) if b.ndim == 1 else _outer(a, g)
    return dot(transpose(a, (1, 0)), g)


dot_p = Primitive("dot", np.dot, _dot_shape,
                  jvps=[lambda t, y, a, b: dot(t, b), lambda t, y, a, b: dot(a, t)],
                  vjps=[_dot_vjp_a, _dot_vjp_b], infix="@")

# -------------------------------------------------------- shape and indexing


def _reshape_shape(x, shape):
    if int(np.prod(shape)) != x.size:
        raise ValueError(f"reshape: cannot reshape {x.shape} into {shape}")
    return shape, x.dtype


reshape_p = Primitive("reshape", lambda x, shape: np.reshape(x, shape), _reshape_shape,
                      jvps=[lambda t, y, x, shape: reshape(t, shape)],
                      vjps=[lambda g, y, x, shape: reshape(g, x.shape)])

transpose_p = Primitive(
    "transpose", lambda x, perm: np.transpose(x, perm),
    lambda x, perm: (tuple(x.shape[p] for p in perm), x.dtype),
    jvps=[lambda t, y, x, perm: transpose(t, perm)],
    vjps=[lambda g, y, x, perm: transpose(g, np.argsort(perm).tolist())])


@dataclass(frozen=True)
class BasicIndex:
    """A normalised basic index, hashable (a static param): one entry per
    operand dimension, an ``int`` (the dimension is dropped) or a
    ``(start, stop, step)`` triple with concrete bounds (``stop`` is ``None``
    when a negative step runs past the start of the axis).

    >>> BasicIndex.normalise((slice(1, None), -1), (5, 3))
    BasicIndex(entries=((1, 5, 1), 2))
    """

    entries: tuple

    @staticmethod
    def normalise(index: tuple, shape: tuple) -> "BasicIndex":
        if len(index) > len(shape):
            raise IndexError(f"too many indices ({len(index)}) for an array of shape {shape}")
        index = tuple(index) + (slice(None),) * (len(shape) - len(index))
        entries = []
        for i, n in zip(index, shape):
            if isinstance(i, slice):
                start, stop, step = i.indices(n)
                entries.append((start, None if stop < 0 else stop, step))
            else:
                k = int(i)
                if not -n <= k < n:
                    raise IndexError(f"index {k} is out of bounds for axis of size {n}")
                entries.append(k % n)
        return BasicIndex(tuple(entries))

    def numpy(self) -> tuple:
        return tuple(e if isinstance(e, int) else slice(*e) for e in self.entries)

    def result_shape(self, shape) -> tuple:
        return tuple(len(range(*s.indices(n))) for s, n in zip(self.numpy(), shape)
                     if isinstance(s, slice))

    def __str__(self):
        def fmt(e):
            if isinstance(e, int):
                return str(e)
            start, stop, step = e
            text = f"{start}:{'' if stop is None else stop}"
            return text if step == 1 else f"{text}:{step}"
        return ", ".join(map(fmt, self.entries))


def _index_impl(x, index):
    return np.asarray(x)[index.numpy()]


def _scatter_add_impl(g, shape, index):
    out = np.zeros(shape, np.asarray(g).dtype)
    out[index.numpy()] += g
    return out


getitem_p = Primitive(
    "getitem", _index_impl, lambda x, index: (index.result_shape(x.shape), x.dtype),
    jvps=[lambda t, y, x, index: getitem(t, index)],
    vjps=[lambda g, y, x, index: scatter_add(g, x.shape, index)],
    fmt=lambda x, index: f"{x}[{index}]")

scatter_add_p = Primitive(
    "scatter_add", _scatter_add_impl, lambda g, shape, index: (shape, g.dtype),
    jvps=[lambda t, y, g, shape, index: scatter_add(t, shape, index)],
    vjps=[lambda h, y, g, shape, index: getitem(h, index)])

# ------------------------------------------------------------------- guards


class GuardFailure(Exception):
    """A kernel met inputs for which a recorded guard does not hold: the
    dispatcher re-traces (a kernel raises it instead of returning a result)."""


def _guard_holds(x, expected) -> bool:
    x = np.asarray(x)[()]
    return bool(x != x) if expected != expected else bool(x == expected)


def _guard_impl(x, expected, kind, what):
    if not _guard_holds(x, expected):
        raise GuardFailure(f"{what} is now {x!r}, not {expected!r}")


# A guard records that traced code turned a traced value into a Python value
# (kind "branch": bool() in an if/while; kind "value": float(), int(), .item())
# and what it saw. It has no outputs; dead-code elimination keeps it.
guard_p = Primitive(
    "guard", _guard_impl, lambda x, expected, kind, what: None, jvps=[None], vjps=[None],
    fmt=lambda x, expected, kind, what: f"guard {what}: {x} == {expected!r}", effect=True)


def guard(x, expected, kind, what):
    return guard_p.bind(x, expected=expected, kind=kind, what=what)

# ------------------------------------------------------------- custom rules


def _custom_vjp_rule(k):
    """Adjoint for the k-th differentiable input: the user's bwd, traced."""
    def rule(g, y, out, *rest, bwd, n_res, res_treedef, n_args):
        from .tree import unflatten
        treedef, static = res_treedef
        leaves = list(rest[:n_res])
        for i, value in static:
            leaves.insert(i, value)
        residuals = unflatten(treedef, leaves)
        bars = bwd(residuals, g)
        if not isinstance(bars, tuple) or len(bars) != n_args:
            raise TypeError(f"custom_vjp: bwd must return a tuple with one cotangent per input "
                            f"({n_args}), got {type(bars).__name__}")
        return bars[k]
    return rule


def _custom_vjp_shape(out, *rest, **params):
    return out.shape, out.dtype


# custom_vjp_call(out, *residuals, *inputs) is ``out``: the primal was computed
# by the user's fwd (recorded as ordinary ops). Reverse mode does not look
# into those ops but calls the user's bwd; forward mode differentiates them.
def custom_vjp_call(out, residuals, inputs, *, bwd, res_treedef):
    n_res, n_args = len(residuals), len(inputs)
    prim = _custom_vjp_prims.get((n_res, n_args))
    if prim is None:
        prim = _custom_vjp_prims[(n_res, n_args)] = Primitive(
            "custom_vjp_call", lambda out, *rest, **params: out, _custom_vjp_shape,
            jvps=[lambda t, y, *args, **params: t] + [None] * (n_res + n_args),
            vjps=[None] * (1 + n_res) + [_custom_vjp_rule(k) for k in range(n_args)],
            fmt=lambda out, *rest, bwd, **params: f"custom_vjp[{bwd.__name__}]({out}, ...)")
    return prim.bind(out, *residuals, *inputs, bwd=bwd, n_res=n_res,
                     res_treedef=res_treedef, n_args=n_args)


_custom_vjp_prims: dict = {}
