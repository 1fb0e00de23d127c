"""scipy.special's compiled scalar kernels, callable from generated kernels.

A kernel that uses a special function imports ``sp_<name>`` from here (the
module header does it, ``compile.module_source``), so SciPy is imported only
by kernels that need it. Each ``sp_<name>`` is a numba intrinsic that calls
the C function ``scipy.special.cython_special`` exports (the same code the
SciPy ufunc runs, so the kernel's values are SciPy's to the last bit).

The call goes to an external *symbol* (``jitad_scipy_<name>``) that this
module registers with LLVM at import (``llvmlite.binding.add_symbol``), not to
a constant address: machine code holding an address could not be cached on
disk (the address differs per process, and numba refuses to cache it), while
a symbol is resolved again when numba loads the cached kernel -- after the
kernel module imported this one, so it is registered by then.

float32 operands are computed in double precision and rounded back, as
SciPy's float32 loops do.

``sp_polygamma(n, x)`` is written here: SciPy's polygamma is Python
((-1)^(n+1) n! zeta(n+1, x)) over a Hurwitz zeta that cython_special does not
export, so ``_zeta`` ports Cephes' Euler-Maclaurin summation.
"""
from __future__ import annotations

import ctypes
import math
import re

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import get_cython_function_address, intrinsic

import scipy.special.cython_special as _cython_special

_MODULE = "scipy.special.cython_special"
_DOUBLE_SIGNATURES = {1: "double (double, int __pyx_skip_dispatch)",
                      2: "double (double, double, int __pyx_skip_dispatch)"}

_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype, _capsule_name.argtypes = ctypes.c_char_p, [ctypes.py_object]


def _exported_name(name, nargs) -> str:
    """The name under which cython_special exports the all-double version of
    ``name``: fused functions are exported once per type, as
    ``__pyx_fuse_<k>name`` (k differs between SciPy versions), so the one
    with the double signature is looked up by its signature."""
    wanted = _DOUBLE_SIGNATURES[nargs]
    for exported, capsule in _cython_special.__pyx_capi__.items():
        if re.fullmatch(rf"(__pyx_fuse_\d+)?{name}", exported) and \
                _capsule_name(capsule).decode() == wanted:
            return exported
    raise ImportError(f"scipy.special.cython_special (SciPy {_scipy_version()}) exports no "
                      f"'{wanted}' version of {name}; jitad cannot compile scipy.special.{name}")


def _scipy_version() -> str:
    import scipy
    return scipy.__version__


def _result_type(args):
    return types.float32 if all(a == types.float32 for a in args) else types.float64


def _codegen(symbol, nargs):
    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fnty = ir.FunctionType(double, [double] * nargs + [ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
        operands = [context.cast(builder, a, t, types.float64)
                    for a, t in zip(args, signature.args)]
        result = builder.call(fn, operands + [ir.Constant(ir.IntType(32), 0)])
        return context.cast(builder, result, types.float64, signature.return_type)
    return codegen


def _register(name, nargs) -> str:
    symbol = f"jitad_scipy_{name}"
    llvm.add_symbol(symbol, get_cython_function_address(_MODULE, _exported_name(name, nargs)))
    return symbol


def _unary(name):
    symbol = _register(name, 1)

    @intrinsic
    def call(typingctx, x):
        if not isinstance(x, (types.Float, types.Integer)):
            return None
        return _result_type([x])(x), _codegen(symbol, 1)
    return call


def _binary(name):
    symbol = _register(name, 2)

    @intrinsic
    def call(typingctx, a, b):
        if not all(isinstance(t, (types.Float, types.Integer)) for t in (a, b)):
            return None
        return _result_type([a, b])(a, b), _codegen(symbol, 2)
    return call


sp_expit = _unary("expit")
sp_logit = _unary("logit")
sp_log_expit = _unary("log_expit")
sp_gammaln = _unary("gammaln")
sp_digamma = _unary("psi")
sp_erf = _unary("erf")
sp_erfc = _unary("erfc")
sp_erfinv = _unary("erfinv")
sp_ndtr = _unary("ndtr")
sp_log_ndtr = _unary("log_ndtr")
sp_ndtri = _unary("ndtri")
sp_i0e = _unary("i0e")
sp_i1e = _unary("i1e")
sp_betaln = _binary("betaln")

# (2k)! / B_2k: the Euler-Maclaurin coefficients of Cephes' zeta
_ZETA_A = np.array([12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9,
                    7.47242496e10, -2.950130727918164224e12, 1.1646782814350067249e14,
                    -4.5979787224074726105e15, 1.8152105401943546773e17,
                    -7.1661652561756670113e18])
_MACHEP = 1.11022302462515654042e-16


@numba.njit(error_model="numpy")
def _zeta(x, q):
    """Hurwitz zeta, sum over k >= 0 of (k + q)^-x (Cephes zeta.c)."""
    if x == 1.0:
        return np.inf
    if x < 1.0:
        return np.nan
    if q <= 0.0:
        if q == np.floor(q):
            return np.inf
        if x != np.floor(x):
            return np.nan  # q^-x is not real
    if q > 1e8:
        return (1.0 / (x - 1.0) + 1.0 / (2.0 * q)) * q ** (1.0 - x)
    s = q ** -x
    a = q
    i = 0
    b = 0.0
    while i < 9 or a <= 9.0:
        i += 1
        a += 1.0
        b = a ** -x
        s += b
        if abs(b / s) < _MACHEP:
            return s
    w = a
    s += b * w / (x - 1.0)
    s -= 0.5 * b
    a = 1.0
    k = 0.0
    for j in range(12):
        a *= x + k
        b /= w
        t = a * b / _ZETA_A[j]
        s = s + t
        if abs(t / s) < _MACHEP:
            return s
        k += 1.0
        a *= x + k
        b /= w
        k += 1.0
    return s


@numba.njit(error_model="numpy")
def sp_polygamma(n, x):
    """scipy.special.polygamma(n, x) for one n and x."""
    if n == 0:
        return np.float64(sp_digamma(np.float64(x)))
    return (-1.0) ** (n + 1.0) * math.gamma(n + 1.0) * _zeta(n + 1.0, x)
