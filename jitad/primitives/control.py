"""Effects and user rules: guards on values the trace turned into Python
values, and calls of user-defined adjoints (``jitad.custom_vjp``)."""
from __future__ import annotations

import numpy as np

from .core import Primitive


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
        from ..tree import unflatten
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
    return _custom_vjp_primitive(n_res, n_args).bind(
        out, *residuals, *inputs, bwd=bwd, n_res=n_res, res_treedef=res_treedef, n_args=n_args)


def _custom_vjp_primitive(n_res, n_args):
    """One primitive per arity (its rule lists have one entry per input)."""
    prim = _custom_vjp_prims.get((n_res, n_args))
    if prim is None:
        prim = _custom_vjp_prims[(n_res, n_args)] = Primitive(
            "custom_vjp_call", lambda out, *rest, **params: out, _custom_vjp_shape,
            jvps=[lambda t, y, *args, **params: t] + [None] * (n_res + n_args),
            vjps=[None] * (1 + n_res) + [_custom_vjp_rule(k) for k in range(n_args)],
            fmt=lambda out, *rest, bwd, **params: f"custom_vjp[{bwd.__name__}]({out}, ...)")
    return prim


_custom_vjp_prims: dict = {}
_custom_vjp_primitive(0, 1)  # registers the family at import, like every primitive
