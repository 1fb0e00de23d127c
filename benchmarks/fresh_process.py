"""The first gradient in a fresh process, with warm disk caches (``--cases fresh-process``).

What a user waits for when a notebook restarts or a script starts: a new
Python process that imports the library and takes its first gradient of the
classic f at (2.0, 0.5), with the library's compilation cache on disk already
warm. jitad: ``import jitad`` and ``jitad.grad(f, argnums=(0, 1))(2.0, 0.5)``
with a warm ``JITAD_CACHE_DIR``. JAX: ``import jax`` and the first
``jax.jit(jax.grad(f, argnums=(0, 1)))`` call with JAX's persistent
compilation cache warm (``jax_compilation_cache_dir``, with
``jax_persistent_cache_min_compile_time_secs=0`` and
``jax_persistent_cache_min_entry_size_bytes=-1`` so that this small program
is cached at all).

Each child is a new interpreter (``python -c``), with the parent's one-thread
settings and CPU pinning (inherited). It reports the seconds from its first
line, before ``import numpy``, to the gradient in hand; the parent also takes
the wall time of the whole process (interpreter start-up and exit
included). First one cold run of each, on empty cache directories (which also
warms them), then ``runs`` rounds, the two in alternating order; medians are
reported. Every warm run must find its cache: neither cache directory may
gain a file during the warm runs (a miss would write one).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .cases import classic_exact
from .trees import flat, relative_error

POINT = (2.0, 0.5)
RUNS = {"full": 7, "quick": 2}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PREAMBLE = "import time\nstart = time.perf_counter()\nimport json\n"
JITAD_CHILD = PREAMBLE + """
import numpy as np
import jitad
def f(x1, x2):
    return x1 * np.sqrt(np.log(x1 / np.sin(x2 ** 2)))
g = jitad.grad(f, argnums=(0, 1))
gradient = g(2.0, 0.5)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "gradient": [float(v) for v in gradient]}))
"""
JAX_CHILD = PREAMBLE + """
import sys
import jax
import jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
def f(x1, x2):
    return x1 * jnp.sqrt(jnp.log(x1 / jnp.sin(x2 ** 2)))
gradient = jax.block_until_ready(jax.jit(jax.grad(f, argnums=(0, 1)))(2.0, 0.5))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "gradient": [float(v) for v in gradient]}))
"""


def _run(source, env, *argv) -> dict:
    started = time.perf_counter()
    finished = subprocess.run([sys.executable, "-c", source, *argv], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"fresh-process child failed: {finished.stderr.strip()[-2000:]}")
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    report["wall_s"] = wall
    return report


def _entries(directory) -> int:
    return sum(len(files) for _, _, files in os.walk(directory))


def _summary(runs) -> dict:
    return {"seconds": statistics.median(r["seconds"] for r in runs),
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "samples_s": [r["seconds"] for r in runs],
            "wall_samples_s": [r["wall_s"] for r in runs]}


def study(quick: bool, progress, with_jax: bool = True) -> dict:
    """Cold and warm-cache fresh-process first gradients of jitad (and JAX)."""
    progress("fresh-process study")
    directory = tempfile.mkdtemp(prefix="jitad-bench-fresh-")
    jitad_cache, jax_cache = os.path.join(directory, "jitad"), os.path.join(directory, "jax")
    os.makedirs(jax_cache)
    env = dict(os.environ, JITAD_CACHE_DIR=jitad_cache,
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    children = {"jitad": (JITAD_CHILD, ())}
    if with_jax:
        children["jax"] = (JAX_CHILD, (jax_cache,))
    try:
        cold = {name: _run(source, env, *argv) for name, (source, argv) in children.items()}
        entries = {"jitad": _entries(jitad_cache), "jax": _entries(jax_cache)}
        warm = {name: [] for name in children}
        for round_index in range(RUNS["quick" if quick else "full"]):
            order = list(children)[::-1] if round_index % 2 else list(children)
            for name in order:
                source, argv = children[name]
                warm[name].append(_run(source, env, *argv))
        checks = {f"{name}_cache_files_written_by_warm_runs": _entries(directory) - entries[name]
                  for name, directory in (("jitad", jitad_cache), ("jax", jax_cache))
                  if name in children}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    exact = flat(classic_exact(*POINT))
    result = {"function": "x1*sqrt(log(x1/sin(x2**2))) at (2.0, 0.5)", "checks": checks,
              "peers": {name: {"cold": {"seconds": cold[name]["seconds"],
                                        "wall_s": cold[name]["wall_s"]},
                               "warm": _summary(warm[name]),
                               "max_rel_error": max(relative_error(flat(run["gradient"]), exact)
                                                    for run in [cold[name]] + warm[name])}
                        for name in children}}
    for name, peer in result["peers"].items():
        progress(f"    {name:<6} fresh process, warm cache: import + first gradient "
                 f"{peer['warm']['seconds']:.3g} s (process {peer['warm']['wall_s']:.3g} s); "
                 f"cold {peer['cold']['seconds']:.3g} s")
    return result
