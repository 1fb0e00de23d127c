"""Did LLVM vectorise it? Compile the loop a kernel would contain and look.

``loop_for(fn, arity)`` is ``for i in range(n): out[i] = fn(x[i])`` (or
``fn(x[i], y[i])``), compiled as jitad compiles kernels (``error_model=
"numpy"``). ``inspect_loop(loop)`` reads that loop's own LLVM IR and assembly (not
numba's Python wrapper) and reports the vector types it computes with, the
SIMD registers it uses and every call left in it: a call to anything but an
LLVM intrinsic (``sin``, ``exp``, a numba function that was not inlined)
means the loop runs one element at a time.

To see the AVX2 code on an AVX-512 machine, run in a process started with
``avx2_environment()`` (numba reads the target CPU at import).

>>> from jitad.backend.vecmath import exp
>>> report = inspect_loop(loop_for(exp, 1))
>>> report.vectorised, report.calls
(True, [])
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import llvmlite.binding as llvm
import numba


def loop_for(fn, arity=1):
    """A compiled elementwise loop ``loop(*inputs, out)`` calling ``fn``."""
    if arity == 1:
        def loop(x, out):
            for i in range(out.size):
                out[i] = fn(x[i])
    elif arity == 2:
        def loop(x, y, out):
            for i in range(out.size):
                out[i] = fn(x[i], y[i])
    else:
        raise ValueError(f"loop_for: arity must be 1 or 2, got {arity}")
    compiled = numba.njit(error_model="numpy")(loop)
    compiled.compile(tuple([numba.float64[::1]] * (arity + 1)))
    return compiled


@dataclass
class VectorReport:
    """What the compiled loop computes with (``vectorised``: it has vector doubles
    and calls nothing but LLVM intrinsics)."""

    vector_types: list      # e.g. ['<4 x double>'] on AVX2, ['<8 x double>'] with AVX-512
    registers: list         # SIMD register files in the loop's assembly: 'xmm', 'ymm', 'zmm'
    calls: list             # callees other than llvm.* intrinsics and numba's NRT_ refcounting
    cpu: str

    @property
    def vectorised(self):
        return any(t != "<2 x double>" for t in self.vector_types) and not self.calls


def _function_body(text, name, end_marker):
    start = text.find(name)
    if start < 0:
        raise LookupError(f"inspect_loop: {name} is not in the compiled module")
    end = text.find(end_marker, start)
    return text[start:end if end > 0 else len(text)]


def inspect_loop(loop):
    """A ``VectorReport`` of a loop from ``loop_for`` (its first compiled signature)."""
    signature = loop.signatures[0]
    name = loop.overloads[signature].fndesc.mangled_name
    ir_text = _function_body(loop.inspect_llvm(signature), f"@{name}(", "\n}\n")
    asm = _function_body(loop.inspect_asm(signature), f"{name}:", ".Lfunc_end")
    calls = sorted({callee for callee in re.findall(r"call [^@]*@\"?([\w.$]+)", ir_text)
                    if not callee.startswith(("llvm.", "NRT_"))})  # NRT_: reference counts
    return VectorReport(
        vector_types=sorted(set(re.findall(r"<\d+ x double>", ir_text))),
        registers=sorted({r for r in ("xmm", "ymm", "zmm") if re.search(rf"%{r}\d", asm)}),
        calls=calls,
        cpu=numba.core.config.CPU_NAME or llvm.get_host_cpu_name())


def avx2_environment():
    """Environment variables that make numba target Haswell (AVX2 + FMA, no AVX-512)."""
    features = llvm.get_host_cpu_features()
    flags = ",".join(("-" if name.startswith(("avx512", "avx10", "amx", "evex512")) or not on
                      else "+") + name for name, on in features.items())
    return dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=flags)

