"""The on-disk kernel cache (jitad.backend.compile): a new process loads the
machine code a previous one compiled, two processes may write it at once, and
a new jitad or numba version never loads old machine code.

Each process test runs ``python -c CHILD`` with its own ``JITAD_CACHE_DIR``;
run with ``-s`` to see the cold and warm first-call times.
"""
import json
import os
import subprocess
import sys

import numba
import pytest

import jitad
from jitad.backend import compile as backend

# A child process: numba's one-time start-up (every process pays it, cache or
# not) is taken out by a first tiny kernel, then the first call of a gradient
# is timed, and numba's own statistics say whether it compiled or loaded.
CHILD = """
import json, time
start = time.perf_counter()
import numpy as np, jitad
jitad.jit(lambda x: x * 2.0)(1.0)
startup = time.perf_counter() - start

def f(x):
    return np.sum(np.tanh(x) ** 2 * np.exp(-x) + np.sin(3.0 * x) / (1.0 + x * x))

g = jitad.grad(f)
start = time.perf_counter()
out = g(np.linspace(0.0, 1.0, 10))
first_call = time.perf_counter() - start
kernel = next(iter(g.cache.entries.values()))[0].kernel
print(json.dumps({"startup": startup, "first_call": first_call, "path": kernel.path,
                  "hits": sum(kernel.fn.stats.cache_hits.values()),
                  "misses": sum(kernel.fn.stats.cache_misses.values()),
                  "grad": out.tolist()}))
"""


def child_env(cache_dir):
    env = dict(os.environ, JITAD_CACHE_DIR=str(cache_dir))
    # the child imports the same jitad as this test process
    root = os.path.dirname(os.path.dirname(jitad.__file__))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def run_child(cache_dir) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD], env=child_env(cache_dir),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_second_process_loads_the_kernel_instead_of_compiling(tmp_path):
    cold = run_child(tmp_path)
    warm = run_child(tmp_path)
    print(f"\nfirst call of the gradient: cold {cold['first_call']:.3f} s, warm disk cache "
          f"{warm['first_call']:.3f} s (numba start-up, paid by both: cold "
          f"{cold['startup']:.2f} s, warm {warm['startup']:.2f} s)")
    assert (cold["misses"], cold["hits"]) == (1, 0)
    assert (warm["misses"], warm["hits"]) == (0, 1)
    assert warm["path"] == cold["path"] and warm["grad"] == cold["grad"]
    assert warm["first_call"] < cold["first_call"] / 2
    assert os.stat(cold["path"]).st_mode & 0o777 == 0o644  # readable by a shared cache's users


def test_two_processes_writing_the_same_kernel_at_once(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], env=child_env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.splitlines()[-1]))
    assert results[0]["grad"] == results[1]["grad"]
    assert results[0]["path"] == results[1]["path"]
    # no partial file is left behind, and the cache still serves a third process
    leftovers = [name for _, _, files in os.walk(tmp_path) for name in files
                 if name.endswith(".tmp")]
    assert leftovers == []
    third = run_child(tmp_path)
    assert third["grad"] == results[0]["grad"]
    print(f"\nafter a concurrent write, a third process: {third['hits']} cache hit(s), "
          f"{third['misses']} compile(s)")


SOURCE = "def kernel(v_0):\n    return (v_0 + 1.0,)\n"


def test_a_new_jitad_or_numba_version_uses_other_files(monkeypatch, tmp_path):
    monkeypatch.setenv("JITAD_CACHE_DIR", str(tmp_path))
    base = backend.compile_kernel(SOURCE).path
    assert base.startswith(str(tmp_path))
    assert backend.compile_kernel(SOURCE).path == base  # same text, same file

    monkeypatch.setattr(jitad.version, "__version__", "0.0.0+other")
    other_jitad = backend.compile_kernel(SOURCE)
    assert other_jitad.path != base
    with open(other_jitad.path) as fh:
        assert "jitad 0.0.0+other" in fh.readline()
    monkeypatch.undo()

    monkeypatch.setenv("JITAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(numba, "__version__", "0.0.0+other")
    other_numba = backend.compile_kernel(SOURCE).path
    assert other_numba not in (base, other_jitad.path)
    # the kernel compiled for the other version still computes the right thing
    assert other_jitad(1.0) == (2.0,)


def test_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("JITAD_CACHE_DIR", str(tmp_path / "mine"))
    assert backend.cache_dir().startswith(str(tmp_path / "mine"))
    monkeypatch.delenv("JITAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert backend.cache_dir().startswith(str(tmp_path / "xdg" / "jitad"))


@pytest.mark.parametrize("value", ["", None])
def test_an_empty_or_missing_variable_means_the_default(monkeypatch, value, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if value is None:
        monkeypatch.delenv("JITAD_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("JITAD_CACHE_DIR", value)
    assert backend.cache_dir().startswith(os.path.join(str(tmp_path), ".cache", "jitad"))
