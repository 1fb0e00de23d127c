"""Graph -> Graph transforms: the adjoint sweep, the tangent sweep, clean-ups.

Every transform is the same loop over ``graph.ops`` with an environment from
Var to value; it re-emits ops through ``Primitive.bind`` into whatever
``Builder`` its arguments belong to. Run on a fresh abstract builder that
yields a new graph (``vjp_graph``, ``jvp_graph``); run on the tracers of a
user trace it inlines a derivative into it, which is how ``grad(grad(f))``
works with no extra code.

Adjoints are accumulated and cotangents unbroadcast here, once, in the sweep.
"""
from __future__ import annotations

import numpy as np

from . import primitives as P
from .ir import Graph, Lit, Var
from .batching import batch_sweep
from .tracer import Builder, Tracer


def _reader(env):
    def read(a):
        return a.val if isinstance(a, Lit) else env[a]
    return read


def inline(graph: Graph, args) -> list:
    """Evaluate ``graph`` on ``args`` by binding every op: concrete args give
    NumPy values, tracer args record the ops into their trace."""
    env = dict(zip(graph.inputs, args))
    read = _reader(env)
    for op in graph.ops:
        out = op.primitive.bind(*map(read, op.inputs), **op.params)
        for v in op.outputs:
            env[v] = out
    return [read(o) for o in graph.outputs]


def is_float(a) -> bool:
    return np.issubdtype(a.dtype, np.inexact)


def active_vars(graph: Graph, wrt) -> set:
    """Vars that depend on an input in ``wrt`` through differentiable ops.

    A value guard (float(), int(), .item(), or a math function calling them)
    on an active var is an error: the Python number it produced is a constant
    to the trace, so the derivative would silently leave that path out.
    """
    active = {graph.inputs[i] for i in wrt}
    for op in graph.ops:
        if op.primitive.effect and op.params.get("kind") == "value" and op.inputs[0] in active:
            raise TypeError(
                f"{op.params['what']} of a traced value that depends on the differentiated "
                "input: the Python number it makes is a constant to jitad, so the derivative "
                "would leave it out. If you called a `math` function use its NumPy twin "
                "(np.sin, not math.sin); for a branch use np.where; to cut the gradient "
                "on purpose use jitad.stop_gradient")
        for x, rule in zip(op.inputs, op.primitive.vjps):
            if rule is not None and x in active:
                active.update(v for v in op.outputs if is_float(v))
                break
    return active


def _fit(value, like):
    """Make a tangent or cotangent have the shape and dtype of ``like``:
    broadcast it up, or sum out the axes broadcasting created."""
    shape = P.shape_of(value)
    if shape != like.shape:
        extra = len(shape) - len(like.shape)
        if extra <= 0 and _broadcasts_to(shape, like.shape):
            value = P.broadcast_to(value, like.shape)
        else:
            summed = list(range(extra)) + [extra + i for i, n in enumerate(like.shape)
                                           if n == 1 and shape[extra + i] != 1]
            value = P.reshape(P.reduce_sum(value, summed), like.shape)
    if P.dtype_of(value) != like.dtype:
        value = P.convert(value, like.dtype)
    return value


def _broadcasts_to(shape, target) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def vjp_sweep(graph: Graph, primals, cotangents, wrt, env=None) -> tuple[list, list]:
    """Primal sweep, then the adjoint sweep in reverse order.

    ``cotangents``: one per graph output (None for zero). Returns (outputs,
    cotangents of the inputs in ``wrt``; None where the output does not depend
    on that input). ``env``: primal values already emitted (``_adopt``).
    """
    active = active_vars(graph, wrt)
    if env is None:
        env = dict(zip(graph.inputs, primals))
        for op in graph.ops:
            out = op.primitive.bind(*[env[a] if type(a) is Var else a.val for a in op.inputs],
                                    **op.params)
            for v in op.outputs:
                env[v] = out
    read = _reader(env)

    adjoints: dict[Var, object] = {}

    def accumulate(var, value):
        value = _fit(value, var)
        adjoints[var] = P.add(adjoints[var], value) if var in adjoints else value

    for o, ct in zip(graph.outputs, cotangents):
        if ct is not None and o in active:
            accumulate(o, ct)
    for op in reversed(graph.ops):
        if not op.outputs or op.outputs[0] not in adjoints:
            continue
        g = adjoints.pop(op.outputs[0])
        y = env[op.outputs[0]]
        args = list(map(read, op.inputs))
        for x, rule in zip(op.inputs, op.primitive.vjps):
            if rule is not None and x in active:
                x_bar = rule(g, y, *args, **op.params)
                if x_bar is not None:
                    accumulate(x, x_bar)
    return [read(o) for o in graph.outputs], [adjoints.get(graph.inputs[i]) for i in wrt]


def jvp_sweep(graph: Graph, primals, tangents, wrt, env=None) -> tuple[list, list]:
    """Primal and tangent values together, in one forward sweep.

    ``tangents``: one per input in ``wrt``. Returns (outputs, output tangents;
    None where an output does not depend on the ``wrt`` inputs). ``env``:
    primal values already emitted (``_adopt``).
    """
    adopted = env is not None
    env = env if adopted else dict(zip(graph.inputs, primals))
    read = _reader(env)
    active_vars(graph, wrt)  # refuses value guards on differentiated paths
    dots = {graph.inputs[i]: _fit(t, graph.inputs[i]) for i, t in zip(wrt, tangents)}
    for op in graph.ops:
        args = list(map(read, op.inputs))
        if adopted:
            y = env[op.outputs[0]] if op.outputs else None
        else:
            y = op.primitive.bind(*args, **op.params)
            for v in op.outputs:
                env[v] = y
        y_dot = None
        for x, rule in zip(op.inputs, op.primitive.jvps):
            if rule is not None and x in dots:
                term = rule(dots[x], y, *args, **op.params)
                if term is not None:
                    y_dot = term if y_dot is None else P.add(y_dot, term)
        if y_dot is not None and op.outputs and is_float(op.outputs[0]):
            dots[op.outputs[0]] = _fit(y_dot, op.outputs[0])
    return [read(o) for o in graph.outputs], [dots.get(o) if isinstance(o, Var) else None
                                              for o in graph.outputs]


def _new_inputs(builder, vars_):
    return [builder.new_input(v.shape, v.dtype) for v in vars_]


def _adopt(builder, graph) -> dict:
    """A fresh builder takes the primal graph's inputs and ops as they are
    (re-emitting them one bind at a time would rebuild the same ops); returns
    the environment of primal values for the sweeps."""
    builder.inputs.extend(graph.inputs)
    builder.ops.extend(graph.ops)
    env = {v: Tracer(v, None, builder) for v in graph.inputs}
    env.update((v, Tracer(v, None, builder)) for op in graph.ops for v in op.outputs)
    return env


def _zeros_for(value, var):
    return value if value is not None else P.zeros_like_shape(var.shape, var.dtype)


def vjp_graph(graph: Graph, wrt, seed=None) -> Graph:
    """Graph with inputs (primal inputs, output cotangents) and outputs (primal
    outputs, cotangents of the ``wrt`` inputs). With ``seed`` (a number), the
    output cotangents are that constant and are not inputs: ``seed=1.0`` on a
    scalar output gives value and gradient."""
    with Builder(concrete=False) as builder:
        env = _adopt(builder, graph)
        if seed is None:
            cts = _new_inputs(builder, graph.outputs)
        else:
            cts = [seed] * len(graph.outputs)
        outs, bars = vjp_sweep(graph, None, cts, wrt, env=env)
        bars = [_zeros_for(b, graph.inputs[i]) for b, i in zip(bars, wrt)]
    return simplify(builder.graph(outs + bars))


def jvp_graph(graph: Graph, wrt) -> Graph:
    """Graph with inputs (primal inputs, tangents of the ``wrt`` inputs) and
    outputs (primal outputs, output tangents)."""
    with Builder(concrete=False) as builder:
        env = _adopt(builder, graph)
        tangents = _new_inputs(builder, [graph.inputs[i] for i in wrt])
        outs, dots = jvp_sweep(graph, None, tangents, wrt, env=env)
        dots = [_zeros_for(d, o) for d, o in zip(dots, graph.outputs)]
    return simplify(builder.graph(outs + dots))


# ----------------------------------------------------------------- clean-ups

def dce(graph: Graph) -> Graph:
    """Drop ops whose outputs nothing uses (guards are always kept)."""
    live = {o for o in graph.outputs if isinstance(o, Var)}
    kept = []
    for op in reversed(graph.ops):
        if op.primitive.effect or any(v in live for v in op.outputs):
            kept.append(op)
            live.update(a for a in op.inputs if isinstance(a, Var))
    return Graph(graph.inputs, tuple(reversed(kept)), graph.outputs, graph.input_names)


def _lit_key(a):
    if a.shape:
        return ("array", id(a.val))
    return ("scalar", a.val, a.dtype, a.weak)


def cse(graph: Graph) -> Graph:
    """Merge ops that apply the same primitive to the same inputs and params."""
    seen, rename, ops = {}, {}, []
    for op in graph.ops:
        inputs = tuple([rename.get(a, a) if type(a) is Var else a for a in op.inputs])
        key = (op.primitive, tuple([a if type(a) is Var else _lit_key(a) for a in inputs]),
               tuple(op.params.items()))
        if not op.primitive.effect:
            first = seen.get(key)
            if first is not None:
                for old, new in zip(op.outputs, first.outputs):
                    rename[old] = new
                continue
        if inputs != op.inputs:
            op = type(op)(op.primitive, inputs, op.outputs, op.params)
        seen[key] = op
        ops.append(op)
    outputs = tuple(rename.get(o, o) if type(o) is Var else o for o in graph.outputs)
    return Graph(graph.inputs, tuple(ops), outputs, graph.input_names)


def simplify(graph: Graph) -> Graph:
    return dce(cse(graph))


# ---------------------------------------------------------------- Jacobians

def _unit_blocks(avals):
    """The identity, split into one block of directions per value: block j
    has shape (total size,) + avals[j].shape."""
    total = sum(a.size for a in avals)
    eye = np.eye(total)
    blocks, offset = [], 0
    for a in avals:
        blocks.append(eye[:, offset:offset + a.size].reshape((total,) + a.shape).astype(a.dtype))
        offset += a.size
    return blocks, total


def _split_rows(batched_value, avals, out_shape, rows_first):
    """Cut a (total, *shape) batch into one block per aval, laid out as
    out_shape + in_shape (JAX's convention)."""
    blocks, offset = [], 0
    for a in avals:
        rows = P.getitem(batched_value, P.BasicIndex.normalise(
            (slice(offset, offset + a.size),), P.shape_of(batched_value)))
        offset += a.size
        if rows_first:  # reverse mode: rows are output elements
            blocks.append(P.reshape(rows, a.shape + out_shape))
        else:           # forward mode: rows are input elements; move them last
            moved = P.transpose(rows, tuple(range(1, len(out_shape) + 1)) + (0,))
            blocks.append(P.reshape(moved, out_shape + a.shape))
    return blocks


def jacfwd_graph(graph: Graph, wrt) -> Graph:
    """Outputs: for each graph output o and wrt input i, d o / d i with shape
    o.shape + i.shape, from ONE batched tangent sweep over all unit directions."""
    tangent_graph = jvp_graph(graph, wrt)
    n = len(graph.inputs)
    wrt_avals = [graph.inputs[i] for i in wrt]
    with Builder(concrete=False) as builder:
        primals = _new_inputs(builder, graph.inputs)
        directions, total = _unit_blocks(wrt_avals)
        outs, flags = batch_sweep(tangent_graph, primals + directions,
                                  set(range(n, n + len(wrt))), total)
        jac = []
        for o, dot, batched in zip(graph.outputs, outs[len(graph.outputs):],
                                   flags[len(graph.outputs):]):
            if not batched:
                dot = P.broadcast_to(dot, (total,) + o.shape)
            jac.extend(_split_rows(dot, wrt_avals, o.shape, rows_first=False))
    return simplify(builder.graph(jac))


def jacrev_graph(graph: Graph, wrt) -> Graph:
    """The same Jacobian blocks (output-major) from ONE batched adjoint sweep
    over all unit cotangents."""
    adjoint_graph = vjp_graph(graph, wrt)
    n = len(graph.inputs)
    wrt_avals = [graph.inputs[i] for i in wrt]
    outputs = [o if isinstance(o, Var) else Var(o.shape, o.dtype) for o in graph.outputs]
    with Builder(concrete=False) as builder:
        primals = _new_inputs(builder, graph.inputs)
        cotangents, total = _unit_blocks(outputs)
        outs, flags = batch_sweep(adjoint_graph, primals + cotangents,
                                  set(range(n, n + len(outputs))), total)
        bars = []
        for bar, batched, a in zip(outs[len(graph.outputs):], flags[len(graph.outputs):],
                                   wrt_avals):
            bars.append(bar if batched else P.broadcast_to(bar, (total,) + a.shape))
        jac = []
        for o, rows in zip(outputs, _unit_row_ranges(outputs)):
            for bar, a in zip(bars, wrt_avals):
                block = P.getitem(bar, P.BasicIndex.normalise((rows,), P.shape_of(bar)))
                jac.append(P.reshape(block, o.shape + a.shape))
    return simplify(builder.graph(jac))


def _unit_row_ranges(avals):
    offset = 0
    for a in avals:
        yield slice(offset, offset + a.size)
        offset += a.size
