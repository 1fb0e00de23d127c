"""scipy.stats drop-ins: ``norm``, ``t``, ``gamma`` and ``beta`` with
SciPy's method signatures (shape parameters, then ``loc=0, scale=1``), on
traced values and plain arrays; differentiable in x, the shape parameters,
loc and scale.

``norm`` has logpdf, pdf, cdf, logcdf, sf, logsf and ppf; ``t``, ``gamma``
and ``beta`` have logpdf and pdf (their cdfs need incomplete gamma/beta
functions, which jitad has no rule for). Outside the support the logpdf is
-inf (pdf 0) with derivative 0, and a scale <= 0 gives NaN, as in SciPy.
Calling a distribution freezes it, as in SciPy: ``norm(loc, scale).logpdf(x)``.

>>> import numpy as np
>>> bool(np.isclose(norm.logpdf(1.0, loc=1.0, scale=2.0), -np.log(2.0) - 0.5 * np.log(2 * np.pi)))
True
"""
from __future__ import annotations

import numpy as np

from .special import betaln, gammaln, log_ndtr, ndtr, ndtri, xlog1py, xlogy

__all__ = ["norm", "t", "gamma", "beta"]

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


class Distribution:
    """A continuous distribution in SciPy's location-scale form: the
    standardised ``_logpdf(z, *shapes)`` (and, where there is one, ``_cdf``
    and friends), with ``z = (x - loc) / scale``."""

    name = ""
    shapes: tuple = ()

    def _split(self, args, kwargs):
        """(shape parameters, loc, scale) from SciPy's calling convention."""
        args = list(args)
        shapes = []
        for s in self.shapes:
            shapes.append(kwargs.pop(s) if s in kwargs else args.pop(0))
        loc = kwargs.pop("loc", args.pop(0) if args else 0.0)
        scale = kwargs.pop("scale", args.pop(0) if args else 1.0)
        if args or kwargs:
            raise TypeError(f"{self.name}: unexpected arguments {args or ''} {kwargs or ''}; "
                            f"the signature is ({', '.join(self.shapes + ('loc=0', 'scale=1'))})")
        return shapes, loc, scale

    def logpdf(self, x, *args, **kwargs):
        """log density at x: (x, *shapes, loc=0, scale=1), as SciPy's."""
        shapes, loc, scale = self._split(args, kwargs)
        z = (x - loc) / scale
        out = self._logpdf(z, *shapes) - np.log(np.where(scale > 0, scale, 1.0))
        return np.where(scale > 0, out, np.nan)

    def pdf(self, x, *args, **kwargs):
        """exp(logpdf(x, ...))."""
        return np.exp(self.logpdf(x, *args, **kwargs))

    def __call__(self, *args, **kwargs):
        return Frozen(self, args, kwargs)

    def __repr__(self):
        return f"jitad.scipy.stats.{self.name}"


class Frozen:
    """A distribution with its parameters fixed, as ``scipy.stats.norm(0, 2)``."""

    def __init__(self, dist, args, kwargs):
        self.dist, self.args, self.kwargs = dist, args, kwargs

    def __getattr__(self, method):
        bound = getattr(self.dist, method)
        return lambda x: bound(x, *self.args, **self.kwargs)


class Norm(Distribution):
    name = "norm"

    def _logpdf(self, z):
        return -0.5 * z * z - _HALF_LOG_2PI

    def _standard(self, x, loc, scale):
        return (x - loc) / scale

    def cdf(self, x, loc=0.0, scale=1.0):
        """ndtr((x - loc) / scale)."""
        return ndtr(self._standard(x, loc, scale))

    def logcdf(self, x, loc=0.0, scale=1.0):
        """log_ndtr((x - loc) / scale): accurate far in the lower tail."""
        return log_ndtr(self._standard(x, loc, scale))

    def sf(self, x, loc=0.0, scale=1.0):
        """1 - cdf, as ndtr(-(x - loc) / scale)."""
        return ndtr(-self._standard(x, loc, scale))

    def logsf(self, x, loc=0.0, scale=1.0):
        """log(1 - cdf), as log_ndtr(-(x - loc) / scale)."""
        return log_ndtr(-self._standard(x, loc, scale))

    def ppf(self, q, loc=0.0, scale=1.0):
        """The quantile: loc + scale * ndtri(q)."""
        return loc + scale * ndtri(q)


class StudentT(Distribution):
    name, shapes = "t", ("df",)

    def _logpdf(self, z, df):
        return (gammaln(0.5 * (df + 1.0)) - gammaln(0.5 * df) - 0.5 * np.log(df * np.pi)
                - 0.5 * (df + 1.0) * np.log1p(z * z / df))


class Gamma(Distribution):
    name, shapes = "gamma", ("a",)

    def _logpdf(self, z, a):
        return np.where(z >= 0, xlogy(a - 1.0, z) - z - gammaln(a), -np.inf)


class Beta(Distribution):
    name, shapes = "beta", ("a", "b")

    def _logpdf(self, z, a, b):
        inside = (z >= 0) & (z <= 1)
        return np.where(inside, xlog1py(b - 1.0, -z) + xlogy(a - 1.0, z) - betaln(a, b),
                        -np.inf)


norm, t, gamma, beta = Norm(), StudentT(), Gamma(), Beta()
