"""Traces and kernels shown in a notebook (HTML tables) or a terminal (text).

Three views of one evaluation, after Griewank & Walther's presentation:

- ``primal_trace(f, *args)``: the Wengert list ``v_i = op(...)`` with values;
- ``tangent_trace(f, *args)``: each ``v_i`` beside its tangent ``v̇_i``, in
  evaluation order (forward mode);
- ``adjoint_trace(f, *args)``: the primal sweep, then the adjoints ``v̄_i``
  bottom-up (reverse mode); a value with several uses gets one ``v̄_i = ...``
  line and then ``v̄_i += ...`` lines, one per further use.

Each returns a ``Trace``: ``print`` it in a terminal, or let Jupyter render
it (``_repr_html_``). A bare ``jitad.trace(f, *args)`` graph renders as a
table too (``Graph._repr_html_`` calls ``graph_html``). ``show_source(g)``
prints the numba kernel a transformed function compiled.

The tangent and adjoint lines are not re-derived here: the real sweeps
(``transforms.jvp_sweep``, ``transforms.vjp_sweep``) run on a copy of the
primal graph whose primitives report each rule call (``_Spy``), so every
line shows the ops the sweep emitted for that rule, named by the primal value
whose tangent or adjoint they are. Printed products ``a * b`` are the sweep's
``safe_mul`` (``0 * inf = 0``, so an unused branch adds no NaN).

>>> import numpy as np
>>> print(adjoint_trace(lambda x: np.sin(x) * x, 1.0))
forward primal trace   value
v_0 = x                1
v_1 = sin(v_0)         0.841471
v_2 = v_1 * v_0        0.841471
<BLANKLINE>
reverse adjoint trace   value
v̄_2 = ȳ                 1
v̄_1 = v̄_2 * v_0         1
v̄_0 = v̄_2 * v_1         0.841471
v̄_0 += v̄_1 * cos(v_0)   1.38177
x̄ = v̄_0                 1.38177
"""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from . import transforms, tree
from .api import trace
from .backend.reference import evaluate_ops
from .ir import Graph, Lit, Op, Var
from .tracer import Builder, Tracer, is_static

DOT, BAR = "\u0307", "\u0304"  # combining dot and macron: v̇, v̄
MAX_ROWS = 400  # a longer table shows its first and last 200 lines


# ------------------------------------------------------------- the tables

@dataclass(frozen=True)
class Section:
    caption: str
    header: tuple
    rows: tuple


@dataclass(frozen=True, repr=False)
class Trace:
    """One or more tables of trace lines: text for ``print`` and the REPL,
    HTML for Jupyter."""

    sections: tuple

    def __str__(self) -> str:
        return "\n\n".join(_text_table((s.caption,) + s.header[1:], s.rows)
                           for s in self.sections)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        tables = "".join(f'<div style="margin-right:2em">{_html_table(s)}</div>'
                         for s in self.sections)
        return f'<div style="display:flex;flex-wrap:wrap;align-items:flex-start">{tables}</div>'


def _width(s: str) -> int:
    # combining marks (the dot of v̇, the bar of v̄) take no column
    return sum(not unicodedata.combining(c) for c in s)


def _elide(rows) -> tuple:
    """The rows, or for a long trace its head and tail around a marker row
    (a notebook would choke on a table of a 100,000-op trace)."""
    if len(rows) <= MAX_ROWS:
        return tuple(rows)
    half = MAX_ROWS // 2
    marker = (f"… {len(rows) - MAX_ROWS} more lines …",) + ("",) * (len(rows[0]) - 1)
    return tuple(rows[:half]) + (marker,) + tuple(rows[-half:])


def _text_table(header, rows) -> str:
    rows = (tuple(header),) + _elide(rows)
    widths = [max(_width(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("   ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths)).rstrip()
                     for row in rows)


_NAME = re.compile(r"(v[\u0304\u0307]?)_(-?\d+)")


def _html_cell(text: str) -> str:
    return _NAME.sub(r"\1<sub>\2</sub>", html.escape(text))


def _html_table(section: Section) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in section.header)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left;font-family:monospace'>"
                                    f"{_html_cell(c)}</td>" for c in row) + "</tr>"
                   for row in _elide(section.rows))
    return (f"<table><caption style='text-align:left;font-weight:bold'>"
            f"{html.escape(section.caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def graph_html(graph: Graph) -> str:
    """The primal trace of a graph as an HTML table: v_i | operation | type.
    Jupyter shows a ``Graph`` (``jitad.trace(f, x)``) this way: importing
    ``jitad`` registers it with IPython's HTML formatter.

    >>> import jitad
    >>> "<sub>1</sub>" in graph_html(jitad.trace(lambda x: 2.0 * x, 1.0))
    True
    """
    rows = tuple((lhs, rhs, ", ".join(_type(v) for v in values))
                 for lhs, rhs, values in graph.rows())
    return _html_table(Section(repr(graph), ("", "operation", "shape/dtype"), rows))


def _register_with_ipython():
    """Show graphs as tables in Jupyter (IPython's formatter registry, so the
    IR module stays plain data)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(Graph, graph_html)


_register_with_ipython()


def _type(a) -> str:
    return f"{a.dtype.name}[{', '.join(map(str, a.shape))}]"


def _value(v) -> str:
    if v is None:
        return ""
    arr = np.asarray(v)
    if arr.ndim == 0:
        return f"{arr.item():.6g}" if arr.dtype.kind in "fc" else str(arr.item())
    if arr.size <= 6:
        return " ".join(np.array2string(arr, precision=4, separator=", ").split())
    head = ", ".join(f"{x:.4g}" for x in arr.ravel()[:3])
    return f"[{head}, …] shape {arr.shape}"


# -------------------------------------------------------- watching a sweep

@dataclass
class _Call:
    """One rule call of the sweep: the op, the primal input ``x`` the rule is
    for, the incoming tangent/cotangent ``g``, the rule's ``result``, and the
    range of builder ops emitted by the rule (``start:end``) and after it up
    to the next event (``end:gap_end``: accumulation and broadcasting)."""

    op: Op
    x: object
    g: object
    result: object
    start: int
    end: int
    gap_end: int = -1


class _Spy:
    """A primitive that behaves exactly like ``prim`` and reports to a _Sweep."""

    def __init__(self, op: Op, sweep: "_Sweep"):
        self._op, self._sweep, prim = op, sweep, op.primitive
        self.jvps = tuple(self._wrap(r, i) for i, r in enumerate(prim.jvps))
        self.vjps = tuple(self._wrap(r, i) for i, r in enumerate(prim.vjps))

    def __getattr__(self, name):
        return getattr(self._op.primitive, name)

    def bind(self, *args, **params):
        self._sweep.mark()
        out = self._op.primitive.bind(*args, **params)
        if isinstance(out, Tracer):
            self._sweep.names.setdefault(out._var, self._sweep.primal_names[self._op.outputs[0]])
        return out

    def _wrap(self, rule, i):
        if rule is None:
            return None

        def spied(g, y, *args, **params):
            sweep = self._sweep
            sweep.mark()
            start = len(sweep.builder.ops)
            result = rule(g, y, *args, **params)
            sweep.calls.append(_Call(self._op, self._op.inputs[i], g, result, start,
                                     len(sweep.builder.ops)))
            return result
        return spied


class _Sweep:
    """A real sweep over ``graph``, recorded in an abstract builder."""

    def __init__(self, graph: Graph):
        self.primal_names = graph.names()
        self.builder = Builder(concrete=False)
        self.names: dict = {}
        self.calls: list[_Call] = []
        self.spied = Graph(graph.inputs, tuple(Op(_Spy(op, self), op.inputs, op.outputs,
                                                  op.params) for op in graph.ops),
                           graph.outputs, graph.input_names)

    def inputs(self, avals, values, names):
        tracers = [self.builder.new_input(a.shape, a.dtype) for a in avals]
        for t, name in zip(tracers, names):
            self.names[t._var] = name
        return tracers, dict(zip((t._var for t in tracers), values))

    def mark(self):
        """A new event starts: close the op range of the previous rule call."""
        if self.calls and self.calls[-1].gap_end < 0:
            self.calls[-1].gap_end = len(self.builder.ops)

    def finish(self, env: dict):
        """Close the last range; evaluate every recorded op (var -> value)."""
        self.mark()
        self.values = evaluate_ops(self.builder.ops, env)
        self.defs = {v: op for op in self.builder.ops for v in op.outputs}

    def settled(self, call: _Call):
        """The value the sweep keeps after ``call``: its result, accumulated
        and broadcast by the ops the sweep emitted right after the rule."""
        if call.gap_end > call.end:
            return self.builder.ops[call.gap_end - 1].outputs[0]
        return _atom(call.result)

    def expr(self, value, local=frozenset()) -> str:
        """``value`` as an expression: ops in ``local`` (one rule's) inlined,
        named values (primals, tangents, adjoints) by name."""
        atom = _atom(value)
        if not isinstance(atom, Var):
            return repr(atom) if isinstance(atom, Lit) else _value(atom)
        op = self.defs.get(atom)
        if op is None or (atom not in local and atom in self.names):
            return self.names.get(atom, "?")
        args = []
        for a in op.inputs:
            text = self.expr(a, local)
            inlined = isinstance(a, Var) and a in self.defs and (a in local or a not in self.names)
            args.append(f"({text})" if inlined and _top_level_space(text) else text)
        return op.primitive.format(*args, **op.params)

    def local(self, call: _Call) -> frozenset:
        return frozenset(v for op in self.builder.ops[call.start:call.end] for v in op.outputs)

    def value(self, atom) -> str:
        atom = _atom(atom)
        return _value(self.values.get(atom) if isinstance(atom, Var) else
                      atom.val if isinstance(atom, Lit) else atom)


def _atom(value):
    return value._var if isinstance(value, Tracer) else value


def _top_level_space(text: str) -> bool:
    depth = 0
    for c in text:
        depth += c in "(["
        depth -= c in ")]"
        if c == " " and depth == 0:
            return True
    return False


def _accent(name: str, mark: str) -> str:
    """v_3 -> v̄_3; x1 -> x̄1 (the mark goes on the first letter; NFC, so
    letters that have an accented form, ȳ and ẋ, use it)."""
    return unicodedata.normalize("NFC", name[0] + mark + name[1:])


# --------------------------------------------------------------- the views

def _trace(f, args, argnums):
    """(graph, input values, wrt leaf indices) of ``f(*args)``."""
    graph = trace(f, *args)
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    values, wrt = [], []
    for n, arg in enumerate(args):
        for leaf in tree.flatten(arg)[0]:
            if is_static(leaf):
                continue
            if n in argnums:
                if not np.issubdtype(np.asarray(leaf).dtype, np.floating):
                    raise TypeError(f"argument {n} is not a float array or number; jitad "
                                    "differentiates float inputs only")
                wrt.append(len(values))
            values.append(leaf)
    return graph, values, wrt


def _primal_rows(graph: Graph, values: dict) -> list:
    """The input and op rows of the printed trace, with each row's value."""
    rows = graph.rows()
    return [(f"{lhs} = {rhs}" if lhs else rhs, _value(values[v[0]]) if v else "")
            for lhs, rhs, v in rows[:len(rows) - len(graph.outputs)]]


def primal_trace(f, *args) -> Trace:
    """The Wengert list of ``f(*args)`` with the value of every ``v_i``.

    >>> import numpy as np
    >>> print(primal_trace(lambda x1, x2: x1 * np.sin(x2), 2.0, 1.0))
    primal trace       value
    v_-1 = x1          2
    v_0 = x2           1
    v_1 = sin(v_0)     0.841471
    v_2 = v_-1 * v_1   1.68294
    """
    graph, values, _ = _trace(f, args, ())
    env = evaluate_ops(graph.ops, dict(zip(graph.inputs, values)))
    return Trace((Section("primal trace", ("", "value"), tuple(_primal_rows(graph, env))),))


def tangent_trace(f, *args, argnums=0, tangents=None) -> Trace:
    """The forward sweep of ``f(*args)``: each ``v_i`` beside its tangent
    ``v̇_i``, with values. The inputs in ``argnums`` get the tangents
    ``tangents`` (one per array or float leaf; default all ones), the others
    none: their tangent is 0 and the sweep computes nothing for them.

    >>> import numpy as np
    >>> print(tangent_trace(lambda x1, x2: x1 * np.sin(x2), 2.0, 1.0))
    primal trace       value      tangent trace      value
    v_-1 = x1          2          v̇_-1 = ẋ1          1
    v_0 = x2           1          v̇_0 = 0
    v_1 = sin(v_0)     0.841471   v̇_1 = 0
    v_2 = v_-1 * v_1   1.68294    v̇_2 = v̇_-1 * v_1   0.841471
    """
    graph, values, wrt = _trace(f, args, argnums)
    if tangents is None:
        tangents = [np.ones_like(np.asarray(values[i], float)) for i in wrt]
    sweep = _Sweep(graph)
    names = sweep.primal_names
    labels = graph.input_names or [f"x{i + 1}" for i in range(len(graph.inputs))]
    primals, env = sweep.inputs(graph.inputs, values, [names[v] for v in graph.inputs])
    dots, dot_env = sweep.inputs([graph.inputs[i] for i in wrt], tangents,
                                 [_accent(names[graph.inputs[i]], DOT) for i in wrt])
    with sweep.builder:
        transforms.jvp_sweep(sweep.spied, primals, dots, wrt)
    for call in sweep.calls:  # the tangent a rule receives is its input's v̇
        if isinstance(call.g, Tracer):
            sweep.names.setdefault(call.g._var, _accent(names[call.x], DOT))
    sweep.finish({**env, **dot_env})

    rows = iter(_primal_rows(graph, evaluate_ops(graph.ops, dict(zip(graph.inputs, values)))))
    table = []
    dot_of = dict(zip(wrt, dots))
    for i, (v, label) in enumerate(zip(graph.inputs, labels)):
        tangent = (f"{_accent(names[v], DOT)} = {_accent(label, DOT)}", sweep.value(dot_of[i])) \
            if i in dot_of else (f"{_accent(names[v], DOT)} = 0", "")
        table.append(next(rows) + tangent)
    calls_of = {}
    for call in sweep.calls:
        calls_of.setdefault(call.op, []).append(call)
    for op in graph.ops:
        calls = calls_of.get(op, [])
        if not op.outputs:
            table.append(next(rows) + ("", ""))
            continue
        lhs = _accent(names[op.outputs[0]], DOT)
        if not calls:
            table.append(next(rows) + (f"{lhs} = 0", ""))
            continue
        rhs = " + ".join(sweep.expr(c.result, sweep.local(c)) for c in calls)
        table.append(next(rows) + (f"{lhs} = {rhs}", sweep.value(sweep.settled(calls[-1]))))
    return Trace((Section("primal trace", ("", "value", "tangent trace", "value"),
                          tuple(table)),))


def adjoint_trace(f, *args, argnums=0, cotangent=None) -> Trace:
    """The reverse sweep of ``f(*args)``: the primal trace, then the adjoints
    ``v̄_i`` from the output back to the inputs in ``argnums``, with values.
    A value used k times gets one ``=`` line and k-1 ``+=`` lines; the value
    column shows the adjoint after each line. The output adjoint ``ȳ`` is
    ``cotangent`` (default ones: for a scalar ``f`` the trace ends in the
    gradient).

    >>> import numpy as np
    >>> t = adjoint_trace(lambda x: np.sum(x * x), np.array([1.0, 2.0]))
    >>> print(t.sections[1].rows[-1])
    ('x̄ = v̄_0', '[2., 4.]')
    """
    graph, values, wrt = _trace(f, args, argnums)
    sweep = _Sweep(graph)
    names = sweep.primal_names
    primals, env = sweep.inputs(graph.inputs, values, [names[v] for v in graph.inputs])
    if cotangent is None:
        cotangent = [np.ones(o.shape, o.dtype) for o in graph.outputs]
    outs = [o if isinstance(o, Var) else Var(o.shape, o.dtype) for o in graph.outputs]
    y_names = ["y"] if len(outs) == 1 else [f"y{i + 1}" for i in range(len(outs))]
    seeds, seed_env = sweep.inputs(outs, cotangent, [_accent(names.get(o, y), BAR)
                                                     for o, y in zip(outs, y_names)])
    with sweep.builder:
        _, bars = transforms.vjp_sweep(sweep.spied, primals, seeds, wrt)
    for call in sweep.calls:  # the cotangent a rule receives is its output's v̄
        sweep.names.setdefault(_atom(call.g), _accent(names[call.op.outputs[0]], BAR))
    sweep.finish({**env, **seed_env})

    rows = [(f"{_accent(names[o], BAR)} = {_accent(y, BAR)}", sweep.value(s))
            for o, y, s in zip(graph.outputs, y_names, seeds) if isinstance(o, Var)]
    seen = set(graph.outputs)
    for call in sweep.calls:
        op = "+=" if call.x in seen else "="
        seen.add(call.x)
        rows.append((f"{_accent(names[call.x], BAR)} {op} "
                     f"{sweep.expr(call.result, sweep.local(call))}",
                     sweep.value(sweep.settled(call))))
    labels = graph.input_names or [f"x{i + 1}" for i in range(len(graph.inputs))]
    for i, bar in zip(wrt, bars):
        v = graph.inputs[i]
        rows.append((f"{_accent(labels[i], BAR)} = "
                     f"{_accent(names[v], BAR) if bar is not None else 0}", sweep.value(bar)))
    primal = _primal_rows(graph, evaluate_ops(graph.ops, dict(zip(graph.inputs, values))))
    return Trace((Section("forward primal trace", ("", "value"), tuple(primal)),
                  Section("reverse adjoint trace", ("", "value"), tuple(rows))))


# ------------------------------------------------------------ the kernels

def show_source(fn, file=None) -> None:
    """Print the numba kernel source of a transformed function's most recently
    compiled shapes (its cache's last entry), with the file it was compiled from.

    >>> import numpy as np, jitad
    >>> g = jitad.grad(lambda x: np.sin(x))
    >>> _ = g(1.0)
    >>> show_source(g)  # doctest: +ELLIPSIS
    # ...grad(<lambda>, argnums=0) for (float): .../k_....py, compiled in ... s
    def kernel(v_0):
    ...
    """
    from .cache import describe_key
    cache = getattr(fn, "cache", None)
    if cache is None:
        raise TypeError("show_source takes a function made by a jitad transform "
                        "(jitad.grad(f), jitad.jit(f), ...)")
    if not cache.entries:
        raise ValueError(f"{cache.name} has not compiled anything yet: call it once, then "
                         "show_source shows the kernel for those shapes")
    key = next(reversed(cache.entries))
    kernel = cache.entries[key][0].kernel
    print(f"# {cache.name} for {describe_key(key, cache.reads)}: {kernel.path}, compiled in "
          f"{kernel.compile_seconds:.2f} s", file=file)
    print(kernel.source.rstrip("\n"), file=file)
