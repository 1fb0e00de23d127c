"""The adjoint sweep and the tangent sweep.

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

from .. import primitives as P
from ..ir import Graph, Var, reader
from ..tracer import Builder, Tracer
from .simplify import simplify


def emit(graph: Graph, args) -> dict:
    """Bind every op of ``graph`` on ``args``: concrete args give NumPy
    values, tracer args record the ops into their trace. Var -> value."""
    env = dict(zip(graph.inputs, args))
    read = reader(env)
    for op in graph.ops:
        out = op.primitive.bind(*map(read, op.inputs), **op.params)
        env.update(zip(op.outputs, out if op.primitive.multiple_results else [out]))
    return env


def inline(graph: Graph, args) -> list:
    """``graph``'s outputs on ``args``, by ``emit``."""
    read = reader(emit(graph, args))
    return [read(o) for o in graph.outputs]


def is_float(a) -> bool:
    return np.issubdtype(a.dtype, np.inexact)


def floats_taken_from(graph: Graph, wrt) -> list:
    """The positions, in order, of the float guards (a float taken out of
    the trace: float(), .item(), a math function) on values that depend on
    the inputs in ``wrt``: where the derivative could miss a term."""
    active = active_vars(graph, wrt)
    guards = [op for op in graph.ops if op.primitive.effect and op.params.get("kind") == "value"]
    return [k for k, op in enumerate(guards) if op.inputs[0] in active]


def active_vars(graph: Graph, wrt) -> set:
    """Vars that depend on an input in ``wrt`` through differentiable ops."""
    active = {graph.inputs[i] for i in wrt}
    for op in graph.ops:
        rules = op.primitive.vjps if op.primitive.vjp_all is None else [True] * len(op.inputs)
        for x, rule in zip(op.inputs, rules):
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
        env = emit(graph, primals)
    read = reader(env)

    adjoints: dict[Var, object] = {}

    def accumulate(var, value):
        value = _fit(value, var)
        adjoints[var] = P.add(adjoints[var], value) if var in adjoints else value

    for o, ct in zip(graph.outputs, cotangents):
        if ct is not None and o in active:
            accumulate(o, ct)
    for op in reversed(graph.ops):
        if op.primitive.vjp_all is not None:
            cts = [adjoints.pop(v, None) for v in op.outputs]
            if any(ct is not None for ct in cts):
                args = list(map(read, op.inputs))
                bars = op.primitive.vjp_all(cts, [env[v] for v in op.outputs],
                                            [x in active for x in op.inputs], *args, **op.params)
                for x, x_bar in zip(op.inputs, bars):
                    if x_bar is not None and x in active:
                        accumulate(x, x_bar)
            continue
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
    read = reader(env)
    dots = {graph.inputs[i]: _fit(t, graph.inputs[i]) for i, t in zip(wrt, tangents)}
    for op in graph.ops:
        args = list(map(read, op.inputs))
        if adopted:
            y = env[op.outputs[0]] if op.outputs else None
        else:
            y = op.primitive.bind(*args, **op.params)
            env.update(zip(op.outputs, y if op.primitive.multiple_results else [y]))
        if op.primitive.jvp_all is not None:
            tangents_in = [dots.get(x) if type(x) is Var else None for x in op.inputs]
            if any(t is not None for t in tangents_in):
                outs = [env[v] for v in op.outputs]
                for v, v_dot in zip(op.outputs, op.primitive.jvp_all(tangents_in, outs, *args,
                                                                      **op.params)):
                    if v_dot is not None and is_float(v):
                        dots[v] = _fit(v_dot, v)
            continue
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


def new_inputs(builder, vars_):
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
            cts = new_inputs(builder, graph.outputs)
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
        tangents = new_inputs(builder, [graph.inputs[i] for i in wrt])
        outs, dots = jvp_sweep(graph, None, tangents, wrt, env=env)
        dots = [_zeros_for(d, o) for d, o in zip(dots, graph.outputs)]
    return simplify(builder.graph(outs + dots))


