"""Transposes and contiguous copies of strided arrays, for the kernels.

numba 0.68 compiles ``x.transpose(axes)`` of an array of three or more
dimensions very slowly: 14-16 s for one call on a (12, 3, 4) array (a 2-d
``x.T`` takes well under a second), which made the 12-op Hessian of a
``np.dot`` take 20 s to compile. The same view made with ``as_strided`` from
the permuted shape and strides compiles in about a second, so kernels call
``transposed``; its result is the view NumPy's transpose is.

>>> import numpy as np
>>> x = np.arange(24.0).reshape(2, 3, 4)
>>> bool(np.array_equal(transposed(x, (2, 0, 1)), x.transpose(2, 0, 1)))
True
"""
import functools

import numpy as np
from numba import types
from numba.extending import overload
from numpy.lib.stride_tricks import as_strided


def transposed(a, perm):
    """``a.transpose(perm)``, a view."""
    return np.transpose(a, perm)


@functools.lru_cache(maxsize=None)
def _strided_transpose(ndim):
    """The transpose of an ndim-array as an ``as_strided`` view (made once
    per rank)."""
    shape = ", ".join(f"a.shape[perm[{d}]]" for d in range(ndim))
    strides = ", ".join(f"a.strides[perm[{d}]]" for d in range(ndim))
    namespace = {"as_strided": as_strided}
    exec(f"def transpose(a, perm):\n    return as_strided(a, ({shape},), ({strides},))\n",
         namespace)  # noqa: S102 - source built above from ndim alone
    return namespace["transpose"]


@overload(transposed)
def _transposed(a, perm):
    if isinstance(a, types.Array):
        return _strided_transpose(a.ndim)
    return None
