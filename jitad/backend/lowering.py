"""LOWERINGS: each primitive's numba source template.

Three kinds, so the fuser can put chains of ops inside one loop:

- ``ELEMENTWISE[name](*operands, **params) -> expression`` on scalars; the
  fuser places it inside the loop of its fused group (or alone, for 0-d).
- ``REDUCTIONS[name] = (initial value, update(acc, element) -> statement)``;
  the fuser accumulates them inside the loop that produces their input.
- ``STATEMENTS[name](out, *operands, **params) -> lines`` for everything else
  (matrix products go to BLAS through ``np.dot``; views stay views).
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


ELEMENTWISE = {
    "neg": lambda x: f"-{x}",
    "add": lambda a, b: f"{a} + {b}",
    "sub": lambda a, b: f"{a} - {b}",
    "mul": lambda a, b: f"{a} * {b}",
    "div": lambda a, b: f"{a} / {b}",
    # the chain-rule product: exactly 0 where the incoming (co)tangent is 0
    "safe_mul": lambda a, b: f"{a} * {b} if {a} != 0 else 0.0 * {a}",
    "integer_pow": _integer_pow,
    "pow": lambda a, b: f"{a} ** {b}",
    "sin": _call("np.sin"), "cos": _call("np.cos"), "tan": _call("np.tan"),
    "exp": _call("np.exp"), "log": _call("np.log"), "sqrt": _call("np.sqrt"),
    "tanh": _call("np.tanh"), "abs": _call("abs"), "sign": _call("np.sign"),
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

REDUCTIONS = {
    "reduce_sum": ("0", lambda acc, x: f"{acc} += {x}"),
    "reduce_max": ("-np.inf", lambda acc, x: f"{acc} = np.maximum({acc}, {x})"),
}


def _dot(out, a, b):
    return [f"{out} = np.dot({a}, {b})"]


def _reshape(out, x, shape):
    return [f"{out} = {x}.reshape({shape!r})"]


def _transpose(out, x, perm):
    return [f"{out} = {x}.transpose({perm!r})"]


def _getitem(out, x, index):
    return [f"{out} = {x}[{index}]"]


def _guard(out, x, expected, kind, what):
    fails = f"{x} == {x}" if expected != expected else f"{x} != {literal(expected)}"
    return [f"if {fails}:", "    raise GuardFailure"]


STATEMENTS = {
    "dot": _dot,
    "reshape": _reshape,
    "transpose": _transpose,
    "getitem": _getitem,
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
