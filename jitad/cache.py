"""Compiled kernels by cache key, and the statistics that make recompiles visible.

A key is a frozen, hashable value: (argument tree structure, and per leaf its
shape and dtype, or its value for static leaves). The function, transform and
argnums select the ``FunctionCache`` itself, so two keys of one function never
mix transforms. A mismatch makes a new entry; an entry is never reused for
other shapes.

``jitad.grad(f).cache`` (every transformed function has ``.cache``) shows the
entries and counts of traces, compiles, compile seconds and hits.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Entry:
    """One compiled specialisation: how to call its kernel and shape its results."""

    key: tuple
    kernel: object  # backend.compile.Kernel
    graph: object   # the transformed graph the kernel computes
    run: object     # run(leaves) -> user-facing result
    calls: int = 0


MAX_VARIANTS = 8      # kernels kept per shape key (one per path through guards)
RETRACE_WARNING = 4   # re-traces of one key before RetraceWarning


class RetraceWarning(UserWarning):
    """A function keeps re-tracing: its guards fail on most calls."""


@dataclass
class FunctionCache:
    """The kernels of one (function, transform, argnums).

    ``entries[key]`` lists the variants of one shape key, most recently used
    first: a function whose control flow depends on values has one variant per
    path taken, each guarded. At most ``MAX_VARIANTS`` are kept (least
    recently used out), and ``RetraceWarning`` is raised once a key has been
    re-traced ``RETRACE_WARNING`` times.
    """

    name: str
    entries: dict = field(default_factory=dict)
    traces: int = 0
    compiles: int = 0
    hits: int = 0
    retraces: int = 0  # traces caused by a failed guard

    @property
    def compile_seconds(self) -> float:
        return sum(e.kernel.compile_seconds for v in self.entries.values() for e in v)

    def __len__(self):
        return len(self.entries)

    def __repr__(self):
        lines = [f"<jitad cache of {self.name}: {len(self.entries)} entries, {self.traces} traces, "
                 f"{self.compiles} compiles ({self.compile_seconds:.2f} s), {self.hits} hits, "
                 f"{self.retraces} retraces>"]
        for key, variants in self.entries.items():
            calls = sum(e.calls for e in variants)
            seconds = sum(e.kernel.compile_seconds for e in variants)
            more = f", {len(variants)} guarded variants" if len(variants) > 1 else ""
            lines.append(f"  {describe_key(key)}: {calls} calls, compiled in {seconds:.3f} s{more}")
        return "\n".join(lines)


def leaf_key(leaf):
    """The part of the cache key one argument leaf contributes."""
    kind = type(leaf)
    if kind is float:
        return float
    if kind is np.ndarray:
        return (leaf.shape, leaf.dtype.str)
    if isinstance(leaf, np.generic):
        return ((), leaf.dtype.str)
    if leaf is None or kind in (bool, int, str):
        return ("static", leaf)
    raise TypeError(f"jitad cannot take an argument of type {kind.__name__}; pass floats, "
                    "NumPy arrays, or tuples/lists/dicts of them")


@dataclass(frozen=True)
class TreeKey:
    """The key of a call whose arguments have containers or extra inputs;
    a call of plain floats and arrays is keyed by the tuple of leaf keys."""

    treedef: object
    leaf_keys: tuple


def describe_key(key) -> str:
    leaf_keys = key.leaf_keys if isinstance(key, TreeKey) else key
    parts = []
    for k in leaf_keys:
        if k is float:
            parts.append("float")
        elif k[0] == "static":
            parts.append(repr(k[1]))
        else:
            parts.append(f"{np.dtype(k[1]).name}{list(k[0])}")
    return "(" + ", ".join(parts) + ")"


_caches: "weakref.WeakKeyDictionary | dict" = weakref.WeakKeyDictionary()
_unweakrefable: dict = {}


def cache_for(f, transform: str, argnums) -> FunctionCache:
    """The cache shared by every ``transform(f, argnums)`` made from ``f``, so
    ``jitad.grad(f)(x)`` written inline in a loop compiles once."""
    try:
        table = _caches.setdefault(f, {})
    except TypeError:
        table = _unweakrefable.setdefault(f, {})
    name = f"{transform}({getattr(f, '__qualname__', repr(f))}"
    name += f", argnums={argnums})" if transform not in ("jit", "vjp") else ")"
    return table.setdefault((transform, argnums), FunctionCache(name))
