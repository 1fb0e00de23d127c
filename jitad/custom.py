"""User-defined derivative rules: ``jitad.custom_vjp``, JAX's convention.

>>> import numpy as np, jitad
>>> @jitad.custom_vjp
... def clip_gradient(x):
...     return x
>>> def fwd(x):
...     return clip_gradient(x), None
>>> def bwd(_, y_bar):
...     return (np.minimum(np.maximum(y_bar, -1.0), 1.0),)
>>> clip_gradient.defvjp(fwd, bwd)
>>> jitad.grad(lambda x: 5.0 * clip_gradient(x))(2.0)
1.0

``fwd(*args)`` returns ``(output, residuals)``; ``bwd(residuals, y_bar)``
returns a tuple with one cotangent per argument. Both are ordinary NumPy code,
traced like the rest of the function: they may contain anything jitad can
trace (and a residual may be any tuple/list/dict of arrays). Inside ``fwd``,
calling the decorated function runs its plain definition.

The output must be one array or scalar. Reverse mode (grad, vjp, jacrev) uses
``bwd``; forward mode (jvp, jacfwd) differentiates ``fwd``'s own computation,
so a rule that is not the true derivative (gradient clipping) changes only
reverse mode. Derivatives of the rule itself (``grad(grad(f))``) go through
``bwd``'s traced code.

The primitive behind it, ``custom_vjp_call``, is defined here rather than in
``jitad.primitives`` because its batching rule batches the user's ``bwd``,
which takes the batching transform (a stage above the primitive table).
"""
from __future__ import annotations

import functools

from . import tree
from .transforms import batch_function
from .primitives import Primitive, broadcast_to, reduce_sum, shape_of
from .state import is_tracer
from .tracer import is_static


class custom_vjp:  # noqa: N801 - the decorator's public name, as in JAX
    """A function with a user-supplied reverse-mode rule (see module docs)."""

    def __init__(self, f):
        functools.update_wrapper(self, f)
        self.f = f
        self.fwd = self.bwd = None
        self._in_fwd = False

    def defvjp(self, fwd, bwd):
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        leaves = tree.flatten(args)[0]
        if not any(map(is_tracer, leaves)) or self._in_fwd:
            return self.f(*args)
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.__name__} has no rule: call "
                            f"{self.__name__}.defvjp(fwd, bwd) first")
        self._in_fwd = True
        try:
            out, residuals = self.fwd(*args)
        finally:
            self._in_fwd = False
        if tree.flatten(out)[1] is not tree.LEAF:
            raise TypeError(f"custom_vjp function {self.__name__} must return one array or "
                            "scalar, not a container")
        res_leaves, res_treedef = tree.flatten(residuals)
        # static residual leaves (None, ints, strings) are params, not operands
        static = tuple((i, leaf) for i, leaf in enumerate(res_leaves) if is_static(leaf))
        dynamic = [leaf for leaf in res_leaves if not is_static(leaf)]
        return custom_vjp_call(out, dynamic, list(args), bwd=self.bwd,
                               res_treedef=(res_treedef, static))


# ------------------------------------------------------------ the primitive

def custom_vjp_call(out, residuals, inputs, *, bwd, res_treedef):
    """``out``, with ``bwd`` as the adjoint rule of ``inputs``: the primal was
    computed by the user's fwd (recorded as ordinary ops). Reverse mode does
    not look into those ops but calls ``bwd``; forward mode differentiates them."""
    n_res, n_args = len(residuals), len(inputs)
    return _custom_vjp_primitive(n_res, n_args).bind(
        out, *residuals, *inputs, bwd=bwd, n_res=n_res, res_treedef=res_treedef, n_args=n_args)


def _residuals(dynamic, res_treedef):
    treedef, static = res_treedef
    leaves = list(dynamic)
    for i, value in static:
        leaves.insert(i, value)
    return tree.unflatten(treedef, leaves)


def _cotangents(bwd, residuals, g, n_args):
    bars = bwd(residuals, g)
    if not isinstance(bars, tuple) or len(bars) != n_args:
        raise TypeError(f"custom_vjp: bwd must return a tuple with one cotangent per input "
                        f"({n_args}), got {type(bars).__name__}")
    return bars


def _custom_vjp_rule(k):
    """Adjoint for the k-th input: the user's bwd, traced."""
    def rule(g, y, out, *rest, bwd, n_res, res_treedef, n_args):
        bar = _cotangents(bwd, _residuals(rest[:n_res], res_treedef), g, n_args)[k]
        wanted = shape_of(rest[n_res + k])
        if bar is not None and not _broadcasts_to(shape_of(bar), wanted):
            name = getattr(bwd, "__name__", "bwd")
            raise ValueError(f"custom_vjp: {name} returned a cotangent of shape "
                             f"{shape_of(bar)} for input {k}, which has shape {wanted}; "
                             "return one cotangent per input, each of its input's shape")
        return bar
    return rule


def _broadcasts_to(shape, target) -> bool:
    return len(shape) <= len(target) and all(
        s in (1, t) for s, t in zip(shape[::-1], target[::-1]))


class _BatchedBwd:
    """The user's ``bwd`` for a batch of examples: traced on one example and
    batched through the batching rules (what ``jitad.vmap`` does to code).
    Cotangents of unbatched inputs (shared by every example) are summed over
    the batch; batched inputs get one per example."""

    def __init__(self, bwd, res_flags, in_flags, k):
        self.bwd, self.res_flags, self.in_flags, self.k = bwd, res_flags, in_flags, k
        self.__name__ = f"batched {getattr(bwd, '__name__', 'bwd')}"

    def __call__(self, residuals, g):
        leaves, treedef = tree.flatten(residuals)
        dynamic = [i for i, leaf in enumerate(leaves) if not is_static(leaf)]

        def one_example(*args):
            *values, g_one = args
            per_leaf = list(leaves)
            for i, v in zip(dynamic, values):
                per_leaf[i] = v
            return _cotangents(self.bwd, tree.unflatten(treedef, per_leaf), g_one,
                               len(self.in_flags))
        bars, flags = batch_function(one_example, [leaves[i] for i in dynamic] + [g],
                                     list(self.res_flags) + [True], self.k)
        out = []
        for bar, batched, wanted in zip(bars, flags, self.in_flags):
            if bar is not None and batched and not wanted:
                bar = reduce_sum(bar, (0,))
            elif bar is not None and wanted and not batched:
                bar = broadcast_to(bar, (self.k,) + shape_of(bar))
            out.append(bar)
        return tuple(out)


def _custom_vjp_batch(prim, args, batched, k, bwd, n_res, res_treedef, n_args):
    out, residuals, inputs = args[0], args[1:1 + n_res], args[1 + n_res:]
    if not batched[0]:
        out = broadcast_to(out, (k,) + shape_of(out))
    batched_bwd = _BatchedBwd(bwd, tuple(batched[1:1 + n_res]), tuple(batched[1 + n_res:]), k)
    return custom_vjp_call(out, list(residuals), list(inputs), bwd=batched_bwd,
                           res_treedef=res_treedef)


def _custom_vjp_shape(out, *rest, **params):
    return out.shape, out.dtype


def _custom_vjp_primitive(n_res, n_args):
    """One primitive per arity (its rule lists have one entry per input)."""
    prim = _custom_vjp_prims.get((n_res, n_args))
    if prim is None:
        prim = _custom_vjp_prims[(n_res, n_args)] = Primitive(
            "custom_vjp_call", lambda out, *rest, **params: out, _custom_vjp_shape,
            kind="structural", forwards=0, batch=_custom_vjp_batch,
            jvps=[lambda t, y, *args, **params: t] + [None] * (n_res + n_args),
            vjps=[None] * (1 + n_res) + [_custom_vjp_rule(k) for k in range(n_args)],
            fmt=lambda out, *rest, bwd, **params: f"custom_vjp[{bwd.__name__}]({out}, ...)")
    return prim


_custom_vjp_prims: dict = {}
_custom_vjp_primitive(0, 1)  # one member exists from import on, like every primitive
