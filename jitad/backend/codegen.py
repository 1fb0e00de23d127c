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
            v_3 += e_2
        return (v_3,)
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from ..ir import Graph, Lit, Var
from .lowering import (ELEMENTWISE, NEEDS_CONTIGUOUS, REDUCTIONS, STATEMENTS, VIEWS, Operand,
                       dtype_name, literal, reduction_init)


class LoweringError(TypeError):
    """A primitive has no lowering (a bug in jitad, reported as such)."""


@dataclass(eq=False)
class FusedLoop:
    shape: tuple
    ops: list = field(default_factory=list)
    reductions: set = field(default_factory=set)


def _fusable(op) -> bool:
    name = op.primitive.name
    if name in REDUCTIONS:
        return op.inputs[0].shape != () and len(op.params["axes"]) > 0
    return name in ELEMENTWISE and op.out.shape != ()


def _loop_shape(op) -> tuple:
    return op.inputs[0].shape if op.primitive.name in REDUCTIONS else op.out.shape


def group(graph: Graph) -> list:
    """Pass 1: the graph's ops as single ops and FusedLoops, in an order that
    respects every dependency.

    Items (loops and single ops) depend on the items whose results they read;
    a loop's results exist only once the whole loop has run. An op joins the
    latest loop of its shape unless that loop must finish before one of the
    op's inputs exists (a reduction of the loop, or a value computed after the
    loop from its results): joining would make the loop wait for itself.
    """
    items, producer, preds, latest = [], {}, {}, {}

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
        reads = [a for a in op.inputs if isinstance(a, Var) and a in producer]
        loop = latest.get(_loop_shape(op)) if _fusable(op) else None
        if loop is not None and any(
                a in loop.reductions if producer[a] is loop else must_finish_first(loop, producer[a])
                for a in reads):
            loop = None
        if _fusable(op):
            if loop is None:
                loop = latest[_loop_shape(op)] = FusedLoop(_loop_shape(op))
                items.append(loop)
                preds[id(loop)] = []
            loop.ops.append(op)
            if op.primitive.name in REDUCTIONS:
                loop.reductions.add(op.out)
            item = loop
        else:
            item = op
            items.append(op)
            preds[id(op)] = []
        preds[id(item)].extend(producer[a] for a in reads if producer[a] is not item)
        for v in op.outputs:
            producer[v] = item
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


def materialised(graph: Graph, items) -> set:
    """Pass 2: the Vars computed in loops that must be stored in arrays."""
    loop_of = {op.out: item for item in items if isinstance(item, FusedLoop) for op in item.ops}
    needed = {o for o in graph.outputs if isinstance(o, Var)}
    for op in graph.ops:
        for a in op.inputs:
            if a in loop_of and (op.out not in loop_of or loop_of[op.out] is not loop_of[a]):
                needed.add(a)
    return {v for v in needed if v in loop_of}


class SourceWriter:
    """Pass 3: emit the kernel source."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.printed = graph.names()
        self.lines: list[str] = []
        self.consts: list = []  # array literals, passed as trailing kernel arguments
        self.const_names: dict = {}
        # arrays that alias kernel inputs or constants (outputs must be copied)
        self.borrowed = set(graph.inputs)
        self.contiguous = set(graph.inputs)  # the dispatcher passes C-contiguous arrays

    # names --------------------------------------------------------------
    def name(self, a) -> str:
        if isinstance(a, Lit):
            if not a.shape:
                return literal(a.val)
            if id(a.val) not in self.const_names:
                self.const_names[id(a.val)] = f"c_{len(self.consts)}"
                self.consts.append(a.val)
            return self.const_names[id(a.val)]
        return self.printed[a].replace("-", "m")

    def comment(self, op, indent):
        rhs = op.primitive.format(*(self.printed.get(a, repr(a)) if isinstance(a, Var)
                                    else repr(a) for a in op.inputs), **op.params)
        lhs = ", ".join(self.printed[v] for v in op.outputs)
        self.lines.append(f"{indent}# {lhs} = {rhs}")

    # ops ----------------------------------------------------------------
    def statement(self, op):
        self.comment(op, "    ")
        name = op.primitive.name
        out = Operand(self.name(op.out), op.out.shape, op.out.dtype) if op.outputs else None
        operands = [Operand(self.name(a), a.shape, a.dtype) for a in op.inputs]
        if name in ELEMENTWISE:  # a 0-d elementwise op: a scalar statement
            self.lines.append(f"    {out} = {ELEMENTWISE[name](*operands, **op.params)}")
            return
        if name in REDUCTIONS:  # reduction over no axes or of a 0-d value
            self.lines.append(f"    {out} = {operands[0]}")
            return
        if name not in STATEMENTS:
            raise LoweringError(f"primitive '{name}' has no lowering (jitad bug: add it to "
                                "jitad/backend/lowering.py)")
        if name in NEEDS_CONTIGUOUS and op.inputs[0] not in self.contiguous:
            operands[0] = f"np.ascontiguousarray({operands[0]})"
        for line in STATEMENTS[name](out, *operands, **op.params):
            self.lines.append(f"    {line}")
        if name in VIEWS:
            if op.inputs[0] in self.borrowed:
                self.borrowed.add(op.out)
            if name == "reshape":
                self.contiguous.add(op.out)
        elif op.outputs:
            self.contiguous.add(op.out)

    def element(self, a, index_map, loop) -> str:
        """Source of a's element at the loop position; index_map[k] is the
        loop index expression for a's axis k."""
        if isinstance(a, Var) and a in self.loop_values:
            return f"e_{self.name(a)[2:]}"
        if not a.shape:
            return self.name(a)
        index = ", ".join("0" if n == 1 and loop.shape[j] != 1 else f"i{j}"
                          for n, j in zip(a.shape, index_map))
        return f"{self.name(a)}[{index}]"

    def scattered_element(self, op) -> str:
        """Element of zeros(shape) with g written at a basic index: g's element
        where the loop position lies in the index, else 0."""
        conditions, g_index = [], []
        for j, entry in enumerate(op.params["index"].entries):
            if isinstance(entry, int):
                conditions.append(f"i{j} == {entry}")
                continue
            start, stop, step = entry
            if step > 0:
                conditions.append(f"{start} <= i{j} < {stop}")
                offset = f"i{j} - {start}" if start else f"i{j}"
            else:
                conditions.append(f"{-1 if stop is None else stop} < i{j} <= {start}")
                offset = f"{start} - i{j}"
                step = -step
            if step != 1:
                conditions.append(f"({offset}) % {step} == 0")
                offset = f"({offset}) // {step}"
            g_index.append(offset)
        g = op.inputs[0]
        element = self.name(g) if not g.shape else f"{self.name(g)}[{', '.join(g_index)}]"
        return ELEMENTWISE["scatter_add"](element, " and ".join(conditions) or "True")

    def fused_loop(self, loop: FusedLoop, stored: set):
        ndim = len(loop.shape)
        names = ", ".join(self.printed[op.out] for op in loop.ops)
        self.lines.append(f"    # fused loop over {loop.shape}: {names}")
        for op in loop.ops:
            out, dtype = self.name(op.out), dtype_name(op.out.dtype)
            if op.out in loop.reductions:
                init = reduction_init(op.primitive.name, op.out.dtype)
                self.lines.append(f"    {out} = {dtype}({init})" if op.out.shape == ()
                                  else f"    {out} = np.full({op.out.shape!r}, {init}, {dtype})")
            elif op.out in stored:
                self.lines.append(f"    {out} = np.empty({loop.shape!r}, {dtype})")
            self.contiguous.add(op.out)
        indent = "    "
        for j, n in enumerate(loop.shape):
            indent += "    "
            self.lines.append(f"{indent[4:]}for i{j} in range({n}):")
        self.loop_values = set()
        full = list(range(ndim))
        for op in loop.ops:
            self.comment(op, indent)
            name = op.primitive.name
            if name in REDUCTIONS:
                kept = [f"i{j}" for j in full if j not in op.params["axes"]]
                acc = self.name(op.out) + (f"[{', '.join(kept)}]" if kept else "")
                x = self.element(op.inputs[0], full, loop)
                self.lines.append(f"{indent}{REDUCTIONS[name][1](acc, x)}")
                continue
            if name == "broadcast_in_dim":
                operands = [self.element(op.inputs[0], op.params["dims"], loop)]
                expr = ELEMENTWISE[name](*operands, **op.params)
            elif name == "scatter_add":
                expr = self.scattered_element(op)
            else:
                operands = [self.element(a, full[ndim - a.ndim:], loop) for a in op.inputs]
                expr = ELEMENTWISE[name](*operands, **op.params)
            element = f"e_{self.name(op.out)[2:]}"
            self.lines.append(f"{indent}{element} = {expr}")
            self.loop_values.add(op.out)
            if op.out in stored:
                index = ", ".join(f"i{j}" for j in full)
                self.lines.append(f"{indent}{self.name(op.out)}[{index}] = {element}")
        self.loop_values = set()

    # the kernel ------------------------------------------------------------
    def kernel_source(self, name="kernel") -> str:
        items = group(self.graph)
        stored = materialised(self.graph, items)
        self.loop_values = set()
        body_start = len(self.lines)
        for item in items:
            if isinstance(item, FusedLoop):
                self.fused_loop(item, stored)
            else:
                self.statement(item)
        body = self.lines[body_start:]
        returned, seen = [], set()
        for o in self.graph.outputs:
            text = self.name(o)
            if isinstance(o, Lit) and o.shape or isinstance(o, Var) and (
                    o in self.borrowed or o in seen) and o.shape:
                text = f"{text}.copy()"
            seen.add(o)
            returned.append(text)
        params = [self.name(v) for v in self.graph.inputs] + [f"c_{i}" for i in range(len(self.consts))]
        header = [f"def {name}({', '.join(params)}):"]
        labels = self.graph.input_names or [f"x{i + 1}" for i in range(len(self.graph.inputs))]
        header += [f"    # {self.printed[v]} = {label}  : {v.dtype.name}{list(v.shape)}"
                   for v, label in zip(self.graph.inputs, labels)]
        return "\n".join(header + body + [f"    return ({', '.join(returned)},)"]) + "\n"


def generate(graph: Graph) -> tuple[str, list]:
    """(source of ``def kernel(...)``, constant arrays to pass after the inputs)."""
    writer = SourceWriter(graph)
    source = writer.kernel_source()
    return source, writer.consts
