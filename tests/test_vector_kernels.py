"""Fused loops on jitad's vectorisable math functions (``jitad.backend.vecmath``):
chosen where a loop can vectorise and is large enough, libm's otherwise or
with ``JITAD_MATH=libm``; fast sin/cos/tan with the exact rerun for huge
arguments; reductions split off per block so the rest vectorises."""
from __future__ import annotations

import io
import math
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
    """A max keeps its order (NaN first wins): split off per block, it adds
    the same terms in the same order as a plain loop."""
    monkeypatch.setenv("JITAD_MATH", "vector")
    source, consts = generate(trace(lambda x: np.max(np.exp(x)), (X,))[0])
    assert f"in blocks of {codegen.REDUCTION_BLOCK}" in source
    (value,) = compile_kernel(source, consts)(X)
    assert value == np.max(np.exp(X))


def test_a_sum_is_reordered_into_vector_lanes(monkeypatch):
    """A sum in a serial loop accumulates in vector lanes (add_lanes: LLVM's
    reassoc flag on that one add), so the loop around it vectorises; the
    result is a sum in another order, within the rounding bound of any."""
    monkeypatch.setenv("JITAD_MATH", "vector")
    source, consts = generate(trace(lambda x: np.sum(np.exp(x)), (X,))[0])
    assert "blocks" not in source and "= add_lanes(" in source, source
    fn = numba.njit(error_model="numpy")(compile_kernel(source, consts).module.kernel)
    (value,) = fn(X)
    terms = np.exp(X)
    assert abs(value - math.fsum(terms)) <= N * np.finfo(float).eps * np.sum(np.abs(terms))
    ir = fn.inspect_llvm(fn.signatures[0])
    assert re.search(r"fadd reassoc <\d+ x double>", ir), "the sum did not vectorise"


def _assert_thread_count_free(parallel, x, value, grad):
    """One thread gives the bits the default thread count gave."""
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = parallel(x)
    finally:
        numba.set_num_threads(threads)
    assert one[0] == value and np.array_equal(one[1], grad)


@pytest.mark.parametrize("shape", [(codegen.PARALLEL_ABOVE + 7,), (3000, 70)])
def test_a_parallel_sum_is_split_into_blocks_added_in_order(shape):
    """Under prange each block of outer indices sums serially (vectorised,
    with vecmath), and the blocks' sums are added in order after the loop:
    the result does not depend on the number of threads."""
    x = np.linspace(-3.0, 3.0, int(np.prod(shape))).reshape(shape)
    serial = jitad.value_and_grad(heavy)
    parallel = jitad.value_and_grad(heavy, parallel=True)
    value, grad = parallel(x)
    expected_value, expected_grad = serial(x)
    assert value == pytest.approx(expected_value, rel=1e-13)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-15)
    text = io.StringIO()
    jitad.show_source(parallel, file=text)
    source = text.getvalue()
    assert "for jb in prange(" in source and "= add_lanes(s_" in source, source
    assert "vm_sin" in source, source
    _assert_thread_count_free(parallel, x, value, grad)


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
    """Rosenbrock's gradient scatters into x[1:] and x[:-1]: the loop that
    computes both stores each element of one array once, the part for the
    next position carried in a local (no second loop, no zeros first, and
    no store that the next iteration reads, which kept LLVM from
    vectorising)."""
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
    assert "np.zeros" not in source and "np.empty((9,)" in source, source
    assert re.search(r"\[i0\] = r1_\d+ \+ e_", source) and "[8] = r1_" in source, source
    assert " += " not in source, source


def _shifted(x, np=np):
    """Three shifted views of the last axis (a second difference), a sum."""
    return np.sum(np.sin(x[..., 2:] - 2.0 * x[..., 1:-1] + x[..., :-2]) ** 2)


def _shifted_grad(x):
    c = x[..., 2:] - 2.0 * x[..., 1:-1] + x[..., :-2]
    d = 2.0 * np.sin(c) * np.cos(c)
    g = np.zeros_like(x)
    g[..., 2:] += d
    g[..., 1:-1] -= 2.0 * d
    g[..., :-2] += d
    return g


@pytest.mark.parametrize("shape, dtype", [((7,), np.float64), ((3, 6), np.float64),
                                          ((2 * codegen.VECTOR_ABOVE,), np.float64),
                                          ((40,), np.float32)])
def test_shifted_views_of_any_rank_carry_their_adjoints(shape, dtype):
    x = np.linspace(-1.0, 1.3, int(np.prod(shape))).reshape(shape).astype(dtype)
    g = jitad.grad(_shifted)
    got = g(x)
    assert got.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, _shifted_grad(x.astype(np.float64)), rtol=rtol,
                               atol=rtol * 10)
    text = io.StringIO()
    jitad.show_source(g, file=text)
    assert "r2_" in text.getvalue() and " += " not in text.getvalue().split("v_0 =")[-1]


def test_shifted_views_that_leave_positions_unwritten_keep_the_zeros():
    """x[2:] and x[1:-2] write neither position 0 nor the last: zeros first."""
    x = np.linspace(-1.0, 1.0, 10)
    g = jitad.grad(lambda x: np.sum(x[2:-1] * x[1:-2] ** 2))
    expected = np.zeros_like(x)
    expected[2:-1] += x[1:-2] ** 2
    expected[1:-2] += 2.0 * x[2:-1] * x[1:-2]
    np.testing.assert_allclose(g(x), expected, rtol=1e-15)
    text = io.StringIO()
    jitad.show_source(g, file=text)
    assert "np.zeros((10,)" in text.getvalue() and "r1_" in text.getvalue()


def test_the_rosenbrock_gradient_vectorises_in_the_machine_code():
    def rosenbrock(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    x = np.linspace(-1.0, 1.0, 1000)
    graph = transforms.vjp_graph(trace(rosenbrock, (x,))[0], [0], seed=1.0)
    fn = numba.njit(error_model="numpy")(compile_kernel(*generate(graph)).module.kernel)
    fn(x)
    assert re.search(r"<\d+ x double>", fn.inspect_llvm(fn.signatures[0]))


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


def test_two_arrays_carried_by_one_loop():
    """Both gradients of a loss of shifted views of x and y: one loop carries
    two arrays (their last stores follow the loop, once each)."""
    def f(x, y):
        return np.sum((x[1:] - y[:-1]) ** 2 * y[1:] + x[:-1] * y[1:])
    x, y = np.linspace(-1.0, 1.0, 7), np.linspace(0.5, 2.0, 7)
    gx, gy = jitad.grad(f, argnums=(0, 1))(x, y)
    d = x[1:] - y[:-1]
    ex, ey = np.zeros_like(x), np.zeros_like(y)
    ex[1:] += 2.0 * d * y[1:]
    ex[:-1] += y[1:]
    ey[:-1] -= 2.0 * d * y[1:]
    ey[1:] += d ** 2 + x[:-1]
    np.testing.assert_allclose(gx, ex, rtol=1e-14)
    np.testing.assert_allclose(gy, ey, rtol=1e-14)


def _rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("f, shape", [(_rosenbrock, (codegen.PARALLEL_ABOVE + 5,)),
                                      (_shifted, (codegen.PARALLEL_ABOVE + 5,)),
                                      (_shifted, (300, 500))])
def test_carried_adjoints_run_on_every_core(f, shape):
    """Under prange a 1-d loop's carries run per block (each block's last
    carries added to the next block's first positions after the loop); a
    2-d loop carries along its rows, each row on one thread. The results
    are those of the serial kernel, at any thread count."""
    x = np.linspace(-1.5, 1.5, int(np.prod(shape))).reshape(shape)
    parallel = jitad.value_and_grad(f, parallel=True)
    value, grad = parallel(x)
    expected_value, expected_grad = jitad.value_and_grad(f)(x)
    assert value == pytest.approx(expected_value, rel=1e-13)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-13)
    if f is _shifted:
        np.testing.assert_allclose(grad, _shifted_grad(x), rtol=1e-12, atol=1e-12)
    text = io.StringIO()
    jitad.show_source(parallel, file=text)
    assert "prange(" in text.getvalue() and "r1_" in text.getvalue(), text.getvalue()
    _assert_thread_count_free(parallel, x, value, grad)


def test_the_default_goes_parallel_only_for_larger_loops():
    """parallel=True runs loops from PARALLEL_ABOVE elements on every core;
    the default ("auto" where numba has several threads) only from
    AUTO_PARALLEL_ABOVE, where the threads pay even on a busy machine."""
    x = np.ones(codegen.PARALLEL_ABOVE + 7)
    graph = trace(lambda x: np.sum(np.sin(x)), (x,))[0]
    assert "prange(" in generate(graph, True)[0]
    assert "prange(" not in generate(graph, "auto")[0]
    big = trace(lambda x: np.sum(np.sin(x)), (np.ones(codegen.AUTO_PARALLEL_ABOVE),))[0]
    assert "prange(" in generate(big, "auto")[0]


def test_slices_far_apart_are_added_in_place_not_carried():
    """An LSTM's gates are four slices of one product, z[:, :k] ... z[:, 3k:]:
    their adjoints scatter k positions apart, too far to carry in locals (it
    took 3k of them, shifted every iteration); they add into the array."""
    k = 16

    def gates(z):
        sig = 1.0 / (1.0 + np.exp(-z[:, :k]))
        return np.sum(sig * np.tanh(z[:, k:2 * k]) + z[:, 2 * k:3 * k] ** 2 * z[:, 3 * k:])
    z = np.random.default_rng(3).standard_normal((4, 4 * k))
    g = jitad.grad(gates)
    expected = np.stack([np.imag(gates(z + 1e-30j * e.reshape(z.shape))) / 1e-30
                         for e in np.eye(z.size)]).reshape(z.shape)
    np.testing.assert_allclose(g(z), expected, rtol=1e-14, atol=1e-15)
    text = io.StringIO()
    jitad.show_source(g, file=text)
    assert "r1_" not in text.getvalue() and f"[i0, {2 * k} + i1] += " in text.getvalue()
