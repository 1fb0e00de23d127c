"""What a function reads from outside its arguments, read again on every call.

A loss often reads data from a global, a closure or an attribute of ``self``
(``np.sum((w - data) ** 2)``). Baked into the kernel at trace time, such a
value would go stale when a notebook cell rebinds ``data`` or an SGD loop
assigns the next minibatch to a global. So jitad finds those reads before it
traces (``candidates``): the closure cells of the function, the globals its
code names, the attributes of ``self`` (for a bound method) its code names,
and one level into a dict, list or tuple held there (``params["W"]``).

- An array or float there becomes a kernel input that is not differentiated:
  the function is traced with a tracer in its place (``substituted``), so
  everything computed from it, ``data.mean()`` included, is in the trace, and
  the dispatcher fetches the current value on every call (``ReadSet.fetch``)
  -- rebinding and in-place changes are both seen. Its shape and dtype join
  the cache key.
- An int, bool, string or None there is static, like a static argument: its
  value joins the cache key, so a change re-traces. So is a boolean array
  (masks select by value, so they stay constants of the trace): its content
  joins the key, as does any array the traced code turns back into a NumPy
  array (``np.asarray(data)``), where jitad cannot follow what is computed
  from it.
- Anything else (functions, modules, objects jitad does not inspect) is left
  as it is; an array reached through such an object is a constant of the
  trace (README: "What a kernel reads").

>>> import numpy as np
>>> data = np.ones(2)
>>> def loss(w):
...     return np.sum((w - data) ** 2)
>>> [r.describe() for r in candidates(loss)]
['global data']
"""
from __future__ import annotations

import copy
import hashlib
import types
from dataclasses import dataclass

import numpy as np

_STATIC = (bool, int, str, type(None))
_CONTAINERS = (dict, list, tuple)


@dataclass(frozen=True, eq=False)
class Read:
    """One value read from ``holder``: a cell (``kind="cell"``), a globals
    dict (``"global"``, ``name``), or an object (``"attr"``, ``name``); with
    ``item`` set, one item of the dict/list/tuple found there."""

    holder: object
    kind: str
    name: str = ""
    item: object = None

    @property
    def identity(self) -> tuple:
        return (id(self.holder), self.kind, self.name, self.item)

    def root_source(self, holder: str) -> str:
        if self.kind == "cell":
            return f"{holder}.cell_contents"
        if self.kind == "global":
            return f"{holder}[{self.name!r}]"
        return f"{holder}.{self.name}"

    def source(self, holder: str) -> str:
        """Python source that fetches the value from ``holder``."""
        root = self.root_source(holder)
        return root if self.item is None else f"{root}[{self.item!r}]"

    def fetch(self):
        root = (self.holder.cell_contents if self.kind == "cell" else
                self.holder[self.name] if self.kind == "global" else
                getattr(self.holder, self.name))
        return root if self.item is None else root[self.item]

    def describe(self) -> str:
        where = {"cell": "closure", "global": f"global {self.name}",
                 "attr": f"self.{self.name}"}[self.kind]
        return where if self.item is None else f"{where}[{self.item!r}]"


def traced(value) -> bool:
    """Values that become kernel inputs: arrays (other than masks) and floats."""
    return type(value) is float or isinstance(value, np.floating) or (
        isinstance(value, np.ndarray) and value.dtype != np.bool_ and value.dtype.kind in "fiuc")


def is_read_value(value) -> bool:
    return traced(value) or isinstance(value, _STATIC) or isinstance(value, (np.integer,
                                                                              np.bool_)) \
        or (isinstance(value, np.ndarray) and value.dtype == np.bool_)


def key_of(value):
    """A read's part of the cache key: shape and dtype of what the kernel
    reads, the value of what is static."""
    kind = type(value)
    if kind is float:
        return float
    if kind is np.ndarray:
        return content_key(value) if value.dtype == np.bool_ else (value.shape, value.dtype.str)
    if isinstance(value, np.generic):
        return ((), value.dtype.str) if isinstance(value, np.floating) else ("static", value)
    return ("static", value) if isinstance(value, _STATIC) else ("other", kind)


def content_key(value):
    """What a constant array read from outside holds: shape, dtype and a
    digest of its bytes (in-place changes re-trace)."""
    if not isinstance(value, np.ndarray):
        return key_of(value)
    data = np.ascontiguousarray(value)
    return ("content", value.shape, value.dtype.str,
            hashlib.blake2b(data.view(np.uint8).reshape(-1), digest_size=16).digest())


def _names(code) -> set:
    """The global and attribute names ``code`` and the code nested in it use."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _with_items(read: Read, value) -> list:
    """``read`` itself, or the items of the container it holds (one level)."""
    if isinstance(value, dict):
        return [Read(read.holder, read.kind, read.name, k) for k, v in value.items()
                if isinstance(k, (str, int)) and is_read_value(v)]
    if isinstance(value, (list, tuple)):
        return [Read(read.holder, read.kind, read.name, k) for k, v in enumerate(value)
                if is_read_value(v)]
    return [read] if is_read_value(value) else []


def candidates(f) -> list:
    """The reads of ``f`` whose current value is an array, a float or static."""
    func, owner = (f.__func__, f.__self__) if isinstance(f, types.MethodType) else (f, None)
    if not isinstance(func, types.FunctionType):
        return []
    found = []
    cells = func.__closure__ or ()
    for name, cell in zip(func.__code__.co_freevars, cells):
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell: a name assigned later
            continue
        found += _with_items(Read(cell, "cell", name), value)
    names = _names(func.__code__)
    for name in sorted(names):
        if name in func.__globals__:
            found += _with_items(Read(func.__globals__, "global", name), func.__globals__[name])
    if owner is not None:
        attrs = getattr(owner, "__dict__", {})
        for name in sorted(names):
            if name in attrs:
                found += _with_items(Read(owner, "attr", name), attrs[name])
    return found


class ReadSet:
    """The reads of one transformed function, fetched together on every call
    by one generated function: ``fetch() -> (values, key)``. ``by_content``:
    the reads whose key is their content (constants of the trace)."""

    def __init__(self, reads=(), by_content=frozenset()):
        self.reads = list(reads)
        self.by_content = frozenset(by_content)
        self.index = {r.identity: k for k, r in enumerate(self.reads)}
        self.fetch = self._compile()

    def union(self, more, by_content=()) -> "ReadSet":
        """This set with the reads ``more`` (and keys by content) added."""
        new = [r for r in more if r.identity not in self.index]
        content = self.by_content | set(by_content)
        return ReadSet(self.reads + new, content) if new or content != self.by_content else self

    def __len__(self):
        return len(self.reads)

    def _compile(self):
        namespace = {f"h{k}": r.holder for k, r in enumerate(self.reads)}
        namespace.update(key_of=key_of, content_key=content_key)
        lines = ["def fetch():"]
        for k, r in enumerate(self.reads):
            lines.append(f"    v{k} = {r.source(f'h{k}')}")
        values = "".join(f"v{k}, " for k in range(len(self.reads)))
        keys = "".join(f"{'content_key' if r.identity in self.by_content else 'key_of'}(v{k}), "
                       for k, r in enumerate(self.reads))
        lines.append(f"    return ({values}), ({keys})")
        source = "\n".join(lines) + "\n"
        exec(compile(source, "<jitad reads>", "exec"), namespace)  # noqa: S102
        fetch = namespace["fetch"]
        fetch.source = source
        return fetch


# ------------------------------------------------------ tracing with tracers

class _TracedGlobals(dict):
    """A function's globals as the trace sees them: the substituted names
    give their tracers, every other name the module's current value. (A
    dict subclass as globals makes LOAD_GLOBAL call ``__getitem__``;
    assignments to globals made while tracing stay in this view.)"""

    def __init__(self, module_globals, substitutes):
        super().__init__(__builtins__=module_globals.get("__builtins__", __builtins__))
        self.module_globals, self.substitutes = module_globals, substitutes

    def __getitem__(self, name):
        if name in self.substitutes:
            return self.substitutes[name]
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return self.module_globals[name]


def _replaced(value, item, tracer):
    if item is None:
        return tracer
    if isinstance(value, dict):
        return {**value, item: tracer}
    out = list(value)
    out[item] = tracer
    return type(value)(out)


def substituted(f, tracers: dict):
    """A copy of ``f`` that sees ``tracers[read.identity]`` in place of each
    read's value (closure cells and globals of its function; attributes of a
    shallow copy of its ``self``). ``f`` itself and the module are untouched."""
    if not tracers:
        return f
    func, owner = (f.__func__, f.__self__) if isinstance(f, types.MethodType) else (f, None)
    if not isinstance(func, types.FunctionType):
        return f
    by_root: dict = {}
    for read in candidates(f):
        if read.identity in tracers:
            by_root.setdefault((read.kind, read.name, id(read.holder)), []).append(read)

    def value_for(reads, current):
        for read in reads:
            current = _replaced(current, read.item, tracers[read.identity])
        return current

    cells = list(func.__closure__ or ())
    for k, (name, cell) in enumerate(zip(func.__code__.co_freevars, cells)):
        reads = by_root.get(("cell", name, id(cell)))
        if reads:
            cells[k] = types.CellType(value_for(reads, cell.cell_contents))
    substitutes = {name: value_for(reads, func.__globals__[name])
                   for (kind, name, _), reads in by_root.items() if kind == "global"}
    globals_ = _TracedGlobals(func.__globals__, substitutes) if substitutes else func.__globals__
    copied = types.FunctionType(func.__code__, globals_, func.__name__, func.__defaults__,
                                tuple(cells) if cells else None)
    copied.__kwdefaults__ = func.__kwdefaults__
    if owner is None:
        return copied
    attrs = {name: reads for (kind, name, _), reads in by_root.items() if kind == "attr"}
    if attrs:
        try:
            owner = copy.copy(owner)
            for name, reads in attrs.items():
                setattr(owner, name, value_for(reads, getattr(owner, name)))
        except Exception:  # noqa: BLE001 - an object we cannot copy keeps its attributes
            owner = f.__self__
    return types.MethodType(copied, owner)
