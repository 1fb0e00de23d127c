"""Guards: the Python values a trace took out of traced values.

A guard records that traced code turned a traced value into a Python value
(kind "branch": ``bool()`` in an ``if``/``while``; kind "value": ``float()``,
``int()``, ``.item()``) and what it saw. It has no outputs, and dead-code
elimination keeps it; the compiled kernel checks it on every call and raises
``GuardFailure`` when it no longer holds, so the dispatcher re-traces.
"""
from __future__ import annotations

import numpy as np

from ..errors import BatchingError, GuardFailure
from .core import Primitive


def _guard_holds(x, expected) -> bool:
    x = np.asarray(x)[()]
    return bool(x != x) if expected != expected else bool(x == expected)


def _guard_impl(x, expected, kind, what):
    if not _guard_holds(x, expected):
        raise GuardFailure(f"{what} is now {x!r}, not {expected!r}")


def _guard_batch(prim, args, batched, k, expected, kind, what):
    raise BatchingError(
        f"{what} of a batched value: under jitad.vmap each example could take another path "
        "through the Python code, which one trace cannot record; write the choice with "
        "np.where (or take the value out of the batched argument's per-example part)")


guard_p = Primitive(
    "guard", _guard_impl, lambda x, expected, kind, what: None, kind="effect",
    jvps=[None], vjps=[None], batch=_guard_batch,
    fmt=lambda x, expected, kind, what: f"guard {what}: {x} == {expected!r}")


def guard(x, expected, kind, what):
    return guard_p.bind(x, expected=expected, kind=kind, what=what)
