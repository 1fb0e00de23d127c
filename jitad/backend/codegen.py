"""Graph -> readable Python source for numba, with elementwise ops fused.

Shapes are constants of the source (a kernel is specialised per shape). Ops
are grouped in three passes:

1. *group*: consecutive-enough elementwise ops with the same output shape go
   into one ``FusedLoop``; a ``reduce_*`` joins the loop that produces its
   input and accumulates inside it. A group closes (its loop is emitted) just
   before the first op that needs one of its results and cannot join it.
2. *materialise*: a value in a loop becomes an array only if something outside
   the loop reads it (or it is a kernel output); the rest stay scalar locals.
3. *emit*: one statement per op, the IR line as a comment above it. ``v_<n>``
   names an array (or a 0-d scalar), ``e_<n>`` its element inside a loop;
   inputs printed ``v_-1`` in the IR are ``v_m1`` in source.

Example (``np.sum(np.sin(x) * 2.0)`` for x of shape (3,))::

    def kernel(v_0):
        # fused loop over (3,): v_1, v_2, v_3
        v_3 = np.float64(0)
        for i0 in range(3):
            # v_1 = sin(v_0)
            e_1 = np.sin(v_0[i0])
            # v_2 = v_1 * 2.0
            e_2 = e_1 * 2.0
            # v_3 = reduce_sum(v_2, axes=(0,))
            v_3 = add_lanes(v_3, e_2)
        return (v_3,)

A sum accumulates with ``add_lanes`` (``runtime.py``), which lets LLVM
reorder it into vector lanes. The adjoints of shifted views (``x[1:]`` and
``x[:-1]``) are stored by the loop that computes them, the part each
iteration adds to the next position carried in a local (``r1_<n>``).
"""
from __future__ import annotations

import heapq
import os
import re
from dataclasses import dataclass, field

import numpy as np

from .. import primitives as P
from ..errors import LoweringError
from ..ir import Graph, Lit, Op, Var, format_op, type_str
from .bands import loop_band, nonzero_diagonals
from .lowering import (Accumulate, Elementwise, Indexed, Loop, Operand, allocation, dtype_name,
                       literal, lowering_of)


@dataclass(eq=False)
class FusedLoop:
    shape: tuple
    ops: list = field(default_factory=list)
    reductions: set = field(default_factory=set)


def _lowering(op):
    try:
        return lowering_of(op.primitive)
    except KeyError:
        raise LoweringError(f"primitive '{op.primitive.name}' has no lowering (a jitad bug: add "
                            "its template to jitad/backend/lowering.py)") from None


def _scatter(op, buffers) -> bool:
    """A scatter written straight into its array (``scatter_buffers``)."""
    return len(op.outputs) == 1 and op.outputs[0] in buffers and not _merged(op, buffers)


def _fusable(op, buffers=()) -> bool:
    if _scatter(op, buffers):  # a scatter: in the loop over its operand
        return True
    lowering = _lowering(op)
    if isinstance(lowering, Accumulate):
        return op.inputs[0].shape != () and len(op.params["axes"]) > 0
    return isinstance(lowering, (Elementwise, Indexed)) and op.out.shape != ()


def _loop_shape(op, buffers=()) -> tuple:
    if isinstance(_lowering(op), Accumulate) or _scatter(op, buffers):
        return op.inputs[0].shape
    return op.out.shape


def scatter_buffers(graph: Graph) -> dict:
    """The scatters written straight into a zeroed array: each
    ``scatter_add`` of a non-0-d value at a basic index, keyed by its Var, to
    the Var of the array it is written into. A sum of such scatters (``add``
    of two, each read only by that add, the shapes equal: the adjoint of
    ``x[1:]`` and ``x[:-1]`` in one expression) shares one array, the sum's
    Var, so the sum costs no pass of its own and no temporaries: the loop
    that computes each scattered value adds it at its position
    (``v[i0 + 1] += e``)."""
    reads: dict = {}
    for op in graph.ops:
        for a in op.inputs:
            if type(a) is Var:
                reads[a] = reads.get(a, 0) + 1
    for o in graph.outputs:
        if type(o) is Var:
            reads[o] = reads.get(o, 0) + 2  # an output is read outside the kernel
    members: dict = {}  # a shared array's Var -> the Vars written into it
    for op in graph.ops:
        if op.primitive is P.scatter_add_p and op.inputs[0].shape and \
                type(op.inputs[0]) is Var and op.out.dtype.kind == "f":
            members[op.out] = [op.out]
        elif op.primitive is P.add_p and op.inputs[0] is not op.inputs[1] and all(
                type(a) is Var and a in members and reads[a] == 1 and a.shape == op.out.shape
                and a.dtype == op.out.dtype for a in op.inputs):
            # each operand is read only here, so it is still its own array's Var
            members[op.out] = [op.out] + members.pop(op.inputs[0]) + members.pop(op.inputs[1])
    return {v: array for array, vs in members.items() for v in vs}


def _merged(op, buffers) -> bool:
    """An ``add`` whose result is its scattered operands' shared array."""
    return op.primitive is P.add_p and op.out in buffers


def without_forwarding(graph: Graph) -> Graph:
    """The graph with every op that forwards an operand (``stop_gradient``,
    ``custom_vjp_call``: their derivative meaning is spent once the graph is
    final) replaced by that operand."""
    if not any(op.primitive.forwards is not None for op in graph.ops):
        return graph
    renamed, ops = {}, []
    for op in graph.ops:
        inputs = tuple(renamed.get(a, a) if type(a) is Var else a for a in op.inputs)
        if op.primitive.forwards is not None:
            renamed[op.out] = inputs[op.primitive.forwards]
            continue
        ops.append(type(op)(op.primitive, inputs, op.outputs, op.params))
    outputs = tuple(renamed.get(o, o) if type(o) is Var else o for o in graph.outputs)
    return Graph(graph.inputs, tuple(ops), outputs, graph.input_names)


def group(graph: Graph, buffers=None) -> list:
    """Pass 1: the graph's ops as single ops and FusedLoops, in an order that
    respects every dependency.

    Items (loops and single ops) depend on the items whose results they read;
    a loop's results exist only once the whole loop has run. An op joins the
    latest loop of its shape unless that loop must finish before one of the
    op's inputs exists (a reduction of the loop, or a value computed after the
    loop from its results): joining would make the loop wait for itself.
    """
    buffers = scatter_buffers(graph) if buffers is None else buffers
    items, producer, preds, latest = [], {}, {}, {}
    writers: dict = {}  # a shared scatter array -> the loops that write into it

    def must_finish_first(loop, item) -> bool:
        """Is ``loop`` among the items that ``item`` waits for (transitively)?"""
        stack, seen = [item], set()
        while stack:
            current = stack.pop()
            if current is loop:
                return True
            if id(current) not in seen:
                seen.add(id(current))
                stack.extend(preds[id(current)])
        return False

    for op in graph.ops:
        if _merged(op, buffers):  # its operands' loops write its array
            producer[op.out] = producer[op.inputs[1]]
            continue
        reads = [a for a in op.inputs if isinstance(a, Var) and a in producer]
        fusable = _fusable(op, buffers)
        shape = _loop_shape(op, buffers) if fusable else None
        loop = latest.get(shape) if fusable else None
        # an indexed op reads its operand elsewhere than at the loop position,
        # so the operand must be complete before the loop starts
        indexed = fusable and isinstance(_lowering(op), Indexed) and not _scatter(op, buffers)
        if loop is not None and any(
                (indexed or a in loop.reductions) if p is loop else must_finish_first(loop, p)
                for a in reads for p in writers.get(a, [producer[a]])):
            loop = None
        if fusable:
            if loop is None:
                loop = latest[shape] = FusedLoop(shape)
                items.append(loop)
                preds[id(loop)] = []
            loop.ops.append(op)
            if isinstance(_lowering(op), Accumulate) or _scatter(op, buffers):
                loop.reductions.add(buffers.get(op.out, op.out))
            item = loop
        else:
            item = op
            items.append(op)
            preds[id(op)] = []
        preds[id(item)].extend(p for a in reads for p in writers.get(a, [producer[a]])
                               if p is not item)
        for v in op.outputs:
            producer[v] = item
        if _scatter(op, buffers):
            writers.setdefault(buffers[op.out], []).append(item)
    return _topological(items, preds)


def _topological(items, preds) -> list:
    """Items in dependency order, otherwise in order of first appearance
    (Kahn's algorithm, ready items taken by position)."""
    position = {id(item): k for k, item in enumerate(items)}
    waiting = {id(item): {id(p) for p in preds[id(item)]} for item in items}
    successors: dict = {k: [] for k in waiting}
    for k, ps in waiting.items():
        for p in ps:
            successors[p].append(k)
    ready = [position[k] for k, ps in waiting.items() if not ps]
    heapq.heapify(ready)
    ordered = []
    while ready:
        item = items[heapq.heappop(ready)]
        ordered.append(item)
        for k in successors[id(item)]:
            waiting[k].discard(id(item))
            if not waiting[k]:
                heapq.heappush(ready, position[k])
    if len(ordered) != len(items):
        raise LoweringError("internal: fused loops depend on each other in a cycle")
    return ordered


def materialised(graph: Graph, items, buffers=()) -> set:
    """Pass 2: the Vars computed in loops that must be stored in arrays (a
    scatter's array is written by the scatters themselves)."""
    loop_of = {op.out: item for item in items if isinstance(item, FusedLoop) for op in item.ops}
    needed = {o for o in graph.outputs if isinstance(o, Var)}
    for op in graph.ops:
        if _merged(op, buffers):
            continue
        home = loop_of.get(op.outputs[0]) if op.outputs else None
        for a in op.inputs:
            if a in loop_of and loop_of[a] is not home:
                needed.add(a)
    return {v for v in needed if v in loop_of and v not in buffers}


# ops a later loop recomputes from values it can read, rather than read
# their result from an array the first loop stored: two multiply-adds cost
# less than a pass over memory (a Gaussian mixture's (10000, 25, 10) x - mu
# and (x - mu) * precision, 20 MB each, were stored for the gradient's loop)
_RECOMPUTED = frozenset({P.add_p, P.sub_p, P.mul_p, P.neg_p, P.safe_mul_p})
RECOMPUTE_OPS = 2


def rematerialised(graph: Graph) -> Graph:
    """The graph in which a loop that would read a stored array computes it
    itself, where that value is at most RECOMPUTE_OPS cheap elementwise ops
    (``_RECOMPUTED``) of values the loop can read, and the array is then no
    longer stored (else the graph unchanged)."""
    buffers = scatter_buffers(graph)
    items = group(graph, buffers)
    stored = materialised(graph, items, buffers)
    loop_of = {op.out: item for item in items if isinstance(item, FusedLoop) for op in item.ops}
    made_by = {op.out: op for op in graph.ops if len(op.outputs) == 1}

    def tree(v, home, budget):
        """The ops (in order) computing v in its loop from values outside it."""
        op = made_by.get(v)
        if op is None or op.primitive not in _RECOMPUTED or v in buffers or budget < 1:
            return None
        ops = []
        for a in op.inputs:
            if isinstance(a, Var) and loop_of.get(a) is home:
                sub = tree(a, home, budget - 1 - len(ops))
                if sub is None:
                    return None
                ops += [o for o in sub if o not in ops]
        return ops + [op] if len(ops) + 1 <= budget else None

    def loop_of_op(op):
        return loop_of.get(op.outputs[0]) if op.outputs else None

    readers_of: dict = {}  # a stored Var -> the ops outside its loop that read it
    for op in graph.ops:
        for a in op.inputs:
            if a in stored and loop_of[a] is not loop_of_op(op):
                readers_of.setdefault(a, []).append(op)
    recomputed = {}  # stored Var -> its ops
    for v, readers in readers_of.items():
        home = loop_of[v]
        if v.shape != home.shape or any(
                loop_of_op(op) is None or loop_of_op(op).shape != home.shape
                or not isinstance(_lowering(op), Elementwise) for op in readers):
            continue
        ops = tree(v, home, RECOMPUTE_OPS)
        if ops is not None:
            recomputed[v] = ops
    if not recomputed:
        return graph
    new_ops, copies = [], {}  # (Var, id of a reading loop) -> its copy there
    for op in graph.ops:
        home = loop_of_op(op)
        inputs = list(op.inputs)
        for k, a in enumerate(inputs):
            if a in recomputed and home is not loop_of[a]:
                for source in recomputed[a]:  # each op copied once per reading loop
                    if (source.out, id(home)) not in copies:
                        args = tuple(copies.get((x, id(home)), x) for x in source.inputs)
                        copy = copies[source.out, id(home)] = Var(source.out.shape,
                                                                 source.out.dtype)
                        new_ops.append(Op(source.primitive, args, (copy,), source.params))
                inputs[k] = copies[a, id(home)]
        new_ops.append(op if inputs == list(op.inputs) else
                       Op(op.primitive, tuple(inputs), op.outputs, op.params))
    candidate = Graph(graph.inputs, tuple(new_ops), graph.outputs, graph.input_names)
    # kept only where the copies joined their readers' loops and nothing
    # more is stored
    new_buffers = scatter_buffers(candidate)
    new_stored = materialised(candidate, group(candidate, new_buffers), new_buffers)
    if sum(v.size for v in new_stored) >= sum(v.size for v in stored):
        return graph
    return candidate


class SourceWriter:
    """Pass 3: emit the kernel source."""

    def __init__(self, graph: Graph, parallel: bool = False, prefix: str = "", modes=None):
        self.graph = graph
        self.parallel = parallel
        self.vector_math = vector_math()
        self.wanted_modes = modes  # per fused loop, in order: see generate_with_modes
        self.modes: list = []      # the vector_mode each fused loop got
        self.prefix = prefix          # of the names of the loop bodies this writes
        self.functions: list = []     # the source of those bodies, innermost first
        self.printed = graph.names()
        self.lines: list[str] = []
        self.consts: list = []  # array literals, passed as trailing kernel arguments
        self.diagonals: dict = {}  # id of a matrix literal -> _diagonal of it
        self.bands: dict = {}  # id of a matrix literal -> its nonzero diagonals
        self.const_names: dict = {}
        # arrays that alias kernel inputs or constants (outputs must be copied)
        self.borrowed = set(graph.inputs)
        self.contiguous = set(graph.inputs)  # the dispatcher passes C-contiguous arrays
        self.loop_values: set = set()
        self.loop_shape: tuple = ()
        self.weak_dtype = None  # what Python-number literals are, in the op being written
        self.buffers: dict = {}  # scatter Var -> the zeroed array it is written into
        # the function returns its guards' status (a loop body's too: the
        # loop returns at once where a step's guard failed)
        self.status = has_guards(graph)
        self.shared: set = set()  # those arrays more than one scatter writes
        self.scatters: dict = {}  # each array -> the scatter ops written into it
        self.zeroed: set = set()  # those arrays, once allocated

    # names --------------------------------------------------------------
    def name(self, a) -> str:
        if isinstance(a, Lit):
            if not a.shape:
                if a.weak and self.weak_dtype is not None:
                    return f"{dtype_name(self.weak_dtype)}({literal(a.val)})"
                return literal(a.val)
            if id(a.val) not in self.const_names:
                self.const_names[id(a.val)] = f"c_{len(self.consts)}"
                # C-contiguous: a slice of a seed (strides of the whole) would
                # make numba type every access as strided, and no loop vectorise
                self.consts.append(np.ascontiguousarray(a.val))
            return self.const_names[id(a.val)]
        return self.printed[a].replace("-", "m")

    def operand(self, a) -> Operand:
        return Operand(self.name(a), a.shape, a.dtype)

    def typed(self, op, expr) -> str:
        """``expr`` in the op's dtype. A float32 op computes in float32, as
        NumPy does: its Python-number literals are float32 (``weak_dtype``)
        and the result is cast, since a template may hold float64 constants."""
        if op.outputs and op.out.dtype.kind == "f" and op.out.dtype.itemsize < 8:
            return f"{dtype_name(op.out.dtype)}({expr})"
        return expr

    def begin(self, op):
        """Set what Python-number literals are while ``op`` is written: the
        dtype of the arrays they meet (NumPy 2's rule), when that is a float
        narrower than float64."""
        dtypes = [a.dtype for a in op.inputs if isinstance(a, Var) or not a.weak]
        common = np.result_type(*dtypes) if dtypes else None
        self.weak_dtype = common if common is not None and common.kind == "f" \
            and common.itemsize < 8 else None

    def comment(self, op, indent):
        lhs = ", ".join(self.printed[v] for v in op.outputs)
        rhs = format_op(op, self.printed)
        self.lines.append(f"{indent}# {lhs} = {rhs}" if lhs else f"{indent}# {rhs}")

    # ops ----------------------------------------------------------------
    def loop(self, op):
        """A scan: its body as a function (written before the kernel), called
        once per step from a for loop; carries are locals, ys are stacked."""
        p = op.params
        body, n_carry, n_xs = p["body"], p["n_carry"], p["n_xs"]
        s = self.name(op.outputs[0])[2:]
        name = f"{self.prefix}body_{s}"
        writer = SourceWriter(without_forwarding(body), prefix=f"{name}_")
        source = writer.kernel_source(name=name, contiguous_outputs=True)
        self.functions += writer.functions + [f"@_body_jit\n{source}"]
        init, xs, consts = (op.inputs[:n_carry], op.inputs[n_carry:n_carry + n_xs],
                            op.inputs[n_carry + n_xs:])
        carries = [f"c{j}_{s}" for j in range(n_carry)]
        ys = [f"y{j}_{s}" for j in range(len(op.outputs) - n_carry)]
        for c, a in zip(carries, init):
            text = self.name(a)
            self.lines.append(f"    {c} = np.ascontiguousarray({text})" if a.shape else
                              f"    {c} = {text}")
        for y, v in zip(ys, op.outputs[n_carry:]):
            self.lines.append(f"    {y} = {allocation(v.shape, v.dtype)}")
        steps = f"range({p['length'] - 1}, -1, -1)" if p["reverse"] else f"range({p['length']})"
        step_ys = [f"t{j}_{s}" for j in range(len(ys))]
        args = ", ".join([f"np.int64(i_{s})"] + carries + [f"{self.name(x)}[i_{s}]" for x in xs]
                         + [self.name(c) for c in consts])
        targets = ", ".join(carries + step_ys + ([f"failed_{s}"] if writer.status else []))
        self.lines.append(f"    for i_{s} in {steps}:")
        self.lines.append(f"        {targets}, = {name}({args})")
        if writer.status:  # a step's guard failed
            self.lines += [f"        if failed_{s}:", f"            {self.failed_return()}"]
        for y, t in zip(ys, step_ys):
            self.lines.append(f"        {y}[i_{s}] = {t}")
        for v, text in zip(op.outputs, carries + ys):
            self.lines.append(f"    {self.name(v)} = {text}")
            self.contiguous.add(v)
        # a final carry may be an input or a const (a body passes arrays on
        # uncopied): the kernel copies it if it returns it
        self.borrowed.update(op.outputs[:n_carry])

    def statement(self, op):
        self.comment(op, "    ")
        lowering = _lowering(op)
        if isinstance(lowering, Loop):
            return self.loop(op)
        self.begin(op)
        if op.primitive.multiple_results:  # a decomposition: its template names them all
            out = tuple(self.operand(v) for v in op.outputs)
        else:
            out = self.operand(op.out) if op.outputs else None
        operands = [self.operand(a) for a in op.inputs]
        if isinstance(lowering, Elementwise):  # a 0-d elementwise op: a scalar statement
            self.lines.append(f"    {out} = {self.typed(op, lowering.expr(*operands, **op.params))}")
            return
        if isinstance(lowering, (Accumulate, Indexed)):
            # over no axes, or of a 0-d value: the value itself
            self.lines.append(f"    {out} = {operands[0]}")
            return
        if lowering.contiguous_operand and op.inputs[0].shape and \
                op.inputs[0] not in self.contiguous:
            x = op.inputs[0]
            operands[0] = Operand(f"np.ascontiguousarray({operands[0]})", x.shape, x.dtype)
        params = op.params if op.primitive is not P.guard_p else \
            {**op.params, "failed": self.failed_return()}
        for line in lowering.lines(out, *operands, **params):
            self.lines.append(f"    {line}")
        if lowering.view:
            if op.inputs[0] in self.borrowed:
                self.borrowed.add(op.out)
            if lowering.contiguous_operand:  # a reshape of a contiguous array is contiguous
                self.contiguous.add(op.out)
        elif op.outputs:  # every statement's result is a new C-contiguous array
            self.contiguous.update(op.outputs)

    # the loop context the Indexed templates read through ---------------------
    def element(self, a, axes) -> str:
        """Source of a's element at the loop position; a's axis k runs along
        loop axis ``axes[k]`` (a size-1 axis against a longer one stays at 0)."""
        if isinstance(a, Var) and a in self.loop_values:
            return f"e_{self.name(a)[2:]}"
        return self.element_at(a, ["0" if n == 1 and self.loop_shape[j] != 1 else f"i{j}"
                                   for n, j in zip(a.shape, axes)])

    def diagonal(self, a):
        """``_diagonal`` of a matrix literal, computed once."""
        if id(a.val) not in self.diagonals:
            self.diagonals[id(a.val)] = _diagonal(a.val)
        return self.diagonals[id(a.val)]

    def band(self, loop: FusedLoop, stored: set):
        """``bands.loop_band`` of a 2-d loop without sums or maxima, or None."""
        if len(loop.shape) != 2 or any(isinstance(_lowering(op), Accumulate) for op in loop.ops):
            return None

        def band_of(a):
            if type(a) is not Lit or a.shape != loop.shape or a.val.size > DIAGONAL_LIMIT:
                return None
            if id(a.val) not in self.bands:
                self.bands[id(a.val)] = nonzero_diagonals(a.val)
            return self.bands[id(a.val)]
        return loop_band(loop.ops, lambda op: op.out in stored, band_of,
                         lambda op: op.inputs[0] if op.out in self.buffers else None,
                         loop.shape[1])

    def element_at(self, a, index) -> str:
        """Source of a's element at the given index expressions (a constant
        matrix that is one value on one diagonal, as forward mode's seeds
        and their slices are, is that test on the indices: no array read)."""
        if not a.shape:
            return self.name(a)
        if type(a) is Lit and a.ndim == 2:
            diagonal = self.diagonal(a)
            if diagonal is not None:
                offset, value = diagonal
                row, col = (i if i.isidentifier() or i.isdigit() else f"({i})" for i in index)
                zero = literal(a.val.dtype.type(0))
                return f"({literal(value)} if {col} - {row} == {offset} else {zero})"
        return f"{self.name(a)}[{', '.join(index)}]"

    def fused_loop(self, loop: FusedLoop, stored: set):
        names = ", ".join(self.printed[op.out] for op in loop.ops)
        self.lines.append(f"    # fused loop over {loop.shape}: {names}")
        scatters = [op for op in loop.ops if op.out in self.buffers]
        carried = self.carried(loop)
        above = AUTO_PARALLEL_ABOVE if self.parallel == "auto" else PARALLEL_ABOVE
        outer = "prange" if self.parallel and parallelisable(loop, above) else "range"
        # a prange loop's sums are split into blocks (split_sums), and so is a
        # 1-d loop's carry (loop_lines): each block's loop is serial, and
        # vectorises as one
        mode = self.loop_mode(loop, outer == "prange")
        # a loop zero off a few diagonals runs its inner axis over them alone
        # (into zeroed arrays, each position added once: no carries)
        band = self.band(loop, stored)
        if mode == "blocked" or band is not None:
            carried = {}
        # two scatters into one array write neighbouring positions: one thread,
        # unless the positions are carried (the carries of a block of a 1-d
        # loop are added to the next block's first positions after the loop)
        uncarried = any(self.buffers[op.out] in self.shared and self.buffers[op.out] not in
                        carried for op in scatters)
        if uncarried or any(high - low >= PARALLEL_BLOCK for _, low, high in carried.values()):
            outer = "range"
        # sin/cos/tan reduced fast, exact below 2**30 (practically every argument);
        # where one is not, the whole loop runs again with the exact functions
        # (not a loop that adds into scatter arrays: it would add twice)
        fast = mode is not None and outer == "range" and not scatters and any(
            _vector_function(op) in FAST_TRIG for op in loop.ops)
        flag = f"exact_{self.name(loop.ops[0].out)[2:]}"
        if fast:
            self.lines.append(f"    {flag} = False")
        self.loop_lines(loop, stored, outer, mode, carried, flag if fast else None, "    ", band)
        if fast:
            self.lines.append(f"    if {flag}:  # an argument of sin/cos/tan at or above 2**30")
            self.loop_lines(loop, stored, outer, mode, carried, None, "        ", band)
        for op in loop.ops:
            self.contiguous.add(op.out)

    def loop_mode(self, loop: FusedLoop, prange: bool):
        """The loop's ``vector_mode``, or the one wanted for it (a kernel of
        another size's family: any loop can take libm's functions, or the
        mode its structure allows whatever its size)."""
        mode = vector_mode(loop, prange) if self.vector_math else None
        k, wanted = len(self.modes), self.wanted_modes
        if wanted is not None and k < len(wanted) and wanted[k] != mode and (
                wanted[k] is None or wanted[k] == vector_mode(loop, prange, above=0)):
            mode = wanted[k]
        self.modes.append(mode)
        return mode

    def loop_lines(self, loop, stored, outer, mode, carried, fast_flag, indent, band=None):
        """The loop's allocations and loop nest; ``carried``: the arrays its
        scatters store through carries (``carried``); ``fast_flag``: the fast
        trig functions, setting that flag where an argument needs the exact
        ones; ``band``: the diagonals ``(lo, hi)`` the inner axis runs over."""
        ndim = len(loop.shape)
        last, block = ndim - 1, max(1, min(REDUCTION_BLOCK, loop.shape[-1]))
        split = split_sums(loop) if outer == "prange" and mode != "blocked" else []
        # a prange loop in blocks of outer indices: for its sums, and for a
        # 1-d loop's carries (the block's last ones are kept in t_<n>)
        blocked_carries = carried if outer == "prange" and ndim == 1 else {}
        in_blocks = bool(split or blocked_carries)
        rows = max(1, PARALLEL_BLOCK // max(1, int(np.prod(loop.shape[1:], dtype=np.int64))))
        blocks = -(-loop.shape[0] // rows)
        base = indent
        for op in loop.ops:
            out, dtype = self.name(op.out), dtype_name(op.out.dtype)
            if op.out in self.buffers:
                array = self.buffers[op.out]
                if array not in self.zeroed:
                    self.zeroed.add(array)
                    self.contiguous.add(array)
                    # an array the carries store in full needs no zeros first
                    full = array in carried and self.covered(array, loop, *carried[array])
                    new = allocation(array.shape, array.dtype, None if full else "0")
                    self.lines.append(f"{indent}{self.name(array)} = {new}")
            elif op.out in loop.reductions:
                init = _lowering(op).init(op.out.dtype)
                self.lines.append(f"{indent}{out} = {dtype}({init})" if op.out.shape == ()
                                  else f"{indent}{out} = "
                                       f"{allocation(op.out.shape, op.out.dtype, init)}")
                if mode == "blocked":
                    self.lines.append(f"{indent}b_{out[2:]} = np.empty({block}, {dtype})")
            elif op.out in stored:
                zeros = None if band is None else "0"
                self.lines.append(f"{indent}{out} = {allocation(loop.shape, op.out.dtype, zeros)}")
        for op in split:
            self.lines.append(f"{indent}p_{self.name(op.out)[2:]} = np.empty({blocks}, "
                              f"{dtype_name(op.out.dtype)})")
        for array, (_, low, high) in blocked_carries.items():
            self.lines.append(f"{indent}t_{self.name(array)[2:]} = np.empty(({blocks}, "
                              f"{high - low}), {dtype_name(array.dtype)})")
        if in_blocks:
            # each thread's blocks sum into their own partials, added in order
            # after the loop: the result does not depend on the thread count
            self.lines.append(f"{indent}# in {blocks} blocks of {rows} on every core, each "
                              "block's sums (and carries) then added in order")
        if mode == "blocked":
            # a float reduction keeps its order and so keeps LLVM from vectorising
            # the loop: the elements of a block are computed by a loop without it
            # (vectorised), then added in the same order by a second, short loop
            self.lines.append(f"{indent}# in blocks of {block}: the elements vectorised, then "
                              "accumulated in order")
        for j, n in enumerate(loop.shape):
            indent += "    "
            if j == last and not (in_blocks and j == 0):
                self.lines += self.carry_inits(carried, indent[4:])
            if in_blocks and j == 0:
                self.lines.append(f"{indent[4:]}for jb in prange({blocks}):")
                self.lines += [f"{indent}s_{self.name(op.out)[2:]} = "
                               f"{dtype_name(op.out.dtype)}({_lowering(op).init(op.out.dtype)})"
                               for op in split]
                if j == last:
                    self.lines += self.carry_inits(carried, indent)
                indent += "    "
                # an unsigned index: numba wraps a signed one round if negative,
                # which LLVM cannot rule out for a block's start in prange's
                # function (Rosenbrock's gradient at n = 10**7, one thread:
                # 61 ms with int64 blocks, 48 ms unsigned, 43 ms serial)
                self.lines.append(f"{indent[4:]}for i0 in range(np.uint64(jb * {rows}), "
                                  f"np.uint64(min(jb * {rows} + {rows}, {n}))):")
                continue
            if mode == "blocked" and j == last:
                self.lines.append(f"{indent[4:]}for j{j} in range(0, {n}, {block}):")
                indent += "    "
                self.lines.append(f"{indent[4:]}for i{j} in range(j{j}, min(j{j} + {block}, "
                                  f"{n})):")
                continue
            if band is not None and j == 1:
                lo, hi = band
                self.lines.append(f"{indent[4:]}for i1 in range(max(0, {_plus('i0', lo)}), "
                                  f"min({n}, {_plus('i0', hi + 1)})):  # diagonals {lo} to {hi}")
                continue
            self.lines.append(f"{indent[4:]}for i{j} in {outer if j == 0 else 'range'}({n}):")
        self.loop_values, self.loop_shape = set(), loop.shape
        full = list(range(ndim))
        accumulated = []
        contributions: dict = {}  # carried array -> offset from its lowest start -> elements
        for op in loop.ops:
            self.comment(op, indent)
            lowering = _lowering(op)
            self.begin(op)
            if isinstance(lowering, Accumulate):
                kept = [f"i{j}" for j in full if j not in op.params["axes"]]
                acc = self.name(op.out) + (f"[{', '.join(kept)}]" if kept else "")
                if op in split:
                    acc = f"s_{self.name(op.out)[2:]}"
                x = self.element(op.inputs[0], full)
                if mode == "blocked":
                    buffer = f"b_{self.name(op.out)[2:]}"
                    self.lines.append(f"{indent}{buffer}[i{last} - j{last}] = {x}")
                    accumulated.append(lowering.update(acc, f"{buffer}[k{last}]"))
                else:
                    # in a prange loop a sum over the outer axis is split (s_<n>);
                    # any other accumulates within one outer index, one thread
                    update = lowering.reordered if lowering.reordered is not None \
                        else lowering.update
                    self.lines.append(f"{indent}{update(acc, x)}")
                continue
            if op.out in self.buffers:
                element = self.element(op.inputs[0], full)
                if self.buffers[op.out] in carried:
                    position, low, _ = carried[self.buffers[op.out]]
                    start = op.params["index"].entries[position][0]
                    contributions.setdefault(self.buffers[op.out], {}).setdefault(
                        start - low, []).append(element)
                else:
                    self.lines.append(f"{indent}{self.scattered(op)} += {element}")
                continue
            if isinstance(lowering, Indexed):
                expr = lowering.element(self, op)
            else:
                operands = [self.element(a, full[ndim - a.ndim:]) for a in op.inputs]
                function = _vector_function(op) if mode is not None else None
                if function is None:
                    expr = lowering.expr(*operands, **op.params)
                elif fast_flag is not None and function in FAST_TRIG:
                    self.lines.append(f"{indent}{fast_flag} |= needs_exact_trig({operands[0]})")
                    expr = f"vm_{function}_fast({operands[0]})"
                else:
                    expr = f"vm_{function}({', '.join(operands)})"
                expr = self.typed(op, expr)
            element = f"e_{self.name(op.out)[2:]}"
            self.lines.append(f"{indent}{element} = {expr}")
            self.loop_values.add(op.out)
            if op.out in stored:
                index = ", ".join(f"i{j}" for j in full)
                self.lines.append(f"{indent}{self.name(op.out)}[{index}] = {element}")
        tails, fixes = [], []
        for array, (position, low, high) in carried.items():
            step, tail = self.carry_lines(array, position, low, high, contributions[array])
            self.lines += [f"{indent}{line}" for line in step]
            if array not in blocked_carries:
                tails += [f"{indent[4:]}{line}" for line in tail]
                continue
            # the block's last carries; after the loop, added to the next
            # block's first positions (stored by it), or stored at the end
            name, op, n = self.name(array)[2:], self.scatters[array][0], loop.shape[0]
            tails += [f"{indent[4:]}t_{name}[jb, {d - 1}] = {self.carry(array, d)}"
                      for d in range(1, high - low + 1)]
            fixes.append(f"{base}for jb in range({blocks - 1}):")
            fixes += [f"{base}    {self.scattered(op, f'(jb + 1) * {rows} + {low + d - 1}')} "
                      f"+= t_{name}[jb, {d - 1}]" for d in range(1, high - low + 1)]
            fixes += [f"{base}{self.scattered(op, n + low + d - 1)} = "
                      f"t_{name}[{blocks - 1}, {d - 1}]" for d in range(1, high - low + 1)]
        self.lines += tails
        for op in split:
            name = self.name(op.out)[2:]
            self.lines.append(f"{base}    p_{name}[jb] = s_{name}")
        if split:
            self.lines.append(f"{base}for jb in range({blocks}):")
            self.lines += [f"{base}    " + _lowering(op).update(
                self.name(op.out), f"p_{self.name(op.out)[2:]}[jb]") for op in split]
        self.lines += fixes
        if accumulated:
            indent = indent[4:]
            n = loop.shape[last]
            self.lines.append(f"{indent}for k{last} in range(min({block}, {n} - j{last})):")
            self.lines += [f"{indent}    {line}" for line in accumulated]
        self.loop_values = set()

    def scattered(self, op, last=None) -> str:
        """The element of a scatter's array that the loop position writes:
        each sliced axis of the basic index runs along the next loop axis
        (``last``: the position along the innermost one, if not its start
        plus the loop index)."""
        entries = op.params["index"].entries
        slices = [k for k, entry in enumerate(entries) if not isinstance(entry, int)]
        index = []
        for k, entry in enumerate(entries):
            if isinstance(entry, int):
                index.append(str(entry))
                continue
            axis = slices.index(k)
            start, _, step = entry
            position = f"i{axis}" if step == 1 else f"{step} * i{axis}"
            index.append(str(last) if last is not None and k == slices[-1] else
                         f"{start} + {position}" if start else position)
        return f"{self.name(self.buffers[op.out])}[{', '.join(index)}]"

    def carried(self, loop) -> dict:
        """The shared scatter arrays this loop alone writes whose scatters
        differ only in the start of the innermost axis (the adjoints of
        ``x[1:]`` and ``x[:-1]``): array -> (index entry of that axis, lowest
        start, highest start). Iteration ``i`` adds to neighbouring positions
        that iteration ``i + 1`` adds to again, a dependence through memory
        that keeps LLVM from vectorising; carried instead in locals from one
        iteration to the next (a recurrence LLVM vectorises), each position
        is stored once, when complete."""
        members: dict = {}
        for op in loop.ops:
            if op.out in self.buffers and self.buffers[op.out] in self.shared:
                members.setdefault(self.buffers[op.out], []).append(op)
        carried = {}
        for array, ops in members.items():
            entries = [op.params["index"].entries for op in ops]
            slices = [k for k, entry in enumerate(entries[0]) if not isinstance(entry, int)]
            if not slices or len(ops) != len(self.scatters[array]):
                continue  # another loop writes into it too
            last = slices[-1]
            if any(len(e) != len(entries[0]) or any(e[k] != entries[0][k]
                                                    for k in range(len(e)) if k != last)
                   or e[last][2] != 1 for e in entries):
                continue
            starts = [e[last][0] for e in entries]
            if 0 < max(starts) - min(starts) <= MAX_CARRIES:
                carried[array] = (last, min(starts), max(starts))
        return carried

    def covered(self, array, loop, position, low, high) -> bool:
        """Whether the carries of ``array`` store every element of it: each
        other axis is a full slice, and the innermost one runs from 0 to its
        end."""
        entries = self.scatters[array][0].params["index"].entries
        return low == 0 and loop.shape[-1] + high == array.shape[position] and all(
            entry == (0, n, 1) for k, (entry, n) in enumerate(zip(entries, array.shape))
            if k != position)

    def carry_inits(self, carried, indent) -> list:
        return [f"{indent}{self.carry(array, d)} = {dtype_name(array.dtype)}(0)"
                for array, (_, low, high) in carried.items() for d in range(1, high - low + 1)]

    def carry(self, array, level) -> str:
        """The local holding the part of ``array``'s element ``level``
        positions ahead of the one the loop position completes."""
        return f"r{level}_{self.name(array)[2:]}"

    def carry_lines(self, array, position, low, high, contributions) -> tuple:
        """The lines that store the element this iteration completes and move
        the carries one position on, and those that store the last ones after
        the innermost loop (the same additions in the same order as ``+=``
        into the array)."""
        op = self.scatters[array][0]
        levels = range(high - low + 1)

        def total(level):
            elements = contributions.get(level, [])
            ahead = [self.carry(array, level + 1)] if level < high - low else []
            return " + ".join(ahead + elements) if ahead + elements else "0.0"
        i = f"i{len(self.loop_shape) - 1}"
        step = [f"{self.scattered(op, f'{low} + {i}' if low else i)} = {total(0)}"]
        step += [f"{self.carry(array, d)} = {total(d)}" for d in levels[1:]]
        n = self.loop_shape[-1]
        tail = [f"{self.scattered(op, n + low + d - 1)} = {self.carry(array, d)}"
                for d in levels[1:]]
        return step, tail

    # the kernel ------------------------------------------------------------
    def failed_return(self) -> str:
        """Where a guard fails: return at once, the status True last and
        empty outputs of the right types before it. The dispatcher tries
        another path on that status, which costs far less than an exception
        raised through numba (a microsecond a call)."""
        dummies = [f"np.empty({(0,) * len(o.shape)!r}, {dtype_name(o.dtype)})" if o.shape
                   else f"{dtype_name(o.dtype)}(0)" for o in self.graph.outputs]
        return f"return ({', '.join(dummies + ['True'])},)"

    def kernel_source(self, name="kernel", contiguous_outputs=False) -> str:
        """The function's source; ``contiguous_outputs``: arrays it returns are
        C-contiguous (a loop body's, whose carries must keep one type). A
        function with guards (its own or its loops') returns one more
        output, last, the guards' status (``STATUS_COMMENT``): False where
        all held."""
        self.buffers = scatter_buffers(self.graph)
        self.shared = {array for v, array in self.buffers.items() if v is not array}
        self.scatters = {}
        for op in self.graph.ops:
            if op.primitive is P.scatter_add_p and op.out in self.buffers:
                self.scatters.setdefault(self.buffers[op.out], []).append(op)
        items = group(self.graph, self.buffers)
        stored = materialised(self.graph, items, self.buffers)
        body_start = len(self.lines)
        for item in items:
            if isinstance(item, FusedLoop):
                self.fused_loop(item, stored)
            else:
                self.statement(item)
        body = self.lines[body_start:]
        self.weak_dtype = None
        returned, seen = [], set()
        for o in self.graph.outputs:
            text = self.name(o)
            if contiguous_outputs and o.shape:
                # a loop body's: a carry or y may be an input as it is (no step
                # writes into an array it was given; a copy was an allocation
                # a step, for every carry a body passes on; ``loop`` copies a
                # carry the kernel returns)
                if isinstance(o, Lit) or o not in self.contiguous:
                    text = f"np.ascontiguousarray({text})"
            elif isinstance(o, Lit) and o.shape or isinstance(o, Var) and (
                    o in self.borrowed or o in seen) and o.shape:
                text = f"{text}.copy()"
            seen.add(o)
            returned.append(text)
        params = [self.name(v) for v in self.graph.inputs]
        params += [f"c_{i}" for i in range(len(self.consts))]
        header = [f"def {name}({', '.join(params)}):"]
        header += [f"    # {lhs} = {label}  : {type_str(v)}"
                   for lhs, label, (v,) in self.graph.rows(self.printed)[:len(self.graph.inputs)]]
        if self.status:
            header.append(f"    {STATUS_COMMENT}")
            returned.append("False")
        return "\n".join(header + body + [f"    return ({', '.join(returned)},)"]) + "\n"


STATUS_COMMENT = "# the last output is the guards' status: True where one failed"


def has_guards(graph: Graph) -> bool:
    """Whether ``graph`` checks a guard, itself or in a loop's body."""
    return any(op.primitive is P.guard_p or op.primitive.name == "scan"
               and has_guards(op.params["body"]) for op in graph.ops)


def has_status(source: str) -> bool:
    """Whether a kernel's source returns the guards' status as its last output."""
    return STATUS_COMMENT in source


def vector_math() -> bool:
    """Whether fused loops call jitad's vectorisable math functions
    (``jitad.backend.vecmath``, the default) or libm's (``JITAD_MATH=libm``).
    Read when a kernel is written: a kernel already compiled keeps its choice."""
    setting = os.environ.get("JITAD_MATH", "vector").lower()
    if setting not in ("vector", "libm"):
        raise ValueError(f"JITAD_MATH={setting!r}: use 'vector' (jitad's vectorisable "
                         "functions, the default) or 'libm'")
    return setting == "vector"


def _vector_function(op):
    """The vecmath function for ``op``, when it has one and its operands and
    result are real (vecmath computes in float64; complex stays on NumPy's)."""
    lowering = _lowering(op)
    if not isinstance(lowering, Elementwise) or lowering.vector is None:
        return None
    if op.out.dtype.kind != "f" or any(a.dtype.kind not in "biuf" for a in op.inputs):
        return None
    return lowering.vector


# calls in a template that LLVM vectorises: casts, min/max, abs, safe_mul's
# select, and the functions that are LLVM intrinsics (one vector instruction)
_VECTOR_CALL = re.compile(r"(np\.(float|int|uint)\d+|np\.bool_|np\.maximum|np\.minimum|abs|"
                          r"safe_mul|np\.(sqrt|floor|ceil|trunc))$")


# elements: below, a loop's vector functions (about 0.5 s of compile each, in
# the background, once: the kernel is cached on disk) save under 10 us a call.
# Measured (Xeon, one thread): the gradient of sum(tanh(x) exp(-x^2) +
# log1p(x^2)) at n = 256 takes 7.3 us against 19.4 us with libm, at n = 1000
# 20 us against 69 us; the 1000-row logistic NLL 57 us against 95 us.
VECTOR_ABOVE = 1 << 8
FAST_TRIG = ("sin", "cos", "tan")  # vecmath has fast variants, exact below 2**30
REDUCTION_BLOCK = 256  # elements per block of a reduction loop that vectorises


def vector_mode(loop: FusedLoop, prange: bool, above: int = VECTOR_ABOVE):
    """How a fused loop of at least ``above`` elements uses vecmath's
    functions: ``"plain"`` (the loop
    vectorises as it is, its sums and products reordered into vector lanes),
    ``"blocked"`` (its reductions that keep their order, a max, over the
    innermost axis, are split off per block so the rest vectorises; not in
    a prange loop, whose threads would share the block), or None (libm's
    functions, faster one element at a time, where the loop cannot vectorise:
    a call left that vecmath does not replace, such as ``hypot``, ``**`` of a
    kind vecmath has not, ``%``, ``//``; or reductions it cannot split off)."""
    if int(np.prod(loop.shape, dtype=np.int64)) < above:
        return None
    vector_calls = 0
    for op in loop.ops:
        lowering = _lowering(op)
        if not isinstance(lowering, Elementwise):
            continue
        if _vector_function(op) is not None:
            vector_calls += 1
            continue
        text = lowering.expr(*["a"] * len(op.inputs), **op.params)
        calls = re.findall(r"([\w.]+)\(", text)
        if any(not _VECTOR_CALL.match(c) for c in calls) or any(t in text for t in
                                                               ("**", "//", "%")):
            return None
    # a sum or product is reordered (add_lanes; in prange, per block) and vectorises
    accumulations = _accumulations(loop)
    if all(_lowering(op).reordered is not None for op in accumulations):
        return "plain"
    last = len(loop.shape) - 1
    if vector_calls == 0 or prange or any(last not in op.params["axes"] for op in accumulations):
        return None  # blocking a loop without vector functions costs more than it gains
    return "blocked"


PARALLEL_ABOVE = 1 << 17  # elements: parallel=True; a smaller loop does not pay for the threads
# elements: parallel="auto" (the default where numba has several threads),
# which must not cost a user who did not ask. Measured on 2 vCPUs (quiet): a
# jacfwd loop of 147,456 elements ran 137 us in prange, 73 us serial; an
# elementwise-heavy gradient at 2e6, 30 ms against 20 ms; the Rosenbrock
# gradient at 1e7, 30 ms against 41 ms
AUTO_PARALLEL_ABOVE = 1 << 22


def parallelisable(loop: FusedLoop, above: int = PARALLEL_ABOVE) -> bool:
    """Whether a fused loop can run its outer axis on every core: large
    enough, and every reduction in it either accumulates per outer index or
    is a scalar sum or product (which numba combines from per-thread partial
    results; a max is kept serial: numba's parallel max drops NaN)."""
    if int(np.prod(loop.shape, dtype=np.int64)) < above or loop.shape[0] < 2:
        return False
    for op in _accumulations(loop):
        if 0 in op.params["axes"] and (op.out.shape != () or op.primitive.name == "reduce_max"):
            return False
    return True


# positions a carried scatter keeps in locals: the adjoints of x[1:] and x[:-1]
# take one; the adjoint of an LSTM's gates z[:, :128] ... z[:, 384:] would take
# 384, shifted every iteration (a 3,000-line kernel compiled in 26 s)
MAX_CARRIES = 8
PARALLEL_BLOCK = 1 << 14  # elements per block of a prange loop that sums


def split_sums(loop: FusedLoop) -> list:
    """The sums (and products) of a loop across its outer axis: in a prange
    loop each block of outer indices accumulates its own (serially, so it
    vectorises), and the blocks' partial results are added in order."""
    return [op for op in _accumulations(loop) if 0 in op.params["axes"]]


DIAGONAL_LIMIT = 1 << 22  # elements of a matrix literal checked for being one diagonal


def _plus(name: str, k: int) -> str:
    return name if k == 0 else f"{name} + {k}" if k > 0 else f"{name} - {-k}"


def _diagonal(value: np.ndarray):
    """(k, v) when the matrix holds the finite v on all of its k-th diagonal
    and zeros elsewhere (an identity, a slice or a multiple of one), else
    None.

    >>> _diagonal(2.0 * np.eye(4)[:, 1:]), _diagonal(np.eye(3) + 1.0)
    ((-1, 2.0), None)
    """
    if value.dtype.kind not in "biuf" or not 0 < value.size <= DIAGONAL_LIMIT:
        return None
    rows, cols = np.nonzero(value)
    if not len(rows):
        return None
    offset, first = int(cols[0] - rows[0]), value[rows[0], cols[0]]
    if not np.isfinite(first) or len(rows) != len(np.diagonal(value, offset)) or \
            np.any(cols - rows != offset) or np.any(value[rows, cols] != first):
        return None
    return offset, first.item()


def _accumulations(loop: FusedLoop) -> list:
    """The loop's reductions (its other results that finish with it are the
    arrays its scatters write)."""
    return [op for op in loop.ops if isinstance(_lowering(op), Accumulate)]


def generate(graph: Graph, parallel=False) -> tuple[str, list]:
    """(source of ``def kernel(...)``, constant arrays to pass after the inputs).
    ``parallel``: large fused loops run their outer axis with numba's prange
    (True: from ``PARALLEL_ABOVE`` elements; ``"auto"``: from
    ``AUTO_PARALLEL_ABOVE``)."""
    return generate_with_modes(graph, parallel)[:2]


def generate_with_modes(graph: Graph, parallel=False, modes=None) -> tuple[str, list, tuple]:
    """``generate``'s (source, constants), and the ``vector_mode`` each fused
    loop got, in order. ``modes``: the ones wanted instead (those of a kernel
    written at another size: a loop that crosses ``VECTOR_ABOVE`` keeps its
    family's choice, so a new size reuses that kernel instead of compiling
    another); a loop keeps its own mode where the wanted one does not fit it.

    >>> from jitad.tracer import trace
    >>> graph = trace(lambda x: np.sum(np.exp(x)), (np.ones(300),))[0]
    >>> generate_with_modes(graph)[2], generate_with_modes(graph, modes=(None,))[2]
    (('plain',), (None,))
    """
    writer = SourceWriter(rematerialised(without_forwarding(graph)), parallel, modes=modes)
    source = writer.kernel_source()
    return "\n\n".join(writer.functions + [source]), writer.consts, tuple(writer.modes)
