"""Compiling in the background (the default): the first call does not wait
for numba; NumPy's reference interpreter serves calls until the kernel is
ready, with the same results to rounding, guards included."""
from __future__ import annotations

import numpy as np
import pytest

import jitad
from jitad.backend.compile import Kernel


@pytest.fixture
def background(monkeypatch, tmp_path):
    monkeypatch.setenv("JITAD_COMPILE", "background")
    monkeypatch.setenv("JITAD_CACHE_DIR", str(tmp_path))  # nothing compiled yet


def test_the_first_call_is_served_while_the_kernel_compiles(background):
    f = lambda x: np.sum(np.tanh(x) ** 2 * np.exp(-x) + np.arctan(3.0 * x))  # noqa: E731
    g = jitad.grad(f)
    x = np.linspace(-1.0, 1.0, 50)
    first = g(x)
    np.testing.assert_allclose(first, jitad.fd.grad(f, x, method="complex"), rtol=1e-13)
    assert g.cache.wait(timeout=300)
    (entry,) = next(iter(g.cache.entries.values()))
    assert isinstance(entry.kernel, Kernel) and entry.kernel.compiled
    np.testing.assert_allclose(g(x), first, rtol=1e-14, atol=1e-15)
    assert g.cache.compiles == 1 and g.cache.traces == 1


def test_guards_hold_on_the_interpreter_too(background):
    f = lambda x: np.sum(x ** 2) if np.sum(x) > 0 else np.sum(np.sin(x))  # noqa: E731
    g = jitad.grad(f)
    pos, neg = np.array([1.0, 2.0]), np.array([-1.0, -2.0])
    np.testing.assert_allclose(g(pos), 2 * pos)
    np.testing.assert_allclose(g(neg), np.cos(neg))   # the guard fails: a new trace
    np.testing.assert_allclose(g(pos), 2 * pos)
    assert g.cache.wait(timeout=300)
    np.testing.assert_allclose(g(neg), np.cos(neg))


def test_outputs_never_alias_inputs_on_the_interpreter(background):
    x = np.arange(3.0)
    a, b = jitad.jit(lambda x: (x, x.reshape(3)))(x)
    assert not np.shares_memory(a, x) and not np.shares_memory(b, x)


def test_a_kernel_in_the_disk_cache_loads_at_once(background):
    f = lambda x: np.sum(np.cos(x) * x)  # noqa: E731
    g = jitad.grad(f)
    g(np.ones(4))
    assert g.cache.wait(timeout=300)
    fresh = jitad.grad(lambda x: np.sum(np.cos(x) * x))  # same kernel source, new function
    fresh(np.ones(4))
    (entry,) = next(iter(fresh.cache.entries.values()))
    assert entry.kernel.compiled  # loaded synchronously: no NumPy detour
