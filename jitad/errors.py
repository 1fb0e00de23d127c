"""Every exception and warning jitad raises, in one module that imports nothing.

Generated kernels, the interpreter, the backend and the front end all import
their errors from here, so the import graph has a floor.

- ``TraceError`` (a ``TypeError``): user code did something on a traced value
  that jitad cannot record; the message says what to write instead.
- ``UnsupportedAttribute`` (a ``TraceError`` and an ``AttributeError``): an
  ndarray method jitad does not record (``x.sort()``, ``x.view``).
- ``GraphError`` (a ``ValueError``): a graph broke an IR invariant.
- ``BatchingError`` (a ``TypeError``): a primitive met a batched operand it
  cannot carry a batch axis through.
- ``GuardFailure``: a kernel met inputs for which a recorded guard does not
  hold; the dispatcher re-traces (never reaches the user).
- ``LoweringError``, ``CompileError``: the backend could not lower or numba
  could not compile a graph; a bug in jitad, reported as such.
- ``RetraceWarning``: a function keeps re-tracing because its guards fail.
- ``CacheWarning``: the kernel cache on disk is not writable (jitad compiles
  in memory), or an entry was corrupted (jitad heals it).

>>> issubclass(TraceError, TypeError), issubclass(GraphError, ValueError)
(True, True)
"""


class TraceError(TypeError):
    """User code did something on a traced value that jitad cannot record."""


class UnsupportedAttribute(TraceError, AttributeError):
    """An ndarray method or attribute jitad does not record, asked of a traced
    value (an ``AttributeError`` too, so ``hasattr`` keeps answering False)."""


class GraphError(ValueError):
    """A graph broke an IR invariant (raised by ``ir.validate``)."""


class BatchingError(TypeError):
    """A primitive cannot carry a batch axis through one of its operands."""


class GuardFailure(Exception):
    """A kernel met inputs for which a recorded guard does not hold: the
    dispatcher re-traces (a kernel raises it instead of returning a result)."""


class LoweringError(TypeError):
    """A graph has an op the backend cannot lower (a bug in jitad, reported as such)."""


class CompileError(RuntimeError):
    """numba rejected a kernel jitad generated: a bug in jitad, never a user error."""


class RetraceWarning(UserWarning):
    """A function keeps re-tracing: its guards fail on most calls."""


class CacheWarning(UserWarning):
    """The kernel cache on disk could not be used as it is (not writable, or
    an entry that was corrupted and has been healed)."""
