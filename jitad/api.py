"""The public transforms: flatten -> trace -> transform -> cache -> unflatten.

Every transform is a ``Dispatcher`` (``jitad.dispatcher``) with a ``build``
function that turns the traced primal graph into the transformed graph and
the structure of the result (``jitad.calling``).
"""
from __future__ import annotations

import functools

import numpy as np

from . import primitives as P
from . import transforms, tree
from .calling import MISS, Layout, Slot, check_differentiable
from .dispatcher import Dispatcher, arg_names, normalise_argnums
from .errors import GuardFailure
from .ir import Graph
from .state import is_tracer
from .tracer import is_static
from .tracer import trace as trace_graph


def _wrap(dispatcher, f, part=None):
    """The public function: ``dispatcher(args)``, or its item ``part``. A
    call first tries the fast slot (the warm call of Python floats, whole:
    ``calling.make_fast_run``); any other goes to the dispatcher, which fills
    the slot when a call of floats hits."""
    slot = dispatcher.slot = dispatcher.cache.fast_slot(part)

    def call(*args):
        run = slot.run
        if run is not None:
            try:
                result = run(args)
            except GuardFailure:
                return dispatcher.guard_failed(args, run.entry)
            if result is not MISS:
                return result
        return dispatcher(args)

    def call_part(*args):  # the same, for one item of the result (grad's gradient)
        run = slot.run
        if run is not None:
            try:
                result = run(args)
            except GuardFailure:
                return dispatcher.guard_failed(args, run.entry)[part]
            if result is not MISS:
                return result
        return dispatcher(args)[part]
    public = call if part is None else call_part
    functools.update_wrapper(public, f)
    public.cache = dispatcher.cache
    return public


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
        got = "a non-numeric value (None?)" if out.dtype == object else f"dtype {out.dtype}"
        raise TypeError(f"{what} requires a floating-point output, got {got}")


def _grad_build(graph, layout, out_treedef, *, argnums, single):
    _scalar_output(graph, out_treedef, "grad")
    tgraph = transforms.vjp_graph(graph, layout.wrt, seed=1.0)
    out_index = iter(range(1, len(tgraph.outputs)))
    grads = tuple(layout.arg_template(n, lambda i: Slot.like_leaf(
        next(out_index), layout.leaves[i], tgraph.outputs[0].dtype)) for n in argnums)
    return tgraph, (Slot.like_var(0, tgraph.outputs[0]), grads[0] if single else grads)


def _grad_dispatcher(f, argnums, parallel) -> Dispatcher:
    """value_and_grad and grad of one (f, argnums) share a cache and kernels."""
    single = isinstance(argnums, (int, np.integer))
    build = functools.partial(_grad_build, argnums=normalise_argnums(argnums), single=single)
    return Dispatcher(f, "value_and_grad", int(argnums) if single else normalise_argnums(argnums),
                      build, parallel=parallel)


def value_and_grad(f, argnums=0, parallel=None):
    """``h(*args) = (f(*args), gradient of f with respect to args[argnums])``.

    >>> import numpy as np
    >>> value, g = value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))
    """
    dispatcher = _grad_dispatcher(f, argnums, parallel)
    return _wrap(dispatcher, f)


def grad(f, argnums=0, parallel=None):
    """The gradient of a scalar function, with the structure of ``args[argnums]``.

    The kernel is compiled on the first call for each combination of shapes
    and dtypes, and shared with ``value_and_grad(f, argnums)``. ``parallel``
    (every transform takes it): run large fused loops on every core of
    numba's thread pool (``NUMBA_NUM_THREADS``); None, the default, does so
    when that pool has more than one thread, for loops of 2**22 elements or
    more (True: from 2**17).

    >>> import numpy as np
    >>> grad(lambda x1, x2: x1 * np.sin(x2), argnums=(0, 1))(2.0, 0.0)
    (0.0, 2.0)
    """
    dispatcher = _grad_dispatcher(f, argnums, parallel)
    return _wrap(dispatcher, f, part=1)


def _jit_build(graph, layout, out_treedef):
    graph = transforms.simplify(graph)
    slots = [Slot.like_var(k, o) for k, o in enumerate(graph.outputs)]
    return graph, tree.unflatten(out_treedef, slots)


def jit(f, parallel=None):
    """``f`` compiled: traced once per shape signature, then one native call.

    >>> import numpy as np
    >>> jit(lambda x: np.sum(np.sin(x)))(np.zeros(3))
    np.float64(0.0)
    """
    dispatcher = Dispatcher(f, "jit", None, _jit_build, parallel=parallel)
    return _wrap(dispatcher, f)


def _vjp_build(graph, layout, out_treedef, *, nargs):
    n_out = len(graph.outputs)
    tgraph = transforms.vjp_graph(graph, list(range(len(layout.traced))))
    out_of_leaf = {leaf: n_out + k for k, leaf in enumerate(layout.traced)}

    def slot(i):  # static leaves (ints) get None
        leaf = layout.leaves[i]
        return Slot.like_leaf(out_of_leaf[i], leaf, leaf.dtype if hasattr(leaf, "dtype")
                              else np.dtype(float)) if i in out_of_leaf else None
    return tgraph, tuple(layout.arg_template(n, slot) for n in range(nargs))


def vjp(f, *primals, parallel=None):
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
                check_differentiable(leaf, n)
    out = jit(f, parallel=parallel)(*primals)
    dispatcher = Dispatcher(f, "vjp", None, functools.partial(_vjp_build, nargs=len(primals)),
                            differentiates_all=True, parallel=parallel)

    def vjp_fn(cotangent):
        if tree.flatten(cotangent)[1] != tree.flatten(out)[1]:
            raise TypeError("vjp: the cotangent must have the structure of f's output")
        _check_shapes("vjp: the cotangent", tree.flatten(cotangent)[0], "output",
                      tree.flatten(out)[0])
        return dispatcher(primals, extra=cotangent)
    vjp_fn.cache = dispatcher.cache
    return out, vjp_fn


def _check_shapes(what, leaves, like, expected):
    """A ValueError when a tangent or cotangent leaf's shape is not its
    primal's (a kernel would read past the array it was given)."""
    for n, (leaf, want) in enumerate(zip(leaves, expected)):
        if np.shape(leaf) != np.shape(want):
            raise ValueError(f"{what} {n} has shape {np.shape(leaf)}, but the {like} has shape "
                             f"{np.shape(want)}: pass one of the same shape")


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
    return trace_graph(f, args, arg_names(f))[0]


def stop_gradient(x):
    """``x`` as a value with no derivative: gradients do not flow through it.

    >>> import numpy as np
    >>> grad(lambda x: x * stop_gradient(x))(3.0)
    3.0
    """
    leaves, treedef = tree.flatten(x)
    return tree.unflatten(treedef, [P.stop_gradient_p.bind(leaf) if is_tracer(leaf)
                                    else leaf for leaf in leaves])


# ------------------------------------------------------- forward mode, Jacobians

def _jvp_build(graph, layout, out_treedef):
    tgraph = transforms.jvp_graph(graph, list(range(len(layout.traced))))
    n_out = len(graph.outputs)
    outs = [Slot.like_var(k, o) for k, o in enumerate(tgraph.outputs[:n_out])]
    dots = [Slot.like_var(n_out + k, o) for k, o in enumerate(tgraph.outputs[n_out:])]
    return tgraph, (tree.unflatten(out_treedef, outs), tree.unflatten(out_treedef, dots))


def jvp(f, primals, tangents, parallel=None):
    """``(f(*primals), tangent_out)``: the derivative of f at ``primals`` along
    ``tangents`` (a tuple with the structure of ``primals``), by one tangent
    sweep; compiled and cached like ``grad``.

    >>> import numpy as np
    >>> jvp(lambda x: np.sin(x) * 2.0, (0.0,), (1.0,))
    (np.float64(0.0), np.float64(2.0))
    """
    if not (isinstance(primals, (tuple, list)) and isinstance(tangents, (tuple, list))):
        raise TypeError("jvp: primals and tangents must be tuples, one entry per argument of "
                        "f: jvp(f, (x,), (v,))")
    primals, tangents = tuple(primals), tuple(tangents)
    if tree.flatten(primals)[1] != tree.flatten(tangents)[1]:
        raise TypeError("jvp: tangents must have the structure of primals")
    _check_shapes("jvp: the tangent", tree.flatten(tangents)[0], "primal",
                  tree.flatten(primals)[0])
    for n, p in enumerate(primals):
        for leaf in tree.flatten(p)[0]:
            check_differentiable(leaf, n)
    dispatcher = Dispatcher(f, "jvp", None, _jvp_build, differentiates_all=True,
                            parallel=parallel)
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


def _jacobian_transform(f, argnums, mode, parallel):
    single = isinstance(argnums, (int, np.integer))
    build = functools.partial(_jacobian_build, mode=mode, argnums=normalise_argnums(argnums),
                              single=single)
    dispatcher = Dispatcher(f, f"jac{mode}", int(argnums) if single else normalise_argnums(argnums),
                            build, parallel=parallel)
    return _wrap(dispatcher, f)


def jacfwd(f, argnums=0, parallel=None):
    """The Jacobian by forward mode: one tangent sweep carrying the block of
    all input directions, so one kernel call builds it. For each output leaf
    and argument leaf, a block of shape ``output.shape + input.shape``.

    >>> import numpy as np
    >>> jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    return _jacobian_transform(f, argnums, "fwd", parallel)


def jacrev(f, argnums=0, parallel=None):
    """The Jacobian by reverse mode: one adjoint sweep carrying the block of
    all output cotangents. Same layout as ``jacfwd``.

    >>> import numpy as np
    >>> jacrev(lambda x: np.sum(x) * x)(np.array([1.0, 2.0]))
    array([[4., 1.],
           [2., 5.]])
    """
    return _jacobian_transform(f, argnums, "rev", parallel)


def jacobian(f, argnums=0, mode="auto", parallel=None):
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
        return jacfwd(f, argnums, parallel)
    if mode == "rev":
        return jacrev(f, argnums, parallel)
    if mode != "auto":
        raise ValueError(f"jacobian: mode must be 'fwd', 'rev' or 'auto', not {mode!r}")
    jac = _jacobian_transform(f, argnums, "auto", parallel)
    layout_args = functools.partial(Layout, argnums=normalise_argnums(argnums))

    def choose(*args):
        graph = trace_graph(f, args, arg_names(f))[0]
        return _auto_mode(graph, layout_args(args, tree.flatten(args)[0]).wrt)
    jac.choose, jac.fwd, jac.rev = choose, jacfwd(f, argnums, parallel), jacrev(f, argnums,
                                                                               parallel)
    return jac


def hessian(f, argnums=0, parallel=None):
    """The Hessian, forward over reverse: ``jacfwd(grad(f))``. For one array
    argument of shape s, an array of shape s + s.

    >>> import numpy as np
    >>> hessian(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacfwd(grad(f, argnums, parallel), argnums, parallel)
