"""Equal conditions for every peer: one thread each, on one pinned CPU.

BLAS (OpenBLAS, MKL), OpenMP, numba and XLA read their thread counts when they
load, and threads inherit the CPU affinity of the thread that creates them, so
``pin_threads_and_cpu`` must run before NumPy, numba, JAX or PyTorch is
imported: ``python -m benchmarks`` calls it first. This module imports nothing
that starts threads.
"""
import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
# XLA's CPU backend runs Eigen on a thread pool unless told not to.
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false"
LIBRARIES_THAT_READ_THREAD_SETTINGS = ("numpy", "numba", "jax", "torch")


def pin_threads_and_cpu(cpu=None) -> dict:
    """Set one thread per runtime and pin this process to one CPU; returns what was set.

    ``cpu`` defaults to the last CPU this process may run on (CPU 0 usually
    takes more of the machine's interrupts).
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    xla_flags = os.environ.get("XLA_FLAGS", "")
    if XLA_SINGLE_THREAD not in xla_flags:
        os.environ["XLA_FLAGS"] = f"{xla_flags} {XLA_SINGLE_THREAD}".strip()
    settings = {name: os.environ[name] for name in THREAD_VARIABLES + ("XLA_FLAGS",)}
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        cpu = allowed[-1] if cpu is None else cpu
        os.sched_setaffinity(0, {cpu})
        settings["pinned_cpu"] = cpu
    else:
        settings["pinned_cpu"] = None  # macOS and Windows: no affinity call
    loaded_early = [name for name in LIBRARIES_THAT_READ_THREAD_SETTINGS if name in sys.modules]
    if loaded_early:
        settings["warning"] = (f"{', '.join(loaded_early)} imported before the thread settings: "
                               "they may not apply (run `python -m benchmarks`)")
    return settings
