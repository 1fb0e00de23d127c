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
from hypothesis import given, settings
from hypothesis import strategies as st

from jitad import primitives as P
from jitad.backend.lowering import lowered_names

from .derivatives import check_first_order, check_second_order


@dataclass(frozen=True)
class Domain:
    low: float = -2.0
    high: float = 2.0
    away_from: float | None = None  # keep |x - away_from| >= 0.1

    def sample(self, rng, shape):
        x = rng.uniform(self.low, self.high, shape)
        if self.away_from is not None:
            near = np.abs(x - self.away_from) < 0.1
            x = np.where(near, self.away_from + np.where(x >= self.away_from, 0.1, -0.1) * 2, x)
        return x


R, POS, NONZERO = Domain(), Domain(0.2, 3.0), Domain(away_from=0.0)
UNIT = Domain(-0.9, 0.9)


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
    Case("max", np.max, (R,), single((5,)), analytic=False),
    Case("max_axis0", lambda a: np.max(a, axis=0), (R,), single((4, 3)), analytic=False),
    Case("min_axis1", lambda a: a.min(axis=1), (R,), single((3, 4)), analytic=False),
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


def _cases():
    for case in CASES:
        for shapes in case.shapes:
            yield pytest.param(case, shapes, id=f"{case.name}-{'x'.join(map(str, shapes))}")


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
    rng = np.random.default_rng(seed)
    args = [d.sample(rng, s) for d, s in zip(case.domains, shapes)]
    w = rng.standard_normal(np.shape(case.fn(*args)))

    def scalarised(*xs):  # curved even where case.fn is linear
        y = case.fn(*xs)
        return np.sum(w * y + 0.5 * y * y)
    check_second_order(scalarised, args, rng)


def test_every_primitive_is_complete():
    """Each primitive has an impl, a shape rule, a jvp and a vjp entry per
    input, and a lowering (convention 1: a gap fails here, not for a user)."""
    lowered = lowered_names()
    for name, prim in P.PRIMITIVES.items():
        assert callable(prim.impl) and callable(prim.shape_rule), name
        assert len(prim.jvps) == len(prim.vjps) >= 1, name
        assert name in lowered, f"{name} has no lowering"


def test_checker_fails_on_a_wrong_rule(monkeypatch):
    """The checks above can fail: a deliberately wrong sin rule is caught."""
    monkeypatch.setattr(P.sin_p, "vjps", (lambda g, y, x: P.mul(g, P.sin(x)),))
    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError):
        check_first_order(np.sin, [rng.uniform(-2, 2, (3,))], "complex", rng)
