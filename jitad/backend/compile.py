"""Kernel source -> numba machine code, cached on disk.

Each kernel is written to a real module file named by a hash of its source
and the jitad, numba and cache-format versions, and compiled with
``numba.njit(cache=True)``: numba then keeps the machine code beside that file,
so a new process (a restarted notebook) loads it instead of compiling again.
Because the file is real, tracebacks and ``inspect`` show the kernel source.
Where the files live, and how a damaged entry is healed, is ``diskcache``;
when there is no writable directory, kernels compile in memory from source
that ``linecache`` knows, so tracebacks still show it.

Files are written to a temporary name and renamed, so processes writing the
same kernel at once never see a partial file; numba writes its own index the
same way. A different jitad or numba version hashes to different files, so
stale machine code is never loaded.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import linecache
import os
import pathlib
import re
import sys
import threading
import time
import types
import warnings
from dataclasses import dataclass

import numba
from numba.core.errors import NumbaError, NumbaPerformanceWarning
from numba.core.registry import cpu_target
from numba.extending import typeof_impl

from .. import version
from ..errors import CompileError, GuardFailure
from ..numpy_api.building import CastClass, NumpyFunction
from . import codegen, diskcache, lapack


@typeof_impl.register(NumpyFunction)
def _typeof_numpy_function(val, c):
    """While a trace records, ``np.asarray`` and friends are jitad's wrappers
    (``numpy_api.building``); numba, compiling a kernel meanwhile in another
    thread, types them as NumPy's own functions."""
    return cpu_target.typing_context.resolve_value_type(val.original)


@typeof_impl.register(CastClass)
def _typeof_cast_class(val, c):
    """``np.float64`` and ``np.float32`` while a trace records: NumPy's classes."""
    return typeof_impl(val.numpy_class, c)


ERROR_MODEL = "numpy"  # x/0 is inf or nan, as in NumPy, not ZeroDivisionError
# Kernels call the helpers of these modules, and numba's cached machine code
# holds them inlined: a change to their source must change every kernel's hash.


_HELPER_MODULES = ("runtime.py",)
_VECMATH_NAME = {"power": "pow"}  # vm_<NumPy name> is vecmath's <name>


def _digest(*names) -> str:
    """A hash of these files of jitad/backend."""
    folder = pathlib.Path(__file__).parent
    text = b"".join((folder / name).read_bytes() for name in names)
    return hashlib.sha256(text).hexdigest()[:16]


HELPERS_STAMP = _digest(*_HELPER_MODULES)
# special.py's functions are inlined too, but only kernels that call one name
# its digest (as vecmath's), so the others keep their hashes
SPECIAL_DIGEST = _digest("special.py")
STRIDED_DIGEST = _digest("strided.py")


def cache_dir() -> str:
    """The configured kernel directory (``diskcache.configured``)."""
    return diskcache.configured()


@dataclass
class Kernel:
    """A compiled kernel: ``fn(*inputs, *consts)`` returns a tuple of outputs."""

    fn: object
    source: str
    consts: tuple
    path: str          # the module file, or a "<jitad kernel ...>" name in memory
    module: object = None
    compile_seconds: float = 0.0
    compiled: bool = False
    # a size-generic kernel (``sizes.py``): the numbers passed after the
    # constants, and the source and constants of this size's own kernel,
    # compiled instead should numba reject the generic one
    generic: bool = False
    reused: bool = False  # generic, and built for an earlier size
    sizes: tuple = ()
    specialised: tuple | None = None

    def __call__(self, *inputs):
        """The outputs; a failed guard raises ``GuardFailure`` (the fast
        entry point, ``fast_call``, returns its status instead)."""
        outputs = self.fn(*inputs, *self.consts) if self.compiled else self._first_call(inputs)
        if self.status:
            if outputs[-1]:
                raise GuardFailure("a guard of the kernel failed")
            return outputs[:-1]
        return outputs

    @functools.cached_property
    def status(self) -> bool:
        """Whether ``fn`` returns the guards' status as its last output
        (True where one failed): a kernel with guards does."""
        return codegen.has_status(self.source)

    def fast_call(self):
        """After the first call: the compiled overload's own entry point, which
        skips numba's type dispatch (the cache key already fixed the types).
        It takes the inputs and then the constants."""
        overloads = list(self.fn.overloads.values())
        return overloads[0].entry_point if len(overloads) == 1 else self.fn

    def python_float_outputs(self) -> frozenset:
        """After the first call: the outputs that come back as Python floats
        (numba boxes a float scalar so), which then need no ``float()``."""
        overloads = list(self.fn.overloads.values())
        returned = overloads[0].signature.return_type if len(overloads) == 1 else None
        if not isinstance(returned, numba.types.BaseTuple):
            return frozenset()
        return frozenset(k for k, t in enumerate(returned) if isinstance(t, numba.types.Float))

    def _first_call(self, inputs):
        self.compile_for(inputs)
        return self.fn(*inputs, *self.consts)

    def compile_for(self, inputs):
        """Compile (or load from the disk cache) the machine code for the
        types of ``inputs``, without running it."""
        start = time.perf_counter()
        with warnings.catch_warnings():
            # operands that are views (x.T) make numba warn about np.dot speed
            warnings.simplefilter("ignore", NumbaPerformanceWarning)
            try:
                self._load_or_compile(tuple(inputs) + self.consts)
            except NumbaError as exc:
                if self.specialised is not None:
                    own = compile_kernel(*self.specialised)
                    self.__dict__.update(own.__dict__)
                    return self.compile_for(inputs)
                raise CompileError(f"numba could not compile the kernel jitad generated "
                                   f"({self.path}){self._failing_op(str(exc))}, for inputs "
                                   f"{', '.join(map(_type_of, inputs)) or 'none'}; this is a "
                                   f"bug in jitad, please report it with that file.\n"
                                   f"{type(exc).__name__}: {_reason(str(exc))}") from None
        self.compile_seconds = time.perf_counter() - start
        self.compiled = True

    def _failing_op(self, message: str) -> str:
        """``: at <the IR line of the op whose statement numba rejected>``,
        from the kernel line numba's message names, or "" if it names none."""
        lines = linecache.getlines(self.path) if self.module is not None else []
        found = re.findall(r'File "([^"]+)", line (\d+)', message)
        name = os.path.basename(self.path)  # numba prints the path relative to the cwd
        numbers = [int(n) for path, n in found if os.path.basename(path) == name]
        if not numbers or not lines:
            return ""
        for line in reversed(lines[:numbers[-1]]):
            text = line.strip()
            if text.startswith("# v_") or text.startswith("# fused loop"):
                return f": at `{text[2:]}` (line {numbers[-1]})"
        return f": at line {numbers[-1]}"

    def machine_code_cached(self) -> bool:
        """Whether numba has machine code for this kernel on disk (loading it
        takes milliseconds, compiling it up to seconds)."""
        return os.path.isfile(self.path) and bool(diskcache.machine_code_files(self.path))

    def bind_lapack(self):
        """Compile (or load) the linear algebra the kernel calls, registering
        its symbols, and bind it in the kernel's module as ``la_<name>``,
        before numba compiles or loads the kernel. Here, not when the module
        is imported: loading a cfunc starts numba's CPU target (0.2-0.6 s),
        which a first call answered without the kernel need not wait for."""
        for name in _lapack_used(self.source):
            self.module.__dict__[f"la_{name}"] = lapack.function(name)

    def _load_or_compile(self, args):
        """Compile for these argument types, or load the machine code numba
        cached; machine code that fails to load is removed and compiled again."""
        self.bind_lapack()
        signature = tuple(numba.typeof(a) for a in args)
        try:
            self.fn.compile(signature)
        except NumbaError:
            raise
        except Exception as error:  # noqa: BLE001 - numba's cache files failed to load
            if not os.path.isfile(self.path):
                raise
            diskcache.report_once(self.path, f"had machine code that failed to load "
                                             f"({type(error).__name__})")
            diskcache.remove_machine_code(self.path)
            self.fn = numba.njit(cache=True, **_options(self.source))(self.module.kernel)
            self.fn.compile(signature)


def _reason(message: str) -> str:
    """The line of numba's message that says what failed (its first says in
    which compiler pass)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    detail = [line for line in lines[1:2] if not line.startswith("File ")]
    return " ".join(lines[:1] + detail)


def _type_of(value) -> str:
    """A kernel argument's type as jitad prints it: float64[3], int64."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", type(value).__name__)
    return f"{dtype}[{', '.join(map(str, shape))}]" if shape else str(dtype)


def module_source(kernel_source: str, cache: bool = True) -> str:
    """The kernel module: its imports, then the kernel (and, before it, the
    loop bodies it calls, each compiled by ``_body_jit``)."""
    header = (f"# Generated by jitad {version.__version__} (numba {numba.__version__}). Do not "
              f"edit:\n# the file name is a hash of this text.\nimport numba\nimport numpy as np\n"
              f"from numba import prange\n\n"
              f"from jitad.backend.runtime import add_lanes, filled, huge_pages, mul_lanes, "
              f"safe_mul\n\n")
    used = sorted(set(re.findall(r"\bvm_(\w+)\(", kernel_source)))
    if used:
        # the digest puts vecmath's version in the file name, so a change to
        # the functions (inlined into the machine code) never loads stale code
        names = ", ".join(f"{_VECMATH_NAME.get(f, f)} as vm_{f}" for f in used)
        if "needs_exact_trig(" in kernel_source:
            names += ", needs_exact_trig"
        from . import vecmath  # only now: defining its functions costs ~20 ms of import
        header += (f"# vecmath {vecmath.SOURCE_DIGEST}\n"
                   f"from jitad.backend.vecmath import {names}\n\n")
    if _lapack_used(kernel_source):
        # bound by compile_for, not imported (``Kernel.bind_lapack``)
        header += f"# lapack {lapack.SOURCE_DIGEST}\n\n"
    special = sorted(set(re.findall(r"\b(sp_\w+)\(", kernel_source)))
    if special:
        # scipy.special's kernels; importing the module imports SciPy
        header += (f"# special {SPECIAL_DIGEST}\n"
                   f"from jitad.backend.special import {', '.join(special)}\n\n")
    if re.search(r"\btransposed\(", kernel_source):
        header += (f"# strided {STRIDED_DIGEST}\n"
                   f"from jitad.backend.strided import transposed\n\n")
    if "@_body_jit" in kernel_source:
        header += (f"_body_jit = numba.njit(error_model={ERROR_MODEL!r}, nogil=True, "
                   f"cache={cache})\n")
    return header + "\n\n" + kernel_source


def _lapack_used(kernel_source) -> list:
    """The lapack functions the source calls (``la_solve_float64(`` -> solve_float64)."""
    return sorted(set(re.findall(r"\bla_(\w+)\(", kernel_source)))


_IMPORT_LOCK = threading.Lock()


def compile_kernel(kernel_source: str, consts=()) -> Kernel:
    """Write the module (or, without a writable cache, build it in memory),
    import it, and wrap ``kernel`` in numba.njit.

    >>> k = compile_kernel("def kernel(v_0):\\n    return (v_0 * 2.0,)\\n")
    >>> k(3.0)
    (6.0,)
    """
    directory = diskcache.directory()
    text = module_source(kernel_source, cache=directory is not None)
    digest = hashlib.sha256(f"{diskcache.CACHE_FORMAT}|{numba.__version__}|{HELPERS_STAMP}|"
                            f"{text}".encode()).hexdigest()[:24]
    name = f"jitad_kernel_{digest}"
    if directory is None:
        path = f"<jitad kernel k_{digest}>"
        with _IMPORT_LOCK:
            module = sys.modules.get(name) or _module_in_memory(name, path, text)
        fn = numba.njit(**_options(kernel_source))(module.kernel)
        return Kernel(fn, kernel_source, tuple(consts), path, module)
    path = os.path.join(directory, f"k_{digest}.py")
    with _IMPORT_LOCK:  # another thread may be importing the same kernel
        module = sys.modules.get(name)
        if module is None:
            diskcache.write_checked(path, text)
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            # numba's disk cache re-imports it by name; only a whole module goes in
            sys.modules[name] = module
    fn = numba.njit(cache=True, **_options(kernel_source))(module.kernel)
    return Kernel(fn, kernel_source, tuple(consts), path, module)


def _options(kernel_source) -> dict:
    """numba's options for a kernel: NumPy's error model; the GIL released
    while it runs (so a user's threads compute gradients at once); parallel
    where the source has prange loops."""
    return {"error_model": ERROR_MODEL, "nogil": True, "parallel": "prange(" in kernel_source}


def _module_in_memory(name, path, text):
    linecache.cache[path] = (len(text), None, text.splitlines(True), path)
    module = types.ModuleType(name)
    module.__file__ = path
    exec(compile(text, path, "exec"), module.__dict__)  # noqa: S102 - generated source
    sys.modules[name] = module
    return module
