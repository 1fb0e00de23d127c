"""NumPy's API on tracers: the dispatch tables of the tracer.

``UFUNCS`` maps a ufunc to its implementation, ``FUNCTIONS`` maps NumPy
functions reached through ``__array_function__``, ``UNSUPPORTED`` lists the
functions refused on purpose (with why, and what to use instead), and
``METHODS`` names the ndarray methods and operators a tracer has (installed
by ``tracer._install_methods`` from the functions of the same name here).
Everything is written with primitives, so it is recorded; nothing runs NumPy
on a tracer. The families: ``elementwise``, ``reductions``, ``linalg``,
``shape``, ``indexing``, ``building`` (``np.array`` of traced values), and
``special`` (scipy.special's ufuncs, by name, and the drop-ins for SciPy
functions that cannot take a tracer); ``python -m jitad.coverage`` prints the
table.
"""
import numpy as np

from . import building, structure
from .dispatch import FUNCTIONS, UFUNCS, UNSUPPORTED, implements, unsupported
from .elementwise import (add, bitwise_and, bitwise_or, bitwise_xor, clip, divide, floor_divide,
                          invert, multiply, negative, power, remainder, round, subtract)
from .indexing import getitem, setitem, take, ufunc_at
from .inplace import updating, write_out
from .linalg import diagonal, dot, matmul, trace
from .reductions import (all, any, argmax, argmin, cumprod, cumsum, max, mean, min, prod, std,
                         sum, var)
from .shape import (astype, copy, flatten, ravel, repeat, reshape, squeeze, swapaxes,
                    transpose)
from .special import DROP_INS, SCIPY_UFUNCS, drop_in_advice, scipy_ufunc

from .structure import argsort

unsupported("partial sorts are not recorded; np.sort (or np.argsort and a gather) sorts fully",
            np.partition, np.argpartition, np.lexsort)
unsupported("the number of results depends on the values; use masks with np.where instead",
            np.unique, np.nonzero, np.flatnonzero, np.argwhere, np.extract, np.compress)
unsupported("order statistics need sorting; np.mean, np.max or np.min may do",
            np.median, np.percentile, np.quantile, np.nanmedian, np.nanpercentile,
            np.nanquantile)
unsupported("jitad has no rule for Fourier transforms; write the transform as a matrix "
            "product with a DFT matrix", np.fft.fft, np.fft.ifft, np.fft.rfft, np.fft.irfft,
            np.fft.fft2, np.fft.fftn)
unsupported("NaN-skipping reductions are not supported; use np.where(np.isnan(x), 0.0, x) "
            "first", np.nansum, np.nanmean, np.nanmax, np.nanmin, np.nanstd, np.nanvar)
unsupported("jitad records writes by indexing (x[i] = v), in-place operators and out=; "
            "write np.put and friends that way",
            np.put, np.place, np.putmask)


def _binary_method(fn, reflected=False):
    return (lambda self, other: fn(other, self)) if reflected else (lambda self, other: fn(self, other))


# Operators beyond those tracer._install_methods maps itself.
__and__, __rand__ = _binary_method(bitwise_and), _binary_method(bitwise_and, True)
__or__, __ror__ = _binary_method(bitwise_or), _binary_method(bitwise_or, True)
__xor__, __rxor__ = _binary_method(bitwise_xor), _binary_method(bitwise_xor, True)
__floordiv__, __rfloordiv__ = _binary_method(floor_divide), _binary_method(floor_divide, True)
__mod__, __rmod__ = _binary_method(remainder), _binary_method(remainder, True)
__invert__ = invert
__setitem__ = setitem

METHODS = ("sum", "mean", "prod", "max", "min", "var", "std", "argmax", "argmin", "cumsum",
           "cumprod", "argsort", "any", "all", "clip", "round", "reshape", "transpose", "ravel", "flatten",
           "squeeze", "swapaxes", "repeat", "astype", "copy", "dot", "trace", "diagonal", "take",
           "__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "__floordiv__",
           "__rfloordiv__", "__mod__", "__rmod__", "__invert__", "__setitem__")
