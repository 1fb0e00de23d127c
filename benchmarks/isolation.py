"""Every peer build under a time (and memory) budget, so the suite always finishes.

A peer that compiles (jitad, JAX, the hand-written numba kernels) can spend
minutes, or all the memory of the machine, in a first call that cannot be
interrupted: LLVM and XLA run in C, and a signal only lands when they return.
So each such build is first made in a worker process (``python -m
benchmarks.worker FAMILY``, one per family, started once and kept for the
run) under the budget: the worker makes the first call and reports its time;
the parent watches the clock and the worker's resident memory, and kills it
when either budget is exceeded (the variant is then reported as "did not
finish in 120 s" or "exceeded the 6 GB memory budget", and the next build
starts a fresh worker). Only a build that finished there is made again in
the parent process, which times it against the other peers: jitad's kernel
now loads from the run's disk cache, JAX's executable from its persistent
compilation cache (enabled for the run, in a fresh directory, for the worker
and the parent alike), the numba kernel compiles again (seconds at most). The
first call reported is the worker's, with cold caches: the same measurement
as before, in a process that has paid the same one-time start-up.

Eager peers (PyTorch, HIPS autograd, finite differences) run Python between
operations, so their builds are interrupted in-process by a timer signal when
the budget runs out, without a worker.
"""
from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILING = ("jitad", "jax", "numba")
STARTUP_TIMEOUT_S = 600.0  # imports and the library's start-up, not charged to any build
POLL_S = 0.2


class DidNotFinish(Exception):
    """A build exceeded its time or memory budget; str() is the row's text."""


class BuildFailed(Exception):
    """A build raised in the worker; str() names the error."""


REPEAT_S = 0.5  # after the deadline, the alarm fires again this often


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise DidNotFinish in this (the main) thread when ``seconds`` have passed.

    The alarm repeats: an exception raised where Python discards it (a garbage
    collector callback, a finaliser: "Exception ignored in ...") would otherwise
    be lost, and the build would run on. A build that returns after the deadline
    anyway (its exceptions all swallowed) is over budget all the same."""
    message = f"did not finish in {seconds:g} s"

    def expire(signum, frame):
        raise DidNotFinish(message)
    previous = signal.signal(signal.SIGALRM, expire)
    started = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if time.perf_counter() - started > seconds:
        raise DidNotFinish(message)


def resident_bytes(pid) -> int | None:
    """The resident set size of process ``pid`` (Linux), None where unknown."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Worker:
    """One ``python -m benchmarks.worker`` process for a peer family."""

    def __init__(self, family: str, quick: bool):
        self.family, self.quick = family, quick
        self.process, self.log = None, None

    def _start(self):
        self.log = tempfile.TemporaryFile(mode="w+")
        command = [sys.executable, "-m", "benchmarks.worker", self.family]
        command += ["--quick"] if self.quick else []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        self._reply(STARTUP_TIMEOUT_S, None, "start")

    def _reply(self, seconds, memory_bytes, what) -> dict:
        """The worker's next line, within ``seconds`` and ``memory_bytes``."""
        started = time.perf_counter()
        stream = self.process.stdout
        while True:
            resident = resident_bytes(self.process.pid)
            if memory_bytes and resident and resident > memory_bytes:
                self.stop()
                raise DidNotFinish(f"exceeded the {memory_bytes / 2 ** 30:g} GB memory budget")
            if time.perf_counter() - started > seconds:
                self.stop()
                raise DidNotFinish(f"did not finish in {seconds:g} s")
            ready, _, _ = select.select([stream], [], [], POLL_S)
            if ready:
                line = stream.readline()
                if not line:
                    self._died(what)
                return json.loads(line)
            if self.process.poll() is not None:
                self._died(what)

    def _died(self, what):
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # closed its output but lives on: stop() kills it
            code = None
        self.log.seek(0)
        tail = self.log.read()[-1500:].strip()
        self.stop()
        reason = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        raise BuildFailed(f"the {self.family} worker died during {what} ({reason}"
                          f"{'; likely out of memory' if code == -signal.SIGKILL else ''}): {tail}")

    def build(self, case_name, variant, plan, seconds, memory_bytes) -> dict:
        """{first_call_s, stats} of ``variant``'s first call in the worker."""
        if self.process is None:
            self._start()
        request = {"case": case_name, "variant": variant,
                   "plan": {"f_seconds": plan.f_seconds, "fd_budget": plan.fd_budget}}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = self._reply(seconds, memory_bytes, f"{variant} of {case_name}")
        if "error" in reply:
            raise BuildFailed(reply["error"])
        return reply

    def stop(self):
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None


class Builds:
    """Builds variants under the budget: ``build(peer, case, args, plan, name) -> Variant``.

    ``seconds`` <= 0 turns the budget off: every build is made in-process only
    (first calls then measured in this process, as in a run without workers)."""

    def __init__(self, seconds: float, memory_gb: float, quick: bool):
        self.seconds, self.memory_bytes = seconds, int(memory_gb * 2 ** 30)
        self.quick, self.workers = quick, {}

    def build(self, peer, case, args, plan, name):
        if self.seconds <= 0:
            return peer.build(case, args, plan, name)
        if peer.family not in COMPILING:
            with deadline(self.seconds):
                return peer.build(case, args, plan, name)
        worker = self.workers.setdefault(peer.family, Worker(peer.family, self.quick))
        first = worker.build(case.name, name, plan, self.seconds, self.memory_bytes)
        variant = peer.build(case, args, plan, name)
        variant.stats = dict(first["stats"], first_call_in_this_process_s=variant.first_call_s)
        variant.first_call_s = first["first_call_s"]
        return variant

    def close(self):
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()
