"""The compiled kernel against the reference interpreter on the same graph
(convention 14): values, dtypes and shapes, for primal and derivative graphs
that exercise every lowering path (fused loops, broadcasting, reductions
inside loops, scatters, views, BLAS, 0-d statements)."""
from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest

import jitad  # noqa: F401
from jitad import transforms
from jitad.backend import codegen
from jitad.backend.codegen import generate, group
from jitad.backend.compile import compile_kernel
from jitad.backend.reference import evaluate
from jitad.ir import Graph, Var, validate
from jitad.primitives import sin_p, reduce_sum_p
from jitad.tracer import trace

rng = np.random.default_rng(42)
A23, B3, C21, M34, V4 = (rng.standard_normal(s) for s in [(2, 3), (3,), (2, 1), (3, 4), (4,)])
U3 = rng.uniform(0.2, 0.9, 3)
S33 = rng.standard_normal((3, 3)) + 4.0 * np.eye(3)
S233 = rng.standard_normal((2, 3, 3)) + 4.0 * np.eye(3)
T223, T234 = rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 3, 4))
LABELS, INTS = np.array([2, 0]), np.array([3, -1, 7])

FUNCTIONS = {
    "broadcast_elementwise": (lambda a, b, c: np.tanh(a * b - c) / (1.0 + c ** 2), (A23, B3, C21)),
    "reductions": (lambda a: np.sum(np.exp(a), axis=0) + np.max(a, axis=1).sum(), (A23,)),
    "relu_mlp": (lambda a, w, v: np.sum(np.maximum(a @ w, 0.0) @ v), (A23, M34, V4)),
    "slices": (lambda b: b[1:] * b[:-1] + b[::-1][:2] ** 3, (B3,)),
    "indexing": (lambda a: a[1, 2] * a[:, 0] + a[0][::2].sum(), (A23,)),
    "transpose_reshape": (lambda a: np.sum(a.T.reshape(6) * np.arange(6.0)), (A23,)),
    "where_masks": (lambda a, b: np.sum(np.where(a > 0.1, np.sqrt(np.abs(a)), -b)), (A23, B3)),
    "scalar_chain": (lambda x, y: x * np.sqrt(np.log(x / np.sin(y ** 2))), (2.0, 0.5)),
    # every elementwise template of the new ufuncs, in one fused loop
    "math_ufuncs": (lambda x, y: np.sum(
        np.arcsin(x) + np.arccos(x) + np.arctan(x) + np.sinh(x) + np.cosh(x) + np.arcsinh(x)
        + np.arccosh(x + 1.5) + np.arctanh(x) + np.exp2(x) + np.expm1(x) + np.log2(x)
        + np.log10(x) + np.log1p(x) + np.cbrt(x - 0.5) + np.arctan2(x, y) + np.hypot(x, y)
        + np.logaddexp(x, y) + np.fmax(x, y) + np.floor(3 * x) * x + np.rint(x) + x // 0.3
        + x % 0.3), (U3, U3[::-1].copy())),
    # reduce_prod inside a fused loop; cumsum/cumprod/argmax statements
    "prod_cumulative": (lambda a: np.sum(np.prod(a, axis=1)) + np.argmax(a[0]) * np.sum(a)
                        + np.sum(np.cumsum(a, axis=1) * np.cumprod(a, axis=0)), (A23,)),
    # gathers by constant, traced and boolean-mask indices, and their scatter-adds
    "gathers": (lambda a, labels: np.sum(a[np.arange(2), labels] ** 2)
                + np.sum(a[:, [0, 0, 2]] * a[np.array([True, False])][0]), (A23, LABELS)),
    # max/min over integers and any/all over booleans (reduction initial values)
    "masks_and_integers": (lambda a, n: np.max(n) + np.min(n) + np.count_nonzero(a > 0)
                           + np.sum(np.where(np.any(a > 1.0, axis=0) | ~np.all(a < 2.0, axis=0),
                                             a, -a)), (A23, INTS)),
    # batched matmul, einsum diagonal, diag (scatter), concatenate
    "matmul_concatenate": (lambda a, b, s: np.sum((a @ b) ** 2) + np.einsum("ii->i", s) @ s[1]
                           + np.sum(np.concatenate([s, np.diag(s[0])], axis=0) ** 2),
                           (T223, T234, S33)),
    "linalg": (lambda s, b: np.sum(np.linalg.solve(s, b)) + np.sum(np.linalg.inv(s) ** 2)
               + np.linalg.det(s) + np.linalg.slogdet(s)[1] + np.sum(np.linalg.cholesky(s @ s.T)),
               (S33, B3)),
    # stacks of matrices (a loop of LAPACK calls), convolution, fmod
    "stacked_linalg": (lambda s, b: np.sum(np.linalg.solve(s, b)) + np.sum(np.linalg.inv(s))
                       + np.sum(np.linalg.det(s) + np.linalg.slogdet(s)[1])
                       + np.sum(np.linalg.cholesky(s @ np.swapaxes(s, -1, -2))), (S233, B3)),
    "convolve_fmod": (lambda a, b: np.sum(np.convolve(a, b, "same") ** 2 + np.fmod(a, 0.3)),
                      (V4, B3)),
}


# their primal ops are all in their gradient graphs: compiling those suffices
DERIVATIVES_ONLY = {"math_ufuncs", "prod_cumulative", "gathers", "masks_and_integers",
                    "matmul_concatenate", "linalg", "stacked_linalg", "convolve_fmod"}


def _floats(args):
    return [i for i, a in enumerate(args) if np.issubdtype(np.asarray(a).dtype, np.floating)]


def _graphs():
    for name, (f, args) in FUNCTIONS.items():
        primal, _, _ = trace(f, args)
        if name not in DERIVATIVES_ONLY:
            yield pytest.param(primal, args, id=f"{name}-primal")
        wrt = _floats(args)
        if primal.outputs[0].shape == ():
            yield pytest.param(transforms.vjp_graph(primal, wrt, seed=1.0), args,
                               id=f"{name}-grad")
        tangents = tuple(np.ones_like(np.asarray(args[i], float)) for i in wrt)
        yield pytest.param(transforms.jvp_graph(primal, wrt), args + tangents, id=f"{name}-jvp")


@pytest.mark.parametrize("graph, args", list(_graphs()))
def test_kernel_matches_reference(graph, args):
    _check_against_reference(graph, args)


@pytest.mark.parametrize("graph, args", list(_graphs()))
def test_vector_math_kernel_matches_reference(graph, args, monkeypatch):
    """The same graphs with every fused loop, however small, on vecmath's
    functions (fast trig with its exact rerun, blocked reductions)."""
    monkeypatch.setattr(codegen, "VECTOR_ABOVE", 0)
    _check_against_reference(graph, args)


def _check_against_reference(graph, args):
    validate(graph)
    source, consts = generate(graph)
    kernel = compile_kernel(source, consts)
    # the calling convention: arrays C-contiguous, 0-d values as scalars
    inputs = [np.ascontiguousarray(a) if np.ndim(a) else np.asarray(a)[()] for a in args]
    got = kernel(*inputs)
    expected = evaluate(graph, *args)
    assert len(got) == len(expected)
    for g, e, var in zip(got, expected, graph.outputs):
        assert np.shape(g) == var.shape
        if var.shape:
            assert g.dtype == var.dtype
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


DIAGONAL_CONSTANTS = {
    "slice of the identity": (np.eye(5)[:, 1:], True),
    "3 on the 2nd subdiagonal": (3.0 * np.eye(5, 4, k=-2), True),
    "float32 identity": (np.eye(4, dtype=np.float32), True),
    "inf on the diagonal": (np.where(np.eye(4) > 0, np.inf, 0.0), False),
    "a hole in the diagonal": (np.diag([1.0, 1.0, 0.0, 1.0]), False),
    "two diagonals": (np.eye(4) + np.eye(4, k=1), False),
    "two values": (np.diag([1.0, 2.0, 1.0, 1.0]), False),
}


@pytest.mark.parametrize("name", list(DIAGONAL_CONSTANTS))
def test_a_constant_on_one_diagonal_is_read_as_a_test_on_the_indices(name):
    """Forward mode's seeds: a literal that is one finite value on all of one
    diagonal is computed from the indices, anything else is read."""
    constant, one_diagonal = DIAGONAL_CONSTANTS[name]
    x = np.linspace(0.5, 1.5, constant.shape[1])
    graph = trace(lambda x: np.sin(x) * constant + x, (x,))[0]
    source, consts = generate(graph)
    assert ("c_0" not in source) == one_diagonal, source
    got, = compile_kernel(source, consts)(x)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got, np.sin(x) * constant + x)
    assert got.dtype == np.result_type(x, constant)


def test_float32_kernel_keeps_dtype():
    x = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    graph = transforms.vjp_graph(trace(lambda x: np.sum(np.sin(x) * x), (x,))[0], [0], seed=1.0)
    kernel = compile_kernel(*generate(graph))
    value, g = kernel(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-6)


def test_hand_built_graph_lowers():
    """The backend needs no tracer: a graph built by hand compiles."""
    x = Var((4,), np.dtype(np.float64))
    y = Var((4,), np.dtype(np.float64))
    s = Var((), np.dtype(np.float64))
    from jitad.ir import Op
    graph = validate(Graph((x,), (Op(sin_p, (x,), (y,), {}),
                                  Op(reduce_sum_p, (y,), (s,), {"axes": (0,)})), (s,)))
    kernel = compile_kernel(*generate(graph))
    assert kernel(np.arange(4.0))[0] == pytest.approx(np.sin(np.arange(4.0)).sum(), rel=1e-15)


def test_elementwise_chain_is_one_loop():
    """Fusion: sin, mul, add and the sum of a chain make one loop, no temporaries."""
    graph = trace(lambda x: np.sum(np.sin(x) * 2.0 + x), (np.ones(8),))[0]
    items = group(graph)
    assert len(items) == 1 and len(items[0].ops) == 4
    source, _ = generate(graph)
    assert "np.empty" not in source and source.count("for i0") == 1


def test_kernel_source_is_readable():
    graph = trace(lambda x1, x2: x1 * np.sin(x2), (2.0, 0.5), ["x1", "x2"])[0]
    source, _ = generate(graph)
    assert "# v_1 = sin(v_0)" in source and "v_1 = np.sin(v_0)" in source
    assert "# v_-1 = x1" in source


def test_outputs_never_alias_inputs():
    x = np.arange(3.0)
    graph = trace(lambda x: (x, x.T), (x,))[0]
    kernel = compile_kernel(*generate(graph))
    a, b = kernel(x)
    assert not np.shares_memory(a, x) and not np.shares_memory(b, x)


def test_gather_checks_traced_indices():
    """A label out of range raises IndexError in the kernel (never reads
    memory out of bounds); negative labels wrap as in NumPy."""
    graph = trace(lambda a, labels: a[np.arange(2), labels], (A23, LABELS))[0]
    kernel = compile_kernel(*generate(graph))
    np.testing.assert_array_equal(kernel(A23, np.array([-1, 0]))[0], A23[[0, 1], [-1, 0]])
    with pytest.raises(IndexError, match="out of bounds"):
        kernel(A23, np.array([3, 0]))


def test_a_failed_guard_is_a_status_the_kernel_returns():
    """A kernel's guard does not raise through numba (a microsecond a call):
    it returns at once with its status, True, as its last output, and empty
    outputs of every output's type (a transposed view, a float32 scalar, a
    bool array); ``Kernel.__call__`` raises it as GuardFailure."""
    from jitad.errors import GuardFailure

    def f(x, y):
        if np.sum(x) > 0:
            return (x * 2.0).T, np.sum(y), x > 1.0
        return x.T, np.sum(y) * 2, x < 0.0

    x, y = np.arange(6.0).reshape(2, 3), np.ones(3, np.float32)
    graph = trace(f, (x, y))[0]
    source, consts = generate(graph)
    assert codegen.has_status(source) and "raise" not in source
    kernel = compile_kernel(source, consts)
    for expected, got in zip(f(x, y), kernel(x, y)):
        np.testing.assert_array_equal(got, expected)
        assert np.ndim(got) == 0 or got.dtype == expected.dtype  # numba boxes scalars
    raw = kernel.fn(-x, y)
    assert raw[-1] is True and [np.shape(o) for o in raw[:-1]] == [(0, 0), (), (0, 0)]
    with pytest.raises(GuardFailure):
        kernel(-x, y)
    unguarded = generate(trace(lambda x: x * 2.0, (x,))[0])[0]
    assert not codegen.has_status(unguarded)


def _thp_faults() -> int:
    """Huge-page faults the kernel has taken or tried, machine-wide."""
    counts = dict(line.split() for line in open("/proc/vmstat"))
    return int(counts["thp_fault_alloc"]) + int(counts["thp_fault_fallback"])


def test_large_arrays_go_on_huge_pages_and_small_ones_do_not():
    """A new array of 4 MiB or more is advised onto huge pages (np.empty, and
    np.zeros as a buffer that scatters add into, which must start at zero);
    a small one is a plain np.empty."""
    def f(x):
        return np.sum(x[::2] ** 2) + np.sum(np.sin(x))
    n = 6_000_000
    x = np.linspace(0.0, 1.0, n)
    grad = jitad.grad(f)
    expected = np.where(np.arange(n) % 2 == 0, 2.0 * x, 0.0) + np.cos(x)
    np.testing.assert_allclose(grad(x), expected, rtol=1e-15, atol=1e-15)
    source = io.StringIO()
    jitad.show_source(grad, file=source)
    assert "= filled(huge_pages(np.empty((6000000,), np.float64)), 0)" in source.getvalue()
    assert "= huge_pages(np.empty((6000000,), np.float64))" in source.getvalue()
    small = io.StringIO()
    grad_small = jitad.grad(lambda x: np.sum(np.sin(x)))
    grad_small(x[:1000])
    jitad.show_source(grad_small, file=small)
    assert "huge_pages(" not in small.getvalue() and "np.empty((1000,), np.float64)" in \
        small.getvalue()
    thp = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if thp.exists() and "[never]" not in thp.read_text():
        before = _thp_faults()
        grad(x)
        assert _thp_faults() - before >= 10  # 2 x 48 MB of new arrays: ~46 huge pages


def test_small_products_are_written_out_and_exact():
    """A product of at most SMALL_PRODUCT multiply-adds (a 2x2 Kalman step's)
    is a loop in the kernel, not a call of np.dot (~70 ns each), in the
    primal and in its derivatives."""
    def f(A, x):
        return np.sum(np.tanh((A @ A.T) @ (A @ x)) * (x @ A)) + x @ x
    A, x = np.array([[0.3, -1.2], [0.7, 0.4]]), np.array([0.5, -0.8])
    grad = jitad.grad(f, argnums=(0, 1))
    dA, dx = grad(A, x)
    h = 1e-30
    expected_A = np.array([[np.imag(f(A + 1j * h * e.reshape(2, 2), x)) / h
                            for e in np.eye(4)]]).reshape(2, 2)
    expected_x = np.array([np.imag(f(A, x + 1j * h * e)) / h for e in np.eye(2)])
    np.testing.assert_allclose(dA, expected_A, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dx, expected_x, rtol=1e-14, atol=1e-15)
    source = io.StringIO()
    jitad.show_source(grad, file=source)
    assert "np.dot(" not in source.getvalue() and "[i0, 0] * " in source.getvalue()
    big = jitad.grad(lambda A, x: np.sum(A @ x), argnums=0)
    big(np.ones((8, 8)), np.ones(8))
    source = io.StringIO()
    jitad.show_source(big, file=source)
    assert "np.dot(" in source.getvalue()


def test_a_later_loop_recomputes_cheap_values_instead_of_storing_them():
    """A Gaussian mixture's x - mu and (x - mu) * precision, (n, k, d), are read
    again by the gradient's loop after the sums over d: that loop computes
    them itself (two multiply-adds) and no (n, k, d) array is stored."""
    def mixture(mu, log_precision, x):
        z = (x[:, None, :] - mu[None, :, :]) * np.exp(log_precision)[None, :, :]
        return np.sum(np.log(np.sum(np.exp(-0.5 * np.sum(z * z, axis=2)), axis=1)))
    rng = np.random.default_rng(11)
    mu, log_precision, x = (rng.standard_normal((3, 4)), 0.3 * rng.standard_normal((3, 4)),
                            rng.standard_normal((50, 4)))
    grad = jitad.grad(mixture, argnums=(0, 1))
    d_mu, d_log_precision = grad(mu, log_precision, x)
    h = 1e-30
    for got, k in ((d_mu, 0), (d_log_precision, 1)):
        args = [mu, log_precision, x]
        expected = []
        for e in np.eye(12):
            shifted = list(args)
            shifted[k] = args[k] + 1j * h * e.reshape(3, 4)
            expected.append(np.imag(mixture(*shifted)) / h)
        np.testing.assert_allclose(got, np.reshape(expected, (3, 4)), rtol=1e-13, atol=1e-14)
    source = io.StringIO()
    jitad.show_source(grad, file=source)
    assert "np.empty((50, 3, 4)" not in source.getvalue(), source.getvalue()
    assert source.getvalue().count(" - v_") >= 2  # x - mu in the forward loop and again
