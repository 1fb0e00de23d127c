"""Speed of jitad's vecmath functions against numba's libm calls and JAX.

For each function: ns per element of ``for i in range(n): out[i] = f(x[i])``
(float64, n = 10**6) with the vecmath function, with numba's ``np.<ufunc>``
(a scalar libm call) and ``jax.jit(jnp.<ufunc>)``, all on one pinned CPU with
one thread, timed in interleaved rounds (medians). Then the fast sin/cos/tan,
a fused kernel ``exp(2 sin(x))`` with the rerun protocol, a loop that cannot
vectorise (a float sum) to show the scalar cost, and the numba compile time
of kernels using 1 and 5 functions (fresh processes).

    python benchmarks/vecmath_speed.py [--n N] [--rounds R] [--avx2] [--only sin,exp]

``--avx2`` reruns everything with numba targeting Haswell (AVX2, no AVX-512).
Times are the process's CPU time by default (``--clock wall`` for elapsed
time): on a machine shared with other jobs, elapsed time also counts the
slices the scheduler gives them. The compile table is always elapsed time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numba  # noqa: E402
import numpy as np  # noqa: E402

from jitad.backend.vecmath import FAST_TRIG, FUNCTIONS, exp, needs_exact_trig, sin  # noqa: E402
from jitad.backend.vecmath.accuracy import ordinal, reference_longdouble  # noqa: E402
from jitad.backend.vecmath.vectorization import avx2_environment, inspect_loop, loop_for  # noqa: E402

INPUTS = {  # usual ranges: (low, high) per argument
    "sin": [(-10, 10)], "cos": [(-10, 10)], "tan": [(-10, 10)], "exp": [(-700, 700)],
    "exp2": [(-1000, 1000)], "expm1": [(-10, 10)], "log": [(0, 1000)], "log2": [(0, 1000)],
    "log10": [(0, 1000)], "log1p": [(-1, 1000)], "power": [(0, 10), (-10, 10)],
    "sinh": [(-10, 10)], "cosh": [(-10, 10)], "tanh": [(-10, 10)], "arcsin": [(-1, 1)],
    "arccos": [(-1, 1)], "arctan": [(-10, 10)], "arctan2": [(-10, 10), (-10, 10)],
    "arcsinh": [(-1000, 1000)], "arccosh": [(1, 1000)], "arctanh": [(-1, 1)], "cbrt": [(-1000, 1000)],
}


def libm_loop(name):
    """The same loop with numba's own ``np.<name>`` (a scalar libm call per element)."""
    ufunc = getattr(np, name)
    if len(INPUTS[name]) == 2:
        def loop(x, y, out):
            for i in range(out.size):
                out[i] = ufunc(x[i], y[i])
    else:
        def loop(x, out):
            for i in range(out.size):
                out[i] = ufunc(x[i])
    return numba.njit(error_model="numpy")(loop)


def jax_numpy():
    """``jax.numpy`` with float64 enabled, or None where JAX is not installed."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jnp


def jax_function(name):
    jnp = jax_numpy()
    if jnp is None:
        return None
    import jax

    f = jax.jit(getattr(jnp, name))
    return lambda *args: f(*args).block_until_ready()


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def interleaved(variants, rounds, warmup=3):
    """Median seconds per variant, timed round-robin so load changes hit all alike
    (after ``warmup`` untimed rounds: first touches of memory, JAX's first runs)."""
    for _ in range(warmup):
        for call, call_args in variants.values():
            call(*call_args)
    times = {k: [] for k in variants}
    for _ in range(rounds):
        for k, (call, call_args) in variants.items():
            start = clock()
            call(*call_args)
            times[k].append(clock() - start)
    return {k: float(np.median(v)) for k, v in times.items()}


_sin_fast = FAST_TRIG["sin"]


@numba.njit(error_model="numpy")
def _fused_fast(x, out):
    rerun = False
    for i in range(x.size):
        rerun |= needs_exact_trig(x[i])
        out[i] = exp(_sin_fast(x[i]) * 2.0)
    if rerun:  # some |x| >= 2**30: the whole loop again with the exact sin
        for i in range(x.size):
            out[i] = exp(sin(x[i]) * 2.0)


@numba.njit(error_model="numpy")
def _fused_exact(x, out):
    for i in range(x.size):
        out[i] = exp(sin(x[i]) * 2.0)


@numba.njit(error_model="numpy")
def _fused_libm(x, out):
    for i in range(x.size):
        out[i] = np.exp(np.sin(x[i]) * 2.0)


@numba.njit(error_model="numpy")
def _sum_vm(x):
    acc = 0.0
    for i in range(x.size):  # a float reduction: LLVM keeps the order, so no vectors
        acc += sin(x[i])
    return acc


@numba.njit(error_model="numpy", fastmath={"reassoc"})
def _sum_vm_reassoc(x):
    acc = 0.0
    for i in range(x.size):  # reassociation lets LLVM vectorise the sum (the functions keep theirs off)
        acc += sin(x[i])
    return acc


@numba.njit(error_model="numpy")
def _sum_libm(x):
    acc = 0.0
    for i in range(x.size):
        acc += np.sin(x[i])
    return acc


def max_steps(result, name, args):
    """Largest distance, in float64 steps, from the correctly rounded result."""
    with np.errstate(all="ignore"):
        rounded = reference_longdouble(name, *args).astype(np.float64)
    ok = np.isfinite(rounded) & np.isfinite(result)
    return int(np.max(np.abs(ordinal(np.asarray(result)[ok]) - ordinal(rounded[ok]))))


def speed_table(names, n, rounds):
    rng = np.random.default_rng(0)
    print("| function | vecmath ns/el | numba libm ns/el | JAX ns/el | vs libm | vs JAX | lanes "
          "| max steps here: vecmath, libm, JAX |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        args = [rng.uniform(lo, hi, n) for lo, hi in INPUTS[name]]
        out = np.empty(n)
        ours = loop_for(FUNCTIONS[name], len(args))
        theirs = libm_loop(name)
        theirs(*args, out)
        variants = {"vm": (ours, (*args, out)), "libm": (theirs, (*args, out))}
        jf = jax_function(name)
        if jf is not None:
            jargs = [jax_numpy().asarray(a) for a in args]
            jf(*jargs)
            variants["jax"] = (jf, jargs)
        if name in FAST_TRIG:
            variants["fast"] = (loop_for(FAST_TRIG[name]), (*args, out))
        t = {k: v / n * 1e9 for k, v in interleaved(variants, rounds).items()}
        lanes = inspect_loop(ours).vector_types
        jax_ns = f"{t['jax']:.2f}" if "jax" in t else "-"
        vs_jax = f"{t['jax'] / t['vm']:.1f}x" if "jax" in t else "-"
        steps = []
        for call, call_args in (variants["vm"], variants["libm"]):
            call(*call_args)
            steps.append(str(max_steps(out, name, args)))
        steps.append(str(max_steps(np.asarray(getattr(jax_numpy(), name)(*jargs)), name, args))
                     if "jax" in t else "-")
        print(f"| {name} | {t['vm']:.2f} | {t['libm']:.2f} | {jax_ns} | {t['libm'] / t['vm']:.1f}x "
              f"| {vs_jax} | {', '.join(lanes)} | {', '.join(steps)} |", flush=True)
        if "fast" in t:
            vs_jax = f"{t['jax'] / t['fast']:.1f}x" if "jax" in t else "-"
            print(f"| {name} fast | {t['fast']:.2f} | | | {t['libm'] / t['fast']:.1f}x | {vs_jax} | | |",
                  flush=True)


def kernels_table(n, rounds):
    rng = np.random.default_rng(1)
    x = rng.uniform(-10, 10, n)
    out = np.empty(n)
    for k in (_fused_fast, _fused_exact, _fused_libm):
        k(x, out)
    _sum_vm(x), _sum_vm_reassoc(x), _sum_libm(x)
    t = interleaved({"fused fast + rerun check": (_fused_fast, (x, out)),
                     "fused exact": (_fused_exact, (x, out)),
                     "fused libm": (_fused_libm, (x, out)),
                     "sum(sin) vecmath, not vectorised": (_sum_vm, (x,)),
                     "sum(sin) vecmath, fastmath={'reassoc'}: vectorised": (_sum_vm_reassoc, (x,)),
                     "sum(sin) libm": (_sum_libm, (x,))}, rounds)
    print("\n| kernel (n = %d) | ns/el |" % n)
    print("|---|---|")
    for k, v in t.items():
        print(f"| {k} | {v / n * 1e9:.2f} |")


COMPILE_CHILD = """
import json, sys, time, numba, numpy as np
from jitad.backend.vecmath import FUNCTIONS as F
namespace = {"np": np, "vm_sin": F["sin"], "vm_exp": F["exp"], "vm_log": F["log"],
             "vm_tanh": F["tanh"], "vm_pow": F["power"]}
x = np.linspace(0.1, 1.0, 64); out = np.empty_like(x)
times = []
for expr in json.loads(sys.argv[1]):
    exec("def kernel(x, y, out):\\n    for i in range(out.size):\\n        out[i] = " + expr, namespace)
    k = numba.njit(error_model="numpy")(namespace["kernel"])
    start = time.perf_counter(); k(x, x, out); times.append(time.perf_counter() - start)
print(json.dumps(times))
"""
KERNELS = {
    "1 function, libm": ["np.exp(x[i]) * 2.0", "np.exp(x[i] + y[i])"],
    "1 function, vecmath": ["vm_exp(x[i]) * 2.0", "vm_exp(x[i] + y[i])"],
    "5 functions, libm": [
        "np.sin(np.exp(np.log(x[i])) + np.tanh(y[i])) + np.power(x[i], y[i])",
        "np.sin(x[i]) * np.exp(y[i]) + np.log(x[i]) * np.tanh(x[i]) - np.power(y[i], x[i])"],
    "5 functions, vecmath": [
        "vm_sin(vm_exp(vm_log(x[i])) + vm_tanh(y[i])) + vm_pow(x[i], y[i])",
        "vm_sin(x[i]) * vm_exp(y[i]) + vm_log(x[i]) * vm_tanh(x[i]) - vm_pow(y[i], x[i])"],
}


def compile_table():
    """Each variant in a fresh process: the first kernel pays for compiling the
    vecmath functions it calls, the second (other expression, same functions) not."""
    print("\n| kernel | first kernel in a fresh process, s | second kernel, same functions, s |")
    print("|---|---|---|")
    for label, exprs in KERNELS.items():
        out = subprocess.run([sys.executable, "-c", COMPILE_CHILD, json.dumps(exprs)],
                             capture_output=True, text=True, check=True)
        first, second = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {label} | {first:.2f} | {second:.2f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**6)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--avx2", action="store_true", help="numba targets Haswell (AVX2 only)")
    parser.add_argument("--only", default=",".join(INPUTS), help="comma-separated ufunc names")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time table")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: the process's CPU time (what other tenants of a shared machine "
                             "do not inflate); wall: elapsed time")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    if args.avx2 and os.environ.get("NUMBA_CPU_NAME") != "haswell":
        argv = [a for a in sys.argv if a != "--avx2"]
        sys.exit(subprocess.run([sys.executable] + argv, env=avx2_environment()).returncode)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    cpu = os.environ.get("NUMBA_CPU_NAME") or numba.core.codegen.ll.get_host_cpu_name()
    print(f"numba target {cpu}, n = {args.n}, {args.rounds} interleaved rounds, {args.clock} time, "
          f"pinned to CPU {sorted(os.sched_getaffinity(0))[0]}, load average "
          f"{os.getloadavg()[0]:.1f} at the start\n")
    speed_table(args.only.split(","), args.n, args.rounds)
    kernels_table(args.n, args.rounds)
    if not args.no_compile:
        compile_table()


if __name__ == "__main__":
    main()
