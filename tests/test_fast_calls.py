"""The fast path of warm calls of Python floats (``calling.make_fast_run``,
``cache.FastSlot``): the same results as the lookup path, counted the same,
and never stale: a failed guard or a cleared cache sends the call back
through the dispatcher, a function that reads data has no fast run, and a
kernel compiling in the background gets one when it is done."""
from __future__ import annotations

import numpy as np
import pytest

import jitad
from jitad.calling import MISS


def classic(x1, x2):
    return x1 * np.sqrt(np.log(x1 / np.sin(x2 ** 2)))


def classic_exact(x1, x2):
    log_term = np.log(x1 / np.sin(x2 ** 2))
    root = np.sqrt(log_term)
    d_log_d_x2 = -2.0 * x2 * np.cos(x2 ** 2) / np.sin(x2 ** 2)
    return x1 * root, (root + 1.0 / (2.0 * root), x1 / (2.0 * root) * d_log_d_x2)


def _entry(g):
    ((entry,),) = g.cache.entries.values()
    return entry


def test_fast_calls_equal_the_lookup_path_and_are_counted():
    f = lambda x1, x2: classic(x1, x2)  # noqa: E731 - a function of its own: a fresh cache
    g, vg = jitad.grad(f, argnums=(0, 1)), jitad.value_and_grad(f, argnums=(0, 1))
    first = vg(2.0, 0.5)              # compiles
    looked_up = vg(2.0, 0.5), g(2.0, 0.5)   # by lookup; each fills its public function's slot
    entry = _entry(g)
    assert entry.fast_calls == 0 and set(entry.fast_runs) == {None, 1}
    fast = [(vg(x1, 0.5), g(x1, 0.5)) for x1 in (2.0, 3.0, 2.0)]
    assert entry.fast_runs[None].calls() == 3 and entry.fast_runs[1].calls() == 3
    value, gradient = classic_exact(2.0, 0.5)
    for v, gr in [(first, first[1]), looked_up, fast[0], fast[2]]:
        assert v == first and gr == first[1]   # bit for bit
        assert type(v[0]) is np.float64 and all(type(d) is float for d in gr)
    assert fast[0][0][0] == pytest.approx(value, rel=1e-14)
    assert fast[0][1] == pytest.approx(gradient, rel=1e-14)
    assert fast[1][1] == pytest.approx(classic_exact(3.0, 0.5)[1], rel=1e-14)
    assert (g.cache.traces, g.cache.compiles, g.cache.hits, entry.calls) == (1, 1, 8, 9)
    assert "(float, float): 9 calls" in repr(g.cache)


def test_other_arguments_miss_the_fast_run_and_keep_their_errors():
    g = jitad.grad(lambda x1, x2: classic(x1, x2), argnums=(0, 1))
    g(2.0, 0.5), g(2.0, 0.5)
    run = _entry(g).fast_runs[1]
    assert run((2.0,)) is MISS and run((2.0, 0.5, 1.0)) is MISS
    assert run((np.float64(2.0), 0.5)) is MISS and run((2.0, np.array(0.5))) is MISS
    assert g(np.float64(2.0), 0.5) == pytest.approx(classic_exact(2.0, 0.5)[1], rel=1e-14)
    arrays = g(np.array(2.0), np.array(0.5))  # a new key, through the same slot
    assert type(arrays[0]) is np.ndarray
    assert [float(a) for a in arrays] == pytest.approx(classic_exact(2.0, 0.5)[1], rel=1e-14)
    with pytest.raises(TypeError, match=r"pass a float \(2.0, not 2\)"):
        g(2, 0.5)
    assert g(2.0, 0.5) == pytest.approx(classic_exact(2.0, 0.5)[1], rel=1e-14)
    assert run.calls() == 1  # new keys leave the slot as it was
    assert g.cache.hits == 2 and g.cache.compiles == 3


def test_a_failed_guard_on_the_fast_path_takes_the_other_path():
    g = jitad.grad(lambda x: x * 2.0 if x > 0 else x ** 3)
    assert [g(1.0), g(1.0), g(1.0)] == [2.0, 2.0, 2.0]  # the last on the fast path
    assert g(-1.0) == 3.0            # the guard fails on the fast path: a new trace
    assert (g.cache.traces, g.cache.retraces) == (2, 1)
    assert [g(-2.0), g(-2.0)] == [12.0, 12.0]
    assert [g(1.0), g(-1.0), g(3.0)] == [2.0, 3.0, 2.0]  # cached variants, no trace
    assert g.cache.traces == 2
    (variants,) = g.cache.entries.values()
    assert sum(e.calls for e in variants) == 9 and g.cache.hits == 7
    assert sum(e.fast_calls for e in variants) > 0


def test_consts_and_containers_on_the_fast_path():
    def f(x, y):
        weights = np.linspace(1.0, 3.0, 3)  # a constant of the kernel
        return {"sum": np.sum(weights * x) + y, "pair": [x * y, y]}
    h = jitad.jit(f)
    expected = {"sum": np.float64(6.0 * 2.0 + 0.5), "pair": [np.float64(1.0), np.float64(0.5)]}
    results = [h(2.0, 0.5) for _ in range(4)]
    assert all(r == expected for r in results)
    assert type(results[-1]["pair"][0]) is np.float64
    assert _entry(h).fast_runs[None].calls() == 2


def test_a_function_that_reads_its_data_has_no_fast_run():
    weights = np.array([1.0, 2.0, 3.0])  # read on every call, so fetched and keyed
    h = jitad.grad(lambda x: np.sum(weights * x))
    assert [h(2.0), h(2.0)] == [6.0, 6.0]
    weights[:] = 1.0
    assert [h(2.0), h(2.0)] == [3.0, 3.0]
    ((entry,),) = h.cache.entries.values()
    assert entry.fast is None and h.cache.hits == 3


def test_cache_clear_empties_the_slot():
    f = lambda x: np.sin(x) * x  # noqa: E731
    g = jitad.grad(f)
    g(0.5), g(0.5), g(0.5)
    hits = g.cache.hits
    jitad.cache_clear()
    assert g(0.5) == pytest.approx(np.cos(0.5) * 0.5 + np.sin(0.5), rel=1e-14)
    assert g.cache.traces == 2 and g.cache.hits == hits
    g(0.5), g(0.5)
    assert g.cache.hits == hits + 2 and _entry(g).fast_calls == 1


def test_a_background_compile_installs_the_fast_run_when_done(monkeypatch, tmp_path):
    monkeypatch.setenv("JITAD_COMPILE", "background")
    monkeypatch.setenv("JITAD_CACHE_DIR", str(tmp_path))
    g = jitad.grad(lambda x: np.tanh(x) * np.exp(-x))
    first = g(0.3)                   # served by the interpreter
    assert g.cache.wait(timeout=300)
    later = [g(0.3), g(0.3), g(0.3)]
    assert later == pytest.approx([first] * 3, rel=1e-14)
    assert _entry(g).kernel.compiled and _entry(g).fast_calls >= 1


def test_inputs_that_alternate_between_paths_stay_on_the_fast_path():
    """Both paths compiled, a call whose guard fails tries the key's other
    path's fast run (the one that served is tried first next time): no
    lookup, no trace, the same results."""
    g = jitad.grad(lambda x: np.sin(x) * 2.0 if x > 0.0 else np.cos(x) * 3.0)
    g(1.0), g(-1.0), g(1.0)   # two traces; the last call installs the fast run
    hits, traces = g.cache.lookup_hits, g.cache.traces
    results = [g(x) for x in (1.0, -1.0) * 50]
    assert results == [2.0 * np.cos(1.0), 3.0 * np.sin(1.0)] * 50
    assert (g.cache.lookup_hits, g.cache.traces, g.cache.retraces) == (hits, traces, 1)
    (variants,) = g.cache.entries.values()
    assert sum(e.fast_calls for e in variants) == 100
    assert g(0.5) == 2.0 * np.cos(0.5) and g(-0.5) == 3.0 * np.sin(0.5)


def test_a_guard_in_a_loop_body_is_a_status_too():
    """A guard inside a re-rolled loop's body: the body returns the failed
    status, the loop returns it at once, and the fast slot tries the other
    path; nothing is raised through numba."""
    def f(x):
        for _ in range(40):
            x = np.sin(x) * 1.5 if x > -0.5 else x + 1.0
        return x
    g = jitad.grad(f)
    for x in (0.3, -3.0, 0.3):
        g(x)
    assert g.cache.wait(timeout=300)
    source = "\n".join(e.kernel.source for e in next(iter(g.cache.entries.values())))
    assert "scan" in source and "raise" not in source and "failed_" in source
    hits, traces = g.cache.lookup_hits, g.cache.traces
    results = [g(x) for x in (0.3, -3.0) * 20]
    assert (g.cache.lookup_hits, g.cache.traces) == (hits, traces)
    assert results[:2] == [jitad.grad(f)(0.3), jitad.grad(f)(-3.0)]
    assert results[0] == pytest.approx(jitad.fd.grad(f, 0.3, method="central"), rel=1e-6)
