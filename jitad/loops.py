"""Loops stay loops: the ``scan`` primitive and ``jitad.loop``.

``scan_p(*init, *xs, *consts, body=Graph, length=T, reverse=False, n_carry,
n_xs)`` runs ``body`` T times: step ``i`` maps ``(i, *carry, *x_i, *consts)``
to ``(*new_carry, *y_i)``, where ``x_i`` is row i of each stacked ``xs`` and
the ``y_i`` are stacked into the ``ys`` outputs. Its outputs are the final
carry, then the stacked ys. It is JAX's ``lax.scan``, as a primitive of
jitad's table with every rule, each built from the body graph by the
ordinary transforms:

- tangent: one scan of ``jvp_graph(body)``, carrying value and tangent;
- adjoint: a forward scan that also stacks the carry each step starts from
  (the residuals: memory T x carry, and the body recomputed from them), then
  a reverse scan of ``vjp_graph(body)`` carrying the carry's cotangent and
  the consts' accumulated cotangents, stacking the xs' cotangents;
- batching: the body batched through its primitives' rules;
- lowering: a real ``for`` loop calling the body as a compiled function
  (``backend.codegen``, kind ``loop``).

``jitad.loop(body, n, init)`` is the explicit form for users; Python loops
in traced code are re-rolled into scans automatically (``jitad.reroll``).
"""
from __future__ import annotations

import numpy as np

from . import primitives as P
from . import transforms, tree
from .backend.reference import evaluate
from .errors import TraceError
from .ir import Graph, Lit, Var
from .state import active_builders, is_tracer
from .tracer import Builder, trace as trace_graph


# ------------------------------------------------------------- the primitive

def _split(values, n_carry, n_xs):
    return values[:n_carry], values[n_carry:n_carry + n_xs], values[n_carry + n_xs:]


def _scan_impl(*args, body, length, reverse, n_carry, n_xs):
    """The reference: the body graph evaluated step by step with NumPy."""
    carry, xs, consts = _split(list(args), n_carry, n_xs)
    n_ys = len(body.outputs) - n_carry
    ys = [[None] * length for _ in range(n_ys)]
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for i in steps:
        outs = evaluate(body, np.int64(i), *carry, *(np.asarray(x)[i] for x in xs), *consts)
        carry = outs[:n_carry]
        for y, out in zip(ys, outs[n_carry:]):
            y[i] = out
    stacked = [np.stack([np.asarray(v) for v in y]) if length else
               np.zeros((0,) + o.shape, o.dtype) for y, o in zip(ys, body.outputs[n_carry:])]
    return list(carry) + stacked


def _scan_shape(*atoms, body, length, reverse, n_carry, n_xs):
    carry, xs, consts = _split(list(atoms), n_carry, n_xs)
    expected = [(a.shape, a.dtype) for a in body.inputs[1:]]
    given = [(c.shape, c.dtype) for c in carry] + [(x.shape[1:], x.dtype) for x in xs] \
        + [(c.shape, c.dtype) for c in consts]
    if given != expected or any(x.shape[:1] != (length,) for x in xs):
        raise ValueError(f"scan: operands {given} (xs of length {length}) do not fit a body "
                         f"taking {expected}")
    out = [(v.shape, v.dtype) for v in body.outputs]
    if out[:n_carry] != [(c.shape, c.dtype) for c in carry]:
        raise ValueError(f"scan: the body returns a carry of {out[:n_carry]}, not the "
                         f"{[(c.shape, c.dtype) for c in carry]} it takes")
    return out[:n_carry] + [((length,) + s, d) for s, d in out[n_carry:]]


def _format(*names, body, length, reverse, n_carry, n_xs):
    return (f"scan[{length} steps{', reverse' if reverse else ''}, body of "
            f"{len(body.ops)} ops]({', '.join(names)})")


def scan(body: Graph, init, xs, consts, length, reverse=False) -> list:
    """Bind a scan (constant arrays of the body become consts, so the
    backend passes them in once, outside the loop). Returns its outputs."""
    body, extra = _hoisted(body)
    return scan_p.bind(*init, *xs, *consts, *extra, body=body, length=int(length),
                       reverse=bool(reverse), n_carry=len(init), n_xs=len(xs))


def _hoisted(body: Graph):
    """The body with its array literals as trailing inputs, and those arrays."""
    found = {}
    for op in body.ops:
        for a in op.inputs:
            if type(a) is Lit and a.shape and id(a) not in found:
                found[id(a)] = (a, Var(a.shape, a.dtype))
    if not found:
        return body, []

    def renamed(a):
        return found[id(a)][1] if type(a) is Lit and id(a) in found else a
    ops = tuple(type(op)(op.primitive, tuple(map(renamed, op.inputs)), op.outputs, op.params)
                for op in body.ops)
    inputs = body.inputs + tuple(v for _, v in found.values())
    return Graph(inputs, ops, tuple(map(renamed, body.outputs))), [lit.val for lit, _ in
                                                                   found.values()]


def simplified_bodies(graph: Graph) -> Graph:
    """``graph`` with the body of each scan in it simplified, and the body's
    ops that read only consts moved out of the loop, run once before it
    (re-rolling makes a body of one step as the tracer recorded it: in an
    RK4 step, each stage takes the same entries of the parameter vector;
    once per loop, the adjoint also accumulates their cotangents once). A
    body's new array literals, if simplifying made any, join its consts.

    >>> from jitad.reroll import reroll
    >>> def f(p):
    ...     x = p[0]
    ...     for _ in range(20):
    ...         x = np.sin(x) * p[1] + np.cos(x) * p[1]
    ...     return x
    >>> graph = simplified_bodies(reroll(trace_graph(f, (np.ones(2),))[0]))
    >>> [op.primitive.name for op in graph.ops], len(graph.ops[-1].params["body"].ops)
    (['getitem', 'getitem', 'scan'], 5)
    """
    ops, changed = [], False
    for op in graph.ops:
        if _is_scan(op):
            body = transforms.simplify(simplified_bodies(op.params["body"]))
            hoisted, op = _invariants_hoisted(type(op)(op.primitive, op.inputs, op.outputs,
                                                       {**op.params, "body": body}))
            body, extra = _hoisted(op.params["body"])
            ops += hoisted
            op = type(op)(op.primitive, op.inputs + tuple(map(Lit.of, extra)), op.outputs,
                          {**op.params, "body": body})
            changed = True
        ops.append(op)
    return Graph(graph.inputs, tuple(ops), graph.outputs, graph.input_names) if changed \
        else graph


def _is_scan(op) -> bool:
    # by name: pytest's doctests import this module a second time, and that
    # copy's scan_p is not the one re-rolling binds
    return op.primitive.name == "scan"


def _invariants_hoisted(op):
    """(the ops of ``op``'s body that read only its consts and literals, as
    ops of the enclosing graph, the scan without them): their values become
    consts of the body, and consts it no longer reads are dropped."""
    body, p = op.params["body"], op.params
    first_const = p["n_carry"] + p["n_xs"]
    outside = dict(zip(body.inputs[1 + first_const:], op.inputs[first_const:]))
    hoisted, kept, made = [], [], []
    for inner in body.ops:
        if inner.primitive.effect or _is_scan(inner) or not all(
                type(a) is Lit or a in outside for a in inner.inputs):
            kept.append(inner)
            continue
        outs = tuple(Var(v.shape, v.dtype) for v in inner.outputs)
        hoisted.append(type(inner)(inner.primitive, tuple(outside.get(a, a) for a in inner.inputs),
                                   outs, inner.params))
        outside.update(zip(inner.outputs, outs))
        made += inner.outputs
    # consts the body does not read (any more) are not the body's: an
    # array's cotangent would be carried, zero, through every step
    used = {a for inner in kept for a in inner.inputs} | set(body.outputs)
    consts = [(v, outer) for v, outer in zip(body.inputs[1 + first_const:],
                                             op.inputs[first_const:]) if v in used]
    consts += [(v, outside[v]) for v in made if v in used]
    if not hoisted and len(consts) == len(op.inputs) - first_const:
        return [], op
    body = Graph(body.inputs[:1 + first_const] + tuple(v for v, _ in consts), tuple(kept),
                 body.outputs)
    return hoisted, type(op)(op.primitive, op.inputs[:first_const] + tuple(o for _, o in consts),
                             op.outputs, {**p, "body": body})


def _zeros(like):
    return P.zeros_like_shape(P.shape_of(like), P.dtype_of(like))


def _float(a) -> bool:
    return np.issubdtype(P.dtype_of(a), np.inexact)


# --------------------------------------------------------------- tangents

def _scan_jvp(tangents, outs, *args, body, length, reverse, n_carry, n_xs):
    """One scan carrying (carry, carry tangent) over (xs, xs tangents), with
    the consts' tangents as consts: the body is ``jvp_graph(body)``."""
    n = len(args)
    wrt = [k for k in range(n) if _float(args[k])]
    tangent_body = transforms.jvp_graph(body, [k + 1 for k in wrt])
    # its inputs: (i, *primals, *tangents of wrt); outputs: (*body outputs, *their tangents)
    i, primal_in = tangent_body.inputs[0], tangent_body.inputs[1:n + 1]
    dot_in = dict(zip(wrt, tangent_body.inputs[n + 1:]))
    m = len(body.outputs)
    primal_out, dot_out = tangent_body.outputs[:m], tangent_body.outputs[m:]
    groups = [range(n_carry), range(n_carry, n_carry + n_xs), range(n_carry + n_xs, n)]
    dotted = [[k for k in group if k in dot_in] for group in groups]
    inputs = [i]
    for group, with_dot in zip(groups, dotted):
        inputs += [primal_in[k] for k in group] + [dot_in[k] for k in with_dot]
    carry_dots = dotted[0]  # a float carry's tangent is carried, every step
    outputs = (list(primal_out[:n_carry]) + [dot_out[k] for k in carry_dots]
               + list(primal_out[n_carry:]) + list(dot_out[n_carry:]))
    scanned = Graph(tuple(inputs), tangent_body.ops, tuple(outputs))
    dots = [tangents[k] if tangents[k] is not None else _zeros(args[k]) for k in range(n)]
    operands = [[args[k] for k in group] + [dots[k] for k in with_dot]
                for group, with_dot in zip(groups, dotted)]
    results = scan(scanned, *operands, length, reverse)
    carry_tangents = dict(zip(carry_dots, results[n_carry:n_carry + len(carry_dots)]))
    ys_tangents = results[n_carry + len(carry_dots) + (m - n_carry):]
    return [carry_tangents.get(k) for k in range(n_carry)] + list(ys_tangents)


# ---------------------------------------------------------------- adjoints

def _residual_body(body, n_carry):
    """The body that also returns, as ys, the carry its step started from."""
    carries = body.inputs[1:1 + n_carry]
    return Graph(body.inputs, body.ops, body.outputs + tuple(carries))


def _scan_vjp(cts, outs, active, *args, body, length, reverse, n_carry, n_xs):
    n = len(args)
    carry_args, xs_args, const_args = _split(list(args), n_carry, n_xs)
    n_ys = len(body.outputs) - n_carry
    # the forward scan again, stacking the carry each step starts from
    forward = scan(_residual_body(body, n_carry), carry_args, xs_args, const_args, length,
                   reverse)
    residuals = forward[n_carry + n_ys:]
    wrt = [k for k in range(n) if _float(args[k])]
    adjoint = transforms.vjp_graph(body, [k + 1 for k in wrt])
    # the reverse scan's body: (i, carry_bar, const_bar_acc, carry_in, x, y_bar, consts)
    float_consts = [k for k in range(n_carry + n_xs, n) if k in wrt]
    with Builder(concrete=False) as builder:
        i = builder.new_input((), np.dtype(np.int64))
        c_bar = [builder.new_input(v.shape, v.dtype) for v in body.outputs[:n_carry]]
        acc = [builder.new_input(args_aval.shape, args_aval.dtype)
               for args_aval in (body.inputs[1 + k] for k in float_consts)]
        c_in = [builder.new_input(v.shape, v.dtype) for v in body.inputs[1:1 + n_carry]]
        x_in = [builder.new_input(v.shape, v.dtype)
                for v in body.inputs[1 + n_carry:1 + n_carry + n_xs]]
        y_bar = [builder.new_input(v.shape, v.dtype) for v in body.outputs[n_carry:]]
        k_in = [builder.new_input(v.shape, v.dtype) for v in body.inputs[1 + n_carry + n_xs:]]
        outs_adj = transforms.inline(adjoint, [i] + c_in + x_in + k_in + c_bar + y_bar)
        bars = dict(zip(wrt, outs_adj[len(body.outputs):]))
        new_c_bar = [bars[k] if k in bars else _zeros(c) for k, c in enumerate(c_in)]
        new_acc = [P.add(a, bars[k]) for a, k in zip(acc, float_consts)]
        x_bars = [bars[n_carry + j] if (n_carry + j) in bars else _zeros(x)
                  for j, x in enumerate(x_in)]
        back_body = builder.graph(new_c_bar + new_acc + x_bars)
    back_body = transforms.simplify(back_body)
    ct_carry = [ct if ct is not None else _zeros(o) for ct, o in zip(cts[:n_carry], outs)]
    ct_ys = [ct if ct is not None else _zeros(o) for ct, o in zip(cts[n_carry:], outs[n_carry:])]
    acc0 = [_zeros(const_args[k - n_carry - n_xs]) for k in float_consts]
    back = scan(back_body, ct_carry + acc0, list(residuals) + list(xs_args) + ct_ys,
                const_args, length, not reverse)
    init_bar = back[:n_carry]
    const_bar = dict(zip(float_consts, back[n_carry:n_carry + len(float_consts)]))
    xs_bar = back[n_carry + len(float_consts):]
    result = []
    for k in range(n):
        if k < n_carry:
            result.append(init_bar[k] if _float(args[k]) else None)
        elif k < n_carry + n_xs:
            result.append(xs_bar[k - n_carry] if _float(args[k]) else None)
        else:
            result.append(const_bar.get(k))
    return result


# ---------------------------------------------------------------- batching

def _scan_batch(prim, args, batched, k, body, length, reverse, n_carry, n_xs):
    """Every carry carries the batch (a carry can mix with batched values in
    any step); batched xs move their batch axis behind the time axis."""
    carry_args, xs_args, const_args = _split(list(args), n_carry, n_xs)
    c_flags, x_flags, k_flags = _split(list(batched), n_carry, n_xs)
    carry = [c if f else P.broadcast_to(c, (k,) + P.shape_of(c))
             for c, f in zip(carry_args, c_flags)]
    xs = [P.transpose(x, (1, 0) + tuple(range(2, len(P.shape_of(x))))) if f else x
          for x, f in zip(xs_args, x_flags)]
    with Builder(concrete=False) as builder:
        i = builder.new_input((), np.dtype(np.int64))
        c_in = [builder.new_input((k,) + v.shape, v.dtype) for v in body.inputs[1:1 + n_carry]]
        x_in = [builder.new_input(((k,) if f else ()) + v.shape, v.dtype)
                for v, f in zip(body.inputs[1 + n_carry:1 + n_carry + n_xs], x_flags)]
        k_in = [builder.new_input(((k,) if f else ()) + v.shape, v.dtype)
                for v, f in zip(body.inputs[1 + n_carry + n_xs:], k_flags)]
        inputs = [i] + c_in + x_in + k_in
        flags = {j for j, f in enumerate([False] + [True] * n_carry + x_flags + k_flags) if f}
        outs, out_flags = transforms.batch_sweep(body, inputs, flags, k)
        outs = [o if f else P.broadcast_to(o, (k,) + P.shape_of(o))
                for o, f in zip(outs, out_flags)]
        batched_body = builder.graph(outs)
    results = scan(transforms.simplify(batched_body), carry, xs, const_args, length, reverse)
    ys = [P.transpose(y, (1, 0) + tuple(range(2, len(P.shape_of(y)))))
          for y in results[n_carry:]]
    return list(results[:n_carry]) + ys


scan_p = P.Primitive(
    "scan", _scan_impl, _scan_shape, kind="loop", multiple_results=True,
    jvps=[None], vjps=[None], jvp_all=_scan_jvp, vjp_all=_scan_vjp, batch=_scan_batch,
    fmt=_format, trace_cost=lambda *atoms, body, length, **params: length * len(body.ops))


# ---------------------------------------------------------------- jitad.loop

def loop(body, n, init):
    """``carry = body(i, carry)`` for i in 0..n-1, as one loop in the kernel
    (not unrolled into the trace): its first call compiles in a time that
    does not grow with n, and its derivative is a loop too.

    ``carry`` may be a float, an array, or a tuple/list/dict of them; ``i`` is
    a traced integer (``xs[i]`` reads row i). The body must not branch in
    Python on traced values (one trace of the body stands for every step):
    use ``np.where``. Outside a trace it is the plain Python loop.

    >>> import numpy as np, jitad
    >>> def decay(x):
    ...     return jitad.loop(lambda i, c: c * 0.5 + 1.0, 10, x)
    >>> round(float(jitad.jit(decay)(0.0)), 6), round(float(jitad.grad(decay)(0.0)), 6)
    (1.998047, 0.000977)
    """
    n = int(n)
    leaves, treedef = tree.flatten(init)
    if not active_builders():
        carry = init
        for i in range(n):
            carry = body(i, carry)
        return carry
    examples = [leaf._val if is_tracer(leaf) else np.asarray(leaf) for leaf in leaves]
    if any(v is None for v in examples):
        raise TraceError("jitad.loop inside an abstract trace: call it on concrete inputs")
    dtypes = [np.asarray(e).dtype for e in examples]

    def step(i, *carry):
        out_leaves, out_treedef = tree.flatten(body(i, tree.unflatten(treedef, carry)))
        if out_treedef != treedef:
            raise TypeError(f"jitad.loop: the body returns a carry of structure "
                            f"{out_treedef!r}, not the {treedef!r} it takes")
        return [o if P.dtype_of(o) == d else P.convert(o, d) for o, d in zip(out_leaves, dtypes)]
    # i is a traced int64 (a NumPy scalar is traced, a Python int would be static)
    graph, _, outside = trace_graph(step, (np.int64(0),) + tuple(examples), reads=True)
    for op in graph.ops:
        if op.primitive.effect:
            raise TraceError(
                f"jitad.loop: the body takes a Python value out of a traced one "
                f"({op.params['what']}): one trace of the body stands for every step, so a "
                "branch or a number taken from the carry or i cannot change from step to "
                "step; use np.where")
    enclosing = active_builders()[-1]
    for read, value in outside.static_reads:
        enclosing.read(read, value)
    consts = [enclosing.read(r, r.fetch()) for r in outside.reads] + list(outside.captured)
    final = scan(transforms.simplify(graph), leaves, [], consts, n)
    return tree.unflatten(treedef, final[:len(leaves)])
