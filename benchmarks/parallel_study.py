"""Threads: gradients with ``parallel=True`` at 1 and 2 threads, and the machine's ceiling.

Two gradients, each with ``parallel=True`` against the serial kernel
(``parallel=False``): the Rosenbrock gradient at n = 10**7, and the
per-example gradients of the 2-layer network's loss over a batch of 64
(``jitad.vmap(jitad.grad(loss), in_axes=(None, 0, 0))``, scale_cases.py's
sizes), both checked against their exact gradients.

numba fixes its thread count when it starts (NUMBA_NUM_THREADS), so each
thread count runs in a fresh subprocess with NUMBA_NUM_THREADS set. This is
the one measurement that is not pinned to one CPU: the child widens its CPU
affinity to every CPU of the machine, since a second thread on the same CPU
measures nothing. On a machine shared with other work the 2-thread times are
the noisiest numbers of the suite, so each child also times two fixed pieces
of work written directly in numba with ``prange``: ``compute`` (arithmetic
that touches no memory) and ``memory`` (the store loop of the per-example
gradient's largest output, (64, 1000, 100), into a new array, as jitad's
kernel does). Their speedup from 1 to 2 threads is what the CPUs and the
memory system gave at the time: the ceiling for the gradients. Each child
times everything in interleaved rounds (medians); the children alternate
between the thread counts, and each row is the median over its children.

Runs only where jitad has ``parallel=`` (DESIGN.md, v0.2); otherwise the
study is skipped with a note that says so.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

SIZES = {"full": 10_000_000, "quick": 100_000}
THREADS = (1, 2)
CHILDREN_PER_COUNT = {"full": 3, "quick": 1}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# what each child times, by name: its warm median is reported as NAME_warm_s
TIMED = ("parallel", "serial", "per_example_parallel", "per_example_serial", "compute", "memory",
         "stream")

CHILD = """
import json, os, sys
try:
    os.sched_setaffinity(0, range(os.cpu_count()))  # unpinned: this row measures threads
except (AttributeError, OSError):
    pass
import numba
import numpy as np
import jitad
from jitad.backend.runtime import huge_pages
from benchmarks import cases, scale_cases, timing
n, repeats, target, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]


@numba.njit(parallel=True, nogil=True, cache=False)
def compute(k):
    # arithmetic that touches no memory: what the CPUs give
    total = 0.0
    for i in numba.prange(k):
        s = float(i)
        for _ in range(64):
            s = np.sqrt(s + 1.0)
        total += s
    return total


@numba.njit(parallel=True, nogil=True, cache=False)
def memory(a, b):
    # the per-example gradient's largest store loop, into a new array on huge
    # pages as jitad's kernels allocate it: what memory gives
    out = huge_pages(np.empty((a.shape[0], a.shape[1], b.shape[1])))
    for i in numba.prange(a.shape[0]):
        for j in range(a.shape[1]):
            for k in range(b.shape[1]):
                out[i, j, k] = a[i, j] * b[i, k]
    return out


@numba.njit(parallel=True, nogil=True, cache=False)
def stream(x):
    # the Rosenbrock gradient's memory traffic (read x, write a new array of
    # its size) and nothing else: what memory gives to that gradient
    out = huge_pages(np.empty(x.shape[0]))
    for i in numba.prange(x.shape[0]):
        out[i] = 2.0 * x[i]
    return out


def relative_error(got, exact):
    if isinstance(exact, dict):
        return max(relative_error(got[key], exact[key]) for key in exact)
    return float(np.max(np.abs(got - exact)) / np.max(np.abs(exact)))


x = cases.uniform_args(n, -1.0, 1.5)()[0]
batch, d_in, hidden, d_out = scale_cases.SIZES[mode]
network_args = cases.network_args(batch, d_in, hidden, d_out)()
report = {"threads": int(os.environ["NUMBA_NUM_THREADS"]), "affinity": len(os.sched_getaffinity(0))}
timed = {}
for name, parallel in (("parallel", True), ("serial", False)):
    g = jitad.grad(cases.rosenbrock(np), parallel=parallel)
    result, report[name + "_first_call_s"] = timing.first_call(g, (x,))
    g.cache.wait()
    report[name + "_max_rel_error"] = relative_error(g(x), cases.rosenbrock_gradient(x))
    timed[name] = (g, (x,), 1.0)
    per_example = jitad.vmap(jitad.grad(cases.network(np)), in_axes=(None, 0, 0),
                             parallel=parallel)
    per_example(*network_args)
    per_example.cache.wait()
    report["per_example_" + name + "_max_rel_error"] = relative_error(
        per_example(*network_args), scale_cases.per_example_exact(*network_args))
    timed["per_example_" + name] = (per_example, network_args, 1.0)
rows = network_args[1]
timed["compute"] = (compute, (50_000,), 1.0)
timed["memory"] = (memory, (rows, rows[:, :hidden]), 1.0)
timed["stream"] = (stream, (x,), 1.0)
for fn, args, _ in (timed["compute"], timed["memory"], timed["stream"]):
    fn(*args)
samples = timing.interleaved_medians(timed, repeats, target)
for name in timed:
    report[name + "_warm_s"] = timing.median(samples[name])
print(json.dumps(report))
"""


def missing() -> str:
    """Why the study cannot run here ("" when it can)."""
    import jitad
    try:
        jitad.grad(lambda x: x, parallel=True)
    except TypeError as error:
        return (f"jitad.grad does not take parallel= yet ({error}); DESIGN.md v0.2 adds "
                "jitad.grad(f, parallel=True)")
    return ""


def _child(threads, n, mode, settings) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), JITAD_COMPILE="sync",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    finished = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(settings["repeats"]), str(settings["target"]),
         mode], env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if finished.returncode != 0:
        raise RuntimeError(f"parallel study child ({threads} threads) failed: "
                           f"{finished.stderr.strip()[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def study(quick: bool, settings, progress) -> dict:
    mode = "quick" if quick else "full"
    n = SIZES[mode]
    progress(f"parallel study: Rosenbrock n = {n:,} and per-example gradients, threads {THREADS}")
    children = {threads: [] for threads in THREADS}
    for round_index in range(CHILDREN_PER_COUNT[mode]):
        order = THREADS[::-1] if round_index % 2 else THREADS
        for threads in order:
            children[threads].append(_child(threads, n, mode, settings))
    rows = []
    for threads, runs in children.items():
        row = {"threads": threads, "children": runs, "affinity_cpus": runs[0]["affinity"],
               "parallel_first_call_s": statistics.median(r["parallel_first_call_s"] for r in runs)}
        for name in TIMED:
            row[name + "_warm_s"] = statistics.median(run[name + "_warm_s"] for run in runs)
        row["max_rel_error"] = max(max(run["parallel_max_rel_error"], run["serial_max_rel_error"])
                                   for run in runs)
        row["per_example_max_rel_error"] = max(
            max(run["per_example_parallel_max_rel_error"], run["per_example_serial_max_rel_error"])
            for run in runs)
        rows.append(row)
        progress(f"    {threads} thread(s): " + ", ".join(
            f"{name} {row[name + '_warm_s']:.3g} s" for name in TIMED))
    one, many = rows[0], rows[-1]
    speedups = {name: one[name + "_warm_s"] / many[name + "_warm_s"] for name in TIMED}
    # against the best one-thread gradient: the serial kernel, or parallel=True at 1 thread
    for name in ("", "per_example_"):
        best_one = min(one[name + "parallel_warm_s"], one[name + "serial_warm_s"])
        speedups[name + "gradient"] = best_one / many[name + "parallel_warm_s"]
    return {"n": n, "rows": rows, "speedups": speedups, "threads": many["threads"],
            "per_example_size": dict(zip(("batch", "d_in", "hidden", "d_out"),
                                         _per_example_size(mode)))}


def _per_example_size(mode):
    from .scale_cases import SIZES as PER_EXAMPLE_SIZES
    return PER_EXAMPLE_SIZES[mode]


GOAL = 1.7  # issue 16: both gradients at 1.7x the one-thread speed on 2 cores


def markdown(study) -> list:
    """The section of results.md: report.py's Rosenbrock table, then the rest."""
    from .report import error, parallel_section, seconds
    size, s, threads = study["per_example_size"], study["speedups"], study["threads"]
    rows = study["rows"]
    lines = parallel_section(study)
    lines += ["", f"Per-example gradients of the 2-layer network's loss, batch {size['batch']} "
              f"(D_in={size['d_in']}, H={size['hidden']}, D_out={size['d_out']}), "
              "`jitad.vmap(jitad.grad(loss), in_axes=(None, 0, 0), parallel=...)`, and the "
              "ceiling: fixed work written in numba with `prange` (compute: arithmetic only; "
              "memory: the per-example gradient's largest store loop, into a new array), in "
              "the same rounds of the same children.", "",
              "| NUMBA_NUM_THREADS | per-example parallel=True | per-example serial | "
              "compute (ceiling) | memory (ceiling) | per-example max rel. error |",
              "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['threads']} | {seconds(row['per_example_parallel_warm_s'])} | "
                     f"{seconds(row['per_example_serial_warm_s'])} | "
                     f"{seconds(row['compute_warm_s'])} | {seconds(row['memory_warm_s'])} | "
                     f"{error(row['per_example_max_rel_error'])} |")
    lines += ["", f"Speedup at {threads} threads over the best one-thread gradient (the serial "
              f"kernel or parallel=True at 1 thread), goal {GOAL}x: Rosenbrock "
              f"**{s['gradient']:.2f}x**, per-example **{s['per_example_gradient']:.2f}x**. "
              f"parallel=True against itself at 1 thread: Rosenbrock {s['parallel']:.2f}x, "
              f"per-example {s['per_example_parallel']:.2f}x. The ceiling at the time: compute "
              f"{s['compute']:.2f}x, memory {s['memory']:.2f}x, and a stream of the Rosenbrock "
              f"gradient's reads and writes alone (`y[i] = 2 * x[i]` into a new array, "
              f"{seconds(rows[0]['stream_warm_s'])} at one thread) {s['stream']:.2f}x."]
    return lines
