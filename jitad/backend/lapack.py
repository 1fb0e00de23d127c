"""Linear algebra compiled once, cached on disk, and called from kernels by symbol.

numba types and lowers ``np.linalg.solve`` (or ``cholesky``, ``inv``, ...)
afresh in every function that calls it: 3 s a call site on 2 busy vCPUs, so
a GP likelihood's gradient took 11.8 s to compile and its Hessian 15.5 s,
nearly all of it linear algebra. Here each operation is one ``numba.cfunc``
per dtype, compiled the first time a kernel needs it and kept in numba's disk
cache beside this file (or numba's user-wide one), so a later process loads
it in milliseconds. Nothing is compiled or written at import.

Why a cfunc called through its address, not an ``@njit(cache=True)`` helper
the kernel calls: numba links a callee's code into every caller and
optimises the result again, and a kernel calling three cached helpers
compiled in 0.8 s against 0.16 s for the same kernel without them (measured,
numba 0.68). A kernel calls a cfunc as ``types.ExternalFunction``: a call to a
named C symbol, which LLVM resolves from ``llvmlite.binding.add_symbol`` when
the kernel's machine code is loaded, so nothing is linked in, and a kernel
from jitad's disk cache finds the symbol again in a new process (its
functions are compiled or loaded here, which registers them, before the
kernel is: ``Kernel.bind_lapack``).

The C interface is pointers to C-contiguous stacks of ``count`` matrices and
a status: 0, or ``SINGULAR`` (the LAPACK routine failed: not positive
definite, or singular), or ``NOT_FINITE`` (NumPy refuses infs and nans); the
kernel raises ``np.linalg.LinAlgError`` with numba's message
(``lowering.py`` writes the call): a cfunc cannot raise.

>>> external("cholesky", "float64").symbol  # compiled (or loaded) now
'jitad_cholesky_float64'
"""
from __future__ import annotations

import hashlib
import pathlib
import threading

import numba
import numpy as np
from llvmlite import binding
from numba import carray, types

SOURCE_DIGEST = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()[:16]

SINGULAR, NOT_FINITE = 1, 2
_SINGULAR = "Matrix is singular to machine precision."
_NOT_FINITE = "Array must not contain infs or NaNs."
# the statuses each can return (numba's cholesky does not check for nans)
MESSAGES = {"cholesky": {SINGULAR: "Matrix is not positive definite."},
            "solve": {SINGULAR: _SINGULAR, NOT_FINITE: _NOT_FINITE},
            "inv": {SINGULAR: _SINGULAR, NOT_FINITE: _NOT_FINITE},
            "det": {NOT_FINITE: _NOT_FINITE}, "slogdet": {NOT_FINITE: _NOT_FINITE},
            "eigh": {SINGULAR: "Eigenvalues did not converge", NOT_FINITE: _NOT_FINITE},
            "qr": {NOT_FINITE: _NOT_FINITE},
            "svd": {SINGULAR: "SVD did not converge", NOT_FINITE: _NOT_FINITE},
            "svd_complement": {SINGULAR: "SVD did not converge", NOT_FINITE: _NOT_FINITE}}
DTYPES = ("float32", "float64")  # the dtypes kernels carry

# Each body runs numba's own np.linalg function on every matrix of the stack.
# numba raises LinAlgError only for non-finite entries or a failed
# factorisation; which one is told apart after the fact, so a call that
# succeeds pays for no extra pass over its operands.


def _cholesky(a, count, n, out):
    matrices, results = carray(a, (count, n, n)), carray(out, (count, n, n))
    for i in range(count):
        try:
            results[i] = np.linalg.cholesky(matrices[i])
        except Exception:  # noqa: BLE001 - the only one numba raises is LinAlgError
            return SINGULAR
    return 0


def _solve(a, count, n, b, m, out):
    matrices, sides = carray(a, (count, n, n)), carray(b, (count, n, m))
    results = carray(out, (count, n, m))
    for i in range(count):
        try:
            results[i] = np.linalg.solve(matrices[i], sides[i])
        except Exception:  # noqa: BLE001
            finite = np.isfinite(matrices[i]).all() and np.isfinite(sides[i]).all()
            return SINGULAR if finite else NOT_FINITE
    return 0


def _inv(a, count, n, out):
    matrices, results = carray(a, (count, n, n)), carray(out, (count, n, n))
    for i in range(count):
        try:
            results[i] = np.linalg.inv(matrices[i])
        except Exception:  # noqa: BLE001
            return SINGULAR if np.isfinite(matrices[i]).all() else NOT_FINITE
    return 0


def _det(a, count, n, out):
    matrices, results = carray(a, (count, n, n)), carray(out, (count,))
    for i in range(count):
        try:
            results[i] = np.linalg.det(matrices[i])
        except Exception:  # noqa: BLE001
            return NOT_FINITE
    return 0


def _slogdet(a, count, n, out):
    matrices, results = carray(a, (count, n, n)), carray(out, (count, 2))
    for i in range(count):
        try:
            sign, logabsdet = np.linalg.slogdet(matrices[i])
        except Exception:  # noqa: BLE001
            return NOT_FINITE
        results[i, 0] = sign
        results[i, 1] = logabsdet
    return 0


@numba.njit(error_model="numpy")
def _failed(matrix):
    """Why numba raised: the matrix holds an inf or nan, or LAPACK failed."""
    return SINGULAR if np.isfinite(matrix).all() else NOT_FINITE


# The decompositions: a (count, m, n) stack in, each result a stack out.

def _eigh(a, count, n, w_out, v_out):
    matrices, values = carray(a, (count, n, n)), carray(w_out, (count, n))
    vectors = carray(v_out, (count, n, n))
    for i in range(count):
        try:
            values[i], vectors[i] = np.linalg.eigh(matrices[i])
        except Exception:  # noqa: BLE001
            return _failed(matrices[i])
    return 0


def _qr(a, count, m, n, q_out, r_out):
    k = min(m, n)
    matrices, qs, rs = carray(a, (count, m, n)), carray(q_out, (count, m, k)), \
        carray(r_out, (count, k, n))
    for i in range(count):
        try:
            qs[i], rs[i] = np.linalg.qr(matrices[i])
        except Exception:  # noqa: BLE001
            return _failed(matrices[i])
    return 0


def _svd(a, count, m, n, u_out, s_out, vt_out):
    k = min(m, n)
    matrices, us = carray(a, (count, m, n)), carray(u_out, (count, m, k))
    ss, vts = carray(s_out, (count, k)), carray(vt_out, (count, k, n))
    for i in range(count):
        try:
            us[i], ss[i], vts[i] = np.linalg.svd(matrices[i], False)
        except Exception:  # noqa: BLE001
            return _failed(matrices[i])
    return 0


def _svd_complement(a, count, m, n, out):
    """The last m - n columns of a full SVD's U (m > n), or the last n - m
    rows of its Vt."""
    matrices = carray(a, (count, m, n))
    results = carray(out, (count, m, m - n) if m > n else (count, n - m, n))
    for i in range(count):
        try:
            u, s, vt = np.linalg.svd(matrices[i], True)
        except Exception:  # noqa: BLE001
            return _failed(matrices[i])
        if m > n:
            results[i] = u[:, n:]
        else:
            results[i] = vt[m:, :]
    return 0


_BODIES = {"cholesky": _cholesky, "solve": _solve, "inv": _inv, "det": _det,
           "slogdet": _slogdet, "eigh": _eigh, "qr": _qr, "svd": _svd,
           "svd_complement": _svd_complement}
# each op's C arguments after its stack's pointer and count: "n" for square
# matrices, "m n" for rectangular ones, "b m" for solve's right-hand sides,
# then one pointer per result
ARGUMENTS = {"cholesky": "n out", "inv": "n out", "det": "n out", "slogdet": "n out",
              "solve": "n b m out", "eigh": "n out out", "qr": "m n out out",
              "svd": "m n out out out", "svd_complement": "m n out"}


def _signature(op, dtype):
    pointer, size = types.CPointer(numba.from_dtype(np.dtype(dtype))), types.intp
    rest = [size if name in ("n", "m") else pointer for name in ARGUMENTS[op].split()]
    return types.int32(pointer, size, *rest)


_lock = threading.Lock()
_compiled: dict = {}


def external(op: str, dtype: str) -> types.ExternalFunction:
    """The kernel's handle on ``op`` for ``dtype``, its cfunc compiled or
    loaded from numba's cache and registered under its symbol."""
    name = f"{op}_{dtype}"
    with _lock:
        if name not in _compiled:
            signature = _signature(op, dtype)
            try:
                compiled = numba.cfunc(signature, cache=True, error_model="numpy")(_BODIES[op])
            except RuntimeError:  # numba finds no writable cache directory
                compiled = numba.cfunc(signature, error_model="numpy")(_BODIES[op])
            symbol = f"jitad_{name}"
            binding.add_symbol(symbol, compiled.address)
            # the cfunc object stays here: it owns the machine code at that address
            _compiled[name] = (compiled, types.ExternalFunction(symbol, signature))
    return _compiled[name][1]


def function(name: str) -> types.ExternalFunction:
    """``external`` by the name a kernel calls it (``solve_float64``): what
    ``Kernel.bind_lapack`` binds in a kernel's module before it compiles."""
    op, _, dtype = name.rpartition("_")
    if op in _BODIES and dtype in DTYPES:
        return external(op, dtype)
    raise ValueError(f"jitad.backend.lapack has no function {name!r}")
