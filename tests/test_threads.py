"""Tracing, compiling and calling from many threads at once: every result
right, no spurious errors, counters consistent (issue: a module-global
builder stack made concurrent first calls fail)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import jitad


def _shared_loss(x):
    return np.sum(np.sin(x) * x ** 2)


def _expected(x):
    return np.cos(x) * x ** 2 + 2 * x * np.sin(x)


def test_eight_threads_fresh_and_shared_functions_mixed_shapes():
    shared = jitad.grad(_shared_loss)
    shapes = [(3,), (5,), (2, 4), (7,)]
    calls_per_thread = 40
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        # a fresh function object per thread: its own first trace and compile
        scale = float(seed + 1)
        fresh = jitad.grad(lambda x: scale * np.sum(np.sin(x) * x ** 2))
        for k in range(calls_per_thread):
            x = rng.uniform(-2, 2, shapes[(seed + k) % len(shapes)])
            try:
                np.testing.assert_allclose(shared(x), _expected(x), rtol=1e-13)
                np.testing.assert_allclose(fresh(x), scale * _expected(x), rtol=1e-13)
            except Exception as error:  # noqa: BLE001 - collected and reported below
                errors.append(error)
        return seed

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(worker, range(8))) == list(range(8))
    assert not errors, errors[:3]
    cache = shared.cache
    assert len(cache) == len(shapes)
    # concurrent first calls of one shape compile once; of the three vector
    # sizes the first compiles its own kernel, the second the size-generic
    # one, which serves the third without compiling
    assert cache.compiles == len(shapes) - 1
    assert sum(e.calls for v in cache.entries.values() for e in v) == 8 * calls_per_thread
    assert cache.hits + len(cache) == 8 * calls_per_thread


def test_traces_in_two_threads_do_not_see_each_others_builders():
    barrier = threading.Barrier(2)
    results = {}

    def traced(name, value):
        def f(x):
            barrier.wait(timeout=30)  # both traces are open at the same moment
            return x * value
        results[name] = jitad.grad(f)(1.0)

    threads = [threading.Thread(target=traced, args=(n, v)) for n, v in [("a", 2.0), ("b", 3.0)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": 2.0, "b": 3.0}


def test_counters_are_exact_under_contention():
    g = jitad.jit(lambda x: x * 2.0)
    g(1.0)

    def hammer(_):
        for _ in range(2000):
            g(1.5)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hammer, range(8)))
    assert g.cache.hits == 8 * 2000
