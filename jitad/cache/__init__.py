"""Compiled kernels by cache key, and the statistics that make recompiles visible.

A key is a frozen, hashable value: per argument leaf its shape and dtype, or
its value for static leaves (``leaf_key``), with the tree structure when the
arguments have containers (``TreeKey``). The function, transform and argnums
select the ``FunctionCache`` itself, so two keys of one function never mix
transforms. A mismatch makes a new entry; an entry is never reused for other
shapes.

This module owns lookup, insertion and the counters; the dispatcher decides
when to trace and compile. ``jitad.grad(f).cache`` (every transformed
function has ``.cache``) shows the entries and the counts of traces,
compiles, compile seconds, hits and re-traces.

Counters are plain ``+= 1`` on attributes, or on a closure cell in a fast
run (``calling.make_fast_run``; ``hits`` and ``Entry.calls`` add those up):
exact under the GIL, since no thread switch can fall between the load and
the store of such an update (tests/test_threads.py checks it under
contention).
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from ..backend import diskcache
from ..calling import chained
from ..reads import ReadSet

MAX_VARIANTS = 8      # kernels kept per shape key (one per path through guards)
RETRACE_WARNING = 4   # re-traces of one key before RetraceWarning


@dataclass
class Entry:
    """One compiled specialisation: how to call its kernel and shape its results."""

    key: tuple
    kernel: object  # backend.compile.Kernel or backend.interpreter.InterpretedKernel
    graph: object   # the transformed graph the kernel computes
    run: object     # run(leaves) -> user-facing result
    served: int = 0  # calls ``run`` served (the first, and hits by lookup)
    # part -> the entry's fast run (``calling.make_fast_run``) of that part of
    # the result (None: all of it), for an entry of Python floats whose kernel
    # is final; None for any other entry
    fast: object = None
    fast_runs: dict = field(default_factory=dict, repr=False)

    def fast_run(self, part):
        """The fast run of this part of the result, generated once."""
        run = self.fast_runs.get(part)
        if run is None:
            run = self.fast_runs[part] = self.fast(part)
            run.entry = self  # whose guard failed, should it fail
        return run

    @property
    def fast_calls(self) -> int:
        return sum(run.calls() for run in list(self.fast_runs.values()))

    @property
    def calls(self) -> int:
        return self.served + self.fast_calls


class FastSlot:
    """What one public function calls first: ``run``, the fast run of the
    entry of Python floats last served (``Entry.fast_run``), or None. ``part``:
    the index of the result the function returns (1 for grad), or None."""

    __slots__ = ("part", "run")

    def __init__(self, part):
        self.part, self.run = part, None


class Variants(list):
    """The entries of one shape key, most recently used first: a function
    whose control flow depends on values has one per path taken, each
    guarded. ``retraces`` counts the traces a failed guard caused."""

    retraces = 0


@dataclass
class FunctionCache:
    """The kernels of one (function, transform, argnums).

    At most ``MAX_VARIANTS`` variants are kept per key (least recently used
    out); the dispatcher warns (``RetraceWarning``) once a key has been
    re-traced ``RETRACE_WARNING`` times.
    """

    name: str
    entries: dict = field(default_factory=dict)
    traces: int = 0
    compiles: int = 0
    lookup_hits: int = 0     # hits served by the dispatcher's lookup
    forgotten_hits: int = 0  # hits of fast runs of entries since dropped
    # what the function reads from outside its arguments, as traces found it
    reads: ReadSet = field(default_factory=ReadSet, repr=False)
    # held while a kernel for this function is traced and compiled, so
    # concurrent first calls compile it once
    lock: object = field(default_factory=threading.RLock, repr=False)
    # kernels being compiled in the background (``jitad.compiler``)
    jobs: list = field(default_factory=list, repr=False)
    # this function's kernel sources by family, for kernels that serve every
    # size (``jitad.backend.sizes``)
    families: dict = field(default_factory=dict, repr=False)
    # by result part: the fast slot every public function of this cache calls
    fast_slots: dict = field(default_factory=dict, repr=False)

    def fast_slot(self, part) -> FastSlot:
        with self.lock:
            return self.fast_slots.setdefault(part, FastSlot(part))

    def install_fast(self, key, entry, slot: FastSlot):
        """Make ``entry``, which just served a call of ``key``, the one the slot
        runs first, if it is still the key's first variant and nothing is
        read; the key's other variants with fast runs follow it."""
        with self.lock:
            variants = self.entries.get(key)
            if not self.reads.reads and variants and variants[0] is entry:
                slot.run = chained([v.fast_run(slot.part) for v in variants
                                    if v.fast is not None])

    def drop_fast(self):
        """The fast slots run nothing: entries, their order, or the reads
        changed (the next call of floats installs again)."""
        for slot in self.fast_slots.values():
            slot.run = None

    def wait(self, timeout=None) -> bool:
        """Wait until every kernel of this function is compiled (while they
        compile, calls run on the NumPy interpreter); False on a timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self.jobs):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.finished.wait(left):
                return False
        self.jobs = [job for job in self.jobs if not job.finished.is_set()]
        return True

    @property
    def hits(self) -> int:
        """Calls a cached kernel served: by lookup, and by fast runs."""
        return self.lookup_hits + self.forgotten_hits + sum(
            e.fast_calls for v in list(self.entries.values()) for e in list(v))

    @property
    def retraces(self) -> int:
        return sum(v.retraces for v in self.entries.values())

    @property
    def compile_seconds(self) -> float:
        return sum(e.kernel.compile_seconds for v in self.entries.values() for e in v)

    def variants(self, key) -> Variants | None:
        return self.entries.get(key)

    def learn(self, outside) -> ReadSet:
        """Add what a trace read from outside the arguments (``tracer.Outside``)
        to the reads fetched on every call; the new set."""
        reads = self.reads.union(list(outside.reads) + [r for r, _ in outside.static_reads],
                                 outside.escaped)
        if reads is not self.reads:
            self.drop_fast()
        self.reads = reads
        return reads

    def insert(self, key, entry: Entry, retrace: bool) -> Variants:
        """Put a new entry first among its key's variants (dropping the least
        recently used beyond MAX_VARIANTS); count the compile and re-trace."""
        variants = self.entries.get(key)
        if variants is None:
            variants = self.entries[key] = Variants()
        if variants:  # a fast run of this key may be of a variant about to go
            self.drop_fast()
        variants.insert(0, entry)
        self.forgotten_hits += sum(e.fast_calls for e in variants[MAX_VARIANTS:])
        del variants[MAX_VARIANTS:]
        # a size-generic kernel built for an earlier size compiles nothing
        self.compiles += not getattr(entry.kernel, "reused", False)
        variants.retraces += retrace
        return variants

    def promote(self, variants: Variants, k: int) -> Entry:
        """Variant k served a call: it moves first (most recently used)."""
        entry = variants[k]
        if k:
            with self.lock:
                if k < len(variants) and variants[k] is entry:
                    self.drop_fast()
                    variants.insert(0, variants.pop(k))
        return entry

    def clear(self):
        with self.lock:
            self.drop_fast()
            self.forgotten_hits += sum(e.fast_calls for v in self.entries.values() for e in v)
            self.entries.clear()

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
            kind = ("size-generic kernel of an earlier size" if all(
                getattr(e.kernel, "reused", False) for e in variants) else
                f"compiled in {seconds:.3f} s" + (", size-generic" if any(
                    getattr(e.kernel, "generic", False) for e in variants) else ""))
            lines.append(f"  {describe_key(key, self.reads)}: {calls} calls, {kind}{more}")
        return "\n".join(lines)


# ------------------------------------------------------------------ keys

def leaf_key(leaf):
    """The part of the cache key one argument leaf contributes."""
    kind = type(leaf)
    if kind is float:
        return float
    if kind is np.ndarray:
        return (leaf.shape, leaf.dtype.str)
    if isinstance(leaf, np.generic):  # a scalar, which x += 1 rebinds: not a 0-d array
        return ("scalar", leaf.dtype.str)
    if leaf is None or kind in (bool, int, str):
        return ("static", leaf)
    raise TypeError(f"jitad cannot take an argument of type {kind.__name__}; pass floats, "
                    "NumPy arrays, or tuples/lists/dicts of them")


def flat_key(args):
    """The key of a call whose arguments are all floats and arrays (the
    common case, keyed without flattening), or None. Run on every call: an
    array is keyed by its dtype object (``dtype.str`` builds a string, which
    costs more than the rest of the key)."""
    key = []
    for a in args:
        kind = type(a)
        if kind is float:
            key.append(float)
        elif kind is np.ndarray:
            key.append((a.shape, a.dtype))
        else:
            return None
    return tuple(key)


@dataclass(frozen=True)
class TreeKey:
    """The key of a call whose arguments have containers or extra inputs;
    a call of plain floats and arrays is keyed by the tuple of leaf keys."""

    treedef: object
    leaf_keys: tuple


@dataclass(frozen=True)
class WithReads:
    """The key of a call of a function that reads values from outside its
    arguments: the arguments' key and one part per read (``reads.key_of``)."""

    key: object
    reads: tuple


def _describe_part(k) -> str:
    if k is float:
        return "float"
    if k[0] == "static":
        return repr(k[1])
    if k[0] == "scalar":  # a NumPy scalar argument (leaf_key), not a 0-d array
        return f"np.{np.dtype(k[1]).name}"
    if k[0] == "content":
        return f"constant {np.dtype(k[2]).name}{list(k[1])}"
    if k[0] == "other":
        return k[1].__name__
    return f"{np.dtype(k[1]).name}{list(k[0])}"


def describe_key(key, reads=None) -> str:
    """``(float64[3], float)``, and what was read: ``reading global data: float64[3]``."""
    text = ""
    if isinstance(key, WithReads):
        names = [r.describe() for r in reads.reads] if reads is not None else []
        parts = [f"{name}: {_describe_part(k)}" for name, k in zip(names, key.reads)]
        text, key = f" reading {', '.join(parts)}", key.key
    leaf_keys = key.leaf_keys if isinstance(key, TreeKey) else key
    return "(" + ", ".join(map(_describe_part, leaf_keys)) + ")" + text


# --------------------------------------------------------- per function

_caches: "weakref.WeakKeyDictionary | dict" = weakref.WeakKeyDictionary()
_unweakrefable: dict = {}
_registry_lock = threading.Lock()


def cache_for(f, transform: str, argnums, parallel=None) -> FunctionCache:
    """The cache shared by every ``transform(f, argnums)`` made from ``f``, so
    ``jitad.grad(f)(x)`` written inline in a loop compiles once."""
    with _registry_lock:
        try:
            table = _caches.setdefault(f, {})
        except TypeError:
            table = _unweakrefable.setdefault(f, {})
        name = f"{transform}({getattr(f, '__qualname__', repr(f))}"
        name += f", argnums={argnums}" if transform not in ("jit", "vjp", "jvp") else ""
        name += ")" if parallel is None else f", parallel={parallel})"
        return table.setdefault((transform, argnums, parallel), FunctionCache(name))


# ----------------------------------------------------------- clearing

def cache_clear() -> int:
    """Forget every compiled kernel: the in-memory entries of every
    transformed function, the kernel modules loaded in this process, and the
    files of the disk cache. Returns the number of files removed.

    >>> import jitad
    >>> jitad.cache_clear() >= 0
    True
    """
    with _registry_lock:
        tables = list(_caches.values()) + list(_unweakrefable.values())
    for table in tables:
        for function_cache in table.values():
            function_cache.clear()
    for name in [n for n in sys.modules if n.startswith("jitad_kernel_")]:
        del sys.modules[name]
    return diskcache.clear()


def main(argv=None) -> int:
    """``python -m jitad.cache [--info | --clear]``: where the kernel cache is,
    how big, and emptying it."""
    parser = argparse.ArgumentParser(prog="python -m jitad.cache", description=main.__doc__)
    parser.add_argument("--clear", action="store_true", help="remove every cached kernel")
    parser.add_argument("--info", action="store_true", help="show the directory and its size "
                        "(the default)")
    args = parser.parse_args(argv)
    if args.clear:
        print(f"removed {cache_clear()} files from {diskcache.configured()}")
        return 0
    info = diskcache.info()
    print(f"jitad kernel cache: {info['directory']}\n"
          f"  writable: {'yes' if info['writable'] else 'no (kernels compile in memory)'}\n"
          f"  kernels:  {info['kernels']}\n  size:     {info['bytes'] / 1e6:.1f} MB")
    return 0
