"""Fused loops on jitad's vectorisable math functions (``jitad.backend.vecmath``):
chosen where a loop can vectorise and is large enough, libm's otherwise or
with ``JITAD_MATH=libm``; fast sin/cos/tan with the exact rerun for huge
arguments; reductions split off per block so the rest vectorises."""
from __future__ import annotations

import io
import re

import numba
import numpy as np
import pytest

import jitad
from jitad.backend import codegen
from jitad.backend.codegen import generate
from jitad.backend.compile import compile_kernel
from jitad.tracer import trace
from jitad import transforms

N = 2 * codegen.VECTOR_ABOVE + 3  # two blocks of a reduction and a ragged end
rng = np.random.default_rng(7)
X = rng.normal(size=N)


def heavy(x):
    return np.sum(np.sin(x) * np.exp(-x ** 2 / 2) + np.log1p(x ** 2) + np.tanh(x) * np.cos(x))


def heavy_grad(x):
    e = np.exp(-x ** 2 / 2)
    return (np.cos(x) * e - x * np.sin(x) * e + 2 * x / (1 + x ** 2)
            + (1 - np.tanh(x) ** 2) * np.cos(x) - np.tanh(x) * np.sin(x))


def _source(f, x):
    graph = transforms.vjp_graph(trace(f, (x,))[0], [0], seed=1.0)
    return generate(graph)


def _gradient(f, x, monkeypatch, math):
    monkeypatch.setenv("JITAD_MATH", math)
    source, consts = _source(f, x)
    value, grad = compile_kernel(source, consts)(x)
    return source, value, grad


def test_vector_and_libm_kernels_agree_with_the_formula(monkeypatch):
    vector_source, v1, g1 = _gradient(heavy, X, monkeypatch, "vector")
    libm_source, v2, g2 = _gradient(heavy, X, monkeypatch, "libm")
    assert "vm_sin_fast(" in vector_source and "vm_exp(" in vector_source
    assert "vm_" not in libm_source and "np.sin(" in libm_source
    # each function within one float64 step; the chain keeps it near rounding
    np.testing.assert_allclose(g1, heavy_grad(X), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g1, g2, rtol=1e-14, atol=1e-15)  # terms are O(1)
    assert v1 == pytest.approx(v2, rel=1e-14) and v1 == pytest.approx(heavy(X), rel=1e-13)


def test_reduction_is_split_into_blocks_and_keeps_its_order(monkeypatch):
    """The blocked sum adds the same terms in the same order as a plain loop."""
    monkeypatch.setenv("JITAD_MATH", "vector")
    source, consts = generate(trace(lambda x: np.sum(np.exp(x)), (X,))[0])
    assert f"in blocks of {codegen.REDUCTION_BLOCK}" in source
    (value,) = compile_kernel(source, consts)(X)
    terms = compile_kernel(*generate(trace(np.exp, (X,))[0]))(X)[0]
    sequential = 0.0
    for t in terms:
        sequential += t
    assert value == sequential


def test_huge_trig_arguments_rerun_the_loop_with_exact_functions(monkeypatch):
    x = X.copy()
    x[[5, N // 2, -1]] = [2.0 ** 30, -1e22, 3.0e300]  # beyond the fast reduction
    x[7] = np.inf  # nan for both: no rerun needed for it alone
    source, value, grad = _gradient(heavy, x, monkeypatch, "vector")
    assert "needs_exact_trig(" in source and "if exact_" in source
    _, value_libm, grad_libm = _gradient(heavy, x, monkeypatch, "libm")
    np.testing.assert_allclose(grad, grad_libm, rtol=1e-13, atol=1e-15)
    assert np.isnan(grad[7]) and np.isnan(grad_libm[7])


def test_loops_that_cannot_vectorise_keep_libm(monkeypatch):
    monkeypatch.setenv("JITAD_MATH", "vector")
    # hypot is a libm call vecmath does not replace: the loop keeps np.sin too
    source, _ = generate(trace(lambda x: np.sin(x) + np.hypot(x, 2.0), (X,))[0])
    assert "vm_" not in source and "np.sin(" in source
    # a reduction with no vector function is not worth blocking
    source, _ = generate(trace(lambda x: np.sum(x * x), (X,))[0])
    assert "blocks" not in source
    # small loops: the functions' compile time would cost more than they save
    source, _ = generate(trace(np.sin, (X[:100],))[0])
    assert "vm_" not in source


def test_float32_keeps_its_dtype_and_is_correctly_rounded(monkeypatch):
    x = X.astype(np.float32)
    source, value, grad = _gradient(lambda x: np.sum(np.exp(x) * np.sin(x)), x, monkeypatch,
                                    "vector")
    assert "vm_exp(" in source and grad.dtype == np.float32
    wide = x.astype(np.float64)
    expected = np.exp(wide) * (np.sin(wide) + np.cos(wide))
    # float32 arithmetic around functions correct to float32 rounding
    assert np.all(np.abs(grad - expected) <= 1e-6 * np.exp(wide))


def test_vector_loop_vectorises_in_the_machine_code(monkeypatch):
    """The point of it all: the fused loop has vector doubles and no libm call."""
    monkeypatch.setenv("JITAD_MATH", "vector")
    # compiled here, not loaded from the disk cache (which keeps no IR)
    fn = numba.njit(error_model="numpy")(compile_kernel(*_source(heavy, X)).module.kernel)
    fn(X)
    ir = fn.inspect_llvm(fn.signatures[0])
    assert re.search(r"<\d+ x double>", ir)
    libm = {"sin", "cos", "exp", "log1p", "tanh"}
    called = set(re.findall(r"call [^@]*@\"?([\w.$]+)", ir))
    assert not called & libm and not any(c.startswith(("llvm.sin", "llvm.cos", "llvm.exp"))
                                         for c in called)


def test_unknown_math_setting_is_refused(monkeypatch):
    monkeypatch.setenv("JITAD_MATH", "svml")
    with pytest.raises(ValueError, match="JITAD_MATH='svml'.*'libm'"):
        jitad.grad(lambda x: np.sum(np.sin(x)))(X)


def test_adjoints_of_shifted_slices_are_written_in_the_loop_that_computes_them():
    """Rosenbrock's gradient scatters into x[1:] and x[:-1]: both are added
    into one zeroed array by the loop that computes them (v[1 + i0] += e), not
    stored and summed by a second loop with a branch per element."""
    def rosenbrock(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    x = np.linspace(-1.2, 1.1, 9)
    g = jitad.grad(rosenbrock)
    inner = x[1:] - x[:-1] ** 2
    expected = np.zeros_like(x)
    expected[:-1] = -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    expected[1:] += 200.0 * inner
    np.testing.assert_allclose(g(x), expected, rtol=1e-14, atol=1e-13)
    text = io.StringIO()
    jitad.show_source(g, file=text)
    source = text.getvalue()
    assert source.count("for i0 in") == 1, source
    assert "np.empty" not in source and "np.zeros((9,)" in source, source
    assert "[1 + i0] += e_" in source, source


def test_a_vector_loop_that_scatters_into_a_slice_compiles():
    """A scatter's array finishes with its loop, as a reduction does, but has
    no reduction axes (once a KeyError: 'axes' in vector_mode)."""
    x = np.linspace(-2.0, 2.0, 3 * codegen.VECTOR_ABOVE)
    g = jitad.grad(lambda x: np.sum(np.sin(x[1:]) * x[:-1]))
    expected = np.zeros_like(x)
    expected[1:] += np.cos(x[1:]) * x[:-1]
    expected[:-1] += np.sin(x[1:])
    np.testing.assert_allclose(g(x), expected, rtol=1e-14, atol=1e-15)
    g2 = jitad.grad(lambda x: np.sum(np.exp(x[::2])))
    expected2 = np.zeros_like(x)
    expected2[::2] = np.exp(x[::2])
    np.testing.assert_allclose(g2(x), expected2, rtol=1e-15)
