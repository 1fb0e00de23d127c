"""What a function reads from outside its arguments, read again on every call.

A loss often reads data from a global, a closure or an attribute of ``self``
(``np.sum((w - data) ** 2)``). Baked into the kernel at trace time, such a
value would go stale when a notebook cell rebinds ``data`` or an SGD loop
assigns the next minibatch to a global. So jitad finds those reads before it
traces (``candidates``): the closure cells of the function, the globals its
code names, the attributes of ``self`` (for a bound method) its code names,
and one level into a dict, list or tuple held there (``params["W"]``); and
the same of every Python function of the user's that it names, and that
they name in turn (a helper's global is the loss's data too), each called
as a copy that sees the tracers when it reads any.

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
    """The reads of ``f`` whose current value is an array, a float or static:
    its own, and those of the Python functions of the user's it names (in its
    globals or closure), and theirs in turn, since a helper's global is as
    much the loss's data as one the loss reads itself."""
    func, owner = (f.__func__, f.__self__) if isinstance(f, types.MethodType) else (f, None)
    if not isinstance(func, types.FunctionType):
        return []
    found = _own_reads(func, owner)
    for helper in _reachable(func):
        found += _own_reads(helper, None)
    unique = {}
    for read in found:
        unique.setdefault(read.identity, read)
    return list(unique.values())


def _own_reads(func, owner) -> list:
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


# Functions of these packages are not the user's: their globals are not data
_LIBRARIES = frozenset({"jitad", "numpy", "scipy", "numba", "math", "builtins"})
_MAX_HELPERS = 256  # functions followed from one loss (a bound on the walk)


def _user_function(value) -> bool:
    if not isinstance(value, types.FunctionType):
        return False
    module = value.__globals__.get("__name__") or ""
    return module.partition(".")[0] not in _LIBRARIES


def _named_functions(func) -> list:
    """(kind, name, function) for the user's functions ``func`` names: in a
    closure cell (kind "cell") or in its globals ("global")."""
    named = []
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if _user_function(value):
            named.append(("cell", name, value))
    for name in sorted(_names(func.__code__)):
        value = func.__globals__.get(name)
        if _user_function(value):
            named.append(("global", name, value))
    return named


def _reachable(func) -> list:
    """The user's functions reachable from ``func`` by name, ``func`` not included."""
    seen, order, stack = {id(func)}, [], [func]
    while stack and len(order) < _MAX_HELPERS:
        for _, _, helper in _named_functions(stack.pop()):
            if id(helper) not in seen:
                seen.add(id(helper))
                order.append(helper)
                stack.append(helper)
    return order


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
    read's value (closure cells and globals of its function, and of the
    helper functions it names, which it then calls as copies too; attributes
    of a shallow copy of its ``self``). ``f`` itself and the module are
    untouched."""
    if not tracers:
        return f
    func, owner = (f.__func__, f.__self__) if isinstance(f, types.MethodType) else (f, None)
    if not isinstance(func, types.FunctionType):
        return f
    copied = _Substitution(tracers).function(func)
    if owner is None:
        return copied
    by_root = _by_root(_own_reads(func, owner), tracers)  # only self's attributes
    attrs = {name: reads for (kind, name, _), reads in by_root.items() if kind == "attr"}
    if attrs:
        try:
            owner = copy.copy(owner)
            for name, reads in attrs.items():
                setattr(owner, name, _value_for(reads, getattr(owner, name), tracers))
        except Exception:  # noqa: BLE001 - an object we cannot copy keeps its attributes
            owner = f.__self__
    return types.MethodType(copied, owner)


def _by_root(reads, tracers) -> dict:
    """The reads that have tracers, by what holds them: (kind, name, id(holder))."""
    by_root: dict = {}
    for read in reads:
        if read.identity in tracers:
            by_root.setdefault((read.kind, read.name, id(read.holder)), []).append(read)
    return by_root


def _value_for(reads, current, tracers):
    for read in reads:
        current = _replaced(current, read.item, tracers[read.identity])
    return current


class _Substitution:
    """Copies of functions that see tracers for their reads; a function
    with no read to replace, itself or through its helpers, stays itself."""

    def __init__(self, tracers):
        self.tracers = tracers
        self.copies: dict = {}   # id(function) -> its copy (or itself)
        self.reaching: dict = {}  # id(function) -> whether a replaced read is reachable
        self.own: dict = {}  # id(function) -> its own reads that have tracers, by root

    def own_reads(self, func) -> dict:
        key = id(func)
        if key not in self.own:
            self.own[key] = _by_root(_own_reads(func, None), self.tracers)
        return self.own[key]

    def reaches(self, func) -> bool:
        key = id(func)
        if key not in self.reaching:
            self.reaching[key] = False  # a recursive function reaches what it reaches
            self.reaching[key] = bool(self.own_reads(func)) or any(
                self.reaches(helper) for _, _, helper in _named_functions(func))
        return self.reaching[key]

    def function(self, func):
        key = id(func)
        if key in self.copies:
            return self.copies[key]
        if not self.reaches(func):
            self.copies[key] = func
            return func
        by_root = self.own_reads(func)
        helpers = [(kind, name, helper) for kind, name, helper in _named_functions(func)
                   if self.reaches(helper)]
        cell_helpers = {name for kind, name, _ in helpers if kind == "cell"}
        cells = list(func.__closure__ or ())
        for k, (name, cell) in enumerate(zip(func.__code__.co_freevars, cells)):
            reads = by_root.get(("cell", name, id(cell)))
            if reads:
                cells[k] = types.CellType(_value_for(reads, cell.cell_contents, self.tracers))
            elif name in cell_helpers:  # a cell of the copy's own, set below
                cells[k] = types.CellType(cell.cell_contents)
        substitutes = {name: _value_for(reads, func.__globals__[name], self.tracers)
                       for (kind, name, _), reads in by_root.items() if kind == "global"}
        globals_ = _TracedGlobals(func.__globals__, substitutes) if substitutes or any(
            kind == "global" for kind, _, _ in helpers) else func.__globals__
        copied = types.FunctionType(func.__code__, globals_, func.__name__, func.__defaults__,
                                    tuple(cells) if cells else None)
        copied.__kwdefaults__ = func.__kwdefaults__
        self.copies[key] = copied  # before the helpers: they may call this function back
        for kind, name, helper in helpers:
            if kind == "global":
                substitutes[name] = self.function(helper)
            else:  # the copy's own cell (made above), not the user's
                position = func.__code__.co_freevars.index(name)
                copied.__closure__[position].cell_contents = self.function(helper)
        return copied
