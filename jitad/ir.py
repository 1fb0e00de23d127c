"""The intermediate representation: ``Var``, ``Lit``, ``Op``, ``Graph``.

A ``Graph`` is a Wengert list: inputs, a sequence of ops in single-assignment
form, and outputs. It is immutable and knows nothing of tracing, derivatives or
code generation; every other stage reads and writes it.

Printing follows the classic presentation (Griewank & Walther): the n inputs
are ``v_{1-n} .. v_0`` and the op results are numbered ``v_1, v_2, ...`` in
evaluation order, so ``str(graph)`` reads like a textbook trace::

    v_-1 = x1
    v_0 = x2
    v_1 = v_0 ** 2
    v_2 = sin(v_1)
    y = v_2

The numbering is positional and computed by the printer; ``Var.id`` is only an
identity for the stages that build graphs.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import GraphError

_ids = itertools.count()
_FLOAT64 = np.dtype(np.float64)


class Var:
    """A value in a graph: an identity plus its abstract value (shape, dtype).

    IR nodes are plain slotted classes, not dataclasses: a trace builds one
    Var and one Op per recorded op, and a frozen dataclass's ``__init__``
    costs three times as much (it is most of the tracer's per-op cost)."""

    __slots__ = ("shape", "dtype", "id")
    weak = False  # a Var has its dtype; only a Python number's Lit is weak

    def __init__(self, shape: tuple, dtype: np.dtype, id: int = None):
        self.shape, self.dtype = shape, dtype
        self.id = next(_ids) if id is None else id

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"Var({self.id}: {type_str(self)})"


class Lit:
    """A constant operand: a Python number (``weak``: it takes the dtype of the
    array it meets, as in NumPy 2) or a NumPy array captured by the trace."""

    __slots__ = ("val", "shape", "dtype", "weak")

    def __init__(self, val: Any, shape: tuple, dtype: np.dtype, weak: bool = False):
        self.val, self.shape, self.dtype, self.weak = val, shape, dtype, weak

    @staticmethod
    def of(value) -> "Lit":
        if type(value) is float:  # the common case, first
            return Lit(value, (), _FLOAT64, weak=True)
        if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
            return Lit(value, (), np.dtype(type(value)) if not isinstance(value, bool)
                       else np.dtype(bool), weak=True)
        arr = np.asarray(value)
        if arr.ndim == 0:
            return Lit(arr[()], (), arr.dtype)
        return Lit(arr, arr.shape, arr.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        if self.shape:
            return f"const{type_str(self)}"
        return repr(self.val.item() if isinstance(self.val, np.generic) else self.val)


class Op:
    """One primitive application: ``outputs = primitive(*inputs, **params)``.
    ``primitive`` is a jitad.primitives.Primitive (typed loosely so ir
    imports nothing)."""

    __slots__ = ("primitive", "inputs", "outputs", "params")

    def __init__(self, primitive: Any, inputs: tuple, outputs: tuple, params: dict):
        self.primitive, self.inputs, self.outputs, self.params = \
            primitive, inputs, outputs, params

    def __repr__(self) -> str:
        return f"Op({self.primitive!r}, {self.inputs!r} -> {self.outputs!r}, {self.params!r})"

    @property
    def out(self) -> Var:
        (out,) = self.outputs
        return out


@dataclass(frozen=True, eq=False)
class Graph:
    """Inputs, ops in evaluation order, outputs (Vars or Lits)."""

    inputs: tuple
    ops: tuple
    outputs: tuple
    input_names: tuple = ()

    def names(self) -> dict:
        """Var -> printed name, numbered as in the module docstring."""
        n = len(self.inputs)
        names = {v: f"v_{i + 1 - n}" for i, v in enumerate(self.inputs)}
        count = itertools.count(1)
        for op in self.ops:
            for v in op.outputs:
                names[v] = f"v_{next(count)}"
        return names

    def rows(self, names=None) -> list:
        """The printed trace as (left side, right side, values) rows: one per
        input (``v_-1``, ``x1``), op (``v_2``, ``sin(v_1)``) and output
        (``y``, ``v_2``); ``values`` are the Vars (or Lits) the row defines.
        Every printer of a graph -- ``str``, the notebook tables, the kernel
        comments -- is built from these."""
        names = self.names() if names is None else names
        input_names = self.input_names or [f"x{i + 1}" for i in range(len(self.inputs))]
        rows = [(names[v], label, (v,)) for v, label in zip(self.inputs, input_names)]
        rows += [(", ".join(names[v] for v in op.outputs), format_op(op, names), op.outputs)
                 for op in self.ops]
        ys = ["y"] if len(self.outputs) == 1 else [f"y{i + 1}" for i in range(len(self.outputs))]
        rows += [(y, name_of(o, names), (o,)) for y, o in zip(ys, self.outputs)]
        return rows

    def pretty(self, types: bool = False) -> str:
        lines, rows = [], self.rows()
        first_output = len(rows) - len(self.outputs)
        for k, (lhs, rhs, values) in enumerate(rows):
            line = f"{lhs} = {rhs}" if lhs else rhs
            if types and values and k < first_output:
                line += "  : " + ", ".join(type_str(v) for v in values)
            lines.append(line)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.pretty()

    def __repr__(self) -> str:
        return f"Graph({len(self.inputs)} inputs, {len(self.ops)} ops, {len(self.outputs)} outputs)"


def name_of(a, names) -> str:
    """A Var's printed name (``v_3``), or a Lit's value."""
    return names.get(a, f"?{a.id}") if isinstance(a, Var) else repr(a)


def format_op(op: Op, names) -> str:
    """The right side of an op's line: ``sin(v_1)``, ``v_1 + v_2``."""
    return op.primitive.format(*(name_of(a, names) for a in op.inputs), **op.params)


def type_str(a) -> str:
    return f"{a.dtype.name}[{','.join(map(str, a.shape))}]"


def reader(env: dict):
    """``read(atom)``: a Lit's value, or a Var's value in ``env`` -- the first
    line of every interpreter of a graph."""
    def read(a):
        return a.val if type(a) is Lit else env[a]
    return read


def validate(graph: Graph) -> Graph:
    """Check single assignment, no unbound vars, and that every op's outputs
    agree with its primitive's shape/dtype rule. Returns the graph.

    >>> from jitad import trace
    >>> validate(trace(lambda x: x * 2.0, 1.0)).ops[0].primitive.name
    'mul'
    """
    bound = set(graph.inputs)
    if len(bound) != len(graph.inputs):
        raise GraphError("an input appears twice")

    def check_bound(a, where):
        if isinstance(a, Var) and a not in bound:
            raise GraphError(f"{where} reads unbound {a!r}")

    for op in graph.ops:
        for a in op.inputs:
            check_bound(a, op.primitive.name)
        expected = [tuple(aval) for aval in op.primitive.abstract_eval(*op.inputs, **op.params)]
        got = [(v.shape, v.dtype) for v in op.outputs]
        if got != expected:
            raise GraphError(f"{op.primitive.name}: outputs {got} but the shape rule says "
                             f"{expected}")
        for v in op.outputs:
            if v in bound:
                raise GraphError(f"{v!r} assigned twice")
            bound.add(v)
    for a in graph.outputs:
        check_bound(a, "outputs")
    return graph
