"""Re-rolling: a Python loop the tracer unrolled becomes one ``scan`` again.

A time-stepping, recurrent or iterative loss records the same ops step after
step. Compiled as straight-line code, its first call grows (worse than
linearly) with the number of steps. ``reroll(graph)`` finds the longest run
of repeated blocks -- the same primitives, params and shapes, with values
carried from each block to the next -- and replaces it by a ``scan`` over one
block (``jitad.loops``), repeating until no run is left:

- a value a block reads from the block before is a carry (the first block
  reads the carry's initial value);
- a value from before the loop that every block reads is a const;
- a literal that changes from block to block (a time ``t``) becomes a
  stacked input, and so does a row taken by a changing integer index from an
  array made before the loop (``xs[t]``): one gather before the scan;
- values of the last block used after the loop are the scan's final carry,
  values of other blocks are its stacked outputs.

A block whose ops change from step to step (another branch) is not part of
the run: it stays as it was, and so do runs shorter than ``MIN_STEPS``.

>>> import numpy as np
>>> from jitad.tracer import trace
>>> def f(x):
...     for _ in range(50):
...         x = np.sin(x) * 0.9 + 0.1
...     return x
>>> rolled = reroll(trace(f, (np.ones(3),))[0])
>>> [op.primitive.name for op in rolled.ops], rolled.ops[0].params["length"]
(['scan'], 50)
"""
from __future__ import annotations

import numpy as np

from . import primitives as P
from .ir import Graph, Lit, Op, Var
from .loops import _hoisted, scan_p

MIN_STEPS = 4      # fewer repetitions stay unrolled
MIN_OPS = 48       # a run covering fewer ops is not worth a loop
_CANDIDATE_PERIODS = 32
_SAMPLE = 512         # positions sampled to score a shift
_SHIFT_CHUNK = 512    # shifts scored at once


def reroll(graph: Graph) -> Graph:
    """``graph`` with every long run of repeated blocks as a scan."""
    while len(graph.ops) >= MIN_OPS:
        rolled = _reroll_once(graph)
        if rolled is None:
            return graph
        graph = rolled
    return graph


def _params_key(op):
    """The params, with the integers of a basic index masked (a row taken by
    a changing index is still the same op)."""
    if not op.params:
        return ()
    items = []
    for k, v in op.params.items():
        if isinstance(v, P.BasicIndex):
            v = tuple("int" if isinstance(e, int) else e for e in v.entries)
        items.append((k, v))
    return tuple(items)


def _signature(op):
    ins = tuple([(a.shape, a.dtype, type(a) is Lit) for a in op.inputs])
    outs = tuple([(v.shape, v.dtype) for v in op.outputs])
    try:
        return (op.primitive, _params_key(op), ins, outs)
    except TypeError:
        return (op.primitive, id(op), ins, outs)


def _runs(ids, period):
    """(start, blocks) of the maximal runs of period ``period`` in ``ids``."""
    same = np.concatenate([[False], ids[:-period] == ids[period:], [False]]).astype(np.int8)
    edges = np.diff(same)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    blocks = (stops - starts + period) // period
    keep = blocks >= MIN_STEPS
    return list(zip(starts[keep].tolist(), blocks[keep].tolist()))


def _candidates(ids):
    """Likely periods, most self-similar first: the shifts p for which
    ``ids[s] == ids[s + p]`` holds at the most of a sample of positions s (a
    loop of period p matches at every s inside it; a multiple of p too, so
    the smallest of equally good shifts is tried first)."""
    n = len(ids)
    longest = n // MIN_STEPS
    if longest < 1:
        return []
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n - 1, size=min(n - 1, _SAMPLE), replace=False))
    scores = np.zeros(longest + 1, np.int64)
    for lo in range(1, longest + 1, _SHIFT_CHUNK):
        shifts = np.arange(lo, min(lo + _SHIFT_CHUNK, longest + 1))
        positions = sample[None, :] + shifts[:, None]
        valid = positions < n
        matches = (ids[np.minimum(positions, n - 1)] == ids[sample][None, :]) & valid
        scores[shifts] = matches.sum(axis=1)
    order = np.lexsort((np.arange(longest + 1), -scores))
    return [int(p) for p in order if p > 0 and scores[p] > 0][:_CANDIDATE_PERIODS]


def _reroll_once(graph):
    table: dict = {}
    ids = np.array([table.setdefault(_signature(op), len(table)) for op in graph.ops])
    best = None
    for period in _candidates(ids):
        for start, blocks in _runs(ids, period):
            covered = period * blocks
            if covered >= MIN_OPS and (best is None or covered > best[0]):
                best = (covered, start, period, blocks)
    while best is not None:
        _, start, period, blocks = best
        rolled = _roll(graph, start, period, blocks)
        if rolled is not None:
            return rolled
        # a run whose first block reads further back than one block: drop it
        if blocks - 1 < MIN_STEPS or (blocks - 1) * period < MIN_OPS:
            return None
        best = (0, start + period, period, blocks - 1)
    return None


class _NotRollable(Exception):
    pass


def _roll(graph, start, period, blocks):
    try:
        return _Region(graph, start, period, blocks).rolled()
    except _NotRollable:
        return None


class _Region:
    """ops[start : start + period * blocks] as ``blocks`` blocks."""

    def __init__(self, graph, start, period, blocks):
        self.graph, self.start, self.period, self.blocks = graph, start, period, blocks
        self.end = start + period * blocks
        # Var -> (op index, output position), for the region's values: an
        # operand missing here was made before the region (or is an input)
        self.where = {}
        for q in range(start, self.end):
            for pos, v in enumerate(graph.ops[q].outputs):
                self.where[v] = (q, pos)

    def block_op(self, k, j):
        return self.graph.ops[self.start + k * self.period + j]

    def classify(self, k, a):
        """What block k reads in operand ``a``."""
        if type(a) is Lit:
            return ("lit", a)
        q, pos = self.where.get(a, (-1, 0))
        first = self.start + k * self.period
        if first <= q < first + self.period:
            return ("inner", q - first, pos)
        if first - self.period <= q < first and k > 0:
            return ("carry", q - first + self.period, pos)
        if q >= self.start:
            raise _NotRollable  # reads further back than the previous block
        return ("outside", a)

    def _check_follows(self, column, m):
        """Block k's operand m of an op is block 1's, k - 1 blocks later (the
        same inner value or carry, one block on), for every block past 1."""
        where, period = self.where, self.period
        q, pos = where[column[1].inputs[m]]
        for k in range(2, self.blocks):
            a = column[k].inputs[m]
            if type(a) is Lit or where.get(a) != (q + (k - 1) * period, pos):
                raise _NotRollable

    def _constants(self, column, m, kind):
        """Blocks 2.. read literals (kind "lit") or values from before the
        region ("outside") where block 1 does: their operands m."""
        operands = [column[k].inputs[m] for k in range(2, self.blocks)]
        if kind == "lit":
            if any(type(a) is not Lit for a in operands):
                raise _NotRollable
        else:
            where, start = self.where, self.start
            if any(type(a) is Lit or where.get(a, (-1,))[0] >= start for a in operands):
                raise _NotRollable
        return operands

    def rolled(self):
        n_ops = self.period
        template = [self.block_op(1, j) for j in range(n_ops)]
        # operand roles, checked on every block but the first
        roles = {}
        varying = {}  # (j, m) -> per-block values (lits or outside vars that change)
        slices = {}   # j -> per-block basic indexes of a changing row
        for j, op in enumerate(template):
            column = self.graph.ops[self.start + j:self.end:self.period]  # op j of each block
            for m, a in enumerate(op.inputs):
                role = self.classify(1, a)
                kind = role[0]
                if kind in ("inner", "carry"):
                    self._check_follows(column, m)
                    roles[(j, m)] = role
                else:
                    values = [a] + self._constants(column, m, kind)
                    first = self.classify(0, self.block_op(0, j).inputs[m])
                    if first[0] not in ("lit", "outside"):
                        raise _NotRollable
                    values = [first[1]] + values
                    if all(_same(v, values[0]) for v in values):
                        roles[(j, m)] = ("const", values[0])
                    elif kind == "lit" and all(v.shape == () for v in values):
                        roles[(j, m)] = ("step", None)
                        varying[(j, m)] = values
                    else:
                        raise _NotRollable
            params = [o.params for o in column]
            if any(p != params[0] for p in params):
                if op.primitive is not P.getitem_p:
                    raise _NotRollable
                slices[j] = [p["index"] for p in params]
        # block 0 must read, where the others read a carry, the carry's start
        init = {}
        for (j, m), role in roles.items():
            if role[0] == "carry":
                first = self.classify(0, self.block_op(0, j).inputs[m])
                if first[0] not in ("lit", "outside"):
                    raise _NotRollable
                key = role[1:]
                if key in init and not _same(init[key], first[1]):
                    raise _NotRollable
                init[key] = first[1]
        return self._build(template, roles, varying, slices, init)

    def _build(self, template, roles, varying, slices, init):
        carries = sorted(init)
        used_after = self._used_after()
        last = self.blocks - 1
        ys = sorted({(j, pos) for (k, j, pos) in used_after
                     if not (k == last and (j, pos) in init)})
        consts = []
        const_index = {}
        for role in roles.values():
            if role[0] == "const" and type(role[1]) is Var and id(role[1]) not in const_index:
                const_index[id(role[1])] = len(consts)
                consts.append(role[1])
        # the body: one block, its operands renamed to the scan's inputs
        i = Var((), np.dtype(np.int64))
        carry_in = {key: Var(self._var(1, key).shape, self._var(1, key).dtype) for key in carries}
        step_in = {(j, m): Var((), _step_dtype(template[j], values[0]))
                   for (j, m), values in varying.items()}
        slice_in = {j: Var(template[j].out.shape, template[j].out.dtype) for j in slices}
        const_in = [Var(c.shape, c.dtype) for c in consts]
        ops, renamed = [], {}
        for j, op in enumerate(template):
            if j in slices:  # a row of a per-step input, gathered before the loop
                renamed[op.out] = slice_in[j]
                continue
            inputs = []
            for m, a in enumerate(op.inputs):
                role = roles[(j, m)]
                if role[0] == "inner":
                    inputs.append(renamed.get(self._var(1, role[1:]), self._var(1, role[1:])))
                elif role[0] == "carry":
                    inputs.append(carry_in[role[1:]])
                elif role[0] == "step":
                    inputs.append(step_in[(j, m)])
                elif type(role[1]) is Var:
                    inputs.append(const_in[const_index[id(role[1])]])
                else:
                    inputs.append(role[1])
            ops.append(Op(op.primitive, tuple(inputs), op.outputs, op.params))
        out_vars = [renamed.get(self._var(1, key), self._var(1, key)) for key in carries + ys]
        body_inputs = ([i] + [carry_in[key] for key in carries]
                       + [step_in[jm] for jm in varying] + [slice_in[j] for j in slices]
                       + const_in)
        body, extra = _hoisted(Graph(tuple(body_inputs), tuple(ops), tuple(out_vars)))
        # the scan's operands, made before it
        before, xs = [], []
        for (j, m), values in varying.items():
            xs.append(Lit.of(np.array([np.asarray(v.val) for v in values],
                                      step_in[(j, m)].dtype)))
        for j, indexes in slices.items():
            stacked, made = _gathered(template[j], indexes, self, j)
            before += made
            xs.append(stacked)
        operands = [init[key] for key in carries] + xs + consts + \
            [Lit.of(np.asarray(e)) for e in extra]
        params = {"body": body, "length": self.blocks, "reverse": False,
                  "n_carry": len(carries), "n_xs": len(xs)}
        outs = tuple(Var(s, d) for s, d in scan_p.abstract_eval(*operands, **params))
        scan = Op(scan_p, tuple(operands), outs, params)
        # values of the loop used after it
        final = dict(zip(carries, outs[:len(carries)]))
        stacked_ys = dict(zip(ys, outs[len(carries):]))
        after, replace = [], {}
        for k, j, pos in sorted(used_after):
            v = self._var(k, (j, pos))
            if k == last and (j, pos) in final:
                replace[v] = final[(j, pos)]
            else:
                row = Var(v.shape, v.dtype)
                index = P.BasicIndex.normalise((k,), stacked_ys[(j, pos)].shape)
                after.append(Op(P.getitem_p, (stacked_ys[(j, pos)],), (row,), {"index": index}))
                replace[v] = row
        rest = [_renamed(op, replace) for op in self.graph.ops[self.end:]]
        new_ops = list(self.graph.ops[:self.start]) + before + [scan] + after + rest
        outputs = tuple(replace.get(o, o) if type(o) is Var else o for o in self.graph.outputs)
        return Graph(self.graph.inputs, tuple(new_ops), outputs, self.graph.input_names)

    def _var(self, k, key):
        j, pos = key
        return self.block_op(k, j).outputs[pos]

    def _used_after(self):
        """(block, op, output) of the region's values read after it."""
        where, start, period = self.where, self.start, self.period

        def place(v):
            q, pos = where[v]
            return (q - start) // period, (q - start) % period, pos
        used = {place(a) for op in self.graph.ops[self.end:] for a in op.inputs
                if type(a) is Var and a in where}
        used.update(place(o) for o in self.graph.outputs if type(o) is Var and o in where)
        return used


def _step_dtype(op, lit):
    """A Python-number literal takes the dtype of the array it meets (NumPy
    2's rule); as a stacked input it must have that dtype itself."""
    if lit.weak:
        arrays = [a.dtype for a in op.inputs if type(a) is Var and a.dtype.kind == lit.dtype.kind]
        if arrays:
            return arrays[0]
    return lit.dtype


def _same(a, b) -> bool:
    if type(a) is Lit and type(b) is Lit:
        if a.shape != b.shape or a.weak != b.weak or not (a.dtype is b.dtype
                                                          or a.dtype == b.dtype):
            return False
        # a number compares as itself (the common case: a loop's constants)
        return bool(a.val == b.val) if not a.shape else np.array_equal(a.val, b.val)
    return a is b


def _gathered(op, indexes, region, j):
    """One ``take`` of the rows a changing basic index reads from an array
    made before the loop: (the stacked array, the ops that make it)."""
    x = op.inputs[0]
    for k in range(region.blocks):
        if region.block_op(k, j).inputs[0] is not x:
            raise _NotRollable
    changing = [d for d, e in enumerate(indexes[0].entries)
                if any(ix.entries[d] != indexes[0].entries[d] for ix in indexes)]
    if len(changing) != 1 or not all(isinstance(ix.entries[changing[0]], int) for ix in indexes):
        raise _NotRollable
    axis = changing[0]
    rows = np.array([ix.entries[axis] for ix in indexes], np.intp)
    perm = (axis,) + tuple(d for d in range(x.ndim) if d != axis)
    moved = Var(tuple(x.shape[d] for d in perm), x.dtype)
    made = [Op(P.transpose_p, (x,), (moved,), {"perm": perm})]
    taken = Var((len(rows),) + moved.shape[1:], x.dtype)
    made.append(Op(P.take_p(1), (moved, Lit.of(rows)), (taken,), {}))
    # the other entries of the index apply to every row alike
    rest = tuple(e for d, e in enumerate(indexes[0].entries) if d != axis)
    index = P.BasicIndex(((0, len(rows), 1),) + rest)
    stacked = Var(index.result_shape(taken.shape), x.dtype)
    if stacked.shape[1:] != op.out.shape:
        raise _NotRollable
    made.append(Op(P.getitem_p, (taken,), (stacked,), {"index": index}))
    return stacked, made


def _renamed(op, replace):
    if not any(type(a) is Var and a in replace for a in op.inputs):
        return op
    return Op(op.primitive, tuple(replace.get(a, a) if type(a) is Var else a for a in op.inputs),
              op.outputs, op.params)
