"""What is being traced right now, per thread: the floor of the tracing stack.

``Primitive.bind`` (in ``primitives``) records an op when one of its operands
is a tracer, and the NumPy layer asks whether a value is traced; both need to
know the tracer type and the builders that are recording, which the
``tracer`` module (above them) defines. So the two facts live here, below
both: ``TracerBase`` (the tracer's storage; ``tracer.Tracer`` adds the
methods) and the stack of active builders, kept per thread so that traces in
different threads never see each other's builders.

>>> is_tracer(1.0), active_builders()
(False, [])
"""
from __future__ import annotations

import threading


class TracerBase:
    """A traced value's storage: its ``Var``, its concrete value on this call
    (``None`` in an abstract trace) and the builder recording it."""

    __slots__ = ("_var", "_val", "_builder")

    def __init__(self, var, val, builder):
        self._var, self._val, self._builder = var, val, builder


def is_tracer(x) -> bool:
    return isinstance(x, TracerBase)


_local = threading.local()


def active_builders() -> list:
    """This thread's builders, innermost last (pushed by ``with builder:``)."""
    stack = getattr(_local, "builders", None)
    if stack is None:
        stack = _local.builders = []
    return stack
