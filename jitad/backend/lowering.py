"""LOWERINGS: each primitive's numba source template.

Three kinds, so the fuser can put chains of ops inside one loop:

- ``ELEMENTWISE[name](*operands, **params) -> expression`` on scalars; the
  fuser places it inside the loop of its fused group (or alone, for 0-d).
- ``REDUCTIONS[name] = (initial value, update(acc, element) -> statement)``;
  the fuser accumulates them inside the loop that produces their input.
- ``STATEMENTS[name](out, *operands, **params) -> lines`` for everything else
  (matrix products go to BLAS through ``np.dot``; views stay views). ``out``
  and the operands are names that also carry ``.shape`` and ``.dtype``
  (``Operand``), for the templates that write their own loops.
"""
from __future__ import annotations

import math

import numpy as np


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
    """safe_mul(a, b) is the plain product when a is a literal other than 0,
    or b a finite literal (then a * b is already 0 where a is 0)."""
    a, b = _literal(a), _literal(b)
    return (a is not None and a != 0) or (b is not None and math.isfinite(b))


_UFUNCS = ("sin cos tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh arctanh exp exp2 "
           "expm1 log log2 log10 log1p sqrt cbrt sign floor ceil rint trunc arctan2 hypot "
           "logaddexp").split()

ELEMENTWISE = {
    "neg": lambda x: f"-{x}",
    "add": lambda a, b: f"{a} + {b}",
    "sub": lambda a, b: f"{a} - {b}",
    "mul": lambda a, b: f"{a} * {b}",
    "div": lambda a, b: f"{a} / {b}",
    # Python's // and % floor like NumPy's floor_divide and remainder
    "floor_divide": lambda a, b: f"{a} // {b}",
    "remainder": lambda a, b: f"{a} % {b}",
    # the chain-rule product: exactly 0 where the incoming (co)tangent is 0
    "safe_mul": lambda a, b: f"{a} * {b}" if _literal_product_is_safe(a, b)
    else f"safe_mul({a}, {b})",
    "integer_pow": _integer_pow,
    "pow": lambda a, b: f"{a} ** {b}",
    **{name: _call(f"np.{name}") for name in _UFUNCS},
    "abs": _call("abs"),
    "max": _call("np.maximum"), "min": _call("np.minimum"),
    "gt": lambda a, b: f"{a} > {b}", "ge": lambda a, b: f"{a} >= {b}",
    "lt": lambda a, b: f"{a} < {b}", "le": lambda a, b: f"{a} <= {b}",
    "eq": lambda a, b: f"{a} == {b}", "ne": lambda a, b: f"{a} != {b}",
    "select": lambda c, a, b: f"{a} if {c} else {b}",
    "convert": lambda x, dtype: f"{dtype_name(dtype)}({x})",
    "stop_gradient": lambda x: x,
    # the fuser indexes the operand through ``dims``; the element is unchanged
    "broadcast_in_dim": lambda x, shape, dims: x,
    # the fuser gives g's element and whether the loop position is in the index
    "scatter_add": lambda g_element, in_index: f"{g_element} if {in_index} else 0",
}


def _lowest(dtype) -> str:
    if np.issubdtype(dtype, np.floating):
        return "-np.inf"
    return "False" if dtype == np.bool_ else repr(int(np.iinfo(dtype).min))


REDUCTIONS = {
    "reduce_sum": (lambda dtype: "0", lambda acc, x: f"{acc} += {x}"),
    "reduce_prod": (lambda dtype: "1", lambda acc, x: f"{acc} *= {x}"),
    "reduce_max": (_lowest, lambda acc, x: f"{acc} = np.maximum({acc}, {x})"),
}


def reduction_init(name, dtype) -> str:
    return REDUCTIONS[name][0](np.dtype(dtype))


# ------------------------------------------------------------ statements

def at(name, indices) -> str:
    """``name[i, j]``, or ``name`` itself for a 0-d value."""
    return f"{name}[{', '.join(indices)}]" if indices else name


def nest(extents, body, first=0) -> list:
    """``for i<first+d> in range(n_d):`` loops around ``body`` (lines)."""
    lines = ["    " * d + f"for i{first + d} in range({n}):" for d, n in enumerate(extents)]
    return lines + ["    " * len(extents) + line for line in body]


def _empty(out) -> str:
    return f"{out} = np.empty({out.shape!r}, {dtype_name(out.dtype)})"


def _suffix(out) -> str:
    return out[2:]  # v_7 -> 7: names this op's temporaries


def _dot(out, a, b):
    return [f"{out} = np.dot({a}, {b})"]


def _matmul(out, a, b):
    return [_empty(out)] + nest(out.shape[:1], [f"{out}[i0] = np.dot({a}[i0], {b}[i0])"])


def _reshape(out, x, shape):
    return [f"{out} = {x}.reshape({shape!r})"]


def _transpose(out, x, perm):
    # numba types x.T of a C-contiguous array as F-contiguous, which np.dot
    # hands to BLAS as a transposed operand; x.transpose(perm) is typed as
    # any-layout, which np.dot first copies (measured: 2x on X.T @ r)
    if len(perm) >= 2 and tuple(perm) == tuple(reversed(range(len(perm)))):
        return [f"{out} = {x}.T"]
    return [f"{out} = {x}.transpose({perm!r})"]


def _getitem(out, x, index):
    return [f"{out} = {x}[{index}]"]


def _guard(out, x, expected, kind, what):
    fails = f"{x} == {x}" if expected != expected else f"{x} != {literal(expected)}"
    return [f"if {fails}:", "    raise GuardFailure"]


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
    return ([f"{out} = np.zeros({tuple(shape)!r}, {dtype_name(out.dtype)})"]
            + nest(batch, _gather_indices(indices, b, shape) + inner))


def _scan(init, update):
    """A running accumulation along ``axis`` (the innermost loop)."""
    def template(out, x, axis, reverse=False):
        acc = f"acc_{_suffix(out)}"
        others = [d for d in range(x.ndim) if d != axis]
        n = x.shape[axis]
        order = [f"range({n - 1}, -1, -1)" if reverse else f"range({n})"]
        # loop index i<d> always indexes axis d, whatever the loop order
        index = [f"i{d}" for d in range(x.ndim)]
        scan = [f"for i{axis} in {order[0]}:",
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


def _slogdet(out, a):
    s = _suffix(out)
    return [f"sign_{s}, logabsdet_{s} = np.linalg.slogdet({a})", _empty(out),
            f"{out}[0] = sign_{s}", f"{out}[1] = logabsdet_{s}"]


def _linalg(fn):
    return lambda out, *xs: [f"{out} = np.linalg.{fn}({', '.join(xs)})"]


STATEMENTS = {
    "dot": _dot,
    "matmul": _matmul,
    "reshape": _reshape,
    "transpose": _transpose,
    "getitem": _getitem,
    "take": _take,
    "add_at": _add_at,
    "concatenate": lambda out, *xs, axis: [f"{out} = np.concatenate(({', '.join(xs)},), axis={axis})"],
    "cumsum": _scan("0", lambda acc, x: f"{acc} += {x}"),
    "cumprod": _scan("1", lambda acc, x: f"{acc} *= {x}"),
    "argmax": _argmax,
    "solve": _linalg("solve"),
    "inv": _linalg("inv"),
    "det": _linalg("det"),
    "slogdet": _slogdet,
    "cholesky": _linalg("cholesky"),
    "guard": _guard,
    # the output is the user's fwd result, already computed
    "custom_vjp_call": lambda out, value, *rest, **params: [f"{out} = {value}"],
}

# Statements whose result is a view of an operand, not a new array.
VIEWS = {"reshape", "transpose", "getitem", "custom_vjp_call"}
# Statements that need a C-contiguous operand.
NEEDS_CONTIGUOUS = {"reshape"}


def lowered_names() -> set:
    return set(ELEMENTWISE) | set(REDUCTIONS) | set(STATEMENTS)
