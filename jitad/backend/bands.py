"""The diagonals a 2-d fused loop's values can be nonzero on.

Forward mode seeds with the identity, so the loops of a Jacobian or a
Hessian read constants that are one value on one diagonal (``codegen``
reads them as a test on the indices). Through the chain rule's products,
which are NaN-safe (``safe_mul``: exactly 0 where an operand is 0, even
against inf or NaN), much of such a loop is exactly zero: Rosenbrock's
Hessian is nonzero on three diagonals of its 100 x 100. A loop whose every
result (stored, or added into a scatter's array) is zero off a band of
diagonals runs its inner axis over the band alone, into arrays that start
at zero: the same numbers, where off the band a dense loop could have left
a -0.0 (the band loop leaves +0.0).

A band is a frozenset of diagonal offsets ``i1 - i0`` (loop indices), or
None: any element may be nonzero. Each primitive's rule below says how its
result's band follows from its operands'; a primitive without one is dense.

>>> import numpy as np
>>> from jitad import primitives as P
>>> from jitad.ir import Lit
>>> two = Lit.of(2.0)
>>> value_band(P.safe_mul_p, [frozenset({0}), None], [None, None])
frozenset({0})
>>> value_band(P.add_p, [frozenset({0}), frozenset({-1})], [None, None]) == {0, -1}
True
>>> value_band(P.mul_p, [frozenset({1}), None], [None, two]), value_band(P.exp_p, [{0}], [None])
(frozenset({1}), None)

A plain product of arrays is dense: 0 * inf is NaN.

>>> value_band(P.mul_p, [frozenset({1}), None], [None, None]) is None
True
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from ..ir import Lit

# f(0) == 0 exactly, and f is finite at 0: zeros stay zeros
_KEEPS_ZEROS = {P.neg_p, P.sin_p, P.tan_p, P.arcsin_p, P.arctan_p, P.sinh_p, P.tanh_p,
                P.arcsinh_p, P.arctanh_p, P.expm1_p, P.log1p_p, P.sqrt_p, P.cbrt_p, P.abs_p,
                P.sign_p, P.floor_p, P.ceil_p, P.rint_p, P.trunc_p, P.convert_p,
                P.stop_gradient_p}


def _finite_scalar(a) -> bool:
    return type(a) is Lit and a.shape == () and bool(np.isfinite(a.val))


def value_band(primitive, bands, inputs):
    """The band of an op's result from its operands' ``bands`` (None:
    dense); ``inputs``: the operands themselves (a finite number scales
    zeros to zeros, where an array that could hold inf would not)."""
    if primitive in _KEEPS_ZEROS:
        return bands[0]
    if primitive in (P.add_p, P.sub_p):
        return None if None in bands else frozenset().union(*bands)
    if primitive is P.select_p:  # where(c, a, b): zero where both are
        return None if None in bands[1:] else frozenset().union(*bands[1:])
    if primitive is P.safe_mul_p:
        known = [band for band in bands if band is not None]
        return frozenset.intersection(*known) if known else None
    if primitive is P.mul_p:
        for k in (0, 1):
            if _finite_scalar(inputs[1 - k]):
                return bands[k]
        return None
    if primitive is P.div_p and _finite_scalar(inputs[1]) and inputs[1].val != 0:
        return bands[0]
    return None


def nonzero_diagonals(value: np.ndarray):
    """The band of a constant matrix: the diagonals of its nonzero elements.

    >>> sorted(nonzero_diagonals(np.eye(4) - 2.0 * np.eye(4, k=1)))
    [0, 1]
    """
    rows, cols = np.nonzero(value)
    return frozenset((cols - rows).tolist())


def loop_band(loop_ops, is_result, band_of, scatter_input_of, width: int):
    """(lo, hi): the diagonals ``lo..hi`` off which every result of the loop
    is zero, when that band is narrower than the inner axis (``width``;
    whatever the size, so one size-generic kernel serves every size); else
    None. ``is_result(op)``: the op's value leaves the loop
    (stored); ``scatter_input_of(op)``: the value a scatter adds, or None;
    ``band_of(a)``: the band of an operand from outside the loop, or None."""
    bands: dict = {}

    def band(a):
        return bands[a] if a in bands else band_of(a)

    results = []
    for op in loop_ops:
        added = scatter_input_of(op)
        if added is not None:
            results.append(band(added))
            continue
        bands[op.out] = value_band(op.primitive, [band(a) for a in op.inputs], op.inputs)
        if is_result(op):
            results.append(bands[op.out])
    if not results or None in results:
        return None
    offsets = frozenset().union(*results)
    if not offsets or max(offsets) - min(offsets) + 1 >= width:
        return None
    return min(offsets), max(offsets)
