"""The ``Primitive`` type, the registry, and what every family shares.

Each primitive carries its NumPy reference ``impl``, its shape/dtype rule,
and one tangent rule and one adjoint rule per positional input (``None``:
not differentiable in that input). Rules have the signature
``rule(g, y, *inputs, **params)`` -- ``g`` is the input's tangent (forward)
or the output's cotangent (reverse), ``y`` the primal output -- and are
written with primitives, never raw NumPy, so a derivative is an ordinary graph
and derivatives of derivatives need no extra code.

Rules may return a value whose shape is broadcast-compatible with the target;
the sweeps in ``transforms`` broadcast tangents up and reduce cotangents down
(convention 7: once, in the sweep, not in each rule).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..state import TracerBase, active_builders, is_tracer


KINDS = ("elementwise", "reduction", "structural", "linalg", "effect", "loop")


class Primitive:
    """A primitive operation, defined once with everything every stage needs.

    - ``impl(*inputs, **params)``: the NumPy reference (tracing evaluates it on
      concrete values; the reference interpreter runs it).
    - ``shape_rule(*atoms, **params) -> (shape, dtype)`` of the output.
    - ``jvps``/``vjps``: one tangent and one adjoint rule per positional input,
      ``rule(g, y, *inputs, **params)`` (``None``: not differentiable there).
    - ``batch(prim, args, batched, k, **params)``: the primitive applied to
      operands of which ``batched[i]`` carry a leading axis of length ``k``;
      the result carries it too. Jacobians and ``vmap`` are built from these.
    - ``kind``: one of ``KINDS``. ``elementwise`` means NumPy broadcasting, one
      output element from the operands' elements at the same position (the
      backend fuses these into loops, the interpreter runs them on scalars);
      ``reduction``, ``structural`` (shapes, indexing), ``linalg``; ``effect``
      has no output and is never removed (guards).
    - ``numpy``: the NumPy ufunc or function it implements, when it is one of
      them with the same arguments (the NumPy layer registers it from here).
    - ``forwards``: the index of the operand the output *is* at run time
      (``stop_gradient``, ``custom_vjp_call``): the backend lowers it as that
      operand, with no template.
    - ``multiple_results``: the shape rule gives a list, ``bind`` returns a
      list. Such a primitive (a ``loop``: ``jitad.loops.scan_p``) has rules
      for all its inputs at once: ``jvp_all(tangents, outs, *inputs,
      **params)`` gives the outputs' tangents, ``vjp_all(cotangents, outs,
      active, *inputs, **params)`` the inputs' cotangents (None where zero).
    - ``trace_cost(*atoms, **params)``: the work of the NumPy impl, in op
      evaluations, where it can be large (a loop); a trace skips computing
      values above ``TRACE_COST_LIMIT`` (what follows is traced abstractly).

    >>> from jitad.primitives import sin_p
    >>> sin_p.bind(0.0), sin_p.kind, sin_p.numpy
    (np.float64(0.0), 'elementwise', <ufunc 'sin'>)
    """

    def __init__(self, name, impl, shape_rule, *, kind, jvps, vjps, batch, numpy=None,
                 forwards=None, infix=None, fmt=None, multiple_results=False, jvp_all=None,
                 vjp_all=None, trace_cost=None):
        if kind not in KINDS:
            raise ValueError(f"primitive {name}: kind {kind!r} is not one of {KINDS}")
        self.name = name
        self.impl = impl
        self.shape_rule = shape_rule
        self.kind = kind
        self.effect = kind == "effect"  # kept by dead-code elimination, no outputs (guards)
        self.jvps = tuple(jvps)
        self.vjps = tuple(vjps)
        self.batch = batch
        self.numpy = numpy
        self.forwards = forwards
        self.multiple_results = multiple_results
        self.jvp_all, self.vjp_all = jvp_all, vjp_all
        self.trace_cost = trace_cost
        self.family = None  # the Variadic it belongs to, if any
        self.infix = infix
        self.fmt = fmt
        PRIMITIVES.append(self)

    def bind(self, *args, **params):
        """Apply the primitive: recorded by the innermost builder of its tracer
        operands, or by this thread's active builder when there is one (so an
        op on constants inside a trace is recorded, and the rewrite pass folds
        it), else evaluated with the NumPy impl."""
        builder = None
        for a in args:
            if isinstance(a, TracerBase):
                b = a._builder
                if builder is None or b.level > builder.level:
                    builder = b
        if builder is None:
            stack = active_builders()
            if not stack:
                return self.impl(*args, **params)
            builder = stack[-1]
        return builder.apply(self, args, params)

    def abstract_eval(self, *atoms, **params):
        """[(shape, dtype)] of the outputs, from the inputs' shapes and dtypes
        (effect primitives, the guards, have no outputs)."""
        if self.effect:
            return ()
        rule = self.shape_rule(*atoms, **params)
        return rule if self.multiple_results else (rule,)

    def format(self, *names, **params):
        if self.fmt:
            return self.fmt(*names, **params)
        if self.infix and not params:
            return f" {self.infix} ".join(names) if len(names) == 2 else f"{self.infix}{names[0]}"
        args = list(names) + [f"{k}={_fmt_param(v)}" for k, v in params.items()]
        return f"{self.name}({', '.join(args)})"

    def __repr__(self):
        return f"{self.name}_p"


TRACE_COST_LIMIT = 20_000  # op evaluations a trace spends on one op's concrete value

# Every primitive made so far, in order of definition; the variadic families
# (below) add one per arity as it is first used.
PRIMITIVES: list[Primitive] = []


class Variadic:
    """One primitive per number of inputs, made on first use: for primitives
    whose rule for input k depends on k (concatenate's k-th input is the k-th
    slice of the output; a gather's k-th index array indexes axis k).

    >>> from jitad.primitives import concatenate_p
    >>> concatenate_p(3).name, len(concatenate_p(3).vjps)
    ('concatenate', 3)
    """

    def __init__(self, name, make):
        self.name, self.make, self.by_arity = name, make, {}
        self(2)  # one member exists from import on, so the completeness test sees the family

    def __call__(self, n: int) -> Primitive:
        prim = self.by_arity.get(n)
        if prim is None:
            prim = self.by_arity[n] = self.make(n)
            prim.family = self
        return prim


def _fmt_param(v):
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, BasicIndex):
        return f"[{v}]"
    return repr(v)


# ----------------------------------------------------------------- shapes

def shape_of(x) -> tuple:
    """Shape of a tracer or a concrete value (tracers carry it; asking NumPy
    would dispatch back to the tracer)."""
    return x._var.shape if is_tracer(x) else np.shape(x)


def dtype_of(x) -> np.dtype:
    return x._var.dtype if is_tracer(x) else np.result_type(x)


_WEAK_TYPES = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def _dtype_key(a):
    """A Python number stays weak: it takes the dtype of the array it meets
    (NumPy 2 promotion, ``float32_array * 2.0`` is float32)."""
    return _WEAK_TYPES[a.dtype.kind] if getattr(a, "weak", False) else a.dtype


def _result_dtype(impl, keys, params):
    """The dtype NumPy itself gives: impl applied to ones of the input dtypes
    (each elementwise rule keeps its answers, ``elementwise_shape``)."""
    vals = [np.ones((), k) if isinstance(k, np.dtype) else k(1) for k in keys]
    with np.errstate(all="ignore"):
        return np.asarray(impl(*vals, **dict(params))).dtype


def elementwise_shape(impl):
    """Shape rule of an elementwise op: NumPy broadcasting and NumPy's dtype."""
    dtypes = {}  # by the operands' (dtype, weak) and the params: the tracer asks per op

    def rule(*atoms, **params):
        if len(atoms) == 2 and not params:  # a binary operator: the tracer's common case
            a, b = atoms
            shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)
            key = (a.dtype, getattr(a, "weak", False), b.dtype, getattr(b, "weak", False))
            dtype = dtypes.get(key)
            if dtype is None:
                dtype = dtypes[key] = _result_dtype(impl, (_dtype_key(a), _dtype_key(b)), ())
            return shape, dtype
        shape, key = atoms[0].shape, [tuple(params.items())] if params else []
        for a in atoms:
            if a.shape != shape:  # equal shapes are the common case
                shape = np.broadcast_shapes(*(a.shape for a in atoms))
            key.append(a.dtype)
            key.append(getattr(a, "weak", False))
        key = tuple(key)
        dtype = dtypes.get(key)
        if dtype is None:
            dtype = dtypes[key] = _result_dtype(impl, tuple(map(_dtype_key, atoms)),
                                                tuple(params.items()))
        return shape, dtype
    return rule


def reduced_shape(shape, axes) -> tuple:
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def kept_dims(ndim, axes) -> list:
    return [i for i in range(ndim) if i not in axes]


# ------------------------------------------------------------ basic index

@dataclass(frozen=True)
class BasicIndex:
    """A normalised basic index, hashable (a static param): one entry per
    operand dimension, an ``int`` (the dimension is dropped) or a
    ``(start, stop, step)`` triple with concrete bounds (``stop`` is ``None``
    when a negative step runs past the start of the axis).

    >>> BasicIndex.normalise((slice(1, None), -1), (5, 3))
    BasicIndex(entries=((1, 5, 1), 2))
    """

    entries: tuple

    @staticmethod
    def normalise(index: tuple, shape: tuple) -> "BasicIndex":
        if len(index) > len(shape):
            raise IndexError(f"too many indices ({len(index)}) for an array of shape {shape}")
        index = tuple(index) + (slice(None),) * (len(shape) - len(index))
        entries = []
        for i, n in zip(index, shape):
            if isinstance(i, slice):
                start, stop, step = i.indices(n)
                entries.append((start, None if stop < 0 else stop, step))
            else:
                k = int(i)
                if not -n <= k < n:
                    raise IndexError(f"index {k} is out of bounds for axis of size {n}")
                entries.append(k % n)
        return BasicIndex(tuple(entries))

    def numpy(self) -> tuple:
        return self._numpy

    @functools.cached_property
    def _numpy(self) -> tuple:  # asked on every traced op that indexes
        return tuple(e if isinstance(e, int) else slice(*e) for e in self.entries)

    def result_shape(self, shape) -> tuple:
        return tuple(len(range(*s.indices(n))) for s, n in zip(self._numpy, shape)
                     if isinstance(s, slice))

    def __str__(self):
        def fmt(e):
            if isinstance(e, int):
                return str(e)
            start, stop, step = e
            text = f"{start}:{'' if stop is None else stop}"
            return text if step == 1 else f"{text}:{step}"
        return ", ".join(map(fmt, self.entries))
