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
"""
import numba


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
