"""The machine operations the math functions are built from, as numba intrinsics.

numba has no scalar spelling for these, or spells them as calls that LLVM
cannot vectorise: the bit casts between float64 and int64 (exponent
manipulation), fused multiply-add, rounding to an integer-valued float,
and a branch-free select. Each is one LLVM instruction or intrinsic, so
inside a loop it becomes one vector instruction (``vfmadd``, ``vroundpd``,
``vblendvpd`` ...), on AVX2 and on AVX-512.

Integer work stays on operations AVX2 has for 64-bit lanes (add, subtract,
and, or, logical shifts). Conversions between int64 and float64, 64-bit
multiplies and arithmetic right shifts have no AVX2 instruction, so the
functions never use them: integers that must become floats go through the
``2**52`` trick instead (see ``exponent_of`` in ``exp_log``).

>>> import numba
>>> @numba.njit
... def f(x):
...     return as_float(as_int(x) + 1) - x, fma(0.1, 10.0, -1.0), rint(2.5), where(x > 0, 1.0, 2.0)
>>> f(1.0)
(2.220446049250313e-16, 5.551115123125783e-17, 2.0, 1.0)
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_f64 = ir.DoubleType()
_i64 = ir.IntType(64)


def _codegen_calling(name):
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_f64, [_f64] * len(args))
        return builder.call(builder.module.declare_intrinsic(f"llvm.{name}", [_f64], fnty), args)
    return codegen


def _unary(name):
    """An intrinsic ``f(float64) -> float64`` that is ``llvm.<name>.f64``."""
    def typer(typingctx, x):
        if x == types.float64:
            return types.float64(types.float64), _codegen_calling(name)
    return intrinsic(typer)


def _binary(name):
    def typer(typingctx, x, y):
        if x == y == types.float64:
            return types.float64(types.float64, types.float64), _codegen_calling(name)
    return intrinsic(typer)


def _ternary(name):
    def typer(typingctx, x, y, z):
        if x == y == z == types.float64:
            return types.float64(types.float64, types.float64, types.float64), _codegen_calling(name)
    return intrinsic(typer)


fma = _ternary("fma")            # a * b + c with one rounding
rint = _unary("rint")            # round to nearest, ties to even
floor = _unary("floor")
trunc = _unary("trunc")
fabs = _unary("fabs")
sqrt = _unary("sqrt")            # correctly rounded (IEEE)
copysign = _binary("copysign")   # |a| with the sign of b


@intrinsic
def as_int(typingctx, x):
    """The bits of a float64 as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _i64)

    return types.int64(types.float64), codegen


@intrinsic
def as_float(typingctx, i):
    """The float64 whose bits are this int64."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _f64)

    return types.float64(types.int64), codegen


@intrinsic
def shift_right(typingctx, i, n):
    """Logical (unsigned) right shift of an int64: AVX2 has it, not the arithmetic one."""
    if not (isinstance(i, types.Integer) and isinstance(n, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int64)
        count = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.lshr(value, count)

    return types.int64(i, n), codegen


@intrinsic
def where(typingctx, condition, a, b):
    """``a if condition else b`` as one LLVM ``select``: both sides are computed, no branch."""
    if condition != types.boolean:
        return None
    if isinstance(a, types.Integer) and isinstance(b, types.Integer):
        result = types.int64
    elif {a, b} <= {types.float64} or (types.float64 in (a, b) and
                                       isinstance(a if b == types.float64 else b, types.Integer)):
        result = types.float64  # an integer constant on one side becomes a float
    else:
        return None

    def codegen(context, builder, signature, args):
        yes = context.cast(builder, args[1], signature.args[1], result)
        no = context.cast(builder, args[2], signature.args[2], result)
        return builder.select(args[0], yes, no)

    return result(types.boolean, a, b), codegen
