"""Kernels call linear algebra compiled once (``jitad/backend/lapack.py``):
the source reads as a call, failures are NumPy's LinAlgError, and a kernel
loaded from the disk cache in a new process finds the functions again."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import jitad

from .test_disk_cache import child_env
from .test_linalg_coverage import central

SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])


def source_of(fn) -> str:
    text = io.StringIO()
    jitad.show_source(fn, file=text)
    return text.getvalue()


def gp_like(a, y):
    L = np.linalg.cholesky(a)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return y @ alpha + np.sum(np.log(np.diag(L))) + np.linalg.slogdet(a)[1] \
        + np.sum(np.linalg.inv(a)) + np.linalg.det(a)


def test_kernels_call_the_compiled_functions_and_match_numpy():
    y = np.array([1.0, -2.0, 0.5])
    g = jitad.value_and_grad(gp_like)
    value, gradient = g(SPD, y)
    source = source_of(g)
    for op in ("cholesky", "solve", "slogdet", "inv", "det"):
        assert f"la_{op}_float64(" in source
    assert "np.linalg." not in source.replace("np.linalg.LinAlgError", "")
    assert value == pytest.approx(gp_like(SPD, y), rel=1e-12)
    np.testing.assert_allclose(gradient, central(lambda a: gp_like(a, y), SPD),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn, bad, message", [
    (lambda a, b: np.linalg.cholesky(a) @ b, -SPD, "Matrix is not positive definite."),
    (lambda a, b: np.linalg.solve(a, b), np.ones((3, 3)), "Matrix is singular"),
    (lambda a, b: np.linalg.solve(a, b), SPD * np.nan, "must not contain infs or NaNs"),
    (lambda a, b: np.linalg.inv(a) @ b, np.zeros((3, 3)), "Matrix is singular"),
    (lambda a, b: np.linalg.det(a) * b, SPD * np.inf, "must not contain infs or NaNs"),
])
def test_a_failure_in_the_kernel_is_numpys_linalg_error(fn, bad, message):
    f = jitad.jit(fn)
    f(SPD, np.ones(3))  # compiles; the next call runs the kernel
    with pytest.raises(np.linalg.LinAlgError, match=message):
        f(bad, np.ones(3))


def test_stacks_and_float32():
    stack = np.stack([SPD, 2.0 * SPD])
    got = jitad.jit(lambda a: (np.linalg.inv(a), np.linalg.det(a), np.linalg.cholesky(a)))(stack)
    for mine, numpys in zip(got, (np.linalg.inv(stack), np.linalg.det(stack),
                                  np.linalg.cholesky(stack))):
        np.testing.assert_allclose(mine, numpys, rtol=1e-12)
    small = jitad.jit(lambda a: np.linalg.solve(a, a[:, :1]))(SPD.astype(np.float32))
    assert small.dtype == np.float32
    np.testing.assert_allclose(small, [[1.0], [0.0], [0.0]], atol=1e-6)


TALL = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.2], [-0.7, 1.1]])


def decompositions(a):
    q, r = np.linalg.qr(a)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    w, v = np.linalg.eigh(a.T @ a)
    return np.sum(r ** 2) + np.sum(s ** 3) + np.sum(w) + np.sum(np.abs(q @ r - a))


def test_decompositions_call_the_compiled_functions():
    """qr, svd and eigh (and svd_complement, which the svd's derivative of a
    tall matrix uses) are cfuncs too; values and gradients follow NumPy."""
    g = jitad.value_and_grad(decompositions)
    value, gradient = g(TALL)
    source = source_of(g)
    for op in ("qr", "svd", "eigh"):
        assert f"la_{op}_float64(" in source
    assert "np.linalg." not in source.replace("np.linalg.LinAlgError", "")
    assert value == pytest.approx(decompositions(TALL), rel=1e-12)
    np.testing.assert_allclose(gradient, central(decompositions, TALL),
                               rtol=1e-6, atol=1e-7)
    stack = np.stack([TALL, TALL[::-1]])
    got = jitad.jit(lambda a: (np.linalg.svd(a, full_matrices=False)[1],
                               np.linalg.qr(a)[1],
                               np.linalg.eigh(np.swapaxes(a, 1, 2) @ a)[0]))(stack)
    expected = (np.linalg.svd(stack, full_matrices=False)[1], np.linalg.qr(stack)[1],
                np.linalg.eigh(np.swapaxes(stack, 1, 2) @ stack)[0])
    for mine, numpys in zip(got, expected):
        np.testing.assert_allclose(mine, numpys, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", [lambda a: np.linalg.eigh(a)[0], lambda a: np.linalg.qr(a)[1],
                                lambda a: np.linalg.svd(a)[1]], ids=["eigh", "qr", "svd"])
def test_a_decomposition_of_nans_is_numpys_linalg_error(fn):
    f = jitad.jit(fn)
    f(SPD)
    with pytest.raises(np.linalg.LinAlgError, match="must not contain infs or NaNs"):
        f(SPD * np.nan)


CHILD = """
import json, numpy as np, jitad
a = np.array([[4.0, 1.0], [1.0, 3.0]])
g = jitad.grad(lambda a: np.linalg.slogdet(a)[1] + np.sum(np.linalg.solve(a, a[:, :1])))
out = g(a)
kernel = next(iter(g.cache.entries.values()))[0].kernel
print(json.dumps({"hits": sum(kernel.fn.stats.cache_hits.values()), "grad": out.tolist()}))
"""


def test_a_kernel_from_the_disk_cache_finds_the_functions_in_a_new_process(tmp_path):
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", CHILD], env=child_env(tmp_path),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    assert [r["hits"] for r in runs] == [0, 1]
    assert runs[0]["grad"] == runs[1]["grad"]
    a = np.array([[4.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(runs[1]["grad"], np.linalg.inv(a).T, rtol=1e-12)
