"""Double-double arithmetic, exponent tricks and Horner: what the functions share.

A double-double is an unevaluated sum ``hi + lo`` of two float64 with
``|lo| <= ulp(hi) / 2``: about 106 bits. The functions carry a reduced
argument or a partial result this way where one rounding would cost more
than the 2-ulp budget allows (Dekker 1971; with FMA the product is exact in
two operations). Everything here is branch-free and inlines.

``pow2(k)`` and ``exponent`` move integers between the exponent field and
float64 values without int/float conversions, which AVX2 lacks for 64-bit
lanes (Hacker's Delight's 2**52 trick).

>>> hi, lo = two_prod(0.1, 0.1)
>>> hi, lo
(0.010000000000000002, -8.326672684688674e-19)
>>> pow2(-3.0), exponent(12.0)
(0.125, 3.0)
"""
from __future__ import annotations

import numba

from .ops import as_float, as_int, fma, shift_right

# The public functions (``public``) are meant to disappear into the loop
# that calls them: forceinline makes LLVM inline them, as it would not for
# the larger ones (pow, sin), and a call stops the loop from vectorising.
# The helpers (``jit``) are inlined into them by numba already (inline=
# "always"): one numba compilation per public function instead of one per
# helper, which is what most of the first-use compile time was.
# fastmath=False explicitly, because numba otherwise compiles a callee with
# its first caller's fastmath flags, and reassociation would undo the
# error-free transformations (two_sum, Cody-Waite) the accuracy rests on.
public = numba.njit(error_model="numpy", forceinline=True, fastmath=False)
jit = numba.njit(error_model="numpy", fastmath=False, inline="always")

# k + SHIFTER has k in its low mantissa bits for integer-valued |k| < 2**51
SHIFTER = 6755399441055744.0  # 1.5 * 2**52


@jit
def two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@jit
def fast_two_sum(a, b):
    """``two_sum`` for ``|a| >= |b|`` (or ``a`` zero): three operations (Dekker)."""
    s = a + b
    return s, b - (s - a)


@jit
def two_prod(a, b):
    """``(p, e)`` with ``p = fl(a * b)`` and ``p + e = a * b`` exactly (needs FMA)."""
    p = a * b
    return p, fma(a, b, -p)


@jit
def dd_mul(a_hi, a_lo, b_hi, b_lo):
    """Double-double product, relative error about 2**-104."""
    p, e = two_prod(a_hi, b_hi)
    e = fma(a_hi, b_lo, fma(a_lo, b_hi, e))
    return fast_two_sum(p, e)


@jit
def dd_div(a_hi, a_lo, b_hi, b_lo):
    """Double-double quotient ``(a_hi + a_lo) / (b_hi + b_lo)``, relative error about 2**-100."""
    inverse = 1.0 / b_hi  # one division: the remainder corrects the product's rounding
    q = a_hi * inverse
    # remainder a - q * b, with the leading product exact
    r = fma(-q, b_hi, a_hi) + a_lo - q * b_lo
    return fast_two_sum(q, r * inverse)


@jit
def pow2(k):
    """``2.0**k`` for an integer-valued float ``k`` with ``-1022 <= k <= 1023``."""
    return as_float(as_int(k + (SHIFTER + 1023.0)) << 52)


@jit
def exponent(x):
    """``floor(log2(x))`` as a float, for a positive normal ``x``."""
    biased = shift_right(as_int(x), 52)
    # put the biased exponent in the low bits of 2**52, then subtract 2**52 + bias
    return as_float(biased | 0x4330000000000000) - (4503599627370496.0 + 1023.0)


@jit
def with_exponent_zero(x):
    """``x / 2**exponent(x)``, in ``[1, 2)``, for a positive normal ``x``."""
    return as_float((as_int(x) & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)


@jit
def horner(z, coefficients):
    """``c[0] + c[1] * z + ... + c[n] * z**n`` with one FMA a step.

    ``coefficients`` is a module-level tuple, a compile-time constant: LLVM
    unrolls the loop into straight-line FMAs.
    """
    acc = coefficients[-1]
    for i in range(len(coefficients) - 2, -1, -1):
        acc = fma(acc, z, coefficients[i])
    return acc
