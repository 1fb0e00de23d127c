"""Threads: the Rosenbrock gradient at n = 10**7 with ``jitad.grad(f, parallel=True)``.

numba fixes its thread count when it starts (NUMBA_NUM_THREADS), so each
thread count runs in a fresh subprocess with NUMBA_NUM_THREADS set. This is
the one measurement that is not pinned to one CPU: the child widens its CPU
affinity to every CPU of the machine, since a second thread on the same CPU
measures nothing. On a machine shared with other work the 2-thread time is
the noisiest number of the suite; compare it only with the 1-thread time of
the same run. Each child times ``parallel=True`` and the serial
``jitad.grad(f)`` in interleaved rounds and checks both against the exact
gradient; the children alternate between the thread counts.

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

CHILD = """
import json, os, sys
try:
    os.sched_setaffinity(0, range(os.cpu_count()))  # unpinned: this row measures threads
except (AttributeError, OSError):
    pass
import numpy as np
import jitad
from benchmarks import cases, timing
n, repeats, target = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
x = cases.uniform_args(n, -1.0, 1.5)()[0]
exact = cases.rosenbrock_gradient(x)
report = {"threads": int(os.environ["NUMBA_NUM_THREADS"]), "affinity": len(os.sched_getaffinity(0))}
timed = {}
for name, parallel in (("parallel", True), ("serial", False)):
    g = jitad.grad(cases.rosenbrock(np), parallel=parallel)
    result, report[name + "_first_call_s"] = timing.first_call(g, (x,))
    report[name + "_max_rel_error"] = float(np.max(np.abs(result - exact)) / np.max(np.abs(exact)))
    timed[name] = (g, (x,), 1.0)
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


def _child(threads, n, settings) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    finished = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(settings["repeats"]), str(settings["target"])],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if finished.returncode != 0:
        raise RuntimeError(f"parallel study child ({threads} threads) failed: "
                           f"{finished.stderr.strip()[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def study(quick: bool, settings, progress) -> dict:
    mode = "quick" if quick else "full"
    n = SIZES[mode]
    progress(f"parallel study: Rosenbrock n = {n:,}, threads {THREADS}")
    children = {threads: [] for threads in THREADS}
    for round_index in range(CHILDREN_PER_COUNT[mode]):
        order = THREADS[::-1] if round_index % 2 else THREADS
        for threads in order:
            children[threads].append(_child(threads, n, settings))
    rows = []
    for threads, runs in children.items():
        row = {"threads": threads, "children": runs, "affinity_cpus": runs[0]["affinity"]}
        for key in ("parallel_warm_s", "serial_warm_s", "parallel_first_call_s"):
            row[key] = statistics.median(run[key] for run in runs)
        row["max_rel_error"] = max(max(run["parallel_max_rel_error"], run["serial_max_rel_error"])
                                   for run in runs)
        rows.append(row)
        progress(f"    {threads} thread(s): parallel {row['parallel_warm_s']:.3g} s, "
                 f"serial {row['serial_warm_s']:.3g} s")
    return {"n": n, "rows": rows}
