"""When a kernel is compiled: in the background, while NumPy serves the calls.

numba takes 0.1 s to a few seconds to compile a kernel, and a notebook user
pays it every time a cell changes a function. So, by default, the first call
of a new kernel does not wait for numba: its result comes from the NumPy
reference interpreter (``backend.reference``, the oracle the kernels are
tested against: the same values), while one compile thread builds the kernel;
once it is ready, calls switch to it. A kernel whose machine code is already
in the disk cache loads at once instead.

``JITAD_COMPILE=sync`` compiles on the calling thread (the first call waits
for numba); ``f.cache.wait()`` waits for a function's kernels. A compile that
keeps the caller waiting for more than ``PROGRESS_AFTER`` seconds says what
it is doing on the ``jitad`` logger (``JITAD_PROGRESS=0`` silences it).

>>> mode() in ("background", "sync")
True
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
import warnings

import numpy as np

from .backend.interpreter import TableScan, run_program
from .backend.reference import evaluate
from .errors import CompileError
from .ir import Graph, Op

PROGRESS_AFTER = 1.0  # seconds a blocking compile runs before it is reported
log = logging.getLogger("jitad")


def mode() -> str:
    return "sync" if os.environ.get("JITAD_COMPILE", "").lower() == "sync" else "background"


def interpreted(graph):
    """``fn(*inputs) -> outputs`` by the NumPy reference interpreter, with
    outputs that never share memory with the inputs (as a kernel's). A long
    loop of scalars (a re-rolled RK4 or scalar recursion) runs its steps on
    the op-table interpreter instead (``TableScan``): NumPy takes a few
    microseconds an op, so a 1,000-step RK4 gradient took 1.2 s to answer."""
    graph = _with_table_scans(graph)

    def fn(*inputs):
        outs = evaluate(graph, *inputs)
        return tuple(o.copy() if isinstance(o, np.ndarray) and any(
            isinstance(a, np.ndarray) and np.may_share_memory(o, a) for a in inputs) else o
            for o in outs)
    return fn


TABLE_SCAN_ABOVE = 500_000  # steps x body ops, over a graph's scans, from which
# they are worth the interpreter's own compile when it is not on disk yet (1.5 s,
# once a machine; NumPy takes about 3 us a step's op)


def _with_table_scans(graph):
    """``graph`` with each scan of scalars the interpreter can run as a
    ``TableScan``, where the interpreter is ready or the loops are long."""
    stand_ins = {op: stand_in for op in graph.ops if (stand_in := TableScan.of(op)) is not None}
    if not stand_ins:
        return graph
    work = sum(op.params["length"] * len(op.params["body"].ops) for op in stand_ins)
    interpreter = run_program()
    if work < TABLE_SCAN_ABOVE and not (interpreter.compiled or
                                        interpreter.machine_code_cached()):
        return graph
    ops = tuple(Op(stand_ins[op], op.inputs, op.outputs, op.params) if op in stand_ins else op
                for op in graph.ops)
    return Graph(graph.inputs, ops, graph.outputs, graph.input_names)


class Job:
    """One kernel to compile for one signature, then ``done(kernel)``."""

    def __init__(self, kernel, args, done, name):
        self.kernel, self.args, self.done, self.name = kernel, args, done, name
        self.finished = threading.Event()


_jobs: "queue.Queue[Job]" = queue.Queue()
_worker: list = []
_worker_lock = threading.Lock()


def submit(kernel, args, done, name) -> Job:
    """Compile ``kernel`` for the types of ``args`` on the compile thread."""
    job = Job(kernel, tuple(args), done, name)
    with _worker_lock:
        if not _worker or not _worker[0].is_alive():
            thread = threading.Thread(target=_work, name="jitad-compile", daemon=True)
            thread.start()
            _worker[:] = [thread]
    _jobs.put(job)
    return job


def _work():
    while True:
        job = _jobs.get()
        try:
            job.kernel.compile_for(job.args)
            job.done(job.kernel)
        except CompileError as error:  # a jitad bug: say so; NumPy keeps serving the calls
            warnings.warn(f"{job.name}: {error}; its calls keep running on the NumPy "
                          "interpreter", RuntimeWarning, stacklevel=1)
        except Exception as error:  # noqa: BLE001 - never kill the compile thread
            warnings.warn(f"{job.name}: compiling its kernel failed ({type(error).__name__}: "
                          f"{error}); its calls keep running on the NumPy interpreter",
                          RuntimeWarning, stacklevel=1)
        finally:
            job.finished.set()


class progress:  # noqa: N801 - used as a context manager, like a function
    """Say what a blocking compile is doing once it has taken PROGRESS_AFTER
    seconds, and how long it took when it ends."""

    def __init__(self, name, what):
        self.name, self.what = name, what

    def __enter__(self):
        self.start = time.perf_counter()
        self.timer = None
        if os.environ.get("JITAD_PROGRESS", "1") != "0":
            self.timer = threading.Timer(PROGRESS_AFTER, self._report)
            self.timer.daemon = True
            self.timer.start()
        self.reported = False
        return self

    def _report(self):
        self.reported = True
        _ensure_visible()
        log.info("jitad: compiling %s (%s) ...", self.name, self.what)

    def __exit__(self, *exc):
        if self.timer is not None:
            self.timer.cancel()
        if self.reported:
            log.info("jitad: compiled %s in %.1f s", self.name, time.perf_counter() - self.start)


def _ensure_visible():
    """Progress goes to the ``jitad`` logger; where the program configured no
    logging at all, jitad shows it on stderr (silence: JITAD_PROGRESS=0, or
    configure the ``jitad`` logger)."""
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
