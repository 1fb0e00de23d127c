"""Kernels that do not depend on sizes (``jitad.backend.sizes``): a
function's second size compiles a size-generic kernel, every later size is
served by it without compiling, with the results a kernel compiled for that
size gives; Python that branches on a shape still gets its own trace; the
generic kernel is cached on disk like any other."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jitad


def network_loss(params, X, y):
    W1, b1, W2 = params
    hidden = np.tanh(X @ W1 + b1)
    return np.mean((hidden @ W2 - y) ** 2)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _params(rng):
    return [rng.normal(size=(4, 6)) * 0.5, rng.normal(size=6) * 0.1, rng.normal(size=(6, 2))]


def _batch(rng, n):
    return rng.normal(size=(n, 4)), rng.normal(size=(n, 2))


TRANSFORMS = {
    "grad": lambda f: jitad.grad(f),
    "value_and_grad": lambda f: jitad.value_and_grad(f),
    "jacfwd": lambda f: jitad.jacfwd(f),
    "jacrev": lambda f: jitad.jacrev(f),
    "hessian": lambda f: jitad.hessian(f),
}


def _assert_same(got, expected):
    for g, e in zip(jitad.tree.flatten(got)[0], jitad.tree.flatten(expected)[0]):
        # the same operations; a sum's order in vector lanes may differ
        # between a constant and a run-time trip count
        np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_later_sizes_are_served_by_one_kernel_with_a_fresh_compiles_results(name):
    transform = TRANSFORMS[name]
    g = transform(rosenbrock)
    rng = np.random.default_rng(0)
    sizes = (6, 9, 13, 4, 30)
    for n in sizes:
        x = rng.normal(size=n)
        _assert_same(g(x), transform(rosenbrock)(x))  # a new function: its own kernel
    assert g.cache.compiles == 2, g.cache
    text = repr(g.cache)
    assert text.count("size-generic kernel of an earlier size") == len(sizes) - 2, text
    assert "compiled in" in text and ", size-generic" in text


def test_a_new_minibatch_size_compiles_nothing():
    rng = np.random.default_rng(1)
    params = _params(rng)
    g = jitad.grad(network_loss)
    # 64 x 6 hidden units is above codegen.VECTOR_ABOVE, 32 x 6 below: the
    # smaller sizes are written with the first size's vecmath loops, so they
    # join its family
    for n in (64, 64, 32, 17, 64, 5):
        X, y = _batch(rng, n)
        _assert_same(g(params, X, y), jitad.grad(network_loss)(params, X, y))
    assert g.cache.compiles == 2 and len(g.cache) == 4, g.cache


@pytest.mark.parametrize("sizes", [(100, 100, 1000, 3, 1), (1000, 1000, 100, 1, 5000)])
def test_sizes_across_the_vector_threshold_share_one_family(sizes):
    """A loop above codegen.VECTOR_ABOVE calls vecmath, below it libm: a size
    on the other side keeps the first size's choice, either way round; the
    max makes the vecmath loop a blocked one."""
    def f(x):
        return np.sum(np.tanh(x) * np.exp(-x * x)) + np.max(np.sin(x))
    g = jitad.grad(f)
    rng = np.random.default_rng(2)
    for n in sizes:
        x = rng.normal(size=n)
        _assert_same(g(x), jitad.grad(f)(x))
    assert g.cache.compiles == 2, g.cache


def test_the_generic_kernel_shows_its_size_parameters():
    g = jitad.grad(rosenbrock)
    for n in (5, 8, 11):
        g(np.linspace(0.0, 1.0, n))
    kernel = g.cache.entries[next(reversed(g.cache.entries))][0].kernel
    assert kernel.generic and kernel.reused and kernel.sizes
    head = kernel.source.splitlines()[:2]
    assert head[0].startswith("# size-generic: size_0") and "size_0" in head[1], head


def test_a_branch_on_a_shape_still_gets_its_own_trace():
    def f(x):
        if x.shape[0] > 5:
            return np.sum(x ** 3)
        return np.sum(np.sin(x))
    g = jitad.grad(f)
    for n in (3, 4, 8, 9, 2, 12):
        x = np.linspace(-1.0, 1.0, n)
        expected = 3 * x ** 2 if n > 5 else np.cos(x)
        np.testing.assert_allclose(g(x), expected, rtol=1e-15)
    assert g.cache.traces == 6 and g.cache.compiles == 4  # two families, two kernels each


def test_constants_that_come_from_sizes_are_parameters():
    """The 1/n of a mean differs per size: it is passed, not baked in."""
    g = jitad.grad(lambda x: np.mean(x ** 2))
    for n in (3, 7, 10):
        x = np.arange(1.0, n + 1)
        np.testing.assert_allclose(g(x), 2 * x / n, rtol=1e-15)


def test_the_generic_kernel_loads_from_the_disk_cache(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, jitad
        def rosenbrock(x):
            return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        g = jitad.grad(rosenbrock)
        for n in (6, 9, 13):
            g(np.linspace(0.0, 1.0, n))
        kernels = [v[0].kernel for v in g.cache.entries.values()]
        print(kernels[1].generic, kernels[1].machine_code_cached(), kernels[1].compile_seconds)
    """)
    env = dict(os.environ, JITAD_CACHE_DIR=str(tmp_path), JITAD_COMPILE="sync")
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0][:2] == ["True", "True"] and runs[1][:2] == ["True", "True"]
    # the second process loads the generic kernel's machine code: no compile
    assert float(runs[1][2]) < 0.5 * float(runs[0][2]), runs
