"""Cost against trace length, and the cost of a guard (issue 5).

1. A scalar loop, ``x = sin(x)*1.01 + 0.1*x`` unrolled 10 .. 100,000 times
   by the tracer: jitad's first call (trace, adjoint transform, then compile
   or encode), the part of it spent compiling, the warm call, and the warm
   cost per op of the gradient graph. By default the unrolled steps are
   re-rolled into one compiled loop (``jitad.reroll``), so the first call
   stays flat in the length. With re-rolling off, graphs above
   ``jitad.backend.interpreter.INTERPRET_ABOVE`` scalar ops run on the op-table
   interpreter; for the shorter lengths the same gradient is also forced
   through straight-line compiled code, which shows why both exist.
2. Guards: a warm gradient of a loop whose every step branches on a value
   (``if y > -1``, so a guard each step) against the same loop without the
   branch; the difference per guard is what checking a guard costs. And the
   warm call when inputs alternate between two paths, both already compiled.
"""
from __future__ import annotations

import contextlib

import numpy as np

from . import timing
from .cases import scalar_loop

STEPS = {"full": (10, 100, 1_000, 10_000, 100_000), "quick": (10, 100)}
STRAIGHT_LINE_STEPS = {"full": (40, 100, 300), "quick": (40,)}  # above the threshold
GUARDS = 100


def guarded_loop(x):
    y = x
    for _ in range(GUARDS):
        y = np.sin(y) * 0.5 if y > -1.0 else np.cos(y)  # the comparison records a guard
    return y


def unguarded_loop(x):
    y = x
    for _ in range(GUARDS):
        y = np.sin(y) * 0.5
    return y


def two_paths(x):
    return np.sin(x) * 2.0 if x > 0.0 else np.cos(x) * 3.0


@contextlib.contextmanager
def _setting(module, name, value):
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def unrolled():
    """Unrolled loops stay unrolled (no re-rolling into a scan)."""
    from jitad import reroll
    return _setting(reroll, "MIN_STEPS", float("inf"))


def straight_line_only():
    """Every graph compiled as straight-line source, however long."""
    from jitad.backend import interpreter
    return _setting(interpreter, "INTERPRET_ABOVE", float("inf"))


def _loop_row(steps, settings, progress):
    import jitad
    from jitad.backend.interpreter import InterpretedKernel
    g = jitad.grad(scalar_loop(np, steps))
    _, first = timing.first_call(g, (0.3,))
    g.cache.wait()  # warm calls time the kernel, not NumPy answering while it compiles
    (entry,) = (variants[0] for variants in g.cache.entries.values())
    if any(op.primitive.name == "scan" for op in entry.graph.ops):
        backend = "re-rolled loop"
    else:
        backend = "interpreter" if isinstance(entry.kernel, InterpretedKernel) else "compiled"
    warm = timing.median(timing.interleaved_medians({"g": (g, (0.3,), 1.0)}, settings["repeats"],
                                                    settings["target"])["g"])
    ops = len(entry.graph.ops)
    row = {"steps": steps, "gradient_ops": ops, "backend": backend, "first_call_s": first,
           "compile_s": g.cache.compile_seconds, "warm_s": warm, "warm_ns_per_op": warm / ops * 1e9}
    progress(f"    {steps:>7,} steps, {ops:>7,} ops, {backend:<11} first call {first:.3g} s, "
             f"warm {row['warm_ns_per_op']:.3g} ns/op")
    return row


def trace_length_rows(mode, settings, progress):
    rows = [_loop_row(steps, settings, progress) for steps in STEPS[mode]]
    with unrolled():
        rows += [_loop_row(steps, settings, progress) for steps in STEPS[mode]]
        with straight_line_only():
            rows += [_loop_row(steps, settings, progress) for steps in STRAIGHT_LINE_STEPS[mode]]
    return rows


def _guards_checked(graph) -> int:
    """The guards a call of the graph checks: a scan's body's, once a step."""
    return sum(op.primitive.name == "guard" for op in graph.ops) + sum(
        op.params["length"] * _guards_checked(op.params["body"])
        for op in graph.ops if op.primitive.name == "scan")


def guard_costs(settings):
    import jitad
    guarded, plain, switching = (jitad.grad(f) for f in (guarded_loop, unguarded_loop, two_paths))
    for g in (guarded, plain):
        g(0.3)
    switching(0.5), switching(-0.5)  # both paths compiled
    for g in (guarded, plain, switching):
        g.cache.wait()  # timed on the kernels, not on NumPy answering while they compile
    def alternate():
        return switching(0.5), switching(-0.5)
    samples = timing.interleaved_medians(
        {"guarded": (guarded, (0.3,), 1.0), "plain": (plain, (0.3,), 1.0),
         "alternating": (alternate, (), 0.5), "one path": (switching, (0.5,), 1.0)},
        settings["repeats"], settings["target"])
    warm = {name: timing.median(s) for name, s in samples.items()}
    (entry,) = (variants[0] for variants in guarded.cache.entries.values())
    guard_ops = _guards_checked(entry.graph)
    return {"guards": GUARDS, "guard_ops_in_kernel": guard_ops,
            "guarded_warm_s": warm["guarded"], "plain_warm_s": warm["plain"],
            "per_guard_s": (warm["guarded"] - warm["plain"]) / guard_ops,
            "one_path_warm_s": warm["one path"], "alternating_warm_s": warm["alternating"],
            "retraces": switching.cache.retraces}


def study(mode, settings, progress):
    from jitad.backend.interpreter import INTERPRET_ABOVE
    progress("trace-length study")
    return {"interpret_above": INTERPRET_ABOVE,
            "loop": trace_length_rows(mode, settings, progress), "guards": guard_costs(settings)}
