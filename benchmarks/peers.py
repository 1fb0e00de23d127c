"""The implementations compared: jitad, and JAX, PyTorch and HIPS autograd where installed.

A peer family (``--peers`` name) has ``setup()``, which imports and configures
it once (ImportError: skipped with a note); ``variant_names(case)``, the rows
it times for a case (the Jacobian cases have a forward- and a reverse-mode
variant per peer; an empty list when the family has nothing for the case,
``missing(case)`` then says why); and ``build(case, args, plan, name)``, which
returns that one ``Variant``. Building converts the inputs to the peer's array
type once, outside any timing, and makes the first call on a fresh function,
whose time is the peer's first call (for jitad: trace + transform + compile;
for JAX: trace + XLA compile). The runner gives every build a time budget
(runner.py).

How each peer differentiates: jitad ``grad``/``jacobian``/``hessian``; JAX
``jax.jit(jax.grad(f))`` (and ``jacfwd``, ``jacrev``, ``hessian`` under
``jit``) in float64 with synchronous CPU dispatch, plus ``jax[scan]`` where a
case has a ``jax.lax.scan`` version of its loop; PyTorch ``torch.func.grad``
(``jacfwd``, ``jacrev``, ``hessian``) on float64 tensors, eager; HIPS autograd
``autograd.grad`` (``jacobian``, ``hessian``). Finite differences are in
``fd_peer``, the hand-written numba gradients in ``handwritten``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy

from .timing import first_call
from .trees import to_numpy


@dataclass
class Variant:
    peer: str                  # the row name: "jitad", "jax[fwd]", "fd-central"
    family: str                # the --peers name: jitad, fd, jax, torch, autograd, numba
    fn: Callable               # timed as fn(*args)
    args: tuple
    result: object             # the first call's result, as NumPy values
    first_call_s: float
    scale: float = 1.0         # sampled finite differences: seconds per sample * n / k
    coordinates: object = None  # sampled finite differences: flat indices in `result`
    note: str = ""
    fresh: Callable | None = None  # () -> a new transformed function (jitad's disk-cache first call)
    stats: dict = field(default_factory=dict)


@dataclass
class Plan:
    f_seconds: float           # one call of the plain NumPy function
    fd_budget: float           # seconds one finite-difference gradient may take before it is sampled


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _pack(f, argnums):
    """f(*args) as g(wrt, *others) with wrt = the tuple of differentiated args,
    for libraries that differentiate one argument only (HIPS autograd)."""
    def g(wrt, *others):
        full = list(others)
        for position, value in sorted(zip(argnums, wrt)):
            full.insert(position, value)
        return f(*full)
    return g


def _split(args, argnums):
    return (tuple(args[i] for i in argnums),) + tuple(
        a for i, a in enumerate(args) if i not in argnums)


class JitadPeer:
    family = "jitad"

    def setup(self) -> dict:
        import jitad
        self.jitad = jitad
        # numba's one-time start-up (LLVM, typing tables) is paid by the first
        # compile in a process; pay it here so no case is charged for it.
        seconds = _seconds(lambda: jitad.grad(lambda x: numpy.sum(numpy.sin(x) * x))(numpy.ones(2)))
        return {"version": jitad.__version__, "numba_startup_s": seconds}

    def _transforms(self, case) -> dict:
        jitad, argnums = self.jitad, case.argnums
        if case.kind == "grad":
            return {"jitad": lambda f: jitad.grad(f, argnums=argnums)}
        if case.kind == "jacobian":
            return {"jitad": lambda f: jitad.jacobian(f, argnums=argnums, mode="auto"),
                    "jitad[fwd]": lambda f: jitad.jacfwd(f, argnums=argnums),
                    "jitad[rev]": lambda f: jitad.jacrev(f, argnums=argnums)}
        if case.kind == "per-example":
            return {"jitad": lambda f: jitad.vmap(jitad.grad(f, argnums=argnums),
                                                  in_axes=case.in_axes)}
        return {"jitad": lambda f: jitad.hessian(f, argnums=argnums)}

    def variant_names(self, case) -> list:
        return list(self._transforms(case))

    def missing(self, case) -> str:
        return ""

    def build(self, case, args, plan, name):
        transform = self._transforms(case)[name]

        def fresh():
            return transform(case.loss(numpy))
        transformed = fresh()
        result, seconds = first_call(transformed, args)
        _compiled(transformed)
        note, stats = "", _cache_stats(transformed)
        if case.kind == "jacobian":
            auto_mode = self.jitad.jacobian(case.loss(numpy), argnums=case.argnums).choose(*args)
            if name == "jitad":
                note, stats["auto_mode"] = f"auto chose {auto_mode}", auto_mode
            elif name == f"jitad[{auto_mode}]":
                note = "first call loads the kernel auto compiled (disk cache)"
        return Variant(name, self.family, transformed, args, result, seconds, note=note,
                       fresh=fresh, stats=stats)


def _compiled(transformed):
    """Wait for the kernels a first call compiles in the background (NumPy
    answered that call), so warm calls time the kernel and the stats hold
    the compile seconds."""
    cache = getattr(transformed, "cache", None)
    if cache is not None:
        cache.wait()


def _cache_stats(transformed) -> dict:
    """Traces, compiles and compile seconds of the transform's own cache."""
    cache = getattr(transformed, "cache", None)
    if cache is None:  # a transform jitad composes from others (vmap of grad) may have none
        return {}
    return {"traces": cache.traces, "compiles": cache.compiles,
            "compile_s": cache.compile_seconds}


def _library_transforms(family, library, kind) -> dict:
    """{variant name: transform} for a case kind; jax and torch.func spell
    grad, jacfwd, jacrev and hessian alike."""
    if kind in ("grad", "per-example"):
        return {family: library.grad}
    if kind == "jacobian":
        return {f"{family}[fwd]": library.jacfwd, f"{family}[rev]": library.jacrev}
    return {family: library.hessian}


class JaxPeer:
    family = "jax"

    def setup(self) -> dict:
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        jax.config.update("jax_enable_x64", True)
        try:
            jax.config.update("jax_cpu_enable_async_dispatch", False)
            self.block = False
        except (AttributeError, KeyError, ValueError):
            self.block = True  # older JAX: wait for every result instead
        cache = os.environ.get("JAX_COMPILATION_CACHE_DIR")
        if cache:  # set by the runner for the run (runner.cold_caches); cache even tiny programs
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        seconds = _seconds(lambda: jax.jit(jax.grad(lambda x: jnp.sum(x * x)))(jnp.ones(2)))
        return {"version": jax.__version__, "x64": True, "async_dispatch": False,
                "block_until_ready": self.block, "startup_s": seconds,
                "persistent_cache": bool(cache)}

    def variant_names(self, case) -> list:
        names = list(_library_transforms(self.family, self.jax, case.kind))
        if case.loss_scan is not None:
            names.append(f"{self.family}[scan]")
        return names

    def missing(self, case) -> str:
        return ""

    def build(self, case, args, plan, name):
        jax, jnp = self.jax, self.jnp
        jax_args = to_numpy(args, jnp.asarray)
        if name == f"{self.family}[scan]":
            f, transform = case.loss_scan(jnp, jax.lax), jax.grad
        else:
            f, transform = case.loss(jnp), _library_transforms(self.family, jax, case.kind)[name]
        derivative = transform(f, argnums=case.argnums)
        if case.kind == "per-example":
            derivative = jax.vmap(derivative, in_axes=case.in_axes)
        compiled = jax.jit(derivative)
        fn = (lambda *a: jax.block_until_ready(compiled(*a))) if self.block else compiled
        result, seconds = first_call(fn, jax_args)
        return Variant(name, self.family, fn, jax_args, to_numpy(result, numpy.asarray), seconds)


class TorchPeer:
    family = "torch"

    def setup(self) -> dict:
        import torch
        import torch.func
        self.torch = torch
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # already fixed by earlier parallel work; intra-op threads are what matter
        seconds = _seconds(lambda: torch.func.grad(lambda x: torch.sum(x * x))(
            torch.ones(2, dtype=torch.float64)))
        return {"version": torch.__version__, "threads": torch.get_num_threads(),
                "startup_s": seconds}

    def _tensor(self, value):
        if isinstance(value, numpy.ndarray):
            return self.torch.from_numpy(value)
        return self.torch.tensor(value, dtype=self.torch.float64)

    def variant_names(self, case) -> list:
        if case.loss_torch is None:
            return []
        return list(_library_transforms(self.family, self.torch.func, case.kind))

    def missing(self, case) -> str:
        return "no PyTorch version of this case"

    def build(self, case, args, plan, name):
        func = self.torch.func
        torch_args = to_numpy(args, self._tensor)
        fn = _library_transforms(self.family, func, case.kind)[name](
            case.loss_torch(self.torch), argnums=case.argnums)
        if case.kind == "per-example":
            fn = func.vmap(fn, in_dims=case.in_axes)
        result, seconds = first_call(fn, torch_args)
        return Variant(name, self.family, fn, torch_args,
                       to_numpy(result, lambda t: t.detach().numpy()), seconds)


class AutogradPeer:
    family = "autograd"

    def setup(self) -> dict:
        import autograd
        import autograd.numpy
        self.autograd = autograd
        try:
            from importlib.metadata import version
            return {"version": version("autograd")}
        except Exception:  # noqa: BLE001 - the version is only reported
            return {"version": "unknown"}

    def variant_names(self, case) -> list:
        return [] if case.kind == "per-example" else ["autograd"]

    def missing(self, case) -> str:
        return "HIPS autograd has no vmap"

    def build(self, case, args, plan, name):
        autograd = self.autograd
        f = case.loss(autograd.numpy)
        if isinstance(case.argnums, tuple):
            f, args, argnum = _pack(f, case.argnums), _split(args, case.argnums), 0
        else:
            argnum = case.argnums
        transform = {"grad": autograd.grad, "jacobian": autograd.jacobian,
                     "hessian": autograd.hessian}[case.kind]
        fn = transform(f, argnum)
        result, seconds = first_call(fn, args)
        note = "reverse mode, one sweep per output" if case.kind == "jacobian" else ""
        return Variant(name, self.family, fn, args, result, seconds, note=note)
