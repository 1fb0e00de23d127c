"""Calls of one transformed function: look up, run, or trace-transform-compile.

A ``Dispatcher`` holds one transform (``build``: primal graph -> transformed
graph and result template) of one function. On a call it keys the arguments
(``cache.flat_key`` for plain floats and arrays, else the flattened tree),
runs the cached kernel, and on a miss traces, transforms, compiles and
inserts. A kernel whose guards fail (the inputs take another path through
the user's Python) raises ``GuardFailure``; the dispatcher tries the key's
other variants, else traces the new path: that is the whole guard policy.
Called on tracers (inside another transform) it compiles nothing: it inlines
the transformed graph into the enclosing trace, which is how transforms nest.
A warm call of Python floats never gets here: a hit of such a key fills the
public function's fast slot (``cache.FastSlot``), which serves the next ones.
"""
from __future__ import annotations

import contextlib
import gc
import inspect
import warnings

import numba
import numpy as np

from . import transforms, tree
from .backend import lower
from .cache import (MAX_VARIANTS, RETRACE_WARNING, Entry, TreeKey, WithReads, cache_for, flat_key,
                    leaf_key)
from . import compiler
from .calling import Layout, fill, kernel_arguments, make_fast_run, make_run
from .errors import GuardFailure, RetraceWarning
from .ir import Lit
from .loops import simplified_bodies
from .reads import ReadSet
from .reroll import reroll
from .state import active_builders, is_tracer
from .tracer import is_static
from .tracer import trace as trace_graph


def arg_names(f) -> list:
    """The names of f's positional parameters (labels in printed traces)."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def normalise_argnums(argnums) -> tuple:
    if isinstance(argnums, (int, np.integer)):
        return (int(argnums),)
    if not isinstance(argnums, (tuple, list)) or \
            not all(isinstance(i, (int, np.integer)) for i in argnums):
        raise TypeError(f"argnums must be an int or a tuple of ints (positions of f's "
                        f"arguments), got {argnums!r}")
    return tuple(int(i) for i in argnums)


def _prepared(graph):
    """The traced graph as the transforms take it: Python loops the trace
    unrolled become loops again, then common subexpressions merge (a value
    the user computed twice, x[:-1] in two places, then gets one adjoint).
    Re-rolling first means simplification sees one step of a long loop, not
    every step: it was 40% of the first call of a 1,000-step RK4 loss."""
    return transforms.simplify(simplified_bodies(reroll(graph)))


class Dispatcher:
    """Calls of one transform of one function, by cache key."""

    def __init__(self, f, transform, argnums, build, differentiates_all=False, parallel=None):
        """``argnums`` as the user gave it: ``0`` and ``(0,)`` differ in result
        structure, so they are different caches. ``differentiates_all``: the
        transform differentiates every traced argument (vjp, jvp).
        ``parallel``: True, False, or None (when numba has several threads)."""
        self.f, self.build = f, build
        self.differentiates_all = differentiates_all
        self.parallel = parallel
        self.argnums = () if argnums is None else normalise_argnums(argnums)
        self.cache = cache_for(f, transform, argnums, parallel)
        self.arg_names = arg_names(f)
        self.slot = None  # the public function's ``cache.FastSlot`` (``api._wrap``)

    @property
    def reads(self) -> ReadSet:
        """What f reads from outside its arguments, as traces found it: one
        set per function cache, fetched on every call."""
        return self.cache.reads

    def _key(self, args, extra):
        """(key, leaves, read values), or (None, leaves, None) for a call on
        tracers (inside another trace)."""
        key, leaves = (flat_key(args), args) if extra is None else (None, None)
        if key is None:
            leaves, treedef = tree.flatten(args if extra is None else (args, extra))
            try:
                key = TreeKey(treedef, tuple(map(leaf_key, leaves)))
            except TypeError:
                if any(map(is_tracer, leaves)):
                    return None, leaves, None
                raise
        if not self.cache.reads.reads:
            return key, leaves, ()
        values, read_key = self.cache.reads.fetch()
        return WithReads(key, read_key), leaves, values

    def __call__(self, args, extra=None):
        """``extra``: kernel inputs that are not arguments of f (the cotangent
        of vjp, the tangents of jvp). A call of Python floats served here
        fills the public function's fast slot (``self.slot``)."""
        cache = self.cache
        if extra is None and not cache.reads.reads:
            # the common case, in as few steps as Python allows: flat_key
            # inlined (the call would cost more than its loop)
            parts = []
            for a in args:
                kind = type(a)
                if kind is float:
                    parts.append(float)
                elif kind is np.ndarray:
                    parts.append((a.shape, a.dtype))
                else:
                    break
            else:
                key = tuple(parts)
                variants = cache.entries.get(key)
                if variants is not None:
                    entry = variants[0]
                    try:
                        result = entry.run(args, ())
                    except GuardFailure:
                        return self._other_path(key, variants, args, extra, args, (), entry)
                    cache.lookup_hits += 1
                    entry.served += 1
                    if entry.fast is not None and self.slot is not None and self.slot.run is None:
                        cache.install_fast(key, entry, self.slot)
                    return result
        key, leaves, values = self._key(args, extra)
        if key is None:
            return self._inline(args, extra, leaves)
        variants = self.cache.variants(key)
        if variants is None:
            return self._compile(args, extra)
        try:
            result = variants[0].run(leaves, values)
        except GuardFailure:
            return self._other_path(key, variants, args, extra, leaves, values, variants[0])
        self.cache.lookup_hits += 1
        variants[0].served += 1
        return result

    def guard_failed(self, args, failed):
        """A fast run's guard failed (``cache.FastSlot``): the other paths."""
        key = flat_key(args)
        variants = self.cache.variants(key)
        if variants is None or self.cache.reads.reads:  # cleared, or reads since
            return self(args)
        return self._other_path(key, variants, args, None, args, (), failed)

    def _other_path(self, key, variants, args, extra, leaves, values, failed):
        """The guard of entry ``failed`` failed: the inputs take another path
        through the function. Try the other cached variants, else trace this
        path anew."""
        for k, entry in enumerate(list(variants)):
            if entry is failed:
                continue
            try:
                result = entry.run(leaves, values)
            except GuardFailure:
                continue
            self.cache.promote(variants, k)
            self.cache.lookup_hits += 1
            entry.served += 1
            if entry.fast is not None and extra is None and self.slot is not None:
                # the slot tries this path first now, then the others
                self.cache.install_fast(key, entry, self.slot)
            return result
        return self._compile(args, extra, retrace=True)

    def _transformed(self, args, extra, leaves):
        graph, out_treedef, outside = trace_graph(self.f, args, self.arg_names, reads=True)
        self.cache.traces += 1
        graph = _prepared(graph)
        layout = Layout(args, list(leaves[:len(leaves) - _count_leaves(extra)]), self.argnums)
        wrt = range(len(layout.traced)) if self.differentiates_all else layout.wrt
        taken = transforms.floats_taken_from(graph, list(wrt))
        if taken:
            self._check_floats_stay_out(args, graph, outside, taken)
        tgraph, template = self.build(graph, layout, out_treedef)
        return tgraph, template, outside

    def _check_floats_stay_out(self, args, graph, outside, taken):
        """Floats taken out of differentiated values (float(), .item(), a
        math function) are safe where they only steer control flow, and lose
        a term of the derivative where they flow into the result. Trace again
        with them moved slightly: if the computation changes, say where."""
        for k in taken:
            moved = trace_graph(self.f, args, self.arg_names, reads=True, perturb={k})[0]
            if not same_computation(graph, _prepared(moved)):
                what, site = outside.float_sites[k]
                raise TypeError(
                    f"{what} of a traced value that depends on the differentiated input, at "
                    f"{site}, flows into the result: the Python number it makes is a constant "
                    "to jitad, so the derivative would leave that path out. Compute it with "
                    "NumPy on the array instead: if you called a `math` function use its "
                    "NumPy twin (np.sin, not math.sin); to cut the gradient on purpose use "
                    "jitad.stop_gradient. A number used only to choose a branch or a loop "
                    "count is fine.")

    def _compile(self, args, extra, retrace=False):
        """Trace, transform, compile; cache the entry; return this call's result."""
        with self.cache.lock:
            key, leaves, values = self._key(args, extra)
            if not retrace and self.cache.variants(key) is not None:
                return self(args, extra)  # another thread compiled it meanwhile
            with _collector_paused():
                tgraph, template, outside = self._transformed(args, extra, leaves)
                if outside.captured:  # f closes over a value of an enclosing trace
                    return self._emit(tgraph, template, outside, leaves, extra)
                kernel = lower(tgraph, parallel=_parallel(self.parallel),
                               families=self.cache.families)
            reads = self.cache.learn(outside)
            key, leaves, values = self._key(args, extra)  # with what this trace read
            n_args = len(leaves) - _count_leaves(extra)
            traced = [i for i, leaf in enumerate(leaves) if not is_static(leaf)]
            slots = [(reads.index[r.identity], values[reads.index[r.identity]])
                     for r in outside.reads]

            # the fast path (``calling.make_fast_run``) takes Python floats only
            fast = extra is None and isinstance(key, tuple) and all(k is float for k in key)

            def finish(entry, kernel):
                """The entry's runs, now that its kernel is final (a fast slot
                takes an entry's fast run only once it has one)."""
                fn = kernel.fast_call()
                floats = getattr(kernel, "python_float_outputs", frozenset)()
                status = getattr(kernel, "status", False)  # an interpreter's guards raise
                entry.run = make_run(fn, leaves, traced, template, kernel.consts, reads=slots,
                                     n_args=n_args, python_floats=floats, status=status)
                if fast:
                    entry.fast = lambda part: make_fast_run(
                        fn, len(leaves), template if part is None else template[part],
                        kernel.consts, floats, status)
            if compiler.mode() == "background" and not _ready(kernel):
                # the NumPy interpreter serves the calls while numba compiles
                run = make_run(compiler.interpreted(tgraph), leaves, traced, template,
                               reads=slots, n_args=n_args)
                result = run(leaves, values)
                entry = Entry(key, kernel, tgraph, run, served=1)
                variants = self.cache.insert(key, entry, retrace)
                arguments = kernel_arguments(leaves, values, traced, slots, n_args)
                self.cache.jobs.append(compiler.submit(
                    kernel, arguments, lambda k: finish(entry, k), self.cache.name))
            else:
                with compiler.progress(self.cache.name, f"{len(tgraph.ops)} ops"):
                    result = make_run(kernel, leaves, traced, template, reads=slots,
                                      n_args=n_args)(leaves, values)  # compiles
                entry = Entry(key, kernel, tgraph, None, served=1)
                finish(entry, kernel)
                variants = self.cache.insert(key, entry, retrace)
            if retrace and variants.retraces == RETRACE_WARNING:
                warnings.warn(f"{self.cache.name} has re-traced {variants.retraces} times for "
                              "one input shape because its control flow depends on input "
                              f"values; each new path compiles a kernel (at most {MAX_VARIANTS} "
                              "are kept per shape). Consider np.where for value-dependent "
                              "choices.", RetraceWarning, stacklevel=4)
        return result

    def _inline(self, args, extra, leaves):
        """Inside another trace: emit the transformed graph into it."""
        return self._emit(*self._transformed(args, extra, leaves), leaves, extra)

    def _emit(self, tgraph, template, outside, leaves, extra):
        """The transformed graph bound into the enclosing trace; what f reads
        from outside becomes a read of that trace too (so its kernel fetches
        it on every call)."""
        enclosing = active_builders()[-1]
        n_args = len(leaves) - _count_leaves(extra)
        traced = [leaf for leaf in leaves if not is_static(leaf)]
        n_traced_args = sum(not is_static(leaf) for leaf in leaves[:n_args])
        for read, value in outside.static_reads:
            enclosing.read(read, value)
        reads = [enclosing.read(r, r.fetch()) for r in outside.reads]
        for tracer in (t for r, t in zip(outside.reads, reads) if r.identity in outside.escaped):
            enclosing.escape(tracer)
        # the transformed graph's inputs: arguments, reads, captured, then extra
        inputs = traced[:n_traced_args] + reads + outside.captured + traced[n_traced_args:]
        return fill(template, transforms.inline(tgraph, inputs))


def _parallel(setting):
    """The backend's ``parallel``: None (the default) is ``"auto"`` (only
    loops large enough that the threads surely pay) where numba has several
    threads."""
    if setting is None:
        return "auto" if numba.get_num_threads() > 1 else False
    return bool(setting)


def _ready(kernel) -> bool:
    """Whether a kernel runs without compiling (the scalar interpreter, or
    machine code in the disk cache)."""
    return getattr(kernel, "machine_code_cached", lambda: True)()


def same_computation(a, b) -> bool:
    """Whether two traces compute the same thing: the same primitives and
    params on the same operands, with equal constants (guards' expected values
    aside: they record the floats that were moved)."""
    if len(a.ops) != len(b.ops) or len(a.inputs) != len(b.inputs) \
            or len(a.outputs) != len(b.outputs):
        return False
    pairs = dict(zip(a.inputs, b.inputs))

    def same(x, y):
        if type(x) is not type(y):
            return False
        if isinstance(x, Lit):
            return x.shape == y.shape and np.array_equal(x.val, y.val)
        return pairs.get(x) is y
    for p, q in zip(a.ops, b.ops):
        if p.primitive is not q.primitive or len(p.inputs) != len(q.inputs):
            return False
        params_p = {k: v for k, v in p.params.items() if not (p.primitive.effect and k == "expected")}
        params_q = {k: v for k, v in q.params.items() if not (q.primitive.effect and k == "expected")}
        if params_p != params_q or not all(map(same, p.inputs, q.inputs)):
            return False
        pairs.update(zip(p.outputs, q.outputs))
    return all(map(same, a.outputs, b.outputs))


@contextlib.contextmanager
def _collector_paused():
    """Building a graph allocates many small objects that all stay alive, so
    Python's cyclic collector would rescan a growing heap for nothing
    (measured: 25-45% of the time of a long trace)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _count_leaves(extra) -> int:
    return 0 if extra is None else len(tree.flatten(extra)[0])
