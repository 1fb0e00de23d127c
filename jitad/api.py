"""The public transforms: flatten -> trace -> transform -> cache -> unflatten.

Every transform is one ``_Dispatcher``: on a call it flattens the arguments,
looks up a kernel by shapes and dtypes, and either calls it or traces the
function, transforms the graph, compiles and caches it. Called on tracers
(inside another transform) it does not compile: it inlines the transformed
graph into the enclosing trace, which is how transforms nest.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from . import primitives as P
from . import transforms, tree
from .backend.codegen import generate
from .backend.compile import compile_kernel
from .cache import Entry, cache_for, leaf_key
from .ir import Graph
from .tracer import Tracer, _install_methods, is_static
from .tracer import trace as trace_graph

_install_methods()


def _argnums(argnums) -> tuple:
    if isinstance(argnums, (int, np.integer)):
        return (int(argnums),)
    return tuple(int(i) for i in argnums)


def _arg_names(f) -> list:
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


# ----------------------------------------------------- values in and out

def _kernel_arg(leaf):
    if type(leaf) is np.ndarray:
        if leaf.ndim == 0:
            return leaf[()]
        return leaf if leaf.flags.c_contiguous else np.ascontiguousarray(leaf)
    return leaf


def _like_leaf(value, leaf):
    """A gradient in the form of its argument: float for float, array of the
    argument's shape and dtype for an array."""
    if value is None or isinstance(value, Tracer):
        return value
    kind = type(leaf)
    if kind is float:
        return float(value)
    if kind is np.ndarray:
        if type(value) is np.ndarray and value.dtype == leaf.dtype:
            return value
        return np.asarray(value, leaf.dtype).reshape(leaf.shape)
    if isinstance(leaf, Tracer):
        return value
    return leaf.dtype.type(value)


def _like_var(value, var):
    """An output value with the dtype the graph says (0-d: a NumPy scalar)."""
    if isinstance(value, Tracer):
        return value
    if not var.shape:
        return var.dtype.type(value)
    return value if value.dtype == var.dtype else value.astype(var.dtype)


class _Layout:
    """Where each argument's leaves are, which are traced, which are wrt."""

    def __init__(self, args, leaves, argnums=()):
        self.traced = [i for i, leaf in enumerate(leaves) if not is_static(leaf)]
        self.arg_leaves = []  # per argument: (treedef, [leaf index])
        start = 0
        for a in args:
            sub, treedef = tree.flatten(a)
            self.arg_leaves.append((treedef, list(range(start, start + len(sub)))))
            start += len(sub)
        position = {leaf: k for k, leaf in enumerate(self.traced)}
        self.wrt = []
        for n in argnums:
            if not -len(args) <= n < len(args):
                raise ValueError(f"argnums {n} is out of range for {len(args)} arguments")
            for i in self.arg_leaves[n][1]:
                _check_differentiable(leaves[i], n)
                self.wrt.append(position[i])

    def unflatten_arg(self, n, values, leaves):
        treedef, idx = self.arg_leaves[n]
        return tree.unflatten(treedef, (_like_leaf(v, leaves[i]) for v, i in zip(values, idx)))


def _check_differentiable(leaf, n):
    if is_static(leaf):
        raise TypeError(f"argument {n} is a Python {type(leaf).__name__} ({leaf!r}); jitad does "
                        "not differentiate integers or booleans: pass a float (2.0, not 2)")
    dtype = leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"argument {n} has dtype {dtype}; jitad differentiates float64 and "
                        f"float32 inputs only: convert it with .astype(float)")


# --------------------------------------------------------------- dispatch

class _Dispatcher:
    """Calls of one transform of one function, by cache key."""

    def __init__(self, f, transform, argnums, build):
        """``argnums`` as the user gave it: ``0`` and ``(0,)`` differ in result
        structure, so they are different caches."""
        self.f, self.build = f, build
        self.argnums = () if argnums is None else _argnums(argnums)
        self.cache = cache_for(f, transform, argnums)
        self.arg_names = _arg_names(f)

    def __call__(self, args, extra=()):
        leaves, treedef = tree.flatten((args, extra))
        try:
            key = (treedef, tuple(map(leaf_key, leaves)))
        except TypeError:
            if any(isinstance(leaf, Tracer) for leaf in leaves):
                return self._inline(args, extra, leaves)
            raise
        entry = self.cache.entries.get(key)
        if entry is None:
            entry = self._compile(key, args, extra, leaves)
        else:
            self.cache.hits += 1
        entry.calls += 1
        return entry.run(leaves)

    def _transformed(self, args, extra, leaves):
        graph, out_treedef, captured = trace_graph(self.f, args, self.arg_names)
        self.cache.traces += 1
        layout = _Layout(args, leaves[:len(leaves) - len(tree.flatten(extra)[0])], self.argnums)
        tgraph, finish = self.build(graph, layout, out_treedef)
        return tgraph, finish, captured

    def _compile(self, key, args, extra, leaves):
        tgraph, finish, _ = self._transformed(args, extra, leaves)
        source, consts = generate(tgraph)
        kernel = compile_kernel(source, consts)
        self.cache.compiles += 1
        traced = [i for i, leaf in enumerate(leaves) if not is_static(leaf)]

        def run(leaves):
            outs = kernel(*[_kernel_arg(leaves[i]) for i in traced])
            return finish([_like_var(o, v) for o, v in zip(outs, tgraph.outputs)], leaves)

        entry = Entry(key, kernel, tgraph, run)
        self.cache.entries[key] = entry
        return entry

    def _inline(self, args, extra, leaves):
        """Inside another trace: emit the transformed graph into it."""
        tgraph, finish, captured = self._transformed(args, extra, leaves)
        n_args = len(leaves) - len(tree.flatten(extra)[0])
        traced = [leaf for leaf in leaves if not is_static(leaf)]
        n_traced_args = sum(not is_static(leaf) for leaf in leaves[:n_args])
        # the transformed graph's inputs: argument leaves, captured, then extra
        inputs = traced[:n_traced_args] + captured + traced[n_traced_args:]
        return finish(transforms.inline(tgraph, inputs), leaves)


def _wrap(dispatcher, f, call):
    functools.update_wrapper(call, f)
    call.cache = dispatcher.cache
    return call


# ------------------------------------------------------------- transforms

def _scalar_output(graph, out_treedef, what):
    if out_treedef is not tree.LEAF or len(graph.outputs) != 1:
        raise TypeError(f"{what} requires a function that returns one scalar; it returned a "
                        f"{'container' if out_treedef is not tree.LEAF else 'value'} of "
                        f"{len(graph.outputs)} values; use jitad.jacobian for several outputs")
    (out,) = graph.outputs
    if out.shape != ():
        raise TypeError(f"{what} requires a scalar output, got an array of shape {out.shape}; "
                        "use jitad.jacobian, or reduce it (np.sum) first")
    if not np.issubdtype(out.dtype, np.floating):
        raise TypeError(f"{what} requires a floating-point output, got dtype {out.dtype}")


def _grad_build(graph, layout, out_treedef, *, argnums, single):
    _scalar_output(graph, out_treedef, "grad")
    tgraph = transforms.vjp_graph(graph, layout.wrt, seed=1.0)

    def finish(outs, leaves):
        value, grads, grouped, start = outs[0], outs[1:], [], 0
        for n in argnums:
            count = len(layout.arg_leaves[n][1])
            grouped.append(layout.unflatten_arg(n, grads[start:start + count], leaves))
            start += count
        return value, (grouped[0] if single else tuple(grouped))
    return tgraph, finish


def value_and_grad(f, argnums=0):
    """``h(*args) = (f(*args), gradient of f with respect to args[argnums])``.

    >>> import numpy as np
    >>> value, g = value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))
    """
    nums = _argnums(argnums)
    build = functools.partial(_grad_build, argnums=nums, single=isinstance(argnums, (int, np.integer)))
    dispatcher = _Dispatcher(f, "value_and_grad", argnums if isinstance(argnums, int) else nums,
                             build)
    return _wrap(dispatcher, f, lambda *args: dispatcher(args))


def grad(f, argnums=0):
    """The gradient of a scalar function, with the structure of ``args[argnums]``.

    The kernel is compiled on the first call for each combination of shapes
    and dtypes, and shared with ``value_and_grad(f, argnums)``.

    >>> import numpy as np
    >>> grad(lambda x1, x2: x1 * np.sin(x2), argnums=(0, 1))(2.0, 0.0)
    (0.0, 2.0)
    """
    value_grad = value_and_grad(f, argnums)

    def g(*args):
        return value_grad(*args)[1]
    g.cache = value_grad.cache
    return functools.update_wrapper(g, f)


def _jit_build(graph, layout, out_treedef):
    def finish(outs, leaves):
        return tree.unflatten(out_treedef, outs)
    return transforms.simplify(graph), finish


def jit(f):
    """``f`` compiled: traced once per shape signature, then one native call.

    >>> import numpy as np
    >>> jit(lambda x: np.sum(np.sin(x)))(np.zeros(3))
    np.float64(0.0)
    """
    dispatcher = _Dispatcher(f, "jit", None, _jit_build)
    return _wrap(dispatcher, f, lambda *args: dispatcher(args))


def _vjp_build(graph, layout, out_treedef, *, nargs):
    n_out = len(graph.outputs)
    tgraph = transforms.vjp_graph(graph, list(range(len(layout.traced))))

    def finish(outs, leaves):
        bars = outs[n_out:]
        bar_of = dict(zip(layout.traced, bars))  # static leaves get None
        return tuple(layout.unflatten_arg(n, [bar_of.get(i) for i in layout.arg_leaves[n][1]],
                                          leaves) for n in range(nargs))
    return tgraph, finish


def vjp(f, *primals):
    """``(f(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` is a tuple with one
    cotangent per primal, each with that primal's structure.

    >>> import numpy as np
    >>> out, vjp_fn = vjp(lambda x: x * 3.0, np.ones(2))
    >>> vjp_fn(np.array([1.0, 2.0]))
    (array([3., 6.]),)
    """
    for n, p in enumerate(primals):
        for leaf in tree.flatten(p)[0]:
            if not is_static(leaf):
                _check_differentiable(leaf, n)
    out = jit(f)(*primals)
    dispatcher = _Dispatcher(f, "vjp", None, functools.partial(_vjp_build, nargs=len(primals)))

    def vjp_fn(cotangent):
        return dispatcher(primals, extra=cotangent)
    vjp_fn.cache = dispatcher.cache
    return out, vjp_fn


def trace(f, *args) -> Graph:
    """The op list ``f(*args)`` records; ``print`` shows it as a Wengert list.

    >>> import numpy as np
    >>> print(trace(lambda x1, x2: x1 * np.sin(x2), 2.0, 0.5))
    v_-1 = x1
    v_0 = x2
    v_1 = sin(v_0)
    v_2 = v_-1 * v_1
    y = v_2
    """
    return trace_graph(f, args, _arg_names(f))[0]


def stop_gradient(x):
    """``x`` as a value with no derivative: gradients do not flow through it.

    >>> import numpy as np
    >>> grad(lambda x: x * stop_gradient(x))(3.0)
    3.0
    """
    leaves, treedef = tree.flatten(x)
    return tree.unflatten(treedef, [P.stop_gradient_p.bind(leaf) if isinstance(leaf, Tracer)
                                    else leaf for leaf in leaves])
