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
"""
from __future__ import annotations

import functools

from . import tree
from .primitives import custom_vjp_call
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
        traced = any(hasattr(leaf, "_var") for leaf in leaves)
        if not traced or self._in_fwd:
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
