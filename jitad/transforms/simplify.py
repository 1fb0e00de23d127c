"""The one rewrite pass: algebraic identities, constant folding, CSE, DCE.

``simplify(graph)`` runs after tracing and after every transform. It is the
only place jitad simplifies: tracing records what the user wrote, the rules
of the primitive table emit the textbook chain rule (``g * f'(x)`` with a
seed ``g = 1.0``), and this pass removes what that leaves behind.

``rewrite`` walks the ops once, in order. Each op's inputs are first renamed
to what earlier ops were rewritten to, then

1. an op whose inputs are all constants is **folded** into a constant, unless
   the result is larger than its inputs (a broadcast seed stays a loop that
   the backend fuses, instead of becoming a baked-in array); an elementwise
   op of constants of which some are broadcasts becomes one broadcast of
   the folded scalar (``_fold_uniform``), and a broadcast scalar beside an
   operand of the output's shape becomes the scalar (``_scalar_operands``);
2. the rules of ``IDENTITIES[op.primitive]`` are tried: each returns a
   replacement value (``x * 1 -> x``), a cheaper op (or a tuple of ops, the
   last of them the one) that defines the same
   output (``reshape(reshape(x)) -> reshape(x)``), or None.

A replacement value always has the output's shape and dtype (checked). A
"constant c" is a scalar literal c or a broadcast of one, so the rules see
through the zeros and ones the sweeps spread over arrays.

>>> import numpy as np
>>> from jitad.tracer import trace
>>> graph = trace(lambda x: (x * 1.0 + 0.0).reshape(3).reshape(3), (np.ones(3),))[0]
>>> len(graph.ops), len(simplify(graph).ops)
(4, 0)
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..ir import Graph, Lit, Op, Var


def _constant(a, producers):
    """The scalar value of a constant operand (a literal, an array literal
    holding one value, or a broadcast of a literal), or None."""
    if type(a) is Lit:
        if a.shape == ():
            return a.val
        if a.size <= _UNIFORM_ARRAY_LIMIT and a.size and np.all(a.val == a.val.flat[0]):
            return a.val.flat[0]
        return None
    scalar = _broadcast_literal(a, producers)
    return None if scalar is None else scalar.val


def _broadcast_literal(a, producers):
    """The scalar literal the value ``a`` is a broadcast of, or None."""
    op = producers.get(a) if type(a) is Var else None
    if op is not None and op.primitive is P.broadcast_in_dim_p and type(op.inputs[0]) is Lit \
            and op.inputs[0].shape == ():
        return op.inputs[0]
    return None


_UNIFORM_ARRAY_LIMIT = 4096  # array literals checked for holding one value


def _is(a, value, producers) -> bool:
    c = _constant(a, producers)
    return c is not None and c == value and not isinstance(c, (bool, np.bool_))


def _keep(op, a):
    """``a`` replaces ``op``'s output only where it has the output's type."""
    if type(a) is Var and a.shape == op.out.shape and a.dtype == op.out.dtype:
        return a
    return None


def _unit(value, *positions):
    """x (op) unit -> x, for the unit in the given operand positions."""
    def rule(op, producers):
        for here in positions:
            other = op.inputs[1 - here]
            if _is(op.inputs[here], value, producers) and _keep(op, other) is not None:
                return other
        return None
    return rule


def _zero_times(op, producers):
    """safe_mul(0, b) and safe_mul(a, 0) are exactly 0, whatever the other
    operand is (the point of safe_mul)."""
    if _is(op.inputs[0], 0, producers) or _is(op.inputs[1], 0, producers):
        return _zeros(op)
    return None


def _constant_times(op, producers):
    """safe_mul by a finite constant other than 0 is the plain product: it is
    0 exactly where the other operand is, and NaN exactly where safe_mul's is."""
    for a in op.inputs:
        c = _constant(a, producers)
        if c is not None and not isinstance(c, (bool, np.bool_)) and c != 0 and np.isfinite(c):
            return Op(P.mul_p, op.inputs, op.outputs, {})
    return None


def _zeros(op):
    zero = Lit(np.zeros((), op.out.dtype)[()], (), op.out.dtype)
    if op.out.shape == ():
        return zero
    return Op(P.broadcast_in_dim_p, (zero,), op.outputs, {"shape": op.out.shape, "dims": ()})


def _double_negation(op, producers):
    inner = producers.get(op.inputs[0])
    if inner is not None and inner.primitive is P.neg_p:
        return _keep(op, inner.inputs[0])
    return None


def _same_shape(op, producers):
    """reshape, broadcast, convert, reductions over no axes: the identity
    when nothing changes."""
    return _keep(op, op.inputs[0])


def _reshape_chain(op, producers):
    inner = producers.get(op.inputs[0])
    if inner is not None and inner.primitive is P.reshape_p:
        return Op(P.reshape_p, inner.inputs[:1], op.outputs, op.params)
    return _keep(op, op.inputs[0])


def _transpose_chain(op, producers):
    perm = op.params["perm"]
    if perm == tuple(range(len(perm))):
        return _keep(op, op.inputs[0])
    inner = producers.get(op.inputs[0])
    if inner is not None and inner.primitive is P.transpose_p:
        composed = tuple(inner.params["perm"][p] for p in perm)
        return Op(P.transpose_p, inner.inputs[:1], op.outputs, {"perm": composed})
    return None


def _no_axes(op, producers):
    return _keep(op, op.inputs[0]) if not op.params["axes"] else None


def _full_index(op, producers):
    x = op.inputs[0]
    if all(e == (0, n, 1) for e, n in zip(op.params["index"].entries, x.shape)):
        return _keep(op, x)
    return None


def _is_identity(a) -> bool:
    """A square identity-matrix literal (forward mode's seeds of a vector's
    directions)."""
    return type(a) is Lit and a.ndim == 2 and a.shape[0] == a.shape[1] and \
        a.size <= _IDENTITY_LIMIT and np.array_equal(a.val, np.eye(a.shape[0]))


_IDENTITY_LIMIT = 1 << 22  # elements of a matrix literal checked for being the identity


def _identity_product(op, producers):
    """I @ b -> b and a @ I -> a (jacfwd's seed times a matrix: a BLAS call
    and a pass over the matrix for nothing)."""
    a, b = op.inputs
    if _is_identity(a):
        return _keep(op, b)
    if _is_identity(b):
        return _keep(op, a)
    return None


def _diagonal_factor(a, producers):
    """u where the square matrix ``a`` is ``safe_mul(I, u)`` with u a vector
    (or its broadcast): the diagonal matrix of u, exactly 0 off it."""
    op = producers.get(a) if type(a) is Var else None
    if op is None or op.primitive is not P.safe_mul_p or a.ndim != 2 or a.shape[0] != a.shape[1]:
        return None
    for identity, u in (op.inputs, op.inputs[::-1]):
        if not _is_identity(identity):
            continue
        inner = producers.get(u) if type(u) is Var else None
        if inner is not None and inner.primitive is P.broadcast_in_dim_p and \
                inner.inputs[0].shape == a.shape[:1]:
            u = inner.inputs[0]
        if u.shape == a.shape[:1] and type(u) is Var:
            return u
    return None


def _diagonal_product(op, producers):
    """diag(u) @ b -> u[:, None] * b and b @ diag(u) -> b * u (reverse mode's
    identity seed times an elementwise derivative, as in jacrev of
    tanh(W @ x)): an n-by-n BLAS product becomes one pass over b."""
    a, b = op.inputs
    for left, (d, other) in ((True, (a, b)), (False, (b, a))):
        u = _diagonal_factor(d, producers)
        if u is None or u.dtype != op.out.dtype or other.dtype != op.out.dtype:
            continue
        if left and other.ndim == 2:
            column = Var(other.shape, u.dtype)
            return (Op(P.broadcast_in_dim_p, (u,), (column,), {"shape": other.shape, "dims": (0,)}),
                    Op(P.mul_p, (column, other), op.outputs, {}))
        return Op(P.mul_p, (u, other) if left else (other, u), op.outputs, {})
    return None


def _same_branches(op, producers):
    _, a, b = op.inputs
    return _keep(op, a) if a is b else None


IDENTITIES = {
    P.add_p: [_unit(0, 0, 1)],
    P.sub_p: [_unit(0, 1)],
    P.mul_p: [_unit(1, 0, 1)],
    P.safe_mul_p: [_unit(1, 0, 1), _zero_times, _constant_times],
    P.div_p: [_unit(1, 1)],
    P.neg_p: [_double_negation],
    P.integer_pow_p: [lambda op, producers: _keep(op, op.inputs[0])
                      if op.params["n"] == 1 else None],
    P.convert_p: [_same_shape],
    P.broadcast_in_dim_p: [_same_shape],
    P.reshape_p: [_reshape_chain],
    P.transpose_p: [_transpose_chain],
    P.reduce_sum_p: [_no_axes],
    P.reduce_max_p: [_no_axes],
    P.reduce_prod_p: [_no_axes],
    P.getitem_p: [_full_index],
    P.select_p: [_same_branches],
    P.dot_p: [_identity_product, _diagonal_product],
}


def _fold(op):
    """The op evaluated on its constant inputs, as a constant, or None."""
    if op.primitive.effect or not op.outputs or op.primitive.multiple_results:
        return None
    largest = max([a.size for a in op.inputs], default=1)
    if op.out.size > max(largest, 1):
        return None
    value = _evaluated(op, op.inputs)
    if op.out.shape:
        return Lit(value, op.out.shape, op.out.dtype)
    # weak only as a Python number is: a weak float32 would become a float64
    # where a transform lifts its value again
    weak = all(a.weak for a in op.inputs) and Lit.of(value.item()).dtype == op.out.dtype
    return Lit(value.item() if weak else value[()], (), op.out.dtype, weak=weak)


def _evaluated(op, inputs):
    """The op's NumPy value on the values of the literals ``inputs``."""
    with np.errstate(all="ignore"):
        return np.asarray(op.primitive.impl(*(a.val for a in inputs), **op.params), op.out.dtype)


def _scalar_of(a, producers):
    """The scalar literal a constant operand holds (see ``_constant``), with
    its dtype and weakness, or None."""
    if type(a) is Lit and a.shape == ():
        return a
    value = _constant(a, producers)
    if value is None:
        return None
    if type(a) is Lit:
        return Lit(np.asarray(value, a.dtype)[()], (), a.dtype)
    return _broadcast_literal(a, producers)


def _fold_uniform(op, producers):
    """An elementwise op of constants of which one is a broadcast (a seed's
    ones times a literal: ``broadcast(1.0) * 100.0``) is the broadcast of the
    op on their scalars: later rules see the constant (a product by it is a
    plain one) and the loop computes nothing for it."""
    scalars = []
    for a in op.inputs:
        scalar = _scalar_of(a, producers)
        if scalar is None:
            return None
        scalars.append(scalar)
    value = _evaluated(op, scalars)
    return Op(P.broadcast_in_dim_p, (Lit(value[()], (), op.out.dtype),), op.outputs,
              {"shape": op.out.shape, "dims": ()})


def _scalar_operands(op, producers):
    """The op with each broadcast of a scalar literal among its operands
    replaced by that literal, where another operand has the output's shape
    and every dtype is the output's (the loop reads the number, not an
    array of it), or None."""
    shape, dtype = op.out.shape, op.out.dtype
    if not any(a.shape == shape and type(a) is Var for a in op.inputs):
        return None
    inputs, changed = [], False
    for a in op.inputs:
        scalar = _broadcast_literal(a, producers)
        if scalar is not None and a.dtype == dtype and not scalar.weak and scalar.dtype == dtype:
            inputs.append(scalar)
            changed = True
        else:
            inputs.append(a)
    if not changed or any(a.dtype != dtype for a in inputs if type(a) is Var):
        return None
    return Op(op.primitive, tuple(inputs), op.outputs, op.params)


def _rewritten(op, producers):
    """A replacement atom, a replacement op, or None (the op stays)."""
    if op.inputs and not [a for a in op.inputs if type(a) is not Lit]:
        folded = _fold(op)
        if folded is not None:
            return folded
    # of arrays only (a scalar op of literals is folded above)
    if op.outputs and op.outputs[0].shape and op.primitive.kind == "elementwise":
        folded = _fold_uniform(op, producers)
        if folded is None and len(op.inputs) > 1:
            folded = _scalar_operands(op, producers)
        if folded is not None:
            return folded
    for rule in IDENTITIES.get(op.primitive, ()):
        result = rule(op, producers)
        if result is not None:
            return result
    return None


def rewrite(graph: Graph) -> Graph:
    """One forward pass of constant folding and the identities above."""
    renamed: dict = {}
    producers: dict = {}
    ops = []
    for op in graph.ops:
        inputs = tuple([renamed.get(a, a) if type(a) is Var else a for a in op.inputs])
        if inputs != op.inputs:
            op = Op(op.primitive, inputs, op.outputs, op.params)
        replacement = _rewritten(op, producers)
        while isinstance(replacement, (Op, tuple)):
            if type(replacement) is tuple:  # ops of new values, then the one defining op's
                for new in replacement[:-1]:
                    ops.append(new)
                    producers.update((v, new) for v in new.outputs)
                replacement = replacement[-1]
            op, replacement = replacement, _rewritten(replacement, producers)
        if replacement is None:
            ops.append(op)
            for v in op.outputs:
                producers[v] = op
        else:
            assert replacement.shape == op.out.shape and replacement.dtype == op.out.dtype, \
                f"rewrite of {op.primitive} changed its type"
            renamed[op.out] = replacement
    outputs = tuple(renamed.get(o, o) if type(o) is Var else o for o in graph.outputs)
    return Graph(graph.inputs, tuple(ops), outputs, graph.input_names)


def dce(graph: Graph) -> Graph:
    """Drop ops whose outputs nothing uses (guards are always kept)."""
    live = {o for o in graph.outputs if isinstance(o, Var)}
    kept = []
    for op in reversed(graph.ops):
        if op.primitive.effect or not live.isdisjoint(op.outputs):
            kept.append(op)
            live.update([a for a in op.inputs if type(a) is Var])
    return Graph(graph.inputs, tuple(reversed(kept)), graph.outputs, graph.input_names)


def _lit_key(a):
    if a.shape:
        return ("array", id(a.val))
    return ("scalar", a.val, a.dtype, a.weak)


def _loop_key(primitive, inputs, params):
    """What two loops must share for one to compute the other's outputs:
    everything but the body's outputs (the adjoint's forward loop is the
    primal loop again, with the carries stacked as extra outputs)."""
    body = params["body"]
    rest = tuple((k, v) for k, v in params.items() if k != "body")
    return (primitive, inputs, rest, body.inputs, body.ops)


def _extends(longer, shorter) -> bool:
    n = len(shorter.params["body"].outputs)
    return longer.params["body"].outputs[:n] == shorter.params["body"].outputs


def cse(graph: Graph) -> Graph:
    """Merge ops that apply the same primitive to the same inputs and params,
    and loops of which one computes what the other does and more."""
    seen, rename, ops = {}, {}, []
    loops: dict = {}  # _loop_key -> position in ops of the loop kept
    for op in graph.ops:
        inputs = tuple([rename.get(a, a) if type(a) is Var else a for a in op.inputs])
        atoms = tuple([a if type(a) is Var else _lit_key(a) for a in inputs])
        key = (op.primitive, atoms, tuple(op.params.items()))
        if not op.primitive.effect:
            first = seen.get(key)
            if first is not None:
                for old, new in zip(op.outputs, first.outputs):
                    rename[old] = new
                continue
        if inputs != op.inputs:
            op = Op(op.primitive, inputs, op.outputs, op.params)
        if op.primitive.kind == "loop":
            loop_key = _loop_key(op.primitive, atoms, op.params)
            k = loops.get(loop_key)
            if k is not None and _extends(ops[k], op):
                for old, new in zip(op.outputs, ops[k].outputs):
                    rename[old] = new
                continue
            if k is not None and _extends(op, ops[k]):
                # the longer loop takes the shorter one's place (its inputs are
                # the same) and keeps its outputs' names
                kept = ops[k].outputs
                for old, new in zip(op.outputs, kept):
                    rename[old] = new
                ops[k] = Op(op.primitive, inputs, kept + op.outputs[len(kept):], op.params)
                continue
            loops[loop_key] = len(ops)
        seen[key] = op
        ops.append(op)
    outputs = tuple(rename.get(o, o) if type(o) is Var else o for o in graph.outputs)
    return Graph(graph.inputs, tuple(ops), outputs, graph.input_names)


def simplify(graph: Graph) -> Graph:
    """Rewrite, then merge common subexpressions, then drop dead ops."""
    return dce(cse(rewrite(graph)))
