"""LOWERINGS: each primitive's numba source template, keyed by the primitive.

A lowering has one of four forms, and the form (not the primitive) tells the
fuser what it may do with the op:

- ``Elementwise(expr)``: ``expr(*operand_elements, **params)`` is a scalar
  expression; the fuser places it inside the loop of its fused group (or
  alone, for 0-d values), and the scalar interpreter runs it on scalars.
  ``interpret``, for the few templates with params, maps the params to a
  param-free stand-in for the interpreter.
- ``Indexed(element)``: fused too, but its operand is read at a position the
  op computes from the loop position (a broadcast, a scatter):
  ``element(loop, op)`` returns the expression, using ``loop.element_at``.
  The operand must be complete before the loop starts.
- ``Accumulate(init, update, reordered)``: a reduction accumulated inside the
  loop that produces its input (``reordered``: the update where the order of
  accumulation may change, which lets the loop vectorise).
- ``Statement(lines)``: everything else (matrix products go to BLAS through
  ``np.dot``; views stay views): ``lines(out, *operands, **params)``.

``out`` and the operands of statements are names that also carry ``.shape``
and ``.dtype`` (``Operand``), for templates that write their own loops.
Primitives that ``forward`` an operand (``stop_gradient``,
``custom_vjp_call``) need no lowering: the backend uses the operand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import primitives as P
from . import lapack

# the NumPy names of jitad.backend.vecmath.FUNCTIONS, written out so that
# importing jitad does not define those functions (~20 ms); compile.py
# imports vecmath when a kernel calls one (tests/test_vecmath.py checks both agree)
VECTOR_FUNCTIONS = frozenset({
    "sin", "cos", "tan", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "power",
    "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh",
    "arctanh", "cbrt"})
VECTOR_COMPOSITES = frozenset({"logaddexp"})  # jitad.backend.vecmath.COMPOSITES

@dataclass(frozen=True)
class Elementwise:
    expr: Callable
    interpret: Callable | None = None  # params -> (param-free primitive, extra scalar operands)
    # the jitad.backend.vecmath function computing the same value on real
    # operands, which LLVM can vectorise inside a fused loop (libm's cannot be)
    vector: str | None = None


@dataclass(frozen=True)
class Indexed:
    element: Callable  # (loop, op) -> expression


@dataclass(frozen=True)
class Accumulate:
    init: Callable     # dtype -> source of the initial value
    update: Callable   # (accumulator, element) -> statement
    # the update where the order of accumulation may change (a serial loop:
    # runtime.add_lanes lets LLVM vectorise it; numba's prange recognises
    # only ``update``)
    reordered: Callable | None = None


@dataclass(frozen=True)
class Loop:
    """A primitive of kind ``loop`` (``scan``): the code generator writes its
    body graph as a compiled function and calls it from a ``for`` loop."""


LOOP = Loop()


@dataclass(frozen=True)
class Statement:
    lines: Callable
    view: bool = False               # the result is a view of operand 0
    contiguous_operand: bool = False  # operand 0 must be C-contiguous


def literal(value) -> str:
    """Source text of a scalar constant (exact: repr round-trips floats)."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    v = float(value)
    text = repr(v) if math.isfinite(v) else ("np.nan" if v != v else ("np.inf" if v > 0 else "-np.inf"))
    if isinstance(value, np.floating) and value.dtype != np.float64:
        return f"np.{value.dtype.name}({text})"
    return text


def dtype_name(dtype) -> str:
    return "np.bool_" if np.dtype(dtype) == np.bool_ else f"np.{np.dtype(dtype).name}"


HUGE_PAGES_FROM = 1 << 22  # bytes: NumPy's threshold for the same advice (runtime.huge_pages)


def allocation(shape, dtype, fill=None) -> str:
    """The expression of a new array: ``np.empty``, or with ``fill`` (source
    text) ``np.zeros``/``np.full``; an array of 4 MiB or more is put on huge
    pages (``runtime.huge_pages``: a large array is mapped afresh each call).

    >>> allocation((3,), np.float64), allocation((2, 2), np.int64, "0")
    ('np.empty((3,), np.float64)', 'np.zeros((2, 2), np.int64)')
    >>> allocation((1 << 20,), np.float64, "1.0")
    'filled(huge_pages(np.empty((1048576,), np.float64)), 1.0)'
    """
    shape, name = tuple(shape), dtype_name(dtype)
    if int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize >= HUGE_PAGES_FROM:
        empty = f"huge_pages(np.empty({shape!r}, {name}))"
        return empty if fill is None else f"filled({empty}, {fill})"
    if fill is None:
        return f"np.empty({shape!r}, {name})"
    return f"np.zeros({shape!r}, {name})" if fill == "0" else f"np.full({shape!r}, {fill}, {name})"


class Operand(str):
    """A name in the kernel source that knows its value's shape and dtype.

    >>> x = Operand("v_1", (2, 3), np.float64)
    >>> x, x.shape, x.ndim
    ('v_1', (2, 3), 2)
    """

    def __new__(cls, name, shape, dtype):
        self = super().__new__(cls, name)
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        return self

    @property
    def ndim(self) -> int:
        return len(self.shape)


# ---------------------------------------------------------- elementwise

def _integer_pow(x, n):
    if n == 0:
        return "1.0"
    if 1 <= n <= 4:
        return " * ".join([x] * n)
    if -4 <= n <= -1:
        return f"1.0 / ({' * '.join([x] * -n)})"
    return f"{x} ** {n}"


def _call(fn):
    return lambda *xs: f"{fn}({', '.join(xs)})"


def _literal(text):
    try:
        return float(text)
    except ValueError:
        return None


def _literal_product_is_safe(a, b) -> bool:
    """safe_mul(a, b) is the plain product when one operand is a finite
    literal other than 0: a * b is then 0 exactly where the other is 0, and
    NaN exactly where safe_mul's is."""
    return any(v is not None and v != 0 and math.isfinite(v) for v in map(_literal, (a, b)))


def _convert_for_interpreter(dtype):
    """The interpreter holds booleans as 0.0/1.0 and integers as exact floats."""
    if dtype == np.bool_:
        return P.ne_p, (0.0,)
    if np.issubdtype(dtype, np.integer):
        return P.trunc_p, ()
    return None, ()  # a copy


_UFUNCS = [P.sin_p, P.cos_p, P.tan_p, P.arcsin_p, P.arccos_p, P.arctan_p, P.sinh_p, P.cosh_p,
           P.tanh_p, P.arcsinh_p, P.arccosh_p, P.arctanh_p, P.exp_p, P.exp2_p, P.expm1_p,
           P.log_p, P.log2_p, P.log10_p, P.log1p_p, P.sqrt_p, P.cbrt_p, P.sign_p, P.floor_p,
           P.ceil_p, P.rint_p, P.trunc_p, P.arctan2_p, P.hypot_p, P.logaddexp_p, P.fmod_p]

LOWERINGS = {
    P.neg_p: Elementwise(lambda x: f"-{x}"),
    P.add_p: Elementwise(lambda a, b: f"{a} + {b}"),
    P.sub_p: Elementwise(lambda a, b: f"{a} - {b}"),
    P.mul_p: Elementwise(lambda a, b: f"{a} * {b}"),
    P.div_p: Elementwise(lambda a, b: f"{a} / {b}"),
    # Python's // and % floor like NumPy's floor_divide and remainder
    P.floor_divide_p: Elementwise(lambda a, b: f"{a} // {b}"),
    P.remainder_p: Elementwise(lambda a, b: f"{a} % {b}"),
    # the chain-rule product: exactly 0 where the incoming (co)tangent is 0
    P.safe_mul_p: Elementwise(lambda a, b: f"{a} * {b}" if _literal_product_is_safe(a, b)
                              else f"safe_mul({a}, {b})"),
    P.integer_pow_p: Elementwise(_integer_pow,
                                 interpret=lambda n: (P.pow_p, (float(n),))),
    P.pow_p: Elementwise(lambda a, b: f"{a} ** {b}", vector="power"),
    **{prim: Elementwise(_call(f"np.{prim.name}"),
                         vector=prim.name if prim.name in VECTOR_FUNCTIONS | VECTOR_COMPOSITES
                         else None)
       for prim in _UFUNCS},
    P.abs_p: Elementwise(_call("abs")),
    P.max_p: Elementwise(_call("np.maximum")),
    P.min_p: Elementwise(_call("np.minimum")),
    P.gt_p: Elementwise(lambda a, b: f"{a} > {b}"),
    P.ge_p: Elementwise(lambda a, b: f"{a} >= {b}"),
    P.lt_p: Elementwise(lambda a, b: f"{a} < {b}"),
    P.le_p: Elementwise(lambda a, b: f"{a} <= {b}"),
    P.eq_p: Elementwise(lambda a, b: f"{a} == {b}"),
    P.ne_p: Elementwise(lambda a, b: f"{a} != {b}"),
    P.select_p: Elementwise(lambda c, a, b: f"{a} if {c} else {b}"),
    P.convert_p: Elementwise(lambda x, dtype: f"{dtype_name(dtype)}({x})",
                             interpret=_convert_for_interpreter),
}

# scipy.special: calls of SciPy's own compiled scalar kernels, sp_<name>
# (jitad.backend.special, which the kernel module imports only when it uses one)
LOWERINGS.update({prim: Elementwise(_call(f"sp_{prim.name}")) for prim in P.SPECIAL})

# ---------------------------------------------------------------- indexed


def _broadcast_element(loop, op):
    # operand axis k runs along output axis dims[k] (size-1 axes stay at 0)
    return loop.element(op.inputs[0], op.params["dims"])


def _scattered_element(loop, op):
    """Element of zeros(shape) with g written at a basic index: g's element
    where the loop position lies in the index, else 0."""
    conditions, g_index = [], []
    for j, entry in enumerate(op.params["index"].entries):
        if isinstance(entry, int):
            conditions.append(f"i{j} == {entry}")
            continue
        start, stop, step = entry
        if step > 0:
            conditions.append(f"{start} <= i{j} < {stop}")
            offset = f"i{j} - {start}" if start else f"i{j}"
        else:
            conditions.append(f"{-1 if stop is None else stop} < i{j} <= {start}")
            offset = f"{start} - i{j}"
            step = -step
        if step != 1:
            conditions.append(f"({offset}) % {step} == 0")
            offset = f"({offset}) // {step}"
        g_index.append(offset)
    g = loop.element_at(op.inputs[0], g_index)
    return f"{g} if {' and '.join(conditions) or 'True'} else 0"


LOWERINGS.update({
    P.broadcast_in_dim_p: Indexed(_broadcast_element),
    P.scatter_add_p: Indexed(_scattered_element),
})

# ------------------------------------------------------------- reductions


def _lowest(dtype) -> str:
    if np.issubdtype(dtype, np.floating):
        return "-np.inf"
    return "False" if dtype == np.bool_ else repr(int(np.iinfo(dtype).min))


LOWERINGS.update({
    P.reduce_sum_p: Accumulate(lambda dtype: "0", lambda acc, x: f"{acc} += {x}",
                               lambda acc, x: f"{acc} = add_lanes({acc}, {x})"),
    P.reduce_prod_p: Accumulate(lambda dtype: "1", lambda acc, x: f"{acc} *= {x}",
                                lambda acc, x: f"{acc} = mul_lanes({acc}, {x})"),
    P.reduce_max_p: Accumulate(_lowest, lambda acc, x: f"{acc} = np.maximum({acc}, {x})"),
})

# ------------------------------------------------------------ statements


def at(name, indices) -> str:
    """``name[i, j]``, or ``name`` itself for a 0-d value."""
    return f"{name}[{', '.join(indices)}]" if indices else name


def nest(extents, body, first=0) -> list:
    """``for i<first+d> in range(n_d):`` loops around ``body`` (lines)."""
    lines = ["    " * d + f"for i{first + d} in range({n}):" for d, n in enumerate(extents)]
    return lines + ["    " * len(extents) + line for line in body]


def _empty(out) -> str:
    return f"{out} = {allocation(out.shape, out.dtype)}"


def _suffix(out) -> str:
    return out[2:]  # v_7 -> 7: names this op's temporaries


# multiply-adds up to which a product is written out: numba's np.dot costs
# ~70 ns a call whatever the size, a 2x2 by 2x2 product written out 22 ns
# (a Kalman filter's step makes dozens); a 4x4 by 4x4 costs the same both ways
SMALL_PRODUCT = 32


def _dot(out, a, b):
    if a.shape and b.shape and a.shape[-1] and {a.dtype.kind, b.dtype.kind} <= {"f", "c"} and \
            int(np.prod(a.shape + b.shape[1:], dtype=np.int64)) <= SMALL_PRODUCT:
        return _small_dot(out, a, b)
    # numba's np.dot: lapack's cfunc dot compiled faster (a network's kernel
    # 0.8 s against 2.2 s) but made an LSTM's warm call 30% slower (83 ms
    # against 63 ms), for a reason not found yet
    return [f"{out} = np.dot({a}, {b})"]


def _small_dot(out, a, b):
    """A small product as loops over the result, each element the sum of its
    products in order.

    >>> a, b = Operand("a", (2, 3), np.float64), Operand("b", (3,), np.float64)
    >>> print("\\n".join(_small_dot("c", a, b)))
    c = np.empty((2,), np.float64)
    for i0 in range(2):
        c[i0] = a[i0, 0] * b[0] + a[i0, 1] * b[1] + a[i0, 2] * b[2]
    """
    rows = ["i0"] if a.ndim == 2 else []
    cols = [f"i{len(rows)}"] if b.ndim == 2 else []
    terms = " + ".join(f"{a}[{', '.join(rows + [str(k)])}] * {b}[{', '.join([str(k)] + cols)}]"
                       for k in range(a.shape[-1]))
    if not rows and not cols:
        return [f"{out} = {terms}"]
    extents = a.shape[:-1] + b.shape[1:]
    return [f"{out} = {allocation(extents, np.result_type(a.dtype, b.dtype))}"] + nest(
        extents, [f"{out}[{', '.join(rows + cols)}] = {terms}"])


def _per_matrix(out, body, *stacks):
    """``body(out_i, *operand_i)`` -- one statement per matrix i -- looped
    over stacks with any number of batch axes, flattened to one: operands
    are reshaped to (count, n, m) (contiguous copies where they are views)."""
    count = int(np.prod(out.shape[:-2], dtype=np.int64))
    s = _suffix(out)
    flat = [f"m{k}_{s}" for k in range(len(stacks))]
    lines = [f"{m} = np.ascontiguousarray({x}).reshape({(count,) + x.shape[-2:]!r})"
             for m, x in zip(flat, stacks)]
    lines.append(f"o_{s} = {allocation((count,) + out.shape[-2:], out.dtype)}")
    lines += nest((count,), [body(f"o_{s}[i0]", *(f"{m}[i0]" for m in flat))])
    return lines + [f"{out} = o_{s}.reshape({out.shape!r})"]


def _matmul(out, a, b):
    return _per_matrix(out, lambda o, x, y: f"{o} = np.dot({x}, {y})", a, b)


def _lapack(op):
    """``op`` (solve, inv, det, slogdet, cholesky) on a stack of matrices:
    a call of its function compiled once in ``lapack.py`` (``la_<op>_<dtype>``,
    imported by the kernel module), on C-contiguous copies of operands that
    are not, writing into a result allocated here. The status it returns is
    raised as NumPy's LinAlgError."""

    def template(out, *xs):
        s, a = _suffix(out), xs[0]
        count, n = int(np.prod(a.shape[:-2], dtype=np.int64)), a.shape[-1]
        flat = [f"m{k}_{s}" for k in range(len(xs))]
        lines = [f"{m} = np.ascontiguousarray({x})" for m, x in zip(flat, xs)]
        shape = (1,) if not out.shape else out.shape  # a 0-d det is read back as a number
        result = f"o_{s}" if not out.shape else out
        lines.append(f"{result} = {allocation(shape, out.dtype)}")
        sizes = [[str(count), str(n)]] + [[str(x.shape[-1])] for x in xs[1:]]
        args = [arg for m, extra in zip(flat, sizes) for arg in (f"{m}.ctypes", *extra)]
        lines.append(f"status_{s} = la_{op}_{np.dtype(out.dtype).name}"
                     f"({', '.join(args + [f'{result}.ctypes'])})")
        lines += _raised(op, s)
        return lines + ([f"{out} = o_{s}[0]"] if not out.shape else [])
    return template


def _raised(op, s):
    """The status of lapack's ``op`` (in ``status_<s>``) raised as NumPy's LinAlgError."""
    lines = []
    for status, message in sorted(lapack.MESSAGES[op].items()):
        lines += [f"if status_{s} == {status}:", f"    raise np.linalg.LinAlgError({message!r})"]
    return lines


def _lapack_results(op):
    """A decomposition (eigh, qr, svd; svd_complement, one result) on a stack
    of matrices, as ``_lapack``: its cfunc writes every result into arrays
    allocated here."""
    square = lapack.ARGUMENTS[op].startswith("n ")  # its C arguments: n, or m and n

    def template(outs, a, **params):
        outs = outs if isinstance(outs, tuple) else (outs,)
        s = _suffix(outs[0])
        count = int(np.prod(a.shape[:-2], dtype=np.int64))
        sizes = a.shape[-1:] if square else a.shape[-2:]
        lines = [f"m_{s} = np.ascontiguousarray({a})"]
        lines += [f"{o} = {allocation(o.shape, o.dtype)}" for o in outs]
        args = [f"m_{s}.ctypes", str(count), *map(str, sizes), *(f"{o}.ctypes" for o in outs)]
        lines.append(f"status_{s} = la_{op}_{np.dtype(a.dtype).name}({', '.join(args)})")
        return lines + _raised(op, s)
    return template


def _check(out, x, w, test, rtol, message):
    """Raise ValueError(message) where a spectrum (w's last axis) has two
    entries within rtol * max|w| of each other, or one of zero."""
    s = _suffix(out)
    n, count = w.shape[-1], int(np.prod(w.shape[:-1], dtype=np.int64))
    entry, other = f"w_{s}[i0, p_{s}]", f"w_{s}[i0, q_{s}]"
    if test == "always":  # inside the loop, so numba still sees the result assigned
        fails = [f"    if {entry} == {entry} or True:"]
    elif test == "nonzero":
        fails = [f"    if abs({entry}) <= tol_{s}:"]
    else:
        fails = [f"    for q_{s} in range(p_{s} + 1, {n}):",
                 f"        if abs({entry} - {other}) <= tol_{s}:"]
    body = ([f"top_{s} = 0.0", f"for p_{s} in range({n}):",
             f"    top_{s} = max(top_{s}, abs({entry}))",
             f"tol_{s} = {float(rtol)!r} * top_{s}", f"for p_{s} in range({n}):"]
            + fails + ["    " * len(fails) + f"    raise ValueError({message!r})"])
    return ([f"w_{s} = np.ascontiguousarray({w}).reshape(({count}, {n}))"]
            + nest((count,), body) + [f"{out} = {x}"])


def _reshape(out, x, shape):
    # numba has no reshape of a scalar (a 0-d value is a scalar in the kernel)
    if not x.shape:
        return [f"{out} = {allocation(shape, out.dtype, x)}"]
    if not shape:
        return [f"{out} = {x}.ravel()[0]"]
    return [f"{out} = {x}.reshape({shape!r})"]


def _transpose(out, x, perm):
    # numba types x.T of a C-contiguous array as F-contiguous, which np.dot
    # hands to BLAS as a transposed operand; x.transpose(perm) is typed as
    # any-layout, which np.dot first copies (measured: 2x on X.T @ r)
    if len(perm) >= 2 and tuple(perm) == tuple(reversed(range(len(perm)))):
        return [f"{out} = {x}.T"]
    # not x.transpose(perm): numba takes seconds to compile it (backend.strided)
    return [f"{out} = transposed({x}, {perm!r})"]


def _getitem(out, x, index):
    return [f"{out} = {x}[{index}]"]


def _guard(out, x, expected, kind, what, failed):
    """``failed``: the statement that returns the failed status (the code
    generator's: numba raising an exception costs a microsecond a call)."""
    # NaN expected: the value is no longer NaN where it equals itself
    fails = f"{x} == {x}" if expected != expected else f"{x} != {literal(expected)}"
    return [f"if {fails}:", f"    {failed}"]


def _gather_indices(indices, batch_loop, sizes) -> list:
    """``j<d> = index_d[i..]``, wrapped like NumPy (-1 is the last) and
    bounds-checked: index arrays may be traced inputs (labels)."""
    lines = []
    for d, (ix, n) in enumerate(zip(indices, sizes)):
        lines += [f"j{d} = {at(ix, batch_loop)}",
                  f"j{d} = j{d} + {n} if j{d} < 0 else j{d}",
                  f"if not 0 <= j{d} < {n}:",
                  f"    raise IndexError(\"index out of bounds for axis {d} with size {n}\")"]
    return lines


def _take(out, x, *indices):
    k, batch = len(indices), indices[0].shape
    b = [f"i{d}" for d in range(len(batch))]
    r = [f"i{len(batch) + d}" for d in range(x.ndim - k)]
    inner = nest(x.shape[k:], [f"{at(out, b + r)} = {at(x, [f'j{d}' for d in range(k)] + r)}"],
                 first=len(batch))
    return [_empty(out)] + nest(batch, _gather_indices(indices, b, x.shape) + inner)


def _add_at(out, g, *indices, shape):
    k, batch = len(indices), indices[0].shape
    b = [f"i{d}" for d in range(len(batch))]
    r = [f"i{len(batch) + d}" for d in range(len(shape) - k)]
    inner = nest(shape[k:], [f"{at(out, [f'j{d}' for d in range(k)] + r)} += {at(g, b + r)}"],
                 first=len(batch))
    return ([f"{out} = {allocation(shape, out.dtype, '0')}"]
            + nest(batch, _gather_indices(indices, b, shape) + inner))


def _scan(init, update):
    """A running accumulation along ``axis`` (the innermost loop)."""
    def template(out, x, axis, reverse=False):
        acc = f"acc_{_suffix(out)}"
        others = [d for d in range(x.ndim) if d != axis]
        n = x.shape[axis]
        order = f"range({n - 1}, -1, -1)" if reverse else f"range({n})"
        # loop index i<d> always indexes axis d, whatever the loop order
        index = [f"i{d}" for d in range(x.ndim)]
        scan = [f"for i{axis} in {order}:",
                f"    {update(acc, at(x, index))}",
                f"    {at(out, index)} = {acc}"]
        body = [f"{acc} = {dtype_name(out.dtype)}({init})"] + scan
        loops = ["    " * k + f"for i{d} in range({x.shape[d]}):" for k, d in enumerate(others)]
        return [_empty(out)] + loops + ["    " * len(others) + line for line in body]
    return template


def _argmax(out, x, axis):
    s = _suffix(out)
    others = [d for d in range(x.ndim) if d != axis]
    index = [f"i{d}" for d in range(x.ndim)]
    first = [f"i{d}" if d != axis else "0" for d in range(x.ndim)]
    kept = [f"i{d}" for d in others]
    # the first maximum wins, and a NaN beats everything (as in NumPy)
    body = [f"best_{s} = {at(x, first)}", f"arg_{s} = 0",
            f"for i{axis} in range(1, {x.shape[axis]}):",
            f"    cand_{s} = {at(x, index)}",
            f"    if cand_{s} > best_{s} or (cand_{s} != cand_{s} and best_{s} == best_{s}):",
            f"        best_{s} = cand_{s}",
            f"        arg_{s} = i{axis}",
            f"{at(out, kept) if kept else out} = arg_{s}"]
    loops = ["    " * k + f"for i{d} in range({x.shape[d]}):" for k, d in enumerate(others)]
    head = [_empty(out)] if out.shape else []
    return head + loops + ["    " * len(others) + line for line in body]


def _argsort(out, x, axis):
    """np.argsort of each line along ``axis`` (mergesort: stable, as the impl)."""
    others = [d for d in range(x.ndim) if d != axis]
    index = [":" if d == axis else f"i{d}" for d in range(x.ndim)]
    body = [f"{at(out, index)} = np.argsort({at(x, index)}, kind='mergesort')"]
    loops = ["    " * k + f"for i{d} in range({x.shape[d]}):" for k, d in enumerate(others)]
    return [_empty(out)] + loops + ["    " * len(others) + line for line in body]


def _convolve(out, a, v):
    """out[..., p + q] += a[..., p] * v[..., q], leading axes broadcast."""
    s = _suffix(out)
    batch = out.shape[:-1]

    def index(x, last):
        offset = len(batch) - (x.ndim - 1)
        return ["0" if x.shape[d] == 1 and batch[offset + d] != 1 else f"i{offset + d}"
                for d in range(x.ndim - 1)] + [last]
    b = [f"i{d}" for d in range(len(batch))]
    body = [f"for p_{s} in range({a.shape[-1]}):",
            f"    for q_{s} in range({v.shape[-1]}):",
            f"        {at(out, b + [f'p_{s} + q_{s}'])} += "
            f"{at(a, index(a, f'p_{s}'))} * {at(v, index(v, f'q_{s}'))}"]
    return [f"{out} = {allocation(out.shape, out.dtype, '0')}"] + nest(batch, body)


def _concatenate(out, *xs, axis):
    return [f"{out} = np.concatenate(({', '.join(xs)},), axis={axis})"]


LOWERINGS.update({
    P.dot_p: Statement(_dot),
    P.matmul_p: Statement(_matmul),
    P.reshape_p: Statement(_reshape, view=True, contiguous_operand=True),
    P.transpose_p: Statement(_transpose, view=True),
    P.getitem_p: Statement(_getitem, view=True),
    P.cumsum_p: Statement(_scan("0", lambda acc, x: f"{acc} += {x}")),
    P.cumprod_p: Statement(_scan("1", lambda acc, x: f"{acc} *= {x}")),
    P.argmax_p: Statement(_argmax),
    P.argsort_p: Statement(_argsort),
    P.convolve_p: Statement(_convolve),
    P.solve_p: Statement(_lapack("solve")),
    P.inv_p: Statement(_lapack("inv")),
    P.det_p: Statement(_lapack("det")),
    P.slogdet_p: Statement(_lapack("slogdet")),
    P.cholesky_p: Statement(_lapack("cholesky")),
    P.guard_p: Statement(_guard),
    P.svd_p: Statement(_lapack_results("svd")),
    P.svd_complement_p: Statement(_lapack_results("svd_complement")),
    P.eigh_p: Statement(_lapack_results("eigh")),
    P.qr_p: Statement(_lapack_results("qr")),
    P.check_p: Statement(_check, view=True),

    # the variadic families: one template for the primitive of every arity
    P.take_p: Statement(_take),
    P.add_at_p: Statement(_add_at),
    P.concatenate_p: Statement(_concatenate),
})


def lowering_of(prim):
    """The lowering of ``prim`` (None for a primitive that forwards an
    operand); KeyError when it has none."""
    if prim.forwards is not None:
        return None
    if prim.kind == "loop":
        return LOOP
    found = LOWERINGS.get(prim)
    return found if found is not None else LOWERINGS[prim.family]
