"""Minimax polynomial fits (the Remez exchange algorithm), in mpmath.

This is how the coefficient tables of ``vecmath`` were made; the math
functions do not import it. ``fit(f, a, b, powers)`` returns the
coefficients ``c`` of ``sum(c[j] * z**powers[j])`` that minimise the largest
weighted error ``max |weight(z) * (p(z) - f(z))|`` on ``[a, b]``, rounded to
float64, and that largest error (for the float64 coefficients).

``TABLES`` says what each table approximates (the part of the function left
after the terms that are computed exactly: ``sin r = r + r**3 * S(r**2)``
fits ``S``), on which interval and with how many coefficients;
``python -m jitad.backend.vecmath.remez`` fits them all again and prints
them with their relative errors.

>>> import mpmath
>>> coeffs, err = fit(mpmath.exp, -0.5, 0.5, range(8), weight=lambda z: 1 / mpmath.exp(z))
>>> [round(c, 6) for c in coeffs[:3]], err < 3e-9
([1.0, 1.0, 0.5], True)
"""
from __future__ import annotations

import math

import mpmath


def _chebyshev_points(a, b, count):
    return [(a + b) / 2 + (b - a) / 2 * mpmath.cos(mpmath.pi * k / (count - 1))
            for k in range(count - 1, -1, -1)]


def _alternating_extrema(zs, errors, count):
    """One extremum per run of equal sign, then trim to ``count`` keeping alternation."""
    runs = []
    for z, e in zip(zs, errors):
        if runs and (e >= 0) == (runs[-1][1] >= 0):
            if abs(e) > abs(runs[-1][1]):
                runs[-1] = (z, e)
        else:
            runs.append((z, e))
    while len(runs) > count:  # drop the smaller end: the rest still alternates
        runs.pop(0 if abs(runs[0][1]) < abs(runs[-1][1]) else -1)
    return runs


def fit(f, a, b, powers, weight=None, *, grid=1500, iterations=30, prec=200):
    """Minimax coefficients for ``sum(c[j] * z**powers[j])`` against ``f`` on ``[a, b]``.

    ``f`` and ``weight`` take and return mpmath numbers; ``weight`` defaults to
    ``1/|f|`` (relative error). Returns ``(coefficients as floats, max weighted
    error of the float64-rounded polynomial on the grid)``.
    """
    powers = list(powers)
    with mpmath.workprec(prec):
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        w = weight or (lambda z: 1 / abs(f(z)))
        zs = _chebyshev_points(a, b, grid)
        fz = [f(z) for z in zs]
        wz = [w(z) for z in zs]
        n = len(powers)
        ref = _chebyshev_points(a, b, n + 1)
        coeffs = None
        for _ in range(iterations):
            rows = [[z ** p for p in powers] + [(-1) ** i / w(z)] for i, z in enumerate(ref)]
            sol = mpmath.lu_solve(mpmath.matrix(rows), mpmath.matrix([f(z) for z in ref]))
            coeffs, level = [sol[j] for j in range(n)], abs(sol[n])
            errors = [wi * (sum(c * z ** p for c, p in zip(coeffs, powers)) - fi)
                      for z, fi, wi in zip(zs, fz, wz)]
            extrema = _alternating_extrema(zs, errors, n + 1)
            worst = max(abs(e) for _, e in extrema)
            ref = [z for z, _ in extrema]
            if len(ref) < n + 1 or worst <= level * (1 + mpmath.mpf(2) ** -20):
                break
        rounded = [float(c) for c in coeffs]
        err = max(abs(wi * (sum(mpmath.mpf(c) * z ** p for c, p in zip(rounded, powers)) - fi))
                  for z, fi, wi in zip(zs, fz, wz))
        return rounded, float(err)


def _series(coefficient):
    """``z -> sum(coefficient(k) * z**k)`` to 2**-300 (the targets are series that
    lose nothing near z = 0, where their closed forms cancel)."""
    def f(z):
        total, power, k = mpmath.mpf(0), mpmath.mpf(1), 0
        while True:
            term = coefficient(k) * power
            total += term
            if k > 5 and abs(term) < mpmath.mpf(2) ** -300:
                return total
            power, k = power * z, k + 1
    return f


_fact = mpmath.factorial
# name: (target, interval, number of coefficients); the module that uses it
TABLES = {
    "exp_log.EXPM1_G": (_series(lambda k: 1 / _fact(k + 3)), (-0.3473, 0.3473), 10),
    "exp_log.LOG_T": (_series(lambda k: mpmath.mpf(2) / (2 * k + 3)), (0, 0.0295), 7),
    "exp_log.LOG_U": (_series(lambda k: mpmath.mpf(2) / (2 * k + 5)), (0, 0.0295), 8),
    "trig.SIN_S": (_series(lambda k: (-1) ** (k + 1) / _fact(2 * k + 3)), (0, 0.6181), 7),
    "trig.COS_C": (_series(lambda k: (-1) ** k / _fact(2 * k + 4)), (0, 0.6181), 6),
    "hyperbolic.SINH_S": (_series(lambda k: 1 / _fact(2 * k + 3)), (0, 1.0), 7),
    "inverse_trig.ATAN_A": (_series(lambda k: mpmath.mpf((-1) ** (k + 1)) / (2 * k + 3)), (0, 0.1916), 12),
    # asin u = u + sum (2k)! / (4**k (k!)**2 (2k+1)) u**(2k+1), k >= 1
    "inverse_trig.ASIN_P": (_series(lambda k: _fact(2 * k + 2)
                                    / (4 ** (k + 1) * _fact(k + 1) ** 2 * (2 * k + 3))), (0, 0.25), 13),
    "roots.CBRT_GUESS": (mpmath.cbrt, (1, 2), 5),
}


def main():
    for name, (target, (a, b), n) in TABLES.items():
        coefficients, err = fit(target, a, b, range(n))
        print(f"{name} = {tuple(coefficients)}  # relative error 2**{math.log2(err):.1f}", flush=True)


if __name__ == "__main__":
    main()
