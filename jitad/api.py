"""The public transforms: flatten -> trace -> transform -> cache -> unflatten.

Every transform is one ``_Dispatcher``: on a call it flattens the arguments,
looks up a kernel by shapes and dtypes, and either calls it or traces the
function, transforms the graph, compiles and caches it. Called on tracers
(inside another transform) it does not compile: it inlines the transformed
graph into the enclosing trace, which is how transforms nest.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import warnings
from dataclasses import dataclass

import numpy as np

from . import primitives as P
from . import transforms, tree
from .backend import lower
from .cache import MAX_VARIANTS, RETRACE_WARNING, Entry, RetraceWarning, TreeKey, cache_for, leaf_key
from .ir import Graph
from .primitives import GuardFailure
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

@dataclass(frozen=True)
class Slot:
    """A place in a transform's result filled by kernel output ``index``,
    converted to the user-facing type (``kind``: float, scalar, array0, array)."""

    index: int
    kind: str
    dtype: np.dtype

    @staticmethod
    def like_leaf(index, leaf, dtype) -> "Slot":
        """Shaped like an argument: float for a float, array for an array."""
        if type(leaf) is float:
            return Slot(index, "float", dtype)
        if type(leaf) is np.ndarray:
            return Slot(index, "array" if leaf.ndim else "array0", leaf.dtype)
        return Slot(index, "scalar", leaf.dtype)

    @staticmethod
    def like_var(index, var) -> "Slot":
        """An output: a NumPy scalar if 0-d, else the array itself."""
        return Slot(index, "scalar" if not var.shape else "array", var.dtype)

    def source(self, value: str) -> str:
        if self.kind == "float":
            return f"float({value})"
        if self.kind == "scalar":
            return f"np.{self.dtype.name}({value})"
        if self.kind == "array0":
            return f"np.asarray({value}, np.{self.dtype.name})"
        return value

    def convert(self, value):
        if isinstance(value, Tracer):
            return value
        if self.kind == "array":
            return np.asarray(value, self.dtype).copy() if not isinstance(value, np.ndarray) \
                else value
        return eval(self.source("value"), {"np": np}, {"value": value})  # noqa: S307


def _template_source(template) -> str:
    """Python source that builds ``template`` from the kernel outputs ``o``."""
    if isinstance(template, Slot):
        return template.source(f"o[{template.index}]")
    if template is None:
        return "None"
    if isinstance(template, dict):
        return "{" + ", ".join(f"{k!r}: {_template_source(v)}" for k, v in template.items()) + "}"
    inner = "".join(f"{_template_source(t)}, " for t in template)
    return f"[{inner}]" if isinstance(template, list) else f"({inner})"


def _fill(template, outs):
    """``template`` with each Slot replaced by its output (the inline path)."""
    if isinstance(template, Slot):
        return template.convert(outs[template.index])
    if isinstance(template, dict):
        return {k: _fill(v, outs) for k, v in template.items()}
    if isinstance(template, (tuple, list)):
        return type(template)(_fill(t, outs) for t in template)
    return template


def _contiguous(a):
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _argument_source(i, leaf) -> str:
    if type(leaf) is np.ndarray:
        return f"leaves[{i}][()]" if leaf.ndim == 0 else f"_contiguous(leaves[{i}])"
    return f"leaves[{i}]"


def _make_run(fn, leaves, traced, template, consts=()):
    """``run(leaves)``: the kernel call and result conversion as one generated
    function, so a warm call does no interpretation of the result structure.
    ``consts``: arrays the kernel takes after the inputs."""
    args = [_argument_source(i, leaves[i]) for i in traced]
    args += [f"c_{k}" for k in range(len(consts))]
    source = (f"def run(leaves):\n    o = fn({', '.join(args)})\n"
              f"    return {_template_source(template)}\n")
    namespace = {"fn": fn, "np": np, "_contiguous": _contiguous}
    namespace.update((f"c_{k}", c) for k, c in enumerate(consts))
    exec(compile(source, "<jitad dispatch>", "exec"), namespace)  # noqa: S102
    run = namespace["run"]
    run.source = source
    return run


class _Layout:
    """Where each argument's leaves are, which are traced, which are wrt."""

    def __init__(self, args, leaves, argnums=()):
        self.leaves = leaves
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

    def arg_template(self, n, slot_of_leaf):
        """Argument ``n``'s structure with ``slot_of_leaf(i)`` at each leaf."""
        treedef, idx = self.arg_leaves[n]
        return tree.unflatten(treedef, map(slot_of_leaf, idx))


def _check_differentiable(leaf, n):
    if is_static(leaf):
        raise TypeError(f"argument {n} is a Python {type(leaf).__name__} ({leaf!r}); jitad does "
                        "not differentiate integers or booleans: pass a float (2.0, not 2)")
    dtype = leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"argument {n} has dtype {dtype}; jitad differentiates float64 and "
                        f"float32 inputs only: convert it with .astype(float)")


# --------------------------------------------------------------- dispatch

def _float_key(a):
    return float


def _array_key(a):
    return (a.shape, a.dtype.str)


_FLAT_KEYS = {float: _float_key, np.ndarray: _array_key}


class _Dispatcher:
    """Calls of one transform of one function, by cache key.

    A call whose arguments are all floats and arrays takes the short path: its
    key is the tuple of leaf keys. Anything else is flattened first.
    """

    def __init__(self, f, transform, argnums, build):
        """``argnums`` as the user gave it: ``0`` and ``(0,)`` differ in result
        structure, so they are different caches."""
        self.f, self.build = f, build
        self.argnums = () if argnums is None else _argnums(argnums)
        self.cache = cache_for(f, transform, argnums)
        self.arg_names = _arg_names(f)

    def __call__(self, args, extra=None):
        """``extra``: kernel inputs that are not arguments of f (the cotangent
        of vjp, the tangents of jvp)."""
        try:
            key, leaves = (tuple([_FLAT_KEYS[type(a)](a) for a in args]), args) \
                if extra is None else (None, None)
        except KeyError:
            key = None
        if key is None:
            leaves, treedef = tree.flatten(args if extra is None else (args, extra))
            try:
                key = TreeKey(treedef, tuple(map(leaf_key, leaves)))
            except TypeError:
                if any(isinstance(leaf, Tracer) for leaf in leaves):
                    return self._inline(args, extra, leaves)
                raise
        variants = self.cache.entries.get(key)
        if variants is None:
            return self._compile(key, args, extra, leaves)
        try:
            result = variants[0].run(leaves)
        except GuardFailure:
            return self._other_path(key, variants, args, extra, leaves)
        self.cache.hits += 1
        variants[0].calls += 1
        return result

    def _other_path(self, key, variants, args, extra, leaves):
        """A guard failed: the inputs take another path through the function.
        Try the other cached variants, else trace this path anew."""
        for k, entry in enumerate(variants[1:], start=1):
            try:
                result = entry.run(leaves)
            except GuardFailure:
                continue
            variants.insert(0, variants.pop(k))  # most recently used first
            self.cache.hits += 1
            entry.calls += 1
            return result
        self.cache.retraces += 1
        if self.cache.retraces == RETRACE_WARNING:
            warnings.warn(f"{self.cache.name} has re-traced {self.cache.retraces} times because "
                          "its control flow depends on input values; each new path compiles a "
                          f"kernel (at most {MAX_VARIANTS} are kept per shape). Consider "
                          "np.where for value-dependent choices.", RetraceWarning, stacklevel=3)
        return self._compile(key, args, extra, leaves)

    def _transformed(self, args, extra, leaves):
        graph, out_treedef, captured = trace_graph(self.f, args, self.arg_names)
        self.cache.traces += 1
        # CSE first: a value the user computed twice (x[:-1] in two places)
        # then gets one adjoint, accumulated before it is scattered back.
        graph = transforms.simplify(graph)
        layout = _Layout(args, list(leaves[:len(leaves) - _count_leaves(extra)]), self.argnums)
        tgraph, template = self.build(graph, layout, out_treedef)
        return tgraph, template, captured

    def _compile(self, key, args, extra, leaves):
        """Trace, transform, compile; cache the entry; return this call's result."""
        with _collector_paused():
            tgraph, template, captured = self._transformed(args, extra, leaves)
            if captured:  # f closes over a value of an enclosing trace: part of that trace
                return self._emit(tgraph, template, captured, leaves, extra)
            kernel = lower(tgraph)
        self.cache.compiles += 1
        traced = [i for i, leaf in enumerate(leaves) if not is_static(leaf)]
        result = _make_run(kernel, leaves, traced, template)(leaves)  # compiles
        run = _make_run(kernel.fast_call(), leaves, traced, template, kernel.consts)
        variants = self.cache.entries.setdefault(key, [])
        variants.insert(0, Entry(key, kernel, tgraph, run, calls=1))
        del variants[MAX_VARIANTS:]
        return result

    def _inline(self, args, extra, leaves):
        """Inside another trace: emit the transformed graph into it."""
        return self._emit(*self._transformed(args, extra, leaves), leaves, extra)

    def _emit(self, tgraph, template, captured, leaves, extra):
        n_args = len(leaves) - _count_leaves(extra)
        traced = [leaf for leaf in leaves if not is_static(leaf)]
        n_traced_args = sum(not is_static(leaf) for leaf in leaves[:n_args])
        # the transformed graph's inputs: argument leaves, captured, then extra
        inputs = traced[:n_traced_args] + captured + traced[n_traced_args:]
        return _fill(template, transforms.inline(tgraph, inputs))


@contextlib.contextmanager
def _collector_paused():
    """Building a graph allocates many small objects that all stay alive, so
    Python's cyclic collector would rescan a growing heap for nothing
    (measured: 25-45% of the time of a long trace)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _count_leaves(extra) -> int:
    return 0 if extra is None else len(tree.flatten(extra)[0])


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
    out_index = iter(range(1, len(tgraph.outputs)))
    grads = tuple(layout.arg_template(n, lambda i: Slot.like_leaf(
        next(out_index), layout.leaves[i], tgraph.outputs[0].dtype)) for n in argnums)
    return tgraph, (Slot.like_var(0, tgraph.outputs[0]), grads[0] if single else grads)


def _grad_dispatcher(f, argnums) -> _Dispatcher:
    """value_and_grad and grad of one (f, argnums) share a cache and kernels."""
    single = isinstance(argnums, (int, np.integer))
    build = functools.partial(_grad_build, argnums=_argnums(argnums), single=single)
    return _Dispatcher(f, "value_and_grad", int(argnums) if single else _argnums(argnums), build)


def value_and_grad(f, argnums=0):
    """``h(*args) = (f(*args), gradient of f with respect to args[argnums])``.

    >>> import numpy as np
    >>> value, g = value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))
    """
    dispatcher = _grad_dispatcher(f, argnums)
    return _wrap(dispatcher, f, lambda *args: dispatcher(args))


def grad(f, argnums=0):
    """The gradient of a scalar function, with the structure of ``args[argnums]``.

    The kernel is compiled on the first call for each combination of shapes
    and dtypes, and shared with ``value_and_grad(f, argnums)``.

    >>> import numpy as np
    >>> grad(lambda x1, x2: x1 * np.sin(x2), argnums=(0, 1))(2.0, 0.0)
    (0.0, 2.0)
    """
    dispatcher = _grad_dispatcher(f, argnums)
    return _wrap(dispatcher, f, lambda *args: dispatcher(args)[1])


def _jit_build(graph, layout, out_treedef):
    graph = transforms.simplify(graph)
    slots = [Slot.like_var(k, o) for k, o in enumerate(graph.outputs)]
    return graph, tree.unflatten(out_treedef, slots)


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
    out_of_leaf = {leaf: n_out + k for k, leaf in enumerate(layout.traced)}

    def slot(i):  # static leaves (ints) get None
        leaf = layout.leaves[i]
        return Slot.like_leaf(out_of_leaf[i], leaf, leaf.dtype if hasattr(leaf, "dtype")
                              else np.dtype(float)) if i in out_of_leaf else None
    return tgraph, tuple(layout.arg_template(n, slot) for n in range(nargs))


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


# ------------------------------------------------------- forward mode, Jacobians

def _jvp_build(graph, layout, out_treedef):
    tgraph = transforms.jvp_graph(graph, list(range(len(layout.traced))))
    n_out = len(graph.outputs)
    outs = [Slot.like_var(k, o) for k, o in enumerate(tgraph.outputs[:n_out])]
    dots = [Slot.like_var(n_out + k, o) for k, o in enumerate(tgraph.outputs[n_out:])]
    return tgraph, (tree.unflatten(out_treedef, outs), tree.unflatten(out_treedef, dots))


def jvp(f, primals, tangents):
    """``(f(*primals), tangent_out)``: the derivative of f at ``primals`` along
    ``tangents`` (a tuple with the structure of ``primals``), by one tangent
    sweep; compiled and cached like ``grad``.

    >>> import numpy as np
    >>> jvp(lambda x: np.sin(x) * 2.0, (0.0,), (1.0,))
    (np.float64(0.0), np.float64(2.0))
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if tree.flatten(primals)[1] != tree.flatten(tangents)[1]:
        raise TypeError("jvp: tangents must have the structure of primals")
    for n, p in enumerate(primals):
        for leaf in tree.flatten(p)[0]:
            _check_differentiable(leaf, n)
    dispatcher = _Dispatcher(f, "jvp", None, _jvp_build)
    return dispatcher(primals, extra=tangents)


def _jacobian_build(graph, layout, out_treedef, *, mode, argnums, single):
    if mode == "auto":
        mode = _auto_mode(graph, layout.wrt)
    make = transforms.jacfwd_graph if mode == "fwd" else transforms.jacrev_graph
    tgraph = make(graph, layout.wrt)
    index = iter(range(len(tgraph.outputs)))
    per_output = []
    for _ in graph.outputs:  # output-major, as the graph lists the blocks
        per_arg = tuple(layout.arg_template(n, lambda i: Slot.like_var(
            k := next(index), tgraph.outputs[k])) for n in argnums)
        per_output.append(per_arg[0] if single else per_arg)
    return tgraph, tree.unflatten(out_treedef, per_output)


def _auto_mode(graph, wrt) -> str:
    """Forward when the differentiated inputs have at most as many elements as
    the outputs: a sweep per input is then no dearer than one per output."""
    n_in = sum(graph.inputs[k].size for k in wrt)
    n_out = sum(out.size for out in graph.outputs)
    return "fwd" if n_in <= n_out else "rev"


def _jacobian_transform(f, argnums, mode):
    single = isinstance(argnums, (int, np.integer))
    build = functools.partial(_jacobian_build, mode=mode, argnums=_argnums(argnums), single=single)
    dispatcher = _Dispatcher(f, f"jac{mode}", int(argnums) if single else _argnums(argnums), build)
    return _wrap(dispatcher, f, lambda *args: dispatcher(args))


def jacfwd(f, argnums=0):
    """The Jacobian by forward mode: one tangent sweep carrying the block of
    all input directions, so one kernel call builds it. For each output leaf
    and argument leaf, a block of shape ``output.shape + input.shape``.

    >>> import numpy as np
    >>> jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    return _jacobian_transform(f, argnums, "fwd")


def jacrev(f, argnums=0):
    """The Jacobian by reverse mode: one adjoint sweep carrying the block of
    all output cotangents. Same layout as ``jacfwd``.

    >>> import numpy as np
    >>> jacrev(lambda x: np.sum(x) * x)(np.array([1.0, 2.0]))
    array([[4., 1.],
           [2., 5.]])
    """
    return _jacobian_transform(f, argnums, "rev")


def jacobian(f, argnums=0, mode="auto"):
    """The Jacobian by ``mode``: ``"fwd"``, ``"rev"``, or ``"auto"``, which
    takes forward mode when the differentiated inputs have at most as many
    elements as the outputs (a sweep per input is then no dearer than one per
    output) and reverse mode otherwise. The choice is made once per shape
    signature; ``jacobian(f).choose(*args)`` tells it, and ``.fwd``/``.rev``
    are the two underlying transforms.

    >>> import numpy as np
    >>> J = jacobian(lambda x: np.sum(x ** 2))
    >>> J.choose(np.ones(3)), J(np.ones(3))
    ('rev', array([2., 2., 2.]))
    """
    if mode == "fwd":
        return jacfwd(f, argnums)
    if mode == "rev":
        return jacrev(f, argnums)
    if mode != "auto":
        raise ValueError(f"jacobian: mode must be 'fwd', 'rev' or 'auto', not {mode!r}")
    jac = _jacobian_transform(f, argnums, "auto")
    layout_args = functools.partial(_Layout, argnums=_argnums(argnums))

    def choose(*args):
        graph = trace_graph(f, args, _arg_names(f))[0]
        return _auto_mode(graph, layout_args(args, tree.flatten(args)[0]).wrt)
    jac.choose, jac.fwd, jac.rev = choose, jacfwd(f, argnums), jacrev(f, argnums)
    return jac


def hessian(f, argnums=0):
    """The Hessian, forward over reverse: ``jacfwd(grad(f))``. For one array
    argument of shape s, an array of shape s + s.

    >>> import numpy as np
    >>> hessian(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacfwd(grad(f, argnums), argnums)
