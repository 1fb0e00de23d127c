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
"""
from __future__ import annotations

import contextlib
import gc
import inspect
import warnings

import numpy as np

from . import transforms, tree
from .backend import lower
from .cache import RETRACE_WARNING, MAX_VARIANTS, Entry, TreeKey, cache_for, flat_key, leaf_key
from .calling import Layout, fill, make_run
from .errors import GuardFailure, RetraceWarning
from .state import is_tracer
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
    return tuple(int(i) for i in argnums)


class Dispatcher:
    """Calls of one transform of one function, by cache key."""

    def __init__(self, f, transform, argnums, build):
        """``argnums`` as the user gave it: ``0`` and ``(0,)`` differ in result
        structure, so they are different caches."""
        self.f, self.build = f, build
        self.argnums = () if argnums is None else normalise_argnums(argnums)
        self.cache = cache_for(f, transform, argnums)
        self.arg_names = arg_names(f)

    def __call__(self, args, extra=None):
        """``extra``: kernel inputs that are not arguments of f (the cotangent
        of vjp, the tangents of jvp)."""
        key, leaves = (flat_key(args), args) if extra is None else (None, None)
        if key is None:
            leaves, treedef = tree.flatten(args if extra is None else (args, extra))
            try:
                key = TreeKey(treedef, tuple(map(leaf_key, leaves)))
            except TypeError:
                if any(map(is_tracer, leaves)):
                    return self._inline(args, extra, leaves)
                raise
        variants = self.cache.variants(key)
        if variants is None:
            return self._compile(key, args, extra, leaves)
        try:
            result = variants[0].run(leaves)
        except GuardFailure:
            return self._other_path(key, variants, args, extra, leaves)
        self.cache.hits += 1
        variants[0].calls += 1
        return result

    def _other_path(self, key, variants, args, extra, leaves):
        """A guard failed: the inputs take another path through the function.
        Try the other cached variants, else trace this path anew."""
        for k, entry in enumerate(list(variants[1:]), start=1):
            try:
                result = entry.run(leaves)
            except GuardFailure:
                continue
            self.cache.promote(variants, k)
            self.cache.hits += 1
            entry.calls += 1
            return result
        return self._compile(key, args, extra, leaves, retrace=True)

    def _transformed(self, args, extra, leaves):
        graph, out_treedef, captured = trace_graph(self.f, args, self.arg_names)
        self.cache.traces += 1
        # CSE first: a value the user computed twice (x[:-1] in two places)
        # then gets one adjoint, accumulated before it is scattered back.
        graph = transforms.simplify(graph)
        layout = Layout(args, list(leaves[:len(leaves) - _count_leaves(extra)]), self.argnums)
        tgraph, template = self.build(graph, layout, out_treedef)
        return tgraph, template, captured

    def _compile(self, key, args, extra, leaves, retrace=False):
        """Trace, transform, compile; cache the entry; return this call's result."""
        with self.cache.lock:
            variants = self.cache.variants(key)
            if variants is not None and not retrace:  # another thread compiled it meanwhile
                return self(args, extra)
            with _collector_paused():
                tgraph, template, captured = self._transformed(args, extra, leaves)
                if captured:  # f closes over a value of an enclosing trace: part of that trace
                    return self._emit(tgraph, template, captured, leaves, extra)
                kernel = lower(tgraph)
            traced = [i for i, leaf in enumerate(leaves) if not is_static(leaf)]
            result = make_run(kernel, leaves, traced, template)(leaves)  # compiles
            run = make_run(kernel.fast_call(), leaves, traced, template, kernel.consts)
            variants = self.cache.insert(key, Entry(key, kernel, tgraph, run, calls=1), retrace)
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

    def _emit(self, tgraph, template, captured, leaves, extra):
        n_args = len(leaves) - _count_leaves(extra)
        traced = [leaf for leaf in leaves if not is_static(leaf)]
        n_traced_args = sum(not is_static(leaf) for leaf in leaves[:n_args])
        # the transformed graph's inputs: argument leaves, captured, then extra
        inputs = traced[:n_traced_args] + captured + traced[n_traced_args:]
        return fill(template, transforms.inline(tgraph, inputs))


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
