"""Every primitive's derivative rules against independent references.

One spec table (convention 12): each entry is a NumPy-level function, the
input domains and shapes it is checked on, and whether it is analytic (then
the reference is the complex step, else central differences). Each case is
checked in both modes (adjoint and tangent sweeps) and to second order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import scipy.special as sc
from hypothesis import given, settings
from hypothesis import strategies as st

from jitad import primitives as P
from jitad import transforms
from jitad.backend.reference import evaluate
from jitad.scipy import special as jsp
from jitad.scipy import stats as jst
from jitad.tracer import trace

from .derivatives import ad_grad, ad_hvp, ad_jvp, check_first_order, check_second_order


@dataclass(frozen=True)
class Domain:
    low: float = -2.0
    high: float = 2.0
    away_from: tuple = ()  # keep |x - p| >= 0.1 for each p (kinks, poles)
    zeros: int = 0         # this many entries exactly 0 (prod, cumprod)

    def sample(self, rng, shape):
        x = rng.uniform(self.low, self.high, shape)
        for p in self.away_from:
            near = np.abs(x - p) < 0.1
            x = np.where(near, p + np.where(x >= p, 0.1, -0.1) * 2, x)
        if self.zeros and x.size:
            flat = x.reshape(-1)
            flat[rng.choice(flat.size, min(self.zeros, flat.size), replace=False)] = 0.0
        return x


@dataclass(frozen=True)
class Matrices:
    """Square matrices (last two axes): well conditioned, or symmetric
    positive definite (``spd``)."""

    spd: bool = False

    def sample(self, rng, shape):
        n = shape[-1]
        x = rng.uniform(-1.0, 1.0, shape)
        if self.spd:
            return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)
        return x + 2.0 * n * np.eye(n)


@dataclass(frozen=True)
class Separated:
    """Entries at least ``step/6`` apart in value and in magnitude, and
    ``step/4`` from zero, where ``step = (high - low) / size``: the central
    differences near max/min/norm kinks never step across a tie."""

    low: float = -2.0
    high: float = 2.0

    def sample(self, rng, shape):
        n = max(1, int(np.prod(shape)))
        step = (self.high - self.low) / n
        # a grid offset by step/3 is not symmetric about 0, so |x| has no ties
        grid = self.low + (np.arange(n) + 1 / 3) * step
        x = rng.permutation(grid) + rng.uniform(-step / 12, step / 12, n)
        return x.reshape(shape)


@dataclass(frozen=True)
class Spectral:
    """Matrices (last two axes) with well-separated singular values (or, with
    ``symmetric``, eigenvalues) away from zero: U/V and the eigenvectors are
    differentiable there, and central differences stay accurate."""

    symmetric: bool = False

    def sample(self, rng, shape):
        *batch, m, n = shape
        k = min(m, n)
        out = np.empty(shape)
        for i in np.ndindex(*batch):
            q1 = np.linalg.qr(rng.standard_normal((m, m)))[0]
            q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
            s = 0.7 * np.arange(k, 0, -1) + 0.6 + rng.uniform(-0.1, 0.1, k)
            out[i] = (q1 * (s - 1.9)) @ q1.T if self.symmetric else (q1[:, :k] * s) @ q2[:k]
        return out


R, POS, NONZERO = Domain(), Domain(0.2, 3.0), Domain(away_from=(0.0,))
SEPARATED = Separated()
UNIT = Domain(-0.9, 0.9)
ONE_ZERO, TWO_ZEROS = Domain(zeros=1), Domain(zeros=2)
FRACTIONAL = Domain(0.1, 0.9)
MATRIX, SPD = Matrices(), Matrices(spd=True)
SPECTRAL, SYMMETRIC = Spectral(), Spectral(symmetric=True)


def _weights(k):
    return np.arange(1.0, k + 1)


def _svd_projection(a):
    """Sign-invariant functions of U and V: sum_j w_j u_j u_j^T, sum_j w_j v_j v_j^T."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    k = s.shape[-1]
    return (u * _weights(k)) @ np.swapaxes(u, -1, -2), \
        np.swapaxes(vt, -1, -2) @ (vt * _weights(k)[:, None])


@dataclass(frozen=True)
class Case:
    name: str
    fn: object
    domains: tuple
    shapes: tuple          # tuple of per-input shape tuples
    analytic: bool = True
    second_order: bool = True


def single(*shapes):
    """Shapes to check a one-input case on."""
    return tuple((shape,) for shape in shapes)


ELEMENTWISE_SHAPES = single((), (3,), (2, 3))
BINARY_SHAPES = ((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))
CASES = [
    Case("add", lambda a, b: a + b, (R, R), BINARY_SHAPES),
    Case("add_scalar", lambda a: 2.5 + a, (R,), ELEMENTWISE_SHAPES),
    Case("sub", lambda a, b: a - b, (R, R), BINARY_SHAPES),
    Case("rsub_scalar", lambda a: 1.0 - a, (R,), ELEMENTWISE_SHAPES),
    Case("mul", lambda a, b: a * b, (R, R), BINARY_SHAPES),
    Case("div", lambda a, b: a / b, (R, NONZERO), BINARY_SHAPES),
    Case("rdiv_scalar", lambda a: 3.0 / a, (NONZERO,), ELEMENTWISE_SHAPES),
    Case("neg", lambda a: -a, (R,), ELEMENTWISE_SHAPES),
    Case("pow", lambda a, b: a ** b, (POS, R), BINARY_SHAPES),
    Case("pow_scalar_exponent", lambda a: a ** 2.5, (POS,), ELEMENTWISE_SHAPES),
    Case("rpow", lambda a: 2.0 ** a, (R,), ELEMENTWISE_SHAPES),
    Case("integer_pow", lambda a: a ** 3, (R,), ELEMENTWISE_SHAPES),
    Case("integer_pow_negative", lambda a: a ** -2, (NONZERO,), ELEMENTWISE_SHAPES),
    Case("square", np.square, (R,), ELEMENTWISE_SHAPES),
    Case("reciprocal", np.reciprocal, (NONZERO,), ELEMENTWISE_SHAPES),
    Case("sin", np.sin, (R,), ELEMENTWISE_SHAPES),
    Case("cos", np.cos, (R,), ELEMENTWISE_SHAPES),
    Case("tan", np.tan, (UNIT,), ELEMENTWISE_SHAPES),
    Case("exp", np.exp, (R,), ELEMENTWISE_SHAPES),
    Case("log", np.log, (POS,), ELEMENTWISE_SHAPES),
    Case("sqrt", np.sqrt, (POS,), ELEMENTWISE_SHAPES),
    Case("tanh", np.tanh, (R,), ELEMENTWISE_SHAPES),
    Case("abs", np.abs, (NONZERO,), ELEMENTWISE_SHAPES, analytic=False),
    Case("maximum", np.maximum, (R, R), BINARY_SHAPES, analytic=False),
    Case("minimum", np.minimum, (R, R), BINARY_SHAPES, analytic=False),
    Case("relu", lambda a: np.maximum(a, 0.0), (NONZERO,), ELEMENTWISE_SHAPES, analytic=False),
    Case("where", lambda a, b: np.where(a > b, a * b, np.sin(b)), (R, R), BINARY_SHAPES,
         analytic=False),
    Case("sum", np.sum, (R,), single((3,)), ),
    Case("sum_axis0", lambda a: np.sum(a, axis=0), (R,), single((2, 3))),
    Case("sum_axis_neg1_keepdims", lambda a: np.sum(a, axis=-1, keepdims=True), (R,), single((2, 3))),
    Case("sum_axes_tuple", lambda a: a.sum(axis=(0, 2)), (R,), single((2, 3, 2))),
    Case("mean", np.mean, (R,), single((2, 3))),
    Case("mean_axis1", lambda a: np.mean(a, axis=1), (R,), single((2, 3))),
    Case("max", np.max, (SEPARATED,), single((5,)), analytic=False),
    Case("max_axis0", lambda a: np.max(a, axis=0), (SEPARATED,), single((4, 3)), analytic=False),
    Case("min_axis1", lambda a: a.min(axis=1), (SEPARATED,), single((3, 4)), analytic=False),
    Case("dot_vv", np.dot, (R, R), (((4,), (4,)),)),
    Case("dot_mv", np.dot, (R, R), (((3, 4), (4,)),)),
    Case("matmul_vm", lambda a, b: a @ b, (R, R), (((3,), (3, 4)),)),
    Case("matmul_mm", lambda a, b: a @ b, (R, R), (((2, 3), (3, 4)),)),
    Case("reshape", lambda a: np.sin(a).reshape(3, 2), (R,), single((2, 3))),
    Case("reshape_minus1", lambda a: a.reshape(-1) * 2.0, (R,), single((2, 3))),
    Case("transpose", lambda a: np.sin(a).T, (R,), single((2, 3))),
    Case("transpose_axes", lambda a: np.transpose(a, (1, 2, 0)) ** 2, (R,), single((2, 3, 4))),
    Case("index_int", lambda a: a[1] * 3.0, (R,), single((4,))),
    Case("index_row", lambda a: a[0] ** 2, (R,), single((3, 4))),
    Case("index_col", lambda a: a[:, 0] ** 2, (R,), single((3, 4))),
    Case("slice_tail", lambda a: a[1:] * a[:-1], (R,), single((5,))),
    Case("slice_step", lambda a: a[::2] ** 2, (R,), single((5,))),
    Case("slice_negative_step", lambda a: a[::-1] * np.arange(5.0), (R,), single((5,))),
    Case("index_ellipsis_none", lambda a: a[..., None] * a[None, 0], (R,), single((2, 3))),
    Case("broadcast_chain", lambda a, b: np.exp(a - b) / (1.0 + b ** 2), (R, R),
         (((2, 3), (2, 1)),)),
]


# ------------------------------------------------- issue 4: NumPy coverage

UNARY = [
    ("arcsin", np.arcsin, UNIT), ("arccos", np.arccos, UNIT), ("arctan", np.arctan, R),
    ("sinh", np.sinh, R), ("cosh", np.cosh, R), ("arcsinh", np.arcsinh, R),
    ("arccosh", np.arccosh, Domain(1.2, 3.0)), ("arctanh", np.arctanh, UNIT),
    ("exp2", np.exp2, R), ("expm1", np.expm1, R), ("log2", np.log2, POS),
    ("log10", np.log10, POS), ("log1p", np.log1p, Domain(-0.5, 2.0)),
]
CASES += [Case(name, fn, (domain,), ELEMENTWISE_SHAPES) for name, fn, domain in UNARY]
CASES += [
    Case("cbrt", np.cbrt, (NONZERO,), ELEMENTWISE_SHAPES, analytic=False),
    Case("square_size1", np.square, (R,), single((1, 3))),
    Case("negative", np.negative, (R,), single((2, 1))),
    Case("abs_method", lambda a: abs(a) * a, (NONZERO,), single((3,)), analytic=False),
    Case("sign_flat", lambda a: np.sign(a) * a ** 2, (NONZERO,), single((3,)), analytic=False),
    Case("rounding_flat", lambda a: (np.floor(a) + np.ceil(a) + np.rint(a) + np.trunc(a)
                                     + np.round(a)) * a, (Domain(0.1, 0.9, away_from=(0.5,)),),
         single((3,)), analytic=False),
    Case("arctan2", np.arctan2, (R, POS), BINARY_SHAPES, analytic=False),
    Case("hypot", np.hypot, (R, NONZERO), BINARY_SHAPES, analytic=False),
    Case("logaddexp", np.logaddexp, (R, R), BINARY_SHAPES, analytic=False),
    Case("logaddexp2", np.logaddexp2, (R, R), (((3,), (3,)),), analytic=False),
    Case("fmax", np.fmax, (R, R), BINARY_SHAPES[:3], analytic=False),
    Case("fmin", np.fmin, (R, R), BINARY_SHAPES[:3], analytic=False),
    Case("clip", lambda a: np.clip(a, -0.5, 0.5), (Domain(away_from=(-0.5, 0.5)),),
         ELEMENTWISE_SHAPES, analytic=False),
    Case("clip_traced_bounds", lambda a, c: np.clip(a, c - 1.0, c + 1.0),
         (Domain(away_from=(-1.0, 1.0)), Domain(-0.05, 0.05)), (((3,), ()), ((2, 3), (3,))),
         analytic=False),
    Case("clip_method_upper", lambda a: a.clip(max=0.3) * a, (Domain(away_from=(0.3,)),),
         single((3,)), analytic=False),
    Case("power_array_exponent", np.power, (POS, R), (((2, 3), (2, 1)), ((3,), ()))),
    Case("float_power", lambda a: np.float_power(a, 1.5), (POS,), single((3,))),
    Case("remainder", np.remainder, (FRACTIONAL, Domain(1.0, 2.0)), (((3,), (3,)),),
         analytic=False),
    Case("floor_divide_flat", lambda a: (a // 0.25) * a, (Domain(0.01, 0.24),), single((3,)),
         analytic=False),
    # fmod keeps a's sign; away from the jumps at multiples of b
    Case("fmod", np.fmod, (Domain(-3.0, 3.0, away_from=(-2.0, -1.0, 0.0, 1.0, 2.0)),
                           Domain(1.0, 1.0001)), BINARY_SHAPES, analytic=False),
    # masks for np.where: comparisons, logical operators, & | ~ ^ on masks
    Case("where_logical", lambda a, b: np.where(np.logical_and(a > 0, ~(b > 1)) | (a < -1),
                                                a * b, np.cos(a)),
         (Domain(away_from=(0.0, -1.0)), Domain(away_from=(1.0,))), BINARY_SHAPES,
         analytic=False),
    Case("where_xor_not", lambda a: np.where(np.logical_xor(a > 0, a > 1) ^ np.logical_not(a < -1),
                                             a ** 2, a), (Domain(away_from=(0.0, 1.0, -1.0)),),
         ELEMENTWISE_SHAPES, analytic=False),
    Case("where_isfinite", lambda a: np.where(np.isfinite(1.0 / a) & ~np.isnan(a), a * a, 0.0),
         (NONZERO,), single((3,)), analytic=False),
    # the branch not taken is NaN or inf (sqrt, log, 1/0, power of a negative)
    Case("where_sqrt", lambda a: np.where(a > 0, np.sqrt(a), 0.0), (NONZERO,),
         ELEMENTWISE_SHAPES, analytic=False),
    Case("where_log", lambda a: np.where(a > 0, np.log(a), a), (NONZERO,), ELEMENTWISE_SHAPES,
         analytic=False),
    Case("where_div", lambda a: np.where(a > 0, 1.0 / np.maximum(a, 0.0), 0.0), (NONZERO,),
         ELEMENTWISE_SHAPES, analytic=False),
    Case("where_power", lambda a, b: np.where(a > 0, a ** b, 0.0), (NONZERO, R), BINARY_SHAPES,
         analytic=False),
]

REDUCTION_CASES = [
    Case("sum_0d", np.sum, (R,), single(())),
    Case("sum_size1_axis", lambda a: np.sum(a, axis=0), (R,), single((1, 3))),
    Case("mean_axes_keepdims", lambda a: np.mean(a, axis=(-1, 0), keepdims=True), (R,),
         single((2, 3, 2))),
    Case("prod", np.prod, (R,), single((), (4,), (1, 3))),
    Case("prod_axis_keepdims", lambda a: np.prod(a, axis=1, keepdims=True), (R,), single((2, 3))),
    Case("prod_axes", lambda a: a.prod(axis=(0, -1)), (R,), single((2, 3, 2))),
    Case("prod_one_zero", lambda a: np.prod(a, axis=-1), (ONE_ZERO,), single((4,), (2, 3))),
    Case("prod_two_zeros", lambda a: np.prod(a), (TWO_ZEROS,), single((4,))),
    Case("max_axes_keepdims", lambda a: np.max(a, axis=(0, 2), keepdims=True), (SEPARATED,),
         single((2, 3, 2)), analytic=False),
    Case("min_negative_axis", lambda a: np.min(a, axis=-1), (SEPARATED,), single((3, 4)), analytic=False),
    Case("amax_size1", lambda a: np.amax(a, axis=0), (SEPARATED,), single((1, 3)), analytic=False),
    Case("var", np.var, (R,), single((4,), (2, 3)), analytic=False),
    Case("var_axis_ddof", lambda a: np.var(a, axis=0, ddof=1), (R,), single((3, 2)),
         analytic=False),
    Case("std", lambda a: a.std(axis=-1, keepdims=True), (R,), single((2, 4)), analytic=False),
    Case("std_ddof", lambda a: np.std(a, ddof=1), (R,), single((5,)), analytic=False),
    Case("norm_vector", np.linalg.norm, (R,), single((3,), (2, 3)), analytic=False),
    Case("norm_axis", lambda a: np.linalg.norm(a, axis=-1, keepdims=True), (R,), single((2, 3)),
         analytic=False),
    Case("norm_ord", lambda a: np.linalg.norm(a, 1) + np.linalg.norm(a, np.inf)
         + np.linalg.norm(a, 3) + np.linalg.norm(a, -np.inf), (SEPARATED,), single((4,)),
         analytic=False),
    Case("norm_matrix_ord", lambda a: np.linalg.norm(a, "fro") + np.linalg.norm(a, 1)
         + np.linalg.norm(a, np.inf) + np.linalg.norm(a, -1), (SEPARATED,), single((3, 3)),
         analytic=False),
    Case("cumsum", np.cumsum, (R,), single((), (4,), (2, 3))),
    Case("cumsum_axis", lambda a: np.cumsum(a, axis=-2), (R,), single((2, 3), (3, 1, 2))),
    Case("cumprod", lambda a: np.cumprod(a, axis=1), (R,), single((2, 4))),
    Case("cumprod_zeros", np.cumprod, (ONE_ZERO,), single((5,))),
    Case("cumprod_two_zeros", lambda a: np.cumprod(a, axis=0), (TWO_ZEROS,), single((5,))),
    Case("logsumexp", lambda a: np.max(a, axis=1) + np.log(np.sum(
        np.exp(a - np.max(a, axis=1, keepdims=True)), axis=1)), (R,), single((2, 3)),
         analytic=False),
    Case("average_weights", lambda a, w: np.average(a, axis=0, weights=w), (R, POS),
         (((3, 2), (3,)),)),
]

LINALG_CASES = [
    Case("matmul_mv", lambda a, b: a @ b, (R, R), (((2, 3), (3,)),)),
    Case("matmul_batched", np.matmul, (R, R), (((2, 2, 3), (2, 3, 4)), ((3, 2), (2, 2, 3)),
                                               ((2, 2, 3), (3, 2)), ((1, 2, 3), (2, 3, 2)),
                                               ((3,), (2, 3, 2)), ((2, 1, 2, 3), (3,)))),
    Case("dot_nd", np.dot, (R, R), (((2, 2, 3), (3, 2)), ((2, 3), (2, 3, 2)), ((), (3,)))),
    Case("vdot", np.vdot, (R, R), (((2, 3), (3, 2)),), analytic=False),  # conjugates
    Case("inner", np.inner, (R, R), (((3,), (3,)), ((2, 3), (4, 3)))),
    Case("outer", np.outer, (R, R), (((3,), (2,)), ((2, 2), (3,)))),
    Case("tensordot", lambda a, b: np.tensordot(a, b, axes=([0, 2], [1, 0])), (R, R),
         (((2, 3, 4), (4, 2, 2)),)),
    Case("trace", np.trace, (R,), single((3, 3), (2, 3))),
    Case("trace_offset", lambda a: np.trace(a, offset=-1), (R,), single((3, 3))),
    Case("diag_of_vector", lambda a: np.diag(a, 1) * np.arange(16.0).reshape(4, 4), (R,),
         single((3,))),
    Case("diag_of_matrix", np.diag, (R,), single((3, 3), (2, 3))),
    Case("diagonal_axes", lambda a: np.diagonal(a, 0, 2, 0), (R,), single((3, 2, 3))),
    Case("solve_vector", np.linalg.solve, (MATRIX, R), (((3, 3), (3,)),)),
    Case("solve_matrix", np.linalg.solve, (MATRIX, R), (((3, 3), (3, 2)),)),
    Case("inv", np.linalg.inv, (MATRIX,), single((1, 1), (3, 3))),
    Case("det", np.linalg.det, (MATRIX,), single((1, 1), (3, 3))),
    Case("slogdet", lambda a: np.linalg.slogdet(a).logabsdet * np.linalg.slogdet(a)[0],
         (MATRIX,), single((3, 3)), analytic=False),
    Case("cholesky", np.linalg.cholesky, (SPD,), single((1, 1), (3, 3)), analytic=False),
    Case("cholesky_upper", lambda a: np.linalg.cholesky(a, upper=True), (SPD,), single((2, 2)),
         analytic=False),
    Case("multi_dot", lambda a, b: np.linalg.multi_dot([a, b, a.T]), (R, R),
         (((2, 3), (3, 3)),)),
    # stacks of matrices: batch axes broadcast, as in NumPy
    Case("solve_stacked", np.linalg.solve, (MATRIX, R), (((2, 3, 3), (2, 3, 2)),
                                                         ((2, 1, 3, 3), (3, 3, 1)))),
    Case("solve_stacked_vector", np.linalg.solve, (MATRIX, R), (((2, 3, 3), (3,)),)),
    Case("inv_stacked", np.linalg.inv, (MATRIX,), single((2, 3, 3))),
    Case("det_stacked", np.linalg.det, (MATRIX,), single((3, 2, 2))),
    Case("slogdet_stacked", lambda a: np.linalg.slogdet(a)[1], (MATRIX,), single((2, 2, 3, 3)),
         analytic=False),
    Case("cholesky_stacked", np.linalg.cholesky, (SPD,), single((2, 3, 3)), analytic=False),
    # decompositions: losses that do not depend on LAPACK's signs of the vectors
    Case("svd_values", lambda a: np.linalg.svd(a, compute_uv=False), (SPECTRAL,),
         single((3, 3), (4, 2), (2, 4), (2, 3, 2)), analytic=False),
    Case("svd_full_values", lambda a: np.linalg.svd(a)[1] ** 2, (SPECTRAL,),
         single((4, 2), (2, 3)), analytic=False),
    Case("svd_u_projection", lambda a: _svd_projection(a)[0], (SPECTRAL,),
         single((3, 3), (4, 2), (2, 4), (2, 3, 2)), analytic=False),
    Case("svd_v_projection", lambda a: _svd_projection(a)[1], (SPECTRAL,),
         single((3, 3), (4, 2), (2, 4)), analytic=False),
    Case("svd_u_times_v", lambda a: (lambda u, s, vt: u * vt.T * s)(*np.linalg.svd(a)),
         (SPECTRAL,), single((3, 3)), analytic=False),
    Case("svd_reconstruct", lambda a: (lambda u, s, vt: (u * s) @ vt)(
        *np.linalg.svd(a, full_matrices=False)), (SPECTRAL,), single((3, 2)), analytic=False),
    Case("norm_nuc_2", lambda a: np.linalg.norm(a, "nuc") + np.linalg.norm(a, 2)
         + np.linalg.norm(a, -2), (SPECTRAL,), single((3, 3), (4, 2)), analytic=False),
    Case("norm_nuc_axis", lambda a: np.linalg.norm(a, "nuc", axis=(0, 2)), (SPECTRAL,),
         single((3, 2, 3)), analytic=False),
    Case("cond", np.linalg.cond, (SPECTRAL,), single((3, 3)), analytic=False),
    Case("eigh", lambda a: (lambda w, v: (v * _weights(v.shape[-1])) @ np.swapaxes(v, -1, -2)
                            + w[..., None, :])(*np.linalg.eigh(a)), (SYMMETRIC,),
         single((3, 3), (2, 3, 3)), analytic=False),
    Case("eigh_upper", lambda a: np.linalg.eigh(a, UPLO="U")[1] ** 2, (SYMMETRIC,),
         single((3, 3)), analytic=False),
    Case("eigvalsh", np.linalg.eigvalsh, (SYMMETRIC,), single((1, 1), (3, 3), (2, 2, 2)),
         analytic=False),
    Case("qr", lambda a: (lambda q, r: q * np.sum(r, axis=-2)[..., None, :])(*np.linalg.qr(a)),
         (MATRIX,), single((3, 3), (2, 3, 3)), analytic=False),
    Case("qr_tall", lambda a: np.linalg.qr(a)[0] + np.linalg.qr(a, mode="r")[..., :1, :],
         (SPECTRAL,), single((4, 2), (2, 3, 2)), analytic=False),
    Case("lstsq", lambda a, b: np.linalg.lstsq(a, b)[0] + np.sum(np.linalg.lstsq(a, b)[1]),
         (SPECTRAL, R), (((4, 2), (4,)), ((3, 3), (3, 2)), ((5, 2), (5, 3))), analytic=False),
    Case("pinv", np.linalg.pinv, (SPECTRAL,), single((3, 3), (4, 2), (2, 4), (2, 3, 2)),
         analytic=False),
    Case("matrix_power", lambda a: np.linalg.matrix_power(a, 3) + np.linalg.matrix_power(a, 0)
         + np.linalg.matrix_power(a, 1) + np.linalg.matrix_power(a, 6), (R,),
         single((3, 3), (2, 2, 2))),
    Case("matrix_power_negative", lambda a: np.linalg.matrix_power(a, -3), (MATRIX,),
         single((3, 3), (2, 2, 2))),
    Case("convolve", np.convolve, (R, R), (((5,), (3,)), ((2,), (4,)), ((), (3,)))),
    Case("convolve_same", lambda a, v: np.convolve(a, v, "same"), (R, R),
         (((5,), (3,)), ((2,), (4,)))),
    Case("convolve_valid", lambda a, v: np.convolve(a, v, mode="valid"), (R, R),
         (((5,), (3,)), ((3,), (4,)))),
]
EINSUMS = ["ij,jk->ik", "ij,ij->", "i,i->", "bij,bjk->bik", "ij->ji", "ii->", "ii->i",
           "bi,bi->b", "i,j->ij", "ij,j->i", "bij,jk->bik", "...ij,...jk->...ik", "ij", "ijk->k"]
EINSUM_SHAPES = {"i": 3, "j": 2, "k": 4, "b": 2}


def _einsum_case(spec):
    inputs = spec.split("->")[0].replace("...", "b").split(",")
    shapes = tuple(tuple(3 if c == "i" else EINSUM_SHAPES[c] for c in term) for term in inputs)
    return Case(f"einsum[{spec}]", lambda *xs: np.einsum(spec, *xs), (R,) * len(inputs),
                (shapes,))


LINALG_CASES += [_einsum_case(spec) for spec in EINSUMS]

SHAPE_CASES = [
    Case("ravel_flatten", lambda a: np.ravel(a) * a.flatten()[::-1], (R,), single((2, 3))),
    Case("swapaxes", lambda a: np.swapaxes(a, 0, -1) ** 2, (R,), single((2, 3, 2))),
    Case("moveaxis", lambda a: np.moveaxis(a, 0, -1) * np.arange(12.0).reshape(3, 2, 2),
         (R,), single((2, 3, 2))),
    Case("expand_squeeze", lambda a: np.squeeze(np.expand_dims(a, (0, 2)) ** 2, axis=0), (R,),
         single((2, 3))),
    Case("broadcast_to", lambda a: np.broadcast_to(a, (2, 3)) * np.arange(6.0).reshape(2, 3),
         (R,), single((3,), (2, 1), ())),
    Case("concatenate", lambda a, b: np.concatenate([a, b ** 2, a], axis=-1), (R, R),
         (((2, 3), (2, 1)),)),
    Case("concatenate_axis_none", lambda a, b: np.concatenate([a, b], axis=None), (R, R),
         (((2, 2), (3,)),)),
    Case("stack", lambda a, b: np.stack([a, b * a], axis=1), (R, R), (((3,), (3,)),)),
    Case("hstack_vstack", lambda a, b: np.vstack([np.hstack([a, b]), np.hstack([b, a])]),
         (R, R), (((2,), (2,)), ((2, 1), (2, 2)))),
    Case("split", lambda a: np.split(a, 2, axis=1)[1] * np.array_split(a, [1], axis=1)[0],
         (R,), single((2, 4))),
    Case("tile", lambda a: np.tile(a, (2, 1, 2)) ** 2, (R,), single((3,), (2, 1))),
    Case("repeat", lambda a: np.repeat(a, 2, axis=0) ** 2, (R,), single((2, 3))),
    Case("repeat_counts", lambda a: np.repeat(a, [2, 0, 1]) ** 2, (R,), single((3,))),
    Case("flip", lambda a: np.flip(a, axis=0) * a + np.fliplr(a) + np.flipud(a), (R,),
         single((2, 2))),
    Case("roll", lambda a: np.roll(a, 1) * a + np.roll(a, (1, -1), axis=(0, 1)), (R,),
         single((2, 3))),
    Case("diff", lambda a: np.diff(a, 2, axis=-1) ** 2, (R,), single((2, 4))),
    Case("take", lambda a: np.take(a, [2, 0, 2], axis=1) ** 2, (R,), single((2, 3))),
    Case("take_along_axis", lambda a: np.take_along_axis(a, np.array([[2], [0]]), axis=1),
         (R,), single((2, 3))),
    # fancy indexing: a repeated index accumulates its cotangents
    Case("fancy_repeated", lambda a: a[[0, 2, 0, 0]] ** 2, (R,), single((3,), (3, 2))),
    Case("fancy_pairs", lambda a: a[np.arange(2), [2, 0]] * a[:, [1, 1]].sum(), (R,),
         single((2, 3))),
    Case("fancy_negative_2d_index", lambda a: a[[[0, -1], [-1, 0]]] ** 2, (R,), single((3,))),
    Case("fancy_none_ellipsis", lambda a: a[..., None, [0, -1]] * a[None, [1], 1:], (R,),
         single((2, 3))),
    Case("fancy_apart", lambda a: a[0, :, [1, 0]] ** 2, (R,), single((2, 3, 2))),
    Case("boolean_mask", lambda a: a[np.array([True, False, True])] ** 2, (R,),
         single((3,), (3, 2))),
    Case("slice_steps", lambda a: a[::-2, 1::2] ** 2, (R,), single((3, 4))),
    Case("creation", lambda a: (np.zeros_like(a) + np.ones_like(a) * np.sum(a)
                                + np.full_like(a, 2.0) * a + np.zeros(a.shape) + np.arange(3.0))
         ** 2, (R,), single((3,), (2, 3))),
    Case("eye_closure", lambda a: np.sum((np.eye(3) @ a) * a), (R,), single((3, 2))),
]

# issue 15: arrays built from traced values, structure, casts
COORDS = np.array([0.0, 0.4, 1.1, 1.5, 2.6])
BUILDING_CASES = [
    Case("array_of_scalars", lambda a, b: np.array([a[1], -2.0 * b * a[0], 3.0, a[0] * b]),
         (R, R), (((2,), ()),)),
    Case("array_of_arrays", lambda a, b: np.array([a, b * a, np.ones_like(a)]), (R, R),
         (((), ()), ((3,), (3,)), ((2, 3), (2, 3)), ((2, 1, 2), (2, 1, 2)))),
    Case("array_nested_mixed", lambda a: np.array([[a[0], 1.0], [a[1] ** 2, a[0] * a[1]]]),
         (R,), single((2,))),
    Case("array_nested_arrays", lambda a: np.array([[a, 2.0 * a], [np.zeros(a.shape), a ** 2]]),
         (R,), single((), (3,), (2, 2))),
    Case("asarray_tuple_dtype", lambda a: np.asarray((a, 2.0 * a), dtype=np.float64) ** 2,
         (R,), single((), (2, 3)), analytic=False),  # dtype= drops the complex step's part
    Case("array_copy_ndmin", lambda a: np.array(a, ndmin=3) * np.asarray(a) ** 2, (R,),
         single((), (3,), (2, 3), (2, 1, 2))),
    Case("r_c_", lambda a: np.r_[a, 1.0, a[:1] ** 2] * np.c_[a, a ** 2][:, 1].sum(), (R,),
         single((3,))),
    Case("append", lambda a, b: np.append(a, b) ** 2, (R, R), (((2, 3), (4,)), ((), ()))),
    Case("append_axis", lambda a, b: np.append(a, b * a, axis=-1) ** 2, (R, R),
         (((2, 3), (2, 3)),)),
    Case("column_stack_one", lambda a: np.column_stack(a) ** 2, (R,), single((2, 3))),
    Case("tril_triu", lambda a: np.tril(a) * 2.0 + np.triu(a, 1) ** 2 + np.tril(a, -1) ** 3,
         (R,), single((4,), (3, 3), (2, 3, 4))),
    Case("vsplit", lambda a: np.vsplit(a, 2)[1] * np.vsplit(a, [1])[0], (R,), single((4, 3))),
    Case("hsplit", lambda a: np.hsplit(a, 2)[0] ** 2, (R,), single((4,), (3, 4))),
    Case("dsplit", lambda a: np.dsplit(a, [1, 3])[1] ** 2, (R,), single((2, 1, 4))),
    Case("array_split_uneven", lambda a: np.array_split(a, 3, axis=-1)[0] ** 2, (R,),
         single((7,), (2, 5))),
    Case("gradient_1d", lambda a: np.gradient(a) * a, (R,), single((2,), (5,))),
    Case("gradient_edge2", lambda a: np.gradient(a, 0.5, edge_order=2) ** 2, (R,),
         single((3,), (6,))),
    Case("gradient_nd", lambda a: np.stack(np.gradient(a, 0.5, 2.0, edge_order=2)) ** 2, (R,),
         single((3, 4),)),
    Case("gradient_axis_coordinates", lambda a: np.gradient(a, COORDS, axis=-1,
                                                            edge_order=2) ** 2, (R,),
         single((5,), (2, 5), (2, 2, 5))),
    Case("gradient_traced_spacing", lambda a, h: np.gradient(a, h, axis=0), (R, POS),
         (((4,), ()), ((3, 2), ()))),
    Case("pad_constant", lambda a: np.pad(a, ((1, 2), (0, 1)), constant_values=((1.5, 2.0),
                                                                                (3.0, -1.0))) ** 2,
         (R,), single((2, 3))),
    Case("pad_traced_constant", lambda a, c: np.pad(a, (1, 2), constant_values=c) ** 2,
         (R, R), (((3,), ()), ((2, 3), ()), ((2, 1, 2), ()))),
    *[Case(f"pad_{mode}", lambda a, mode=mode: np.pad(a, ((2, 1), (4, 0)), mode=mode) ** 2,
           (R,), single((2, 3), (3, 2))) for mode in ("edge", "reflect", "symmetric", "wrap")],
    Case("pad_wide_reflect_1d", lambda a: np.pad(a, 5, mode="reflect") ** 2, (R,),
         single((3,))),
    Case("meshgrid_xy", lambda a, b: np.stack(np.meshgrid(a, b)) ** 2, (R, R),
         (((3,), (2,)), ((), (2,)))),
    Case("meshgrid_ij", lambda a, b: np.stack(np.meshgrid(a, b, a, indexing="ij")) ** 2,
         (R, R), (((3,), (2,)),)),
    Case("meshgrid_sparse", lambda a, b: np.meshgrid(a, b, sparse=True)[0] * np.meshgrid(
        a, b, sparse=True)[1], (R, R), (((3,), (2,)),)),
    Case("sort", lambda a: np.sort(a) * np.arange(1.0, a.shape[-1] + 1), (SEPARATED,),
         single((5,), (2, 4), (2, 2, 3))),
    Case("sort_axis", lambda a: np.sort(a, axis=0) ** 2 + np.sort(a, axis=None)[:a.shape[-1]],
         (SEPARATED,), single((3, 2))),
    Case("argsort_gather", lambda a: a[np.argsort(-a)] * np.arange(4.0) + a.argsort(), (
        SEPARATED,), single((4,))),
    # (np.float64 of a complex number drops the complex step's part: central differences)
    Case("float64_cast", lambda a: np.float64(a) * a + np.float64(a[..., :1] if a.ndim else a),
         (R,), single((), (3,), (2, 3)), analytic=False),
    Case("float32_cast", lambda a: np.float64(np.float32(a) * 1.0) ** 2 * 0.0 + a * a, (R,),
         single((), (3,)), analytic=False),
    Case("int64_cast_index", lambda a: a[np.int64(np.abs(a[0]) + 1.0)] * a, (Domain(0.1, 0.9),),
         single((3,)), analytic=False),
    Case("einsum_sublist", lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2])
         + np.einsum(a, [Ellipsis, 1], [Ellipsis])[:, None], (R, R), (((2, 3), (3, 4)),)),
]


# ------------------------------------------- issue 15: scipy.special, stats
# SciPy's functions take no complex step: central differences of SciPy's own
# values are the reference

SPECIAL_UNARY = [
    ("expit", sc.expit, Domain(-6.0, 6.0)), ("logit", sc.logit, FRACTIONAL),
    ("log_expit", sc.log_expit, Domain(-6.0, 6.0)), ("gammaln", sc.gammaln, POS),
    ("gammaln_negative", sc.gammaln, Domain(-2.9, -0.1, away_from=(-2.0, -1.0))),
    ("digamma", sc.digamma, POS), ("erf", sc.erf, R), ("erfc", sc.erfc, R),
    ("erfinv", sc.erfinv, UNIT), ("ndtr", sc.ndtr, R), ("log_ndtr", sc.log_ndtr, Domain(-8.0, 3.0)),
    ("ndtri", sc.ndtri, FRACTIONAL), ("i0e", sc.i0e, NONZERO), ("i1e", sc.i1e, NONZERO),
]
SPECIAL_CASES = [Case(f"scipy_{name}", fn, (domain,), ELEMENTWISE_SHAPES, analytic=False)
                 for name, fn, domain in SPECIAL_UNARY]
SPECIAL_CASES += [
    Case("scipy_polygamma", lambda a: jsp.polygamma(1, a) + jsp.polygamma(2, a) * a, (POS,),
         ELEMENTWISE_SHAPES, analytic=False),
    Case("scipy_betaln", sc.betaln, (POS, POS), BINARY_SHAPES, analytic=False),
    Case("scipy_xlogy", sc.xlogy, (R, POS), BINARY_SHAPES, analytic=False),
    Case("scipy_xlog1py", sc.xlog1py, (R, Domain(-0.5, 2.0)), BINARY_SHAPES, analytic=False),
    Case("scipy_logsumexp", lambda a: jsp.logsumexp(a, axis=1), (R,), single((2, 3)),
         analytic=False),
    Case("scipy_logsumexp_all", jsp.logsumexp, (R,), single((), (4,), (2, 3)), analytic=False),
    Case("scipy_logsumexp_b", lambda a, b: jsp.logsumexp(a, axis=-1, b=b, keepdims=True),
         (R, POS), (((2, 3), (3,)), ((3,), (2, 3))), analytic=False),
    Case("scipy_softmax", lambda a: jsp.softmax(a, axis=0), (R,), single((3,), (3, 2)),
         analytic=False),
    Case("scipy_log_softmax", lambda a: jsp.log_softmax(a, axis=-1), (R,), single((2, 3)),
         analytic=False),
    Case("scipy_norm", lambda x, m, s: jst.norm.logpdf(x, m, s) + jst.norm.logcdf(x, m, s)
         + jst.norm.ppf(sc.expit(x), m, s), (R, R, POS), (((3,), (), ()), ((2, 3), (3,), (2, 1))),
         analytic=False),
    Case("scipy_t_logpdf", lambda x, df, s: jst.t.logpdf(x, df, loc=0.3, scale=s),
         (R, Domain(1.0, 6.0), POS), (((3,), (), ()), ((2, 3), (3,), ())), analytic=False),
    Case("scipy_gamma_logpdf", lambda x, a: jst.gamma.logpdf(x, a, scale=1.5),
         (POS, Domain(0.5, 4.0)), (((3,), ()), ((2, 3), (2, 1))), analytic=False),
    Case("scipy_beta_logpdf", lambda x, a, b: jst.beta.logpdf(x, a, b),
         (FRACTIONAL, Domain(0.5, 4.0), Domain(0.5, 4.0)), (((3,), (), ()),), analytic=False),
]

CASES += REDUCTION_CASES + LINALG_CASES + SHAPE_CASES + BUILDING_CASES + SPECIAL_CASES


def _cases():
    for case in CASES:
        # the NumPy reference evaluates the branch np.where does not take
        marks = [pytest.mark.filterwarnings("ignore::RuntimeWarning")] \
            if case.name.startswith("where") else []
        for shapes in case.shapes:
            yield pytest.param(case, shapes, id=f"{case.name}-{'x'.join(map(str, shapes))}",
                               marks=marks)


@pytest.mark.parametrize("case, shapes", list(_cases()))
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_first_order(case, shapes, seed):
    rng = np.random.default_rng(seed)
    args = [d.sample(rng, s) for d, s in zip(case.domains, shapes)]
    method = "complex" if case.analytic else "central"
    check_first_order(case.fn, args, method, rng)


@pytest.mark.parametrize("case, shapes", list(_cases()))
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_second_order(case, shapes, seed):
    if not case.second_order:
        return
    rng = np.random.default_rng(seed)
    args = [d.sample(rng, s) for d, s in zip(case.domains, shapes)]
    w = rng.standard_normal(np.shape(case.fn(*args)))

    def scalarised(*xs):  # curved even where case.fn is linear
        y = case.fn(*xs)
        return np.sum(w * y + 0.5 * y * y)
    check_second_order(scalarised, args, rng)


def test_checker_fails_on_a_wrong_rule(monkeypatch):
    """The checks above can fail: a deliberately wrong sin rule is caught."""
    monkeypatch.setattr(P.sin_p, "vjps", (lambda g, y, x: P.mul(g, P.sin(x)),))
    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError):
        check_first_order(np.sin, [rng.uniform(-2, 2, (3,))], "complex", rng)


# ------------------------------------------- exact values at special points

def _grads(f, x):
    """Gradient by reverse mode, the same by forward mode (one tangent per
    unit direction), and a Hessian-vector product, all by the reference
    interpreter."""
    x = np.asarray(x, float)
    rev = ad_grad(f, [x])[0]
    eye = np.eye(x.size).reshape((x.size,) + x.shape)
    fwd = np.array([ad_jvp(f, [x], [e]) for e in eye]).reshape(x.shape)
    hvp = ad_hvp(f, [x], [np.ones_like(x)])[0]
    return rev, fwd, hvp


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("f, expected, untaken", [
    (lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0)), [0.0, 0.0, 0.25], [0, 1]),
    (lambda x: np.sum(np.where(x > 0, np.log(x), 0.0)), [0.0, 0.0, 0.25], [0, 1]),
    (lambda x: np.sum(np.where(x != 0, 1.0 / x, 0.0)), [-1.0, 0.0, -1 / 16], [1]),
    (lambda x: np.sum(np.where(x > 0, x ** 0.5, 0.0)), [0.0, 0.0, 0.25], [0, 1]),
    (lambda x: np.sum(np.where(x > 0, x ** x, 0.0)), [0.0, 0.0, 256 * (np.log(4) + 1)], [0, 1]),
], ids=["sqrt", "log", "division", "power", "power_array"])
def test_where_does_not_leak_nan_from_the_branch_not_taken(f, expected, untaken):
    """At x = -1 and 0 the branch not taken is NaN or infinite, and so is
    its local derivative; the gradient there is still exactly 0."""
    rev, fwd, hvp = _grads(f, [-1.0, 0.0, 4.0])
    np.testing.assert_allclose(rev, expected, rtol=1e-14)
    np.testing.assert_allclose(fwd, expected, rtol=1e-14)
    assert np.all(np.isfinite(hvp)) and np.all(hvp[untaken] == 0.0)


def test_max_and_min_split_ties_evenly():
    x = [1.0, 3.0, 3.0, -2.0, -2.0]
    for f, expected in [(np.max, [0, 0.5, 0.5, 0, 0]), (np.min, [0, 0, 0, 0.5, 0.5]),
                        (lambda x: np.sum(np.maximum(x, 3.0)), [0, 0.5, 0.5, 0, 0])]:
        rev, fwd, _ = _grads(f, x)
        np.testing.assert_array_equal(rev, expected)
        np.testing.assert_array_equal(fwd, expected)


def test_norm_gradient_at_zero_is_zero():
    for f in [np.linalg.norm, lambda x: np.linalg.norm(x, 3),
              lambda x: np.sum(np.hypot(x, 0.0))]:
        rev, fwd, hvp = _grads(f, np.zeros(3))
        assert np.all(rev == 0) and np.all(fwd == 0) and np.all(np.isfinite(hvp))


def test_fancy_index_accumulates_repeated_indices():
    rev, fwd, _ = _grads(lambda x: np.sum(x[[0, 0, 2, 0]] * np.array([1.0, 2.0, 3.0, 4.0])),
                         np.ones(3))
    np.testing.assert_array_equal(rev, [7.0, 0.0, 3.0])
    np.testing.assert_array_equal(fwd, [7.0, 0.0, 3.0])


def test_traced_integer_labels_index_without_gradient():
    """Labels passed as an argument: a gather by a traced integer array."""
    def f(logits, labels):
        return np.sum(logits[np.arange(3), labels] ** 2)
    logits, labels = np.arange(12.0).reshape(3, 4), np.array([3, 0, 3])
    graph = transforms.vjp_graph(trace(f, (logits, labels))[0], [0], seed=1.0)
    expected = np.zeros((3, 4))
    expected[np.arange(3), labels] = 2 * logits[np.arange(3), labels]
    np.testing.assert_array_equal(evaluate(graph, logits, labels)[1], expected)
    with pytest.raises(IndexError):
        evaluate(graph, logits, np.array([4, 0, 0]))


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.arcsinh(x) * np.cbrt(x) + np.logaddexp(x, 1.0)),
    lambda x: np.prod(x) + np.cumprod(x)[-1] + np.linalg.norm(x),
    lambda x: np.linalg.slogdet(np.outer(x, x) + np.eye(3, dtype=np.float32))[1] + np.sum(x[[0, 0]]),
    lambda x: np.sum(np.linalg.cholesky(np.outer(x, x) + np.eye(3, dtype=np.float32))),
    lambda x: np.sum(np.array([[x[0] * x[1], x[2], x[0]], 2.0 * x]) ** 2)
    + np.sum(np.r_[x, x] ** 3),
    lambda x: np.sum(np.sort(x) * x) + np.sum(np.pad(x, 2, mode="reflect") ** 2)
    + np.sum(np.gradient(x ** 2, 0.5, edge_order=2)) + np.sum(np.tril(np.outer(x, x))),
    lambda x: np.sum(sc.gammaln(x) + sc.digamma(x) + sc.expit(x) + sc.log_ndtr(x) + sc.erf(x)
                     + sc.i0e(x) + sc.i1e(x) + sc.xlogy(x, x) + jsp.polygamma(1, x)),
], ids=["elementwise", "reductions", "linalg", "cholesky", "array_building", "structure",
        "special"])
def test_float32_stays_float32(f):
    x = np.array([0.5, 1.5, 2.0], np.float32)
    graph = transforms.vjp_graph(trace(f, (x,))[0], [0], seed=1.0)
    value, grad = evaluate(graph, x)
    assert np.asarray(value).dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(grad, ad_grad(f, [x.astype(float)])[0], rtol=1e-4)
