"""Long scalar traces: a numba-compiled interpreter over an op array.

Straight-line kernel source does not scale: numba's and LLVM's compile time
grows faster than the number of statements (a scalar gradient of 358 ops took
1.0 s, 718 took 1.9 s, 1,078 took 2.8 s; 30,000 took minutes), while the
interpreter runs a warm op in about 5 ns against 4 ns compiled
(``python -m benchmarks --cases trace-length``). An unrolled Python loop
easily records 100,000 ops. So
a graph whose values are all scalars and that is longer than
``INTERPRET_ABOVE`` ops is not compiled at all: it is encoded as a table of
(opcode, out, a, b, c) slot numbers over one float64 value buffer, and run by
``run_program``, a fixed interpreter compiled once and cached on disk.

Encoding is linear in the graph, so a trace of any length is ready to run
after tracing and transforming it. Booleans are held as 0.0/1.0 and integers
as exact floats (|n| < 2**53); graphs with float32 values or other primitives
stay with the straight-line backend.

>>> import numpy as np
>>> from jitad.tracer import trace
>>> program = encode(trace(lambda x: np.sin(x) * 2.0, (0.5,))[0])
>>> InterpretedKernel(program)(0.5)
(np.float64(0.958851077208406),)
"""
from __future__ import annotations

import numba
import numpy as np

from ..ir import Graph, Lit
from ..primitives import GuardFailure

INTERPRET_ABOVE = 300  # ops; up to this, compiling (under 1 s) pays for itself

NAMES = ["add", "sub", "mul", "div", "safe_mul", "neg", "sin", "cos", "tan", "exp", "log",
         "sqrt", "tanh", "abs", "sign", "copy", "trunc", "pow", "max", "min",
         "gt", "ge", "lt", "le", "eq", "ne", "select", "guard"]
OPCODES = {name: code for code, name in enumerate(NAMES)}
(ADD, SUB, MUL, DIV, SAFE_MUL, NEG, SIN, COS, TAN, EXP, LOG, SQRT, TANH, ABS, SIGN, COPY, TRUNC,
 POW, MAX, MIN, GT, GE, LT, LE, EQ, NE, SELECT, GUARD) = range(len(NAMES))
# primitives that are the identity on a scalar
IDENTITIES = {"stop_gradient", "broadcast_in_dim", "reshape", "custom_vjp_call"}
_SUPPORTED_DTYPES = {np.dtype(np.float64), np.dtype(np.bool_), np.dtype(np.int64)}


def interpretable(graph: Graph) -> bool:
    """Long enough to need it, and made only of scalar ops it knows."""
    if len(graph.ops) <= INTERPRET_ABOVE:
        return False
    values = list(graph.inputs) + [v for op in graph.ops for v in op.outputs]
    if any(v.shape != () or v.dtype not in _SUPPORTED_DTYPES for v in values):
        return False
    return all(_opcode(op) is not None for op in graph.ops)


def _opcode(op):
    name = op.primitive.name
    if name in IDENTITIES:
        return COPY
    if name == "convert":
        target = op.params["dtype"]
        if target == np.bool_:
            return NE  # against a 0.0 operand, added by encode
        if target == np.int64:
            return TRUNC
        return COPY if target in _SUPPORTED_DTYPES else None
    if name == "integer_pow":
        return POW
    if any(isinstance(a, Lit) and a.shape for a in op.inputs):
        return None
    return OPCODES.get(name)


class Program:
    """A graph as an op table over one value buffer (inputs first)."""

    def __init__(self, code, template, n_inputs, output_slots, output_dtypes, graph):
        self.code, self.template = code, template
        self.n_inputs, self.output_slots = n_inputs, output_slots
        self.output_dtypes, self.graph = output_dtypes, graph


def encode(graph: Graph) -> Program:
    slots, constants = {}, []
    for v in graph.inputs:
        slots[v] = len(slots)

    def slot(a):
        if isinstance(a, Lit):  # constants live in the buffer after the values
            constants.append(float(a.val))
            return -len(constants)
        return slots[a]

    rows = []
    for op in graph.ops:
        code = _opcode(op)
        operands = [slot(a) for a in op.inputs]
        if op.primitive.name == "integer_pow":
            operands.append(slot(Lit.of(float(op.params["n"]))))
        if op.primitive.name == "guard":
            operands.append(slot(Lit.of(float(op.params["expected"]))))
            out = 0
        else:
            out = slots[op.out] = len(slots)
        if op.primitive.name in IDENTITIES or op.primitive.name == "convert":
            operands = operands[:1]
        if code == NE and op.primitive.name == "convert":
            operands.append(slot(Lit.of(0.0)))
        rows.append([code, out] + (operands + [0, 0, 0])[:3])
    n_values = len(slots)
    code = np.array(rows, dtype=np.int32).reshape(len(rows), 5)
    for column in (2, 3, 4):  # negative slots are constants: move them after the values
        negative = code[:, column] < 0
        code[negative, column] = n_values - 1 - code[negative, column]
    template = np.zeros(n_values + len(constants))
    template[n_values:] = constants
    outputs = [slot(o) if not isinstance(o, Lit) else None for o in graph.outputs]
    output_slots = [n_values - 1 - s if s is not None and s < 0 else s for s in outputs]
    constant_outputs = [float(o.val) for o in graph.outputs if isinstance(o, Lit)]
    if constant_outputs:  # a constant output: give it a slot of its own
        extra = np.array(constant_outputs)
        output_slots = [s if s is not None else len(template) + k
                        for k, s in enumerate(output_slots)]
        template = np.concatenate([template, extra])
    return Program(code, template, len(graph.inputs), np.array(output_slots, dtype=np.int64),
                   [o.dtype for o in graph.outputs], graph)


class InterpretedKernel:
    """Same calling convention as a compiled Kernel: ``k(*inputs) -> tuple``."""

    consts = ()
    compile_seconds = 0.0

    def __init__(self, program: Program):
        self.program = program
        self.path = None

    @property
    def source(self) -> str:
        """The program as the op list it runs (printed on demand: it can be long)."""
        return ("# interpreted: an op table run by jitad.backend.interpreter.run_program\n"
                + self.program.graph.pretty(types=True))

    def __call__(self, *inputs):
        p = self.program
        values = p.template.copy()
        values[:p.n_inputs] = inputs
        failed = run_program(p.code, values)
        if failed:
            raise GuardFailure(f"guard at op {failed - 1} failed")
        return tuple(dtype.type(values[s]) for s, dtype in zip(p.output_slots, p.output_dtypes))

    def fast_call(self):
        return self


@numba.njit(cache=True, error_model="numpy")
def run_program(code, v):  # noqa: C901 - one branch per opcode is the point
    """Run the op table over the value buffer v; 0, or 1 + the index of the
    first failing guard. The most frequent opcodes are tested first."""
    for k in range(code.shape[0]):
        op, o, a, b = code[k, 0], code[k, 1], code[k, 2], code[k, 3]
        if op == ADD:
            v[o] = v[a] + v[b]
        elif op == MUL:
            v[o] = v[a] * v[b]
        elif op == SAFE_MUL:
            v[o] = v[a] * v[b] if v[a] != 0 else 0.0
        elif op == SUB:
            v[o] = v[a] - v[b]
        elif op == DIV:
            v[o] = v[a] / v[b]
        elif op == NEG:
            v[o] = -v[a]
        elif op == SIN:
            v[o] = np.sin(v[a])
        elif op == COS:
            v[o] = np.cos(v[a])
        elif op == TAN:
            v[o] = np.tan(v[a])
        elif op == EXP:
            v[o] = np.exp(v[a])
        elif op == LOG:
            v[o] = np.log(v[a])
        elif op == SQRT:
            v[o] = np.sqrt(v[a])
        elif op == TANH:
            v[o] = np.tanh(v[a])
        elif op == ABS:
            v[o] = abs(v[a])
        elif op == SIGN:
            v[o] = np.sign(v[a])
        elif op == COPY:
            v[o] = v[a]
        elif op == TRUNC:
            v[o] = np.trunc(v[a])
        elif op == POW:
            v[o] = v[a] ** v[b]
        elif op == MAX:
            v[o] = np.maximum(v[a], v[b])
        elif op == MIN:
            v[o] = np.minimum(v[a], v[b])
        elif op == GT:
            v[o] = 1.0 if v[a] > v[b] else 0.0
        elif op == GE:
            v[o] = 1.0 if v[a] >= v[b] else 0.0
        elif op == LT:
            v[o] = 1.0 if v[a] < v[b] else 0.0
        elif op == LE:
            v[o] = 1.0 if v[a] <= v[b] else 0.0
        elif op == EQ:
            v[o] = 1.0 if v[a] == v[b] else 0.0
        elif op == NE:
            v[o] = 1.0 if v[a] != v[b] else 0.0
        elif op == SELECT:
            v[o] = v[b] if v[a] != 0 else v[code[k, 4]]
        elif op == GUARD:  # value == expected (NaN matches NaN)
            if not (v[a] == v[b] or (v[a] != v[a] and v[b] != v[b])):
                return k + 1
    return 0
