"""The calling convention: how user arguments become kernel inputs, and
kernel outputs become the user's result.

A transform's result has a structure (a gradient shaped like the argument, a
``(value, gradient)`` pair, Jacobian blocks); ``Slot``\\ s stand for the
kernel outputs in it, each with the type the user gets back (a Python float
for a float argument, an array for an array). ``make_run`` turns that
template into one generated function, so a warm call does no interpretation
of the result structure. ``Layout`` says where each argument's leaves are,
which are traced, and which are differentiated.

>>> import numpy as np
>>> run = make_run(lambda x: (x * 2.0,), [np.ones(2)], [0], Slot(0, "array", np.dtype(float)))
>>> run([np.ones(2)], ())
array([2., 2.])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import tree
from .errors import GuardFailure
from .state import is_tracer
from .tracer import is_static


@dataclass(frozen=True)
class Slot:
    """A place in a transform's result filled by kernel output ``index``,
    converted to the user-facing type (``kind``: float, scalar, array0, array)."""

    index: int
    kind: str
    dtype: np.dtype

    @staticmethod
    def like_leaf(index, leaf, dtype) -> "Slot":
        """Shaped like an argument: float for a float, array for an array."""
        if type(leaf) is float:
            return Slot(index, "float", dtype)
        if type(leaf) is np.ndarray:
            return Slot(index, "array" if leaf.ndim else "array0", leaf.dtype)
        return Slot(index, "scalar", leaf.dtype)

    @staticmethod
    def like_var(index, var) -> "Slot":
        """An output: a NumPy scalar if 0-d, else the array itself."""
        return Slot(index, "scalar" if not var.shape else "array", var.dtype)

    def source(self, value: str, python_float=False) -> str:
        """The conversion as source; ``python_float``: the kernel returns this
        output as a Python float already (numba boxes float scalars so)."""
        if self.kind == "float":
            return value if python_float else f"float({value})"
        if self.kind == "scalar":  # np_float64 is np.float64, bound once (no attribute lookup)
            return f"np_{self.dtype.name}({value})"
        if self.kind == "array0":
            return f"np.asarray({value}, np.{self.dtype.name})"
        return value

    def convert(self, value):
        """The user-facing value of one output (the inline path; ``make_run``
        compiles the same conversions into source)."""
        if is_tracer(value):
            return value
        if self.kind == "float":
            return float(value)
        if self.kind == "scalar":
            return self.dtype.type(value)
        if self.kind == "array0":
            return np.asarray(value, self.dtype)
        return value if isinstance(value, np.ndarray) else np.asarray(value, self.dtype).copy()


def _template_source(template, python_floats=frozenset()) -> str:
    """Python source that builds ``template`` from the kernel outputs ``o``;
    ``python_floats``: the outputs the kernel returns as Python floats."""
    if isinstance(template, Slot):
        return template.source(f"o[{template.index}]", template.index in python_floats)
    if template is None:
        return "None"
    if isinstance(template, dict):
        return "{" + ", ".join(f"{k!r}: {_template_source(v, python_floats)}"
                               for k, v in template.items()) + "}"
    inner = "".join(f"{_template_source(t, python_floats)}, " for t in template)
    return f"[{inner}]" if isinstance(template, list) else f"({inner})"


def _scalar_types(template) -> dict:
    """``np_<dtype>`` for each NumPy scalar type the template's source names."""
    if isinstance(template, Slot):
        return {f"np_{template.dtype.name}": template.dtype.type} if template.kind == "scalar" \
            else {}
    children = template.values() if isinstance(template, dict) else \
        template if isinstance(template, (tuple, list)) else ()
    return {name: t for child in children for name, t in _scalar_types(child).items()}


def fill(template, outs):
    """``template`` with each Slot replaced by its output (the inline path)."""
    if isinstance(template, Slot):
        return template.convert(outs[template.index])
    if isinstance(template, dict):
        return {k: fill(v, outs) for k, v in template.items()}
    if isinstance(template, (tuple, list)):
        return type(template)(fill(t, outs) for t in template)
    return template


def _contiguous(a):
    if not a.dtype.isnative:  # numba takes native byte order only (data read from a file)
        return np.ascontiguousarray(a, a.dtype.newbyteorder("="))
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _value_source(expr, value) -> str:
    """How the kernel takes a value: 0-d arrays as scalars, arrays contiguous,
    in native byte order (the key holds the dtype, so this is fixed per kernel)."""
    if type(value) is np.ndarray:
        if value.ndim == 0:
            return f"{expr}[()]"
        if not value.dtype.isnative:
            return f"_contiguous({expr})"
        return f"({expr} if {expr}.flags.c_contiguous else np.ascontiguousarray({expr}))"
    return expr


def make_run(fn, leaves, traced, template, consts=(), reads=(), n_args=None,
             python_floats=frozenset(), status=False):
    """``run(leaves, values)``: the kernel call and result conversion as one
    generated function. The kernel takes the ``traced`` leaves of the
    arguments (those before ``n_args``), then the values of the reads at
    positions ``reads`` of ``values``, then the traced leaves after
    ``n_args`` (the extra inputs of vjp and jvp), then ``consts``;
    ``python_floats``: the outputs it returns as Python floats; ``status``:
    its last output is its guards' status, raised here as ``GuardFailure``."""
    n_args = len(leaves) if n_args is None else n_args
    args = [_value_source(f"leaves[{i}]", leaves[i]) for i in traced if i < n_args]
    args += [_value_source(f"values[{k}]", v) for k, v in reads]
    args += [_value_source(f"leaves[{i}]", leaves[i]) for i in traced if i >= n_args]
    args += [f"c_{k}" for k in range(len(consts))]
    source = (f"def run(leaves, values):\n    o = fn({', '.join(args)})\n{_checked(status, 4)}"
              f"    return {_template_source(template, python_floats)}\n")
    namespace = {"fn": fn, "np": np, "_contiguous": _contiguous, "GuardFailure": GuardFailure,
                 **_scalar_types(template)}
    namespace.update((f"c_{k}", c) for k, c in enumerate(consts))
    exec(compile(source, "<jitad dispatch>", "exec"), namespace)  # noqa: S102
    run = namespace["run"]
    run.source = source
    return run


def _checked(status, indent, failed="raise GuardFailure") -> str:
    """The lines acting on a kernel's failed-guard status, if it returns one."""
    return f"{' ' * indent}if o[-1]:\n{' ' * indent}    {failed}\n" if status else ""


MISS = object()  # what a fast run returns for arguments it does not take
FAILED = object()  # what it returns where a guard of its kernel failed


def make_fast_run(fn, n, template, consts, python_floats=frozenset(), status=False):
    """``fast(args)``: one entry's whole warm call for ``n`` Python float
    arguments (and no reads), or ``MISS`` for any other arguments. The public
    function calls it first (``cache.FastSlot``), so such a call skips keying,
    lookup and the generic run: of a float, the kernel takes the float itself,
    so checking the types is the whole key. Where a guard fails it returns
    ``FAILED``, uncounted (``chained`` tries the next path). ``fast.calls()``: the calls it
    served, counted in a closure cell (an attribute ``+= 1`` costs more)."""
    names = [f"a{i}" for i in range(n)]
    checks = " or ".join(f"type({a}) is not float" for a in names) or "False"
    unpack = f"        {', '.join(names)}, = args\n" if n else ""
    call = ", ".join(names + [f"c_{k}" for k in range(len(consts))])
    source = (f"def make():\n    calls = 0\n\n"
              f"    def fast(args):\n        nonlocal calls\n"
              f"        if len(args) != {n}:\n            return MISS\n{unpack}"
              f"        if {checks}:\n            return MISS\n        o = fn({call})\n"
              f"{_checked(status, 8, 'return FAILED')}        calls += 1\n"
              f"        return {_template_source(template, python_floats)}\n"
              f"    return fast, lambda: calls\n")
    namespace = {"fn": fn, "MISS": MISS, "FAILED": FAILED, **_scalar_types(template)}
    namespace.update((f"c_{k}", c) for k, c in enumerate(consts))
    exec(compile(source, "<jitad fast dispatch>", "exec"), namespace)  # noqa: S102
    fast, fast.calls = namespace["make"]()
    fast.source, fast.status = source, status
    return fast


def chained(runs):
    """One fast run for the paths (variants) of one key: each fast run in
    turn until one's guards hold (that one is tried first next time);
    ``GuardFailure`` if none's do. A function whose inputs alternate between
    two paths thus costs two kernel calls, not a trip through the
    dispatcher. A single path without guards is its fast run itself.

    >>> path = make_fast_run(lambda x: (x + 1.0, x < 0.0), 1, Slot(0, "scalar", np.dtype(float)),
    ...                      (), status=True)
    >>> run = chained([path])  # its guard holds where x >= 0
    >>> float(run((1.0,))), run(("a",)) is MISS
    (2.0, True)
    """
    if len(runs) == 1 and not runs[0].status:
        return runs[0]

    first, others = runs[0], tuple(runs[1:])

    def chain(args):
        result = first(args)
        if result is not FAILED:  # MISS too: no path takes these arguments
            return result
        return other_paths(args)

    def other_paths(args):
        nonlocal first, others
        tried, rest = first, others  # read once: another thread may reorder meanwhile
        for k, run in enumerate(rest):
            result = run(args)
            if result is not FAILED:
                first, others = run, (tried,) + rest[:k] + rest[k + 1:]
                return result
        raise GuardFailure
    chain.entry = getattr(runs[0], "entry", None)  # the doctest's run has none
    return chain


def kernel_arguments(leaves, values, traced, reads=(), n_args=None) -> list:
    """The values ``make_run``'s function passes the kernel, as a list."""
    def taken(v):
        if type(v) is np.ndarray:
            return v[()] if v.ndim == 0 else _contiguous(v)
        return v
    n_args = len(leaves) if n_args is None else n_args
    return ([taken(leaves[i]) for i in traced if i < n_args] + [taken(values[k]) for k, _ in reads]
            + [taken(leaves[i]) for i in traced if i >= n_args])


def check_differentiable(leaf, n):
    if is_static(leaf) and not isinstance(leaf, (bool, int, np.integer, np.bool_)):
        raise TypeError(f"argument {n} is a {type(leaf).__name__} ({leaf!r}), which has no "
                        "derivative: jitad differentiates floats and float32/float64 arrays; "
                        "pass it as an argument outside argnums")
    if is_static(leaf):
        raise TypeError(f"argument {n} is a Python {type(leaf).__name__} ({leaf!r}); jitad does "
                        "not differentiate integers or booleans: pass a float (2.0, not 2)")
    dtype = leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"argument {n} has dtype {dtype}; jitad differentiates float64 and "
                        f"float32 inputs only: convert it with .astype(float)")


class Layout:
    """Where each argument's leaves are, which are traced, which are wrt."""

    def __init__(self, args, leaves, argnums=()):
        self.leaves = leaves
        self.traced = [i for i, leaf in enumerate(leaves) if not is_static(leaf)]
        self.arg_leaves = []  # per argument: (treedef, [leaf index])
        start = 0
        for a in args:
            sub, treedef = tree.flatten(a)
            self.arg_leaves.append((treedef, list(range(start, start + len(sub)))))
            start += len(sub)
        position = {leaf: k for k, leaf in enumerate(self.traced)}
        self.wrt = []
        for n in argnums:
            if not -len(args) <= n < len(args):
                raise ValueError(f"argnums {n} is out of range for {len(args)} arguments")
            for i in self.arg_leaves[n][1]:
                check_differentiable(leaves[i], n)
                self.wrt.append(position[i])

    def arg_template(self, n, slot_of_leaf):
        """Argument ``n``'s structure with ``slot_of_leaf(i)`` at each leaf."""
        treedef, idx = self.arg_leaves[n]
        return tree.unflatten(treedef, map(slot_of_leaf, idx))
