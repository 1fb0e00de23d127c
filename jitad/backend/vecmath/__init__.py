"""Vectorisable float64 math functions for numba kernels.

numba's ``np.sin``, ``np.exp``, ... are scalar libm calls: a loop that uses
them cannot be vectorised. These are branch-free float64 implementations
(range reduction plus a minimax polynomial, in double-double where one
rounding would cost accuracy) that LLVM inlines into the calling loop and
vectorises: 4 lanes on AVX2, 8 with AVX-512. Each is ``f(x) -> float64`` on a
float64 scalar, callable from any ``numba.njit`` function, within 1 ulp of
the correctly rounded result over the whole float64 domain (the measured
maxima are in ``docs/vecmath.md``), with NumPy's results at the special
inputs (inf, nan, signed zeros, domain errors).

``FUNCTIONS`` maps NumPy ufunc names to them (``"power"`` is ``pow``);
``COMPOSITES`` maps those written as NumPy's formula on them (``logaddexp``).
``FAST_TRIG`` holds faster sin/cos/tan that are exact only for
``|x| < 2**30`` and return nan beyond; a kernel that uses them must rerun
its loop with the ``FUNCTIONS`` versions where ``needs_exact_trig`` was
true for any argument (the protocol is in ``docs/vecmath.md``).

>>> import numba, numpy as np
>>> from jitad.backend.vecmath import sin as vm_sin, exp as vm_exp
>>> @numba.njit(error_model="numpy")
... def kernel(x, out):
...     for i in range(x.size):
...         out[i] = vm_exp(vm_sin(x[i]) * 2.0)
...     return out
>>> kernel(np.array([0.0, 1.0]), np.empty(2))
array([1.        , 5.38136452])
"""
import hashlib
import pathlib

from .roots import cbrt
from .exp_log import exp, exp2, expm1, log, log1p, log2, log10, pow
from .hyperbolic import arccosh, arcsinh, arctanh, cosh, sinh, tanh
from .inverse_trig import arccos, arcsin, arctan, arctan2
from .trig import FAST_LIMIT, cos, cos_fast, needs_exact_trig, sin, sin_fast, tan, tan_fast
from .composite import logaddexp

__all__ = ["FUNCTIONS", "FAST_TRIG", "FAST_LIMIT", "SOURCE_DIGEST", "needs_exact_trig", "sin", "cos", "tan",
           "sin_fast", "cos_fast", "tan_fast", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
           "pow", "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan", "arctan2", "arcsinh",
           "arccosh", "arctanh", "cbrt", "COMPOSITES", "logaddexp"]

FUNCTIONS = {"sin": sin, "cos": cos, "tan": tan, "exp": exp, "exp2": exp2, "expm1": expm1,
             "log": log, "log2": log2, "log10": log10, "log1p": log1p, "power": pow,
             "sinh": sinh, "cosh": cosh, "tanh": tanh, "arcsin": arcsin, "arccos": arccos,
             "arctan": arctan, "arctan2": arctan2, "arcsinh": arcsinh, "arccosh": arccosh,
             "arctanh": arctanh, "cbrt": cbrt}
FAST_TRIG = {"sin": sin_fast, "cos": cos_fast, "tan": tan_fast}
# NumPy's formulas on the functions above: NumPy's accuracy, not FUNCTIONS' contract
COMPOSITES = {"logaddexp": logaddexp}

# A kernel compiled with these functions has their code inlined: a kernel cache
# must include this in its key, or a fixed function leaves stale kernels on disk.
_INLINED_MODULES = ("ops", "dd", "exp_log", "trig", "hyperbolic", "inverse_trig", "roots",
                    "composite")
SOURCE_DIGEST = hashlib.sha256(b"".join(
    (pathlib.Path(__file__).parent / f"{m}.py").read_bytes() for m in _INLINED_MODULES)).hexdigest()[:16]
