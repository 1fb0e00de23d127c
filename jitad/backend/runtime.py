"""Functions the generated kernels call.

``safe_mul`` is the chain-rule product (see ``jitad.primitives.basic``):
``a * b``, but exactly 0 where either operand is 0 even if the other is inf
or nan. Written inline it adds basic blocks to every
kernel for every product, and numba's compile time grows faster than linearly
in blocks: a 718-op scalar gradient compiled in 10 s inline and 2.3 s with
this call. LLVM inlines the call, so the machine code is the same.

Not cached on disk (``cache=True`` would make importing jitad write, or fail
where nothing is writable): a process compiles it once, the first time a
kernel that calls it is compiled; a kernel loaded from the disk cache carries
it already.

``add_lanes`` and ``mul_lanes`` are a sum's and a product's accumulation
step, ``acc + x`` and ``acc * x``, with LLVM's ``reassoc`` flag on that one
instruction (numba's ``fastmath`` is per function, LLVM's flags are per
instruction and survive inlining): LLVM may then keep the accumulator in the
lanes of a vector register, so a loop that sums vectorises. Nothing else in
the kernel is reassociated. The sum is then accumulated in several partial
sums, as NumPy's pairwise sum is, in an order that depends on the vector
width (rounding-level differences between CPUs).

>>> safe_mul(0.0, float("inf")), safe_mul(float("nan"), 0.0), safe_mul(2.0, 3.0)
(0.0, 0.0, 6.0)
>>> add_lanes(1.0, 2.0), mul_lanes(2.0, 3.0)
(3.0, 6.0)

``huge_pages(a)`` asks Linux to back a large new array with 2 MiB pages, as
NumPy does for its own arrays from 4 MiB (numba's allocations do not get
NumPy's advice). An array above glibc's largest mmap threshold (32 MiB) is
mapped afresh on every call, and filling it page by page faulted 4 KiB at a
time: writing 10**7 float64 took 44 ms that way, 12 ms on huge pages.
Elsewhere it returns the array as it is. ``filled(a, value)`` is ``a`` with
every element ``value`` (np.zeros and np.full on huge pages).

>>> import numpy as np
>>> float(filled(huge_pages(np.empty((1024, 1024))), 0.5).sum())
524288.0
"""
import sys

import numba

from .lowering import HUGE_PAGES_FROM


@numba.njit(error_model="numpy")
def safe_mul(a, b):
    # the zero operand itself is the zero of the product's type; two selects,
    # no branch, so a loop of them vectorises (`a * b if a != 0 and b != 0
    # else ...` short-circuits into branches: a Hessian kernel ran 4x slower)
    product = a * b
    product = b if b == 0 else product
    return a if a == 0 else product


@numba.njit(error_model="numpy", fastmath={"reassoc"}, forceinline=True)
def add_lanes(acc, x):
    return acc + x


@numba.njit(error_model="numpy", fastmath={"reassoc"}, forceinline=True)
def mul_lanes(acc, x):
    return acc * x


_MADV_HUGEPAGE = 14  # linux/mman.h


if sys.platform.startswith("linux"):
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def _advise_huge_pages(typingctx, address, length):
        """libc's ``madvise(address, length, MADV_HUGEPAGE)``, called by
        name (not through ctypes, whose pointer numba cannot cache on disk);
        its result is ignored: the advice is only advice."""
        def codegen(context, builder, signature, args):
            byte_pointer = ir.IntType(8).as_pointer()
            function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
                ir.IntType(32), [byte_pointer, args[1].type, ir.IntType(32)]), "madvise")
            builder.call(function, [builder.inttoptr(args[0], byte_pointer), args[1],
                                    ir.Constant(ir.IntType(32), _MADV_HUGEPAGE)])
            return context.get_dummy_value()
        return types.none(types.intp, types.intp), codegen

    @numba.njit(error_model="numpy")
    def huge_pages(a):
        if a.nbytes >= HUGE_PAGES_FROM:
            # the whole pages inside the array: madvise wants an aligned start
            start = (a.ctypes.data + 4095) & ~4095
            end = (a.ctypes.data + a.nbytes) & ~4095
            _advise_huge_pages(start, end - start)
        return a
else:
    @numba.njit(error_model="numpy")
    def huge_pages(a):
        return a


@numba.njit(error_model="numpy")
def filled(a, value):
    a[...] = value
    return a
