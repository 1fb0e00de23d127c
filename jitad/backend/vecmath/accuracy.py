"""Accuracy of the vecmath functions: ulp errors against references, special values.

The bulk reference is NumPy's long-double ufunc (80-bit x87 on x86: 11 bits
more than float64, from glibc's ``sinl``, ``expl``, ...), rounded to float64
to get the correctly rounded result. Where that rounding is too close to
call, or the measured error is large enough to matter (2 ulp or more from
the rounded reference), the point is recomputed with mpmath at 160 bits.
A random sample is always checked against mpmath as well, which is what
shows the long-double reference is good enough to decide the rounding.

Two numbers per function: ``max_ulp``, the largest ``|f(x) - exact| /
ulp(exact)`` (the usual measure: SLEEF's and glibc's tables use it), and
``max_distance``, the largest number of float64 steps between ``f(x)`` and
the correctly rounded result. The contract is ``max_distance <= 2``.
Where NumPy's float64 result is nan, inf or a zero, ours must be the same
(including the sign of zero): that is the special-value contract.

``sweep.py`` draws the inputs (uniform in a usual range, uniform over the bit
patterns of the domain, edge cases) and runs this over every function.

>>> report = measure("exp", np.linspace(-700.0, 700.0, 1001))
>>> report.max_distance <= 1, report.special_mismatches
(True, 0)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import mpmath
import numpy as np

from . import FUNCTIONS
from .vectorization import loop_for

def _cbrt_mp(x):
    return mpmath.sign(x) * mpmath.cbrt(abs(x))


MPMATH = {
    "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan, "exp": mpmath.exp,
    "exp2": lambda x: mpmath.power(2, x), "expm1": mpmath.expm1, "log": mpmath.log,
    "log2": lambda x: mpmath.log(x, 2), "log10": mpmath.log10, "log1p": mpmath.log1p,
    "sinh": mpmath.sinh, "cosh": mpmath.cosh, "tanh": mpmath.tanh, "arcsin": mpmath.asin,
    "arccos": mpmath.acos, "arctan": mpmath.atan, "arcsinh": mpmath.asinh,
    "arccosh": mpmath.acosh, "arctanh": mpmath.atanh, "cbrt": _cbrt_mp,
    "power": mpmath.power, "arctan2": mpmath.atan2,
}
NUMPY = {name: getattr(np, name) for name in MPMATH}


# ---- the functions, applied by a numba loop (the way kernels use them) ----

@functools.lru_cache(maxsize=None)
def _loop(fn, arity):
    return loop_for(fn, arity)


def apply(fn, *inputs):
    """``fn`` (a vecmath function) on float64 arrays, through the vectorised loop."""
    inputs = [np.ascontiguousarray(a, dtype=np.float64) for a in inputs]
    out = np.empty_like(inputs[0])
    _loop(fn, len(inputs))(*inputs, out)
    return out


# ---- references ----

def reference_longdouble(name, *inputs):
    with np.errstate(all="ignore"):
        return NUMPY[name](*[np.asarray(a, dtype=np.float64).astype(np.longdouble) for a in inputs])


def _round_mp(v, dtype):
    """An mpmath real rounded once to float64 or float32 (subnormals too)."""
    info = np.finfo(dtype)
    if not mpmath.isfinite(v):
        return dtype(float(v))
    if abs(v) > mpmath.mpf(float(info.max)) * (1 + mpmath.mpf(2) ** -(info.nmant + 1)):
        return dtype(np.inf if v > 0 else -np.inf)
    tiny = mpmath.mpf(2) ** (info.minexp - info.nmant)     # smallest subnormal
    if abs(v) < mpmath.mpf(2) ** info.minexp:             # subnormal range: fixed point
        return dtype(float(mpmath.nint(v / tiny) * tiny))  # nint rounds half to even
    with mpmath.workprec(info.nmant + 1):
        return dtype(float(+v))


def reference_mpmath(name, *inputs, dtype=np.float64):
    """Correctly rounded results from mpmath at 160 bits (nan where not real)."""
    out = np.empty(len(inputs[0]), dtype=dtype)
    fn = MPMATH[name]
    with mpmath.workprec(160):
        for i, args in enumerate(zip(*inputs)):
            try:
                v = fn(*[mpmath.mpf(float(a)) for a in args])
            except (ValueError, ZeroDivisionError):
                v = mpmath.nan
            out[i] = _round_mp(v, dtype) if isinstance(v, mpmath.mpf) else dtype(np.nan)
    return out


# ---- ulp arithmetic ----

def ordinal(a):
    """Float bits as integers that count float steps (+0 and -0 are both 0)."""
    a = np.asarray(a)
    bits = a.view(np.int64 if a.dtype == np.float64 else np.int32).astype(np.int64)
    magnitude = bits & (np.iinfo(np.int64).max if a.dtype == np.float64 else 0x7FFFFFFF)
    return np.where(bits < 0, -magnitude, magnitude)


def ulp_of(exact, dtype):
    """The spacing of ``dtype`` at the (long-double) value ``exact``."""
    info = np.finfo(dtype)
    _, e = np.frexp(np.abs(exact).astype(np.longdouble))
    return np.ldexp(np.longdouble(1), np.maximum(e.astype(np.int64) - 1 - info.nmant,
                                                 info.minexp - info.nmant))


@dataclass
class Report:
    """What ``measure`` found for one function, one dtype and one set of points."""

    name: str
    dtype: str
    points: int
    max_ulp: float = 0.0
    max_distance: int = 0
    worst_input: tuple = ()
    special_mismatches: int = 0
    special_examples: list = field(default_factory=list)
    rechecked_with_mpmath: int = 0

    def merge(self, other):
        if other.max_distance > self.max_distance or (
                other.max_distance == self.max_distance and other.max_ulp > self.max_ulp):
            self.worst_input = other.worst_input
        self.points += other.points
        self.max_ulp = max(self.max_ulp, other.max_ulp)
        self.max_distance = max(self.max_distance, other.max_distance)
        self.special_mismatches += other.special_mismatches
        self.special_examples = (self.special_examples + other.special_examples)[:5]
        self.rechecked_with_mpmath += other.rechecked_with_mpmath
        return self


def _same_special(ours, theirs):
    both_nan = np.isnan(ours) & np.isnan(theirs)
    same = (ours == theirs) & (np.signbit(ours) == np.signbit(theirs))
    return both_nan | same


def measure(name, *inputs, dtype=np.float64, fn=None):
    """Errors of ``FUNCTIONS[name]`` (or of ``fn``, against the references for
    ``name``) on these inputs, in ``dtype``: float64, or float32, where the inputs
    are rounded to float32 first and the float64 result is rounded to float32, as
    a float32 kernel does."""
    dtype = np.dtype(dtype).type
    with np.errstate(all="ignore"):
        inputs = [np.asarray(a, dtype=np.float64).astype(dtype).astype(np.float64) for a in inputs]
        ours = apply(fn or FUNCTIONS[name], *inputs).astype(dtype)
        exact = reference_longdouble(name, *inputs)
        rounded = exact.astype(dtype)
        # NumPy's float64 answer is what special inputs must give (rounded, for float32)
        numpy_result = NUMPY[name](*inputs).astype(dtype)
    report = Report(name, np.dtype(dtype).name, len(ours))

    special = ~np.isfinite(numpy_result) | (numpy_result == 0) | ~np.isfinite(rounded) | (rounded == 0)
    mismatch = special & ~_same_special(ours, numpy_result)
    report.special_mismatches = int(mismatch.sum())
    report.special_examples = [(tuple(float(a[i]) for a in inputs), float(ours[i]), float(numpy_result[i]))
                               for i in np.flatnonzero(mismatch)[:5]]

    regular = ~special
    distance = np.abs(ordinal(ours) - ordinal(rounded))
    with np.errstate(all="ignore"):
        ulps = np.abs(ours.astype(np.longdouble) - exact) / ulp_of(exact, dtype)
    distance = np.where(regular & np.isfinite(ours), distance, 0)
    distance = np.where(regular & ~np.isfinite(ours), np.iinfo(np.int64).max, distance)
    ulps = np.where(regular, ulps, 0)
    # recheck with mpmath where the long-double verdict could be off by a rounding:
    # the exact value within 2**-8 ulp of a halfway point, or a large error
    doubt = np.flatnonzero(regular & (ambiguous(exact, rounded, dtype) | (distance >= 2) | (ulps > 1.25)))
    if doubt.size:
        args = [a[doubt] for a in inputs]
        truth = reference_mpmath(name, *args, dtype=dtype)
        distance[doubt] = np.abs(ordinal(ours[doubt]) - ordinal(truth))
        with mpmath.workprec(160):
            exact_mp = [MPMATH[name](*[mpmath.mpf(float(v)) for v in point]) for point in zip(*args)]
        ulps[doubt] = [float(abs(mpmath.mpf(float(o)) - t) / mpmath.mpf(float(u)))
                       if isinstance(t, mpmath.mpf) and mpmath.isfinite(t) else 0.0
                       for o, t, u in zip(ours[doubt], exact_mp, ulp_of(truth.astype(np.longdouble), dtype))]
        report.rechecked_with_mpmath = int(doubt.size)
    if regular.any():
        worst = int(np.argmax(np.where(regular, distance + ulps.astype(np.float64) * 1e-3, -1)))
        report.max_distance = int(distance[worst])
        report.max_ulp = float(np.max(ulps[regular]))
        report.worst_input = tuple(float(a[worst]) for a in inputs)
    return report


def ambiguous(exact, rounded, dtype):
    """Where the long-double ``exact`` (good to a few long-double ulps, 2**-10 of a
    float64 ulp) is within 2**-8 float64 ulp of a halfway point between two
    ``dtype`` values: too close to trust its rounding."""
    with np.errstate(all="ignore"):
        ulp = ulp_of(exact, dtype)
        offset = np.abs(exact - rounded.astype(np.longdouble)) / ulp
        return np.abs(offset - 0.5) < 2.0 ** -8 * ulp_of(exact, np.float64) / ulp


def check_reference(name, *inputs):
    """``(disagreements, unflagged)``: points where the long-double reference rounds
    differently from mpmath, and how many of those ``measure`` would not recheck."""
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    with np.errstate(all="ignore"):
        exact = reference_longdouble(name, *inputs)
        ld = exact.astype(np.float64)
    mp = reference_mpmath(name, *inputs)
    wrong = np.isfinite(mp) & np.isfinite(ld) & (ld != mp)
    return int(wrong.sum()), int((wrong & ~ambiguous(exact, ld, np.float64)).sum())
