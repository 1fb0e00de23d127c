"""Random small NumPy programs, for tests/test_random_programs.py.

A program is a list of statements over one input ``x``. Each statement
defines one new variable from earlier ones, in one or more lines of plain
NumPy, the way users write it: arithmetic with broadcasting, ufuncs kept in
their domains, reductions with ``axis``/``keepdims``, ``np.where``,
matmul/einsum, slices with steps (negative included), fancy indexing with
repeated indices, reshapes and transposes, concatenation, in-place updates
through aliases and views, value-dependent branches, integers taken out of
the trace as indices, and fixed loops. Shapes run from 0-d to 3-d, size-1
axes included.

The program returns a weighted sum of its last variable, so it is a scalar
loss with a gradient. ``Program.source(k)`` renders the program that ends at
statement k and keeps only the statements it needs: the minimiser in the
test uses that to print the smallest failing program.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

MAX_SIZE = 48
MAX_NDIM = 3


@dataclasses.dataclass(frozen=True)
class Statement:
    name: str
    kind: str  # the Generator method that drew it
    lines: tuple[str, ...]
    deps: frozenset[str]
    shape: tuple[int, ...]
    analytic: bool  # the complex step is exact through it


@dataclasses.dataclass
class Program:
    input_shape: tuple[int, ...]
    statements: list[Statement]

    def needed(self, k: int) -> list[Statement]:
        """Statements 0..k that statement k depends on, in order."""
        wanted = {self.statements[k].name}
        kept = []
        for s in reversed(self.statements[:k + 1]):
            if s.name in wanted:
                kept.append(s)
                wanted |= s.deps
        return kept[::-1]

    def analytic(self, k: int | None = None) -> bool:
        k = len(self.statements) - 1 if k is None else k
        return all(s.analytic for s in self.needed(k))

    def source(self, k: int | None = None) -> str:
        k = len(self.statements) - 1 if k is None else k
        last = self.statements[k]
        body = [line for s in self.needed(k) for line in s.lines]
        size = math.prod(last.shape)
        weight = f"np.linspace(0.5, 1.5, {size}).reshape({last.shape})"
        body.append(f"return np.sum({last.name} * {weight})")
        return "def f(x):\n" + "".join(f"    {line}\n" for line in body)

    def function(self, k: int | None = None):
        scope = {"np": np}
        exec(compile(self.source(k), "<random program>", "exec"), scope)
        return scope["f"]


def _broadcastable(shape: tuple[int, ...], rng) -> tuple[int, ...]:
    """A shape that broadcasts against ``shape`` without growing it."""
    keep = rng.integers(0, len(shape) + 1)
    tail = shape[len(shape) - keep:]
    return tuple(1 if rng.random() < 0.3 else d for d in tail)


def _constant(shape: tuple[int, ...], rng) -> str:
    size = math.prod(shape)
    lo, hi = np.round(rng.uniform(-1.0, 1.0, 2), 2)
    if shape == ():
        return repr(float(lo))
    return f"np.linspace({lo}, {hi}, {size}).reshape({shape})"


class Generator:
    """Draws programs from a seeded NumPy generator: ``Generator(seed).program()``."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    # --- helpers ---------------------------------------------------------
    def _pick(self, pool, want=lambda s: True):
        choices = [s for s in pool if want(s)]
        return choices[self.rng.integers(len(choices))] if choices else None

    def _axis(self, ndim):
        a = int(self.rng.integers(ndim))
        return a - ndim if self.rng.random() < 0.3 else a

    # --- operations: each returns (lines, deps, shape, analytic) or None --
    def unary(self, v, name):
        forms = [
            ("np.sin({})", True), ("np.cos({})", True), ("np.tanh({})", True),
            ("np.exp(np.tanh({}))", True), ("np.log(np.abs({}) + 0.5)", False),
            ("np.sqrt({0} * {0} + 0.1)", True), ("np.arctan({})", True),
            ("np.expm1(np.tanh({}))", True), ("np.log1p({0} * {0})", True),
            ("np.abs({})", False), ("np.square({})", True), ("-{}", True),
            ("np.maximum({}, 0.1)", False), ("{} ** 3", True),
            ("np.arcsin(0.9 * np.tanh({}))", True), ("np.cosh(np.tanh({}))", True),
        ]
        form, analytic = forms[self.rng.integers(len(forms))]
        return [f"{name} = " + form.format(v.name)], {v.name}, v.shape, analytic

    def binary(self, v, name, pool):
        u = self._pick(pool, lambda s: s is not v and _broadcasts(s.shape, v.shape))
        if u is None or self.rng.random() < 0.3:
            other_shape = _broadcastable(v.shape, self.rng)
            other, deps = _constant(other_shape, self.rng), {v.name}
        else:
            other, other_shape, deps = u.name, u.shape, {v.name, u.name}
        op = ["+", "-", "*", "/"][self.rng.integers(4)]
        if op == "/":  # a denominator kept away from zero
            expr = f"{v.name} / ({other} * {other} + 1.0)"
        elif self.rng.random() < 0.5:
            expr = f"{v.name} {op} {other}"
        else:
            expr = f"{other} {op} {v.name}"
        shape = np.broadcast_shapes(v.shape, other_shape)
        return [f"{name} = {expr}"], deps, shape, True

    def reduction(self, v, name):
        kind = ["sum", "mean", "max", "min", "prod", "var", "std"][self.rng.integers(7)]
        keepdims = bool(self.rng.random() < 0.4)
        if v.shape == () or self.rng.random() < 0.3:
            axis, shape = None, ((1,) * len(v.shape) if keepdims else ())
        else:
            a = self._axis(len(v.shape))
            axis = a
            shape = list(v.shape)
            if keepdims:
                shape[a] = 1
            else:
                del shape[a]
            shape = tuple(shape)
        args = [v.name]
        if axis is not None:
            args.append(f"axis={axis}")
        if keepdims:
            args.append("keepdims=True")
        reduced = math.prod(v.shape) // max(1, math.prod(shape))
        if kind == "std" and reduced == 1:  # the std of one number is sqrt(0): no derivative
            kind = "var"
        if kind == "std":  # distinct values, away from sqrt's infinite slope at 0
            arg = f"{v.name} + np.linspace(0.0, 1.0, {math.prod(v.shape)}).reshape({v.shape})"
            args[0] = arg
        if kind == "prod":
            args[0] = f"np.tanh({v.name}) + 1.5"
        method = self.rng.random() < 0.3 and kind not in ("prod", "std")
        if method:
            expr = f"{v.name}.{kind}({', '.join(args[1:])})"
        else:
            expr = f"np.{kind}({', '.join(args)})"
        return [f"{name} = {expr}"], {v.name}, shape, kind in ("sum", "mean", "prod")

    def where(self, v, name):
        c = _constant(_broadcastable(v.shape, self.rng), self.rng)
        return ([f"{name} = np.where({v.name} > {c}, np.sin({v.name}), {v.name} * 0.5)"],
                {v.name}, v.shape, False)

    def matmul(self, v, name):
        if v.shape == ():
            return None
        m = int(self.rng.integers(1, 4))
        n = v.shape[-1]
        const = _constant((n, m), self.rng)
        if self.rng.random() < 0.5:
            expr = f"{v.name} @ {const}"
        else:
            expr = f"np.einsum('...i,ij->...j', {v.name}, {const})"
        return [f"{name} = {expr}"], {v.name}, v.shape[:-1] + (m,), True

    def gram(self, v, name):
        if len(v.shape) != 2:
            return None
        return [f"{name} = {v.name}.T @ {v.name}"], {v.name}, (v.shape[1], v.shape[1]), True

    def slicing(self, v, name):
        if v.shape == ():
            return None
        a = int(self.rng.integers(len(v.shape)))
        n = v.shape[a]
        forms = [("::-1", n), ("1:", n - 1), ("::2", (n + 1) // 2), ("-1", None),
                 (":-1", n - 1), ("::-2", (n + 1) // 2), ("0", None)]
        index, size = forms[self.rng.integers(len(forms))]
        if size == 0:
            return None
        shape = list(v.shape)
        if size is None:
            del shape[a]
        else:
            shape[a] = size
        key = ", ".join([":"] * a + [index])
        return [f"{name} = {v.name}[{key}]"], {v.name}, tuple(shape), True

    def fancy(self, v, name):
        if v.shape == ():
            return None
        n = v.shape[0]
        idx = [int(i) for i in self.rng.integers(0, n, int(self.rng.integers(1, 4)))]
        idx.append(idx[0])  # a repeated index: its adjoint must add up
        return [f"{name} = {v.name}[np.array({idx})]"], {v.name}, (len(idx),) + v.shape[1:], True

    def reshaping(self, v, name):
        nd = len(v.shape)
        forms = [("{}.reshape(-1)", (math.prod(v.shape),)), ("{}[..., None]", v.shape + (1,)),
                 ("np.expand_dims({}, 0)", (1,) + v.shape)]
        if nd >= 2:
            perm = tuple(int(p) for p in self.rng.permutation(nd))
            forms.append((f"np.transpose({{}}, {perm})", tuple(v.shape[p] for p in perm)))
            forms.append(("{}.T", v.shape[::-1]))
            forms.append(("np.swapaxes({}, 0, -1)", (v.shape[-1],) + v.shape[1:-1] + (v.shape[0],)))
        if 1 in v.shape:
            forms.append(("np.squeeze({})", tuple(d for d in v.shape if d != 1)))
        if nd >= 1 and v.shape[0] % 2 == 0 and v.shape[0] > 0:
            forms.append(("{}.reshape(2, -1)", (2, math.prod(v.shape) // 2)))
        form, shape = forms[self.rng.integers(len(forms))]
        return [f"{name} = " + form.format(v.name)], {v.name}, shape, True

    def joining(self, v, name, pool):
        if v.shape == () or self.rng.random() < 0.4:
            a = int(self.rng.integers(len(v.shape) + 1))
            shape = v.shape[:a] + (2,) + v.shape[a:]
            line = f"{name} = np.stack([{v.name}, np.cos({v.name})], axis={a})"
            return [line], {v.name}, shape, True
        a = self._axis(len(v.shape))
        same = self._pick(pool, lambda s: len(s.shape) == len(v.shape) and all(
            d == e for i, (d, e) in enumerate(zip(s.shape, v.shape)) if i != a % len(v.shape)))
        shape = list(v.shape)
        shape[a] += same.shape[a]
        return ([f"{name} = np.concatenate([{v.name}, {same.name}], axis={a})"],
                {v.name, same.name}, tuple(shape), True)

    def inplace(self, v, name, pool):
        """NumPy's aliasing: a write through one name (or a view) changes the array."""
        w = f"{name}_w"
        lines = [f"{w} = {v.name} * 1.0"]
        deps = {v.name}
        kind = self.rng.integers(6)
        if kind == 0:
            u = self._pick(pool, lambda s: _broadcasts(s.shape, v.shape) and
                           np.broadcast_shapes(s.shape, v.shape) == v.shape)
            alias = f"{name}_alias"
            lines += [f"{alias} = {w}", f"{alias} += {u.name}"]
            deps.add(u.name)
        elif kind == 1 and v.shape:
            lines += [f"{w}[0] = np.sin({w}[-1])"]
        elif kind == 2 and v.shape and v.shape[0] > 1:
            lines += [f"{name}_view = {w}[1:]", f"{name}_view *= 2.0"]
        elif kind == 3 and v.shape:  # a traced mask, a constant value
            lines += [f"{w}[{w} > {round(float(self.rng.uniform(-1, 1)), 2)}] = 0.25"]
        elif kind == 4 and v.shape:
            lines += [f"np.multiply({w}, np.cos({v.name}), out={w})"]
        else:
            lines += [f"{w} *= {_constant(_broadcastable(v.shape, self.rng), self.rng)}"]
        lines.append(f"{name} = {w}")
        return lines, deps, v.shape, True

    def branch(self, v, name):
        c = round(float(self.rng.uniform(-1, 1)), 2)
        return ([f"if np.sum({v.name}) > {c}:", f"    {name} = np.sin({v.name}) * 2.0",
                 "else:", f"    {name} = {v.name} * {v.name}"], {v.name}, v.shape, False)

    def integer_index(self, v, name):
        if v.shape == ():
            return None
        n = v.shape[0]
        return ([f"{name} = {v.name}[int(abs(np.sum({v.name})) * 10) % {n}]"],
                {v.name}, v.shape[1:], False)

    def loop(self, v, name):
        steps = int(self.rng.integers(2, 5))
        return ([f"{name} = {v.name} * 0.0", f"for i in range({steps}):",
                 f"    {name} = {name} * 0.5 + np.sin({v.name} + i)"], {v.name}, v.shape, True)

    # --- the program -----------------------------------------------------
    def program(self, length: int = 6) -> Program:
        ndim = int(self.rng.integers(0, MAX_NDIM + 1))
        input_shape = tuple(int(d) for d in self.rng.integers(1, 4, ndim))
        pool = [Statement("x", "input", (), frozenset(), input_shape, True)]
        statements: list[Statement] = []
        ops = ["unary", "binary", "binary", "reduction", "where", "matmul", "gram",
               "slicing", "fancy", "reshaping", "joining", "inplace", "branch",
               "integer_index", "loop"]
        while len(statements) < length:
            v = pool[-1] if self.rng.random() < 0.6 else self._pick(pool)
            op = ops[self.rng.integers(len(ops))]
            name = f"v{len(statements)}"
            method = getattr(self, op)
            uses_pool = op in ("binary", "joining", "inplace")
            made = method(v, name, pool) if uses_pool else method(v, name)
            if made is None:
                continue
            lines, deps, shape, analytic = made
            shape = tuple(int(d) for d in shape)
            if len(shape) > MAX_NDIM or math.prod(shape) > MAX_SIZE or 0 in shape:
                continue
            s = Statement(name, op, tuple(lines), frozenset(deps), shape, analytic)
            statements.append(s)
            pool.append(s)
        return Program(input_shape, statements)


def _broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True
