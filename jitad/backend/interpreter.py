"""Long scalar traces: a numba-compiled interpreter over an op array.

Straight-line kernel source does not scale: numba's and LLVM's compile time
grows faster than the number of statements (a scalar gradient of 358 ops took
1.0 s, 718 took 1.9 s, 1,078 took 2.8 s; 30,000 took minutes), while the
interpreter runs a warm op in about 5 ns against 4 ns compiled
(``python -m benchmarks --cases trace-length``). An unrolled Python loop
easily records 100,000 ops. So a graph whose values are all scalars and that
is longer than ``INTERPRET_ABOVE`` ops is not compiled at all: it is encoded
as a table of (opcode, out, a, b, c) slot numbers over one float64 value
buffer, and run by ``run_program``, one fixed interpreter.

The interpreter's source is generated from the lowering table: every
``Elementwise`` template is one opcode, applied to ``v[a], v[b], v[c]``, so
a primitive with a scalar template runs here with nothing else to write. It
is compiled once, like a kernel, and cached on disk. Encoding is linear in
the graph, so a trace of any length is ready to run after tracing and
transforming it. Booleans are held as 0.0/1.0 and integers as exact floats
(|n| < 2**53); graphs with other dtypes stay with the straight-line backend.

>>> import numpy as np
>>> from jitad.tracer import trace
>>> program = encode(trace(lambda x: np.sin(x) * 2.0, (0.5,))[0])
>>> InterpretedKernel(program)(0.5)
(np.float64(0.958851077208406),)
"""
from __future__ import annotations

import functools

import numpy as np

from ..errors import GuardFailure
from ..ir import Graph, Lit
from .. import primitives as P
from .compile import compile_kernel
from .lowering import LOWERINGS, Elementwise

INTERPRET_ABOVE = 300  # ops; up to this, compiling (under 1 s) pays for itself
_SUPPORTED_DTYPES = {np.dtype(np.float64), np.dtype(np.bool_), np.dtype(np.int64)}
# most frequent first: the interpreter tests opcodes in this order
_FIRST = [P.add_p, P.mul_p, P.safe_mul_p, P.sub_p, P.div_p, P.neg_p]
COPY, GUARD = "copy", "guard"


@functools.lru_cache(maxsize=None)
def opcodes() -> dict:
    """Primitive (or COPY, GUARD) -> opcode: the scalar templates, ordered."""
    scalar = [prim for prim, lowering in LOWERINGS.items()
              if isinstance(lowering, Elementwise) and lowering.interpret is None]
    order = _FIRST + [prim for prim in scalar if prim not in _FIRST] + [COPY, GUARD]
    return {prim: code for code, prim in enumerate(order)}


def interpreter_source() -> str:
    """``run_program(code, v)``: one branch per opcode, generated."""
    lines = ["def kernel(code, v):",
             '    """Run the op table over the value buffer v; 0, or 1 + the index',
             '    of the first failing guard."""',
             "    for k in range(code.shape[0]):",
             "        op, o, a, b, c = code[k, 0], code[k, 1], code[k, 2], code[k, 3], code[k, 4]"]
    for prim, code in opcodes().items():
        keyword = "if" if code == 0 else "elif"
        if prim == COPY:
            body = ["v[o] = v[a]"]
        elif prim == GUARD:  # value == expected (NaN matches NaN)
            body = ["if not (v[a] == v[b] or (v[a] != v[a] and v[b] != v[b])):",
                    "    return k + 1"]
        else:
            arity = len(prim.jvps)
            expr = LOWERINGS[prim].expr(*["v[a]", "v[b]", "v[c]"][:arity])
            body = [f"v[o] = {expr}"]
        label = prim if isinstance(prim, str) else prim.name
        lines.append(f"        {keyword} op == {code}:  # {label}")
        lines += [f"            {line}" for line in body]
    lines.append("    return 0")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=None)
def run_program():
    """The compiled interpreter (compiled on first use, then from the disk cache)."""
    return compile_kernel(interpreter_source())


def _encoding(op):
    """(opcode, extra scalar operands) for ``op``, or None if it cannot run here."""
    codes = opcodes()
    if op.primitive is P.guard_p:
        return codes[GUARD], (float(op.params["expected"]),)
    if any(isinstance(a, Lit) and a.shape for a in op.inputs):
        return None
    lowering = LOWERINGS.get(op.primitive)
    if isinstance(lowering, Elementwise):
        if lowering.interpret is None:
            return codes[op.primitive], ()
        stand_in, extra = lowering.interpret(**op.params)
        return (codes[COPY] if stand_in is None else codes[stand_in]), extra
    if op.primitive.kind in ("structural", "reduction") and len(op.inputs) == 1 \
            and op.out.dtype == op.inputs[0].dtype:
        return codes[COPY], ()  # a shape-only op on a scalar is the identity
    return None


def interpretable(graph: Graph) -> bool:
    """Long enough to need it, and made only of scalar ops it can run."""
    return len(graph.ops) > INTERPRET_ABOVE and encodable(graph)


def encodable(graph: Graph) -> bool:
    """Made only of scalar ops the interpreter can run."""
    values = list(graph.inputs) + [v for op in graph.ops for v in op.outputs]
    if any(v.shape != () or v.dtype not in _SUPPORTED_DTYPES for v in values):
        return False
    return all(_encoding(op) is not None for op in graph.ops)


class Program:
    """A graph as an op table over one value buffer: the inputs, then every
    op's output, then the constants."""

    def __init__(self, code, template, n_inputs, output_slots, output_dtypes, graph):
        self.code, self.template = code, template
        self.n_inputs, self.output_slots = n_inputs, output_slots
        self.output_dtypes, self.graph = output_dtypes, graph


def encode(graph: Graph) -> Program:
    slots = {v: k for k, v in enumerate(graph.inputs)}
    n_values = len(graph.inputs) + sum(len(op.outputs) for op in graph.ops)
    constants: list = []

    def constant(value) -> int:
        constants.append(float(value))
        return n_values + len(constants) - 1

    def slot(a) -> int:
        return constant(a.val) if isinstance(a, Lit) else slots[a]

    rows = []
    for op in graph.ops:
        code, extra = _encoding(op)
        operands = [slot(a) for a in op.inputs] + [constant(e) for e in extra]
        if op.outputs:
            out = slots[op.out] = len(slots)
        else:
            out = 0
        rows.append([code, out] + (operands + [0, 0, 0])[:3])
    output_slots = [slot(o) for o in graph.outputs]
    template = np.zeros(n_values + len(constants))
    template[n_values:] = constants
    return Program(np.array(rows, dtype=np.int32).reshape(len(rows), 5), template,
                   len(graph.inputs), np.array(output_slots, dtype=np.int64),
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
        failed = run_program()(p.code, values)
        if failed:
            raise GuardFailure(f"guard at op {failed - 1} failed")
        return tuple(dtype.type(values[s]) for s, dtype in zip(p.output_slots, p.output_dtypes))

    def fast_call(self):
        return self


class TableScan:
    """A scan whose body is all scalars, each step run by the interpreter
    (``scan_p``'s own impl evaluates the body with NumPy, some microseconds
    an op): an op standing in for the scan where the NumPy interpreter
    serves a first call while the kernel compiles (``jitad.compiler``).
    It has the scan's params; ``TableScan.of(op)`` is None where the body
    cannot run here.

    >>> from jitad.loops import loop
    >>> from jitad.tracer import trace
    >>> graph = trace(lambda x: loop(lambda i, c: c * 0.5 + x, 40, x), (1.0,))[0]
    >>> (scan,) = graph.ops
    >>> stand_in = TableScan.of(scan)
    >>> round(float(stand_in.impl(1.0, 1.0, **scan.params)[0]), 9)  # c -> 2x
    2.0
    """

    multiple_results = True
    name = "scan (interpreted)"

    def __init__(self, program: Program):
        self.program = program

    @classmethod
    def of(cls, op):
        if op.primitive.name != "scan" or not encodable(op.params["body"]):
            return None
        return cls(encode(op.params["body"]))

    def impl(self, *args, body, length, reverse, n_carry, n_xs):
        p, kernel = self.program, run_program()
        code, outputs = p.code, p.output_slots
        carry = np.array(args[:n_carry], float)
        xs = [np.asarray(x) for x in args[n_carry:n_carry + n_xs]]
        values = p.template.copy()
        if not kernel.compiled:
            kernel.compile_for((code, values))
        run = kernel.fast_call()
        values[1 + n_carry + n_xs:p.n_inputs] = args[n_carry + n_xs:]
        ys = np.empty((len(outputs) - n_carry, length))
        for i in (range(length - 1, -1, -1) if reverse else range(length)):
            step = values.copy()  # the constants, the consts and slots to fill
            step[0] = i
            step[1:1 + n_carry] = carry
            for k, x in enumerate(xs):
                step[1 + n_carry + k] = x[i]
            failed = run(code, step)
            if failed:
                raise GuardFailure(f"guard at op {failed - 1} of a loop's step {i} failed")
            carry = step[outputs[:n_carry]]
            ys[:, i] = step[outputs[n_carry:]]
        dtypes = p.output_dtypes
        return ([dtype.type(c) for c, dtype in zip(carry, dtypes)]
                + [y.astype(dtype) for y, dtype in zip(ys, dtypes[n_carry:])])
