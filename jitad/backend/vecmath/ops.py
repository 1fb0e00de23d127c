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


def _real(t):
    """Argument types the intrinsics take: any float or integer, computed as float64
    (so a float32 kernel can pass its elements; the result is float64)."""
    return isinstance(t, (types.Float, types.Integer))


def _as_float64(context, builder, signature, args):
    return [context.cast(builder, v, t, types.float64) for v, t in zip(args, signature.args)]


def _float_intrinsic(name, arity):
    """An intrinsic ``f(x, ...) -> float64`` that is ``llvm.<name>.f64``."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_f64, [_f64] * arity)
        fn = builder.module.declare_intrinsic(f"llvm.{name}", [_f64], fnty)
        return builder.call(fn, _as_float64(context, builder, signature, args))

    if arity == 1:
        def typer(typingctx, x):
            if _real(x):
                return types.float64(x), codegen
    elif arity == 2:
        def typer(typingctx, x, y):
            if _real(x) and _real(y):
                return types.float64(x, y), codegen
    else:
        def typer(typingctx, x, y, z):
            if _real(x) and _real(y) and _real(z):
                return types.float64(x, y, z), codegen
    return intrinsic(typer)


fma = _float_intrinsic("fma", 3)            # a * b + c with one rounding
rint = _float_intrinsic("rint", 1)          # round to nearest, ties to even
floor = _float_intrinsic("floor", 1)
fabs = _float_intrinsic("fabs", 1)
sqrt = _float_intrinsic("sqrt", 1)          # correctly rounded (IEEE)
copysign = _float_intrinsic("copysign", 2)  # |a| with the sign of b


@intrinsic
def as_int(typingctx, x):
    """The bits of ``x`` (as a float64) as an int64."""
    if not _real(x):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(_as_float64(context, builder, signature, args)[0], _i64)

    return types.int64(x), codegen


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
    """``a if condition else b`` as one LLVM ``select``: both sides are computed, no branch.
    Integers give an int64; any float on either side makes both float64."""
    if condition != types.boolean or not (_real(a) and _real(b)):
        return None
    both_integers = isinstance(a, types.Integer) and isinstance(b, types.Integer)
    result = types.int64 if both_integers else types.float64

    def codegen(context, builder, signature, args):
        yes = context.cast(builder, args[1], signature.args[1], result)
        no = context.cast(builder, args[2], signature.args[2], result)
        return builder.select(args[0], yes, no)

    return result(types.boolean, a, b), codegen
