"""numba's start-up, paid while a notebook user is still typing.

The first kernel a process compiles costs about 0.7 s more than the next one
(numba loads its CPU target, LLVM's passes and its NumPy typing tables on
first use). In a notebook or a REPL, ``import jitad`` compiles a small
kernel-shaped function in a background thread, so the first gradient finds
numba warm. Measured on 2 vCPUs, fresh processes: the first gradient of the
classic f 1.5 s after the import took 0.17-0.22 s warmed against 0.53-1.6 s
cold. A script that asks for its gradient right after the import gains
nothing (the warm-up and the trace share the GIL: 0.69-0.73 s against
0.53-0.77 s), so the warm-up starts only in interactive sessions;
``JITAD_WARMUP=1`` forces it and ``JITAD_WARMUP=0`` turns it off.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

import numba
import numpy as np

log = logging.getLogger("jitad")
thread: threading.Thread | None = None  # the warm-up started by ``import jitad``, if any


def interactive() -> bool:
    """A Jupyter kernel, IPython, or ``python -i``."""
    return "ipykernel" in sys.modules or hasattr(sys, "ps1") or bool(sys.flags.interactive)


def warm_up():
    """Compile (in memory, not cached) what every kernel needs first: array
    arguments, a loop, math functions, a new array, a tuple result."""
    @numba.njit(nogil=True, error_model="numpy")
    def kernel(x, a):
        out = np.empty_like(a)
        total = 0.0
        for i in range(a.shape[0]):
            out[i] = np.sin(a[i]) * x + np.exp(a[i])
            total += out[i]
        return total, out
    kernel(1.0, np.ones(2))
    return kernel


def _run():
    try:
        warm_up()
    except Exception as exc:  # the first real kernel reports any problem itself
        log.debug("jitad: numba warm-up failed: %r", exc)


def start(setting: str | None = None) -> threading.Thread | None:
    """Start the warm-up thread if this session wants one (see the module
    docstring); the thread, or None.

    >>> start("0") is None
    True
    """
    global thread
    setting = os.environ.get("JITAD_WARMUP", "") if setting is None else setting
    if setting == "0" or (setting != "1" and not interactive()):
        return None
    thread = threading.Thread(target=_run, name="jitad-numba-warm-up", daemon=True)
    thread.start()
    atexit.register(thread.join, 10.0)  # never mid-compile when the interpreter exits
    return thread
