"""The accuracy sweep: inputs for every function, and the table in docs/vecmath.md.

For each function three kinds of input, in float64 and in float32:

- ``usual``: uniform in the range where the function is usually evaluated;
- ``bits``: uniform over the bit patterns of its whole domain (every binade
  equally likely, from subnormals to the largest doubles);
- ``edges``: ±0, subnormals, the normal/subnormal boundary, ±inf, nan, the
  overflow and underflow thresholds, the breakpoints of each algorithm and
  their neighbours, and for sin/cos/tan the doubles closest to multiples of
  pi/2 in every binade (continued fractions of 2**e * 2/pi), where the
  argument reduction cancels most.

``python -m jitad.backend.vecmath.sweep [--points N] [--seed S] [names]``
prints one Markdown row per function, and for the fast sin/cos/tan (inputs
cut to ``|x| < 2**30``), with ``--points`` per kind of input (default 10**6).

>>> reports = run("cbrt", points=1000)
>>> sorted({r.kind for r in reports}), max(r.max_distance for r in reports) <= 2
(['bits', 'edges', 'usual'], True)
"""
from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import FAST_LIMIT, FAST_TRIG, FUNCTIONS
from .accuracy import check_reference, measure
from .trig import TWO_OVER_PI, TWO_OVER_PI_BITS

INF, MAX = np.inf, np.finfo(np.float64).max


@dataclass(frozen=True)
class Domain:
    """Where to draw a function's inputs: ``usual`` a uniform range, ``whole``
    the interval whose bit patterns are drawn uniformly; ``edges`` its own
    special points (the shared ones are added by ``edge_cases``)."""

    usual: tuple
    whole: tuple = (-MAX, MAX)
    edges: tuple = ()


DOMAINS = {
    "sin": Domain((-10.0, 10.0), edges=(1e22, 1e300, 6381956970095103 * 2.0 ** 797)),
    "cos": Domain((-10.0, 10.0), edges=(1e22, 1e300, 6381956970095103 * 2.0 ** 797)),
    "tan": Domain((-10.0, 10.0), edges=(1e22, 1e300, 6381956970095103 * 2.0 ** 797)),
    "exp": Domain((-746.0, 710.0), edges=(709.782712893384, -745.1332191019411,
                                          -745.1332191019412, -708.3964185322641,
                                          0.34657359027997264, -0.34657359027997264)),
    "exp2": Domain((-1076.0, 1025.0), edges=(1024.0, -1074.0, -1075.0, -1022.0, 0.5, -0.5)),
    "expm1": Domain((-40.0, 710.0), edges=(709.782712893384, -38.0, -40.0, 0.34657359027997264,
                                           2.0 ** -54, -(2.0 ** -54), 1e-300)),
    "log": Domain((0.0, 10.0), (0.0, INF), (0.7071067811865476, 1.4142135623730951)),
    "log2": Domain((0.0, 10.0), (0.0, INF), (0.7071067811865476, 1.4142135623730951)),
    "log10": Domain((0.0, 10.0), (0.0, INF), (0.7071067811865476, 10.0, 100.0, 1e22)),
    "log1p": Domain((-1.0, 10.0), (-1.0, INF), (-0.5, -1.0 + 2.0 ** -53, 2.0 ** -54, 1e-300,
                                                 0.41421356237309503, -0.2928932188134524)),
    "sinh": Domain((-711.0, 711.0), edges=(710.4758600739439, -710.4758600739439, 22.0)),
    "cosh": Domain((-711.0, 711.0), edges=(710.4758600739439, -710.4758600739439, 22.0)),
    "tanh": Domain((-25.0, 25.0), edges=(22.0, -22.0, 0.55, 1e-300)),
    "arcsin": Domain((-1.0, 1.0), (-1.0, 1.0), (0.5, -0.5, 0.975)),
    "arccos": Domain((-1.0, 1.0), (-1.0, 1.0), (0.5, -0.5, 0.975)),
    "arctan": Domain((-10.0, 10.0), edges=(0.4375, 0.6875, 1.1875, 2.4375, -2.4375, 1e300)),
    "arcsinh": Domain((-1000.0, 1000.0), edges=(268435456.0, 7.450580596923828e-09)),
    "arccosh": Domain((1.0, 1000.0), (1.0, INF), (268435456.0, 1.0 + 2.0 ** -52)),
    "arctanh": Domain((-1.0, 1.0), (-1.0, 1.0), (0.5, -0.5, 1e-300)),
    "cbrt": Domain((-1000.0, 1000.0), edges=(27.0, -8.0, 2.0 ** -1074 * 27, 1e-310)),
}
# the binary functions: uniform ranges for (first, second) argument
BINARY_USUAL = {"power": [((0.0, 10.0), (-10.0, 10.0)), ((0.99, 1.01), (-50000.0, 50000.0))],
                "arctan2": [((-10.0, 10.0), (-10.0, 10.0))]}
SPECIAL = (0.0, 5e-324, 2.225073858507201e-308, 2.2250738585072014e-308, 0.5, 1.0, 2.0, 3.0,
           2.5, MAX, INF, 2.0 ** 53, 2.0 ** 53 + 2.0, 1e-300, 1e300)


def ordinal_to_float(ords):
    """Inverse of ``accuracy.ordinal`` for float64."""
    ords = np.asarray(ords, dtype=np.int64)
    bits = np.where(ords < 0, (-ords) | np.int64(-2 ** 63), ords)
    return bits.view(np.float64)


def bit_patterns(rng, lo, hi, n, dtype=np.float64):
    """``n`` floats uniform over the bit patterns between ``lo`` and ``hi``."""
    info = np.iinfo(np.int64 if dtype == np.float64 else np.int32)
    with np.errstate(over="ignore"):  # float64's largest doubles are inf in float32
        as_bits = np.array([lo, hi], dtype=dtype).view(info.dtype).astype(np.int64)
    ends = np.where(as_bits < 0, -(as_bits & info.max), as_bits)
    ords = rng.integers(ends[0], ends[1], n, endpoint=True)
    bits = np.where(ords < 0, (-ords) | np.int64(info.min), ords).astype(info.dtype)
    return bits.view(dtype).astype(np.float64)


def _neighbours(values, steps=2):
    values = np.asarray(values, dtype=np.float64)
    out = [values]
    up, down = values.copy(), values.copy()
    with np.errstate(over="ignore"):
        for _ in range(steps):
            up, down = np.nextafter(up, INF), np.nextafter(down, -INF)
            out += [up, down]
    return np.concatenate(out)


@functools.lru_cache(maxsize=None)
def near_multiples_of_pio2():
    """Doubles closest to multiples of pi/2: for every binade, the continued-fraction
    convergents ``k/m`` of ``2**e * 2/pi`` give ``m * 2**e`` close to ``k * pi/2``."""
    points = []
    for e in range(-52, 972):
        alpha = Fraction(TWO_OVER_PI, 1 << TWO_OVER_PI_BITS) * Fraction(2) ** e
        h0, h1, k0, k1 = 0, 1, 1, 0  # convergent numerators h, denominators k
        a = alpha
        while True:
            term = a.numerator // a.denominator
            h0, h1, k0, k1 = h1, term * h1 + h0, k1, term * k1 + k0
            if k1 >= 1 << 53:
                break
            if k1 > 0 and h1 > 0:
                points.append(np.ldexp(float(k1), e))
            if a == term:
                break
            a = 1 / (a - term)
    return np.unique(np.array([p for p in points if np.isfinite(p)]))


def edge_cases(name):
    """The special points of ``name`` and their neighbours, both signs."""
    base = np.array(SPECIAL + DOMAINS[name].edges if name in DOMAINS else SPECIAL)
    if name in ("sin", "cos", "tan"):
        base = np.concatenate([base, near_multiples_of_pio2(), np.ldexp(1.0, np.arange(-1074, 1024))])
    elif name.startswith(("log", "cbrt")):
        base = np.concatenate([base, np.ldexp(1.0, np.arange(-1074, 1024)),
                               np.arange(1, 4096, dtype=np.float64) ** 3])
    points = _neighbours(np.concatenate([base, -base]))
    return np.concatenate([points, [np.nan]])


@dataclass
class SampleReport:
    kind: str
    dtype: str
    points: int
    max_ulp: float
    max_distance: int
    worst_input: tuple
    special_mismatches: int


def _samples(name, points, rng, dtype):
    """``{kind: tuple of input arrays}`` for one function."""
    if name in BINARY_USUAL:
        usual = [tuple(rng.uniform(lo, hi, points // len(BINARY_USUAL[name])) for lo, hi in ranges)
                 for ranges in BINARY_USUAL[name]]
        usual = tuple(np.concatenate(parts) for parts in zip(*usual))
        bits = (bit_patterns(rng, -MAX, MAX, points, dtype), bit_patterns(rng, -MAX, MAX, points, dtype))
        special = _neighbours(np.concatenate([SPECIAL, -np.array(SPECIAL)]), steps=1)
        special = np.concatenate([special, [np.nan]])
        grid = tuple(g.ravel() for g in np.meshgrid(special, special))
        if name == "power":  # negative bases with integer exponents, results near the limits
            k = np.rint(rng.uniform(-40.0, 40.0, points // 10))
            neg = (-rng.uniform(0.0, 4.0, points // 10), k)
            limits = (np.full(8, 2.0), np.array([1023.0, 1024.0, -1074.0, -1075.0, 1023.99,
                                                 -1022.0, -1074.5, 0.5]))
            grid = tuple(np.concatenate(parts) for parts in zip(grid, neg, limits))
        return {"usual": usual, "bits": bits, "edges": grid}
    domain = DOMAINS[name]
    return {"usual": (rng.uniform(*domain.usual, points),),
            "bits": (bit_patterns(rng, *domain.whole, points, dtype),),
            "edges": (edge_cases(name),)}


def _fast_samples(name, points, rng, dtype):
    """``_samples`` cut to the range of the fast sin/cos/tan, ``|x| < 2**30``."""
    below = np.nextafter(FAST_LIMIT, 0.0)
    samples = _samples(name, points, rng, dtype)
    samples["bits"] = (bit_patterns(rng, -below, below, points, dtype),)
    with np.errstate(over="ignore"):
        edges = samples["edges"][0].astype(dtype)  # (rounding to float32 can reach 2**30)
    samples["edges"] = (edges[~(np.abs(edges) >= FAST_LIMIT)].astype(np.float64),)
    return samples


def run(name, points=10**6, seed=0, dtypes=(np.float64, np.float32), fast=False):
    """The sweep of one function (of ``FAST_TRIG[name]`` if ``fast``): a
    ``SampleReport`` per kind of input and dtype."""
    reports = []
    for dtype in dtypes:
        rng = np.random.default_rng(seed)
        samples = (_fast_samples if fast else _samples)(name, points, rng, dtype)
        for kind, inputs in samples.items():
            r = measure(name, *inputs, dtype=dtype, fn=FAST_TRIG[name] if fast else None)
            reports.append(SampleReport(kind, np.dtype(dtype).name, r.points, r.max_ulp,
                                        r.max_distance, r.worst_input, r.special_mismatches))
    return reports


def reference_check(name, points=2000, seed=1):
    """Points where the long-double reference disagrees with mpmath, on a sample."""
    rng = np.random.default_rng(seed)
    inputs = [a[:points] for a in _samples(name, points, rng, np.float64)["usual"]]
    return check_reference(name, *inputs)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m jitad.backend.vecmath.sweep",
                                     description="Accuracy of the vecmath functions.")
    parser.add_argument("names", nargs="*", default=sorted(FUNCTIONS))
    parser.add_argument("--points", type=int, default=10**6, help="points per kind of input")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| function | float64 max ulp | float64 max steps | float32 max ulp | float32 max steps "
          "| points | special mismatches | long double vs mpmath (2000 pts: all, not rechecked) "
          "| worst input (float64) |")
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    rows = [(name, False) for name in args.names] + [(n, True) for n in args.names if n in FAST_TRIG]
    for name, fast in rows:
        reports = run(name, args.points, args.seed, fast=fast)
        f64 = [r for r in reports if r.dtype == "float64"]
        f32 = [r for r in reports if r.dtype == "float32"]
        worst = max(f64, key=lambda r: (r.max_distance, r.max_ulp))
        specials = sum(r.special_mismatches for r in reports)
        failed |= specials > 0 or any(r.max_distance > 2 for r in reports)
        label = f"{name} fast (abs(x) < 2**30)" if fast else name
        print(f"| {label} | {max(r.max_ulp for r in f64):.3f} | {max(r.max_distance for r in f64)} "
              f"| {max(r.max_ulp for r in f32):.3f} | {max(r.max_distance for r in f32)} "
              f"| {sum(r.points for r in reports):,} | {specials} "
              f"| {'-' if fast else '%d, %d' % reference_check(name)} "
              f"| {worst.worst_input} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
