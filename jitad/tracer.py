"""Tracing: run the user's function on ``Tracer`` values and record a ``Graph``.

A ``Tracer`` stands for one array (or scalar) of the user's computation. It
carries the concrete value it has on this call -- tracing runs the function on
real inputs -- and the ``Var`` that names it in the graph being recorded by its
``Builder``. NumPy hands operations on tracers to us through its own dispatch
protocols (``__array_ufunc__``, ``__array_function__``) and Python's operator
methods, so user code keeps ``import numpy as np``.

The NumPy functions jitad understands are listed in explicit tables
(``numpy_api``); anything else raises a ``TypeError`` that names it, rather
than running NumPy on a tracer and recording a wrong graph.
"""
from __future__ import annotations

import dis
import itertools
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from . import numpy_api as api
from . import primitives as P
from . import tree
from .errors import TraceError, UnsupportedAttribute
from .ir import Graph, Lit, Op, Var
from .reads import candidates, substituted, traced
from .state import TracerBase, active_builders, is_tracer

_levels = itertools.count(1)


class Builder:
    """Records ops into a graph. ``concrete``: tracers carry values (a trace of
    user code) or not (a transform re-emitting a graph abstractly)."""

    def __init__(self, concrete: bool = True):
        self.level = next(_levels)
        self.concrete = concrete
        self.inputs: list[Var] = []  # the arguments'; then come the reads', then the captured
        self.ops: list[Op] = []
        self.captured: dict[int, tuple] = {}  # id(outer tracer) -> (outer tracer, inner tracer)
        # values read from outside the arguments (``jitad.reads``): identity ->
        # (Read, tracer) for kernel inputs, (Read, value) for static values
        self.reads: dict[tuple, tuple] = {}
        self.static_reads: dict[tuple, tuple] = {}
        self.escaped: set = set()  # reads turned back into NumPy arrays (keyed by content)
        self._read_arrays: dict[int, "Tracer"] = {}  # id(array) -> its read's tracer
        # floats taken out of the trace (float(), .item(), math.*), in order:
        # where in the user's code, and which to move (the dispatcher's check)
        self.float_sites: list = []
        self.perturb: frozenset = frozenset()
        self.pending = None  # an error found where raising it would be swallowed
        self.closed = False

    def __enter__(self):
        api.building.enter()  # np.array and friends see traced values (numpy_api.building)
        active_builders().append(self)
        return self

    def __exit__(self, *exc):
        active_builders().remove(self)
        api.building.exit()

    def new_input(self, shape, dtype, val=None) -> "Tracer":
        var = Var(tuple(shape), np.dtype(dtype))
        self.inputs.append(var)
        return Tracer(var, val, self)

    def taken_float(self, seen, what):
        """A float the trace takes out of a traced value (its guard is
        recorded): returned as it is, or moved slightly when this is a trace
        that checks whether such floats flow into the result."""
        k = len(self.float_sites)
        self.float_sites.append((what, _user_site()))
        if k in self.perturb:
            seen = seen * (1 + 2.0 ** -20) + 2.0 ** -40
        return seen

    def read(self, read, value):
        """The tracer of a value read from outside the arguments (made once
        per read), or the value itself when it is static."""
        if not traced(value):
            self.static_reads.setdefault(read.identity, (read, value))
            return value
        found = self.reads.get(read.identity)
        if found is None:
            arr = np.asarray(value)
            tracer = Tracer(Var(arr.shape, arr.dtype), arr[()] if arr.ndim == 0 else value, self)
            found = self.reads[read.identity] = (read, tracer)
            if isinstance(value, np.ndarray):
                self._read_arrays[id(value)] = tracer
        return found[1]

    def is_read(self, tracer) -> bool:
        return any(t is tracer for _, t in self.reads.values())

    def escape(self, tracer):
        """A read's tracer became a NumPy array again (``np.asarray``): what is
        computed from it is not traced, so its content keys the cache."""
        for identity, (_, t) in self.reads.items():
            if t is tracer:
                self.escaped.add(identity)
        return tracer._val

    def lift(self, x) -> tuple:
        """(atom, value) for an operand: our tracer, an outer tracer captured
        from an enclosing trace (it becomes an extra input), or a constant."""
        if type(x) is Tracer and x._builder is self:  # the common case, first
            return x._var, x._val
        if type(x) is float:  # a Python number: a weak literal
            lit = Lit.of(x)
            return lit, lit.val
        if is_tracer(x):
            b = x._builder
            if b.closed:
                raise TraceError("a traced value escaped from a finished trace (was it stored "
                                 "in a global or a closure?); pass it as an argument instead")
            if id(x) not in self.captured:
                self.captured[id(x)] = (x, Tracer(Var(x.shape, x.dtype), x._val, self))
            inner = self.captured[id(x)][1]
            return inner._var, inner._val
        if type(x) is np.ndarray:
            read = self._read_arrays.get(id(x))
            if read is not None:  # read from outside by code jitad did not substitute
                return read._var, read._val
        if isinstance(x, complex) or np.iscomplexobj(x):
            raise _complex_error(x)
        if isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.dtype == object):
            raise TraceError(f"jitad cannot use a {type(x).__name__} as an array operand here; "
                             "build it with np.stack or np.concatenate")
        lit = Lit.of(x)
        return lit, lit.val

    def operand(self, x) -> tuple:
        """``lift`` for an operand of a primitive, which must be numeric."""
        atom, value = self.lift(x)
        if atom.dtype.kind not in "biuf":
            raise TraceError(f"jitad cannot compute with {x!r} (a {type(x).__name__}) and a "
                             "traced value: operands must be numbers or numeric arrays")
        if atom.dtype.kind == "f" and atom.dtype.itemsize > 8:
            raise TraceError(f"a {atom.dtype.name} constant met a traced value: jitad's kernels "
                             "compute in float32 and float64; convert it with np.float64(...) "
                             "or .astype(np.float64)")
        if atom.dtype == np.float16 and not atom.shape:  # numba has no float16 scalars;
            atom = Lit.of(np.float32(value))  # exact, and promotes with x as float16 would
            value = atom.val
        return atom, value

    def apply(self, prim, args, params):
        """Record ``prim(*args, **params)``; on a concrete trace, compute its value
        too (NumPy's floating-point warnings are off for the whole trace, see
        ``trace``: the values are a by-product, the kernel's are the results)."""
        atoms, vals, known = [], [], self.concrete
        for x in args:
            if type(x) is Tracer and x._builder is self:  # the common case, inline
                atom, val = x._var, x._val
            elif type(x) is float:  # a Python number: a weak literal (``lift``)
                atom, val = Lit.of(x), x
            else:
                atom, val = self.operand(x)
            atoms.append(atom)
            vals.append(val)
            known = known and val is not None
        if prim.effect:  # a guard: recorded for its effect, it has no value
            self.ops.append(Op(prim, tuple(atoms), (), params))
            return None
        if prim.multiple_results:
            outs = tuple([Var(shape, dtype) for shape, dtype in prim.shape_rule(*atoms, **params)])
        else:  # Primitive.abstract_eval, inline
            outs = (Var(*prim.shape_rule(*atoms, **params)),)
        if known and (prim.trace_cost is None
                      or prim.trace_cost(*atoms, **params) <= P.TRACE_COST_LIMIT):
            result = prim.impl(*vals, **params)  # first: an op that raises is not recorded
            self.ops.append(Op(prim, tuple(atoms), outs, params))
            if not prim.multiple_results:
                return Tracer(outs[0], _as_dtype(result, outs[0].dtype), self)
            return [Tracer(v, _as_dtype(r, v.dtype), self) for r, v in zip(result, outs)]
        self.ops.append(Op(prim, tuple(atoms), outs, params))
        tracers = [Tracer(v, None, self) for v in outs]
        return tracers if prim.multiple_results else tracers[0]

    def graph(self, outputs, input_names=()) -> Graph:
        """The graph recorded: inputs are the arguments', then the reads' (in
        the order of ``self.reads``), then the captured tracers'."""
        self.closed = True
        outs = tuple(self.lift(o)[0] for o in outputs)
        inputs = self.inputs + [t._var for _, t in self.reads.values()]
        inputs += [inner._var for _, inner in self.captured.values()]
        return Graph(tuple(inputs), tuple(self.ops), outs, tuple(input_names))


def _user_site() -> str:
    """file:line of the innermost frame outside jitad."""
    for entry in reversed(traceback.extract_stack()):
        if "/jitad/" not in entry.filename.replace("\\", "/") or "/tests/" in entry.filename:
            return f"{entry.filename}:{entry.lineno}"
    return "?"


def _numpy_store(tracer, depth):
    """A TraceError if the user's frame (``depth`` frames up, past jitad's
    own) is running ``y[...] = x`` with y a NumPy array, else None."""
    frame = sys._getframe(depth + 1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("jitad."):
        frame = frame.f_back
    if frame is None or frame.f_code.co_code[frame.f_lasti] != _STORE_SUBSCR:
        return None
    return TraceError(
        f"a traced value of shape {tracer.shape} is written into a NumPy array (y[...] = x "
        f"at {frame.f_code.co_filename}:{frame.f_lineno}): a NumPy array cannot hold traced "
        "values, so the derivative would be lost. Make the array from a traced one "
        "(y = np.zeros_like(x), then y[i] = ... works), or build it with np.stack / "
        "np.concatenate / np.where")


def _stored_into_numpy(tracer) -> bool:
    """``y[i] = x`` with y a NumPy array makes NumPy turn x into a number.
    Say so, instead of tracing a constant: the error is kept on the builder
    and raised when f returns (raised here, NumPy would replace it with
    "setting an array element with a sequence")."""
    error = _numpy_store(tracer, 3)  # the user's: this <- _concrete <- __float__ <- user
    if error is None:
        return False
    if tracer._builder.pending is None:
        tracer._builder.pending = error
    return True


_STORE_SUBSCR = dis.opmap["STORE_SUBSCR"]
_METHOD_ADVICE = {
    "sort": "sort into a new array, x = np.sort(x)",
    "fill": "make a new array, x = np.full_like(x, value)",
    "real": "jitad traces real values only, so x is its own real part",
    "imag": "jitad traces real values only, so the imaginary part is np.zeros_like(x)",
    "conj": "jitad traces real values only, so x is its own conjugate",
    "nonzero": "the number of results depends on the values; use np.where(mask, x, 0.0)",
}


def _complex_error(x) -> TraceError:
    what = f"the complex number {x!r}" if np.ndim(x) == 0 else \
        f"a complex array of shape {np.shape(x)}"
    return TraceError(f"{what} met a traced value: jitad records real arithmetic only (complex "
                      "dtypes through the IR and kernels are not supported yet); carry the real "
                      "and imaginary parts as two real arrays")


# what numba computes with; float16 and long double it has no arithmetic for
_INPUT_ADVICE = {"f": "convert it with .astype(np.float64) (or np.float32)",
                 "O": "an object array is not numeric to jitad: convert it with "
                      "np.asarray(x, dtype=float)"}


def _check_input_dtype(dtype, name):
    """An input jitad can trace: bool, an integer or float32/float64."""
    if dtype.kind in "biu" and dtype.itemsize <= 8 or dtype in (np.float32, np.float64):
        return
    advice = _INPUT_ADVICE.get(dtype.kind, "pass bool, integer, float32 or float64 arrays")
    raise TypeError(f"argument {name!r} has dtype {dtype.name}, which jitad does not "
                    f"trace (its kernels compute in bool, integers, float32 and float64): "
                    f"{advice}")


def _as_dtype(val, dtype):
    if type(val) is np.float64 and dtype is _FLOAT64:  # scalar code's every op
        return val
    if type(val) is np.ndarray or isinstance(val, np.generic):
        # the common case first (not through np.asarray: while tracing that
        # is jitad's wrapper, which looks for tracers in its argument)
        if val.dtype == dtype:
            return val[()] if val.ndim == 0 else val
        return val.astype(dtype)[()] if val.ndim == 0 else val.astype(dtype)
    arr = np.asarray(val)
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr[()] if arr.ndim == 0 else arr


_FLOAT64 = np.dtype(np.float64)


class Tracer(TracerBase):
    """A traced array. Supports Python operators and NumPy dispatch.

    A tracer is the box of one array: in-place writes change its value, and
    ``_view``/``_views`` link it to the array it is a view of and to its own
    views (``numpy_api.inplace``); ``_array0d`` marks a 0-d value that is an
    array, not a NumPy scalar."""

    __slots__ = ("_view", "_views", "_read_only", "_array0d")
    __array_priority__ = 1000
    __hash__ = None  # == records an op; tracers are not dict keys

    shape = property(lambda self: self._var.shape)
    dtype = property(lambda self: self._var.dtype)
    ndim = property(lambda self: len(self._var.shape))
    size = property(lambda self: self._var.size)

    def __repr__(self):
        return f"Tracer({self.dtype.name}{list(self.shape)}, value={self._val!r})"

    def __getattr__(self, name):
        """Only for names a tracer lacks: an ndarray's say what to write instead."""
        if name.startswith("_") or not hasattr(np.ndarray, name):
            raise AttributeError(f"'Tracer' object has no attribute {name!r}")
        raise UnsupportedAttribute(
            f"x.{name} on a traced array: jitad does not record ndarray.{name}; "
            + _METHOD_ADVICE.get(name, "compute it with the NumPy functions jitad records "
                                       "(see docs/coverage.md)"))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d traced array (iterating over it, or using it as a "
                            "shape, needs one): a scalar has no length; to use a traced value as "
                            "a size, make it a Python int outside the traced function")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # NumPy's dispatch protocols -------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "at":
            return api.ufunc_at(ufunc, *inputs)
        if method != "__call__":
            raise TraceError(f"jitad cannot record np.{ufunc.__name__}.{method} on a traced value; "
                             f"use the matching function (np.sum for np.add.reduce, ...)")
        out = kwargs.pop("out", None)
        impl = api.UFUNCS.get(ufunc)
        if impl is None:
            if getattr(np, ufunc.__name__, None) is ufunc:
                raise TraceError(f"jitad has no derivative rule for np.{ufunc.__name__}")
            impl = api.scipy_ufunc(ufunc)  # scipy.special's, by name
            if impl is None:
                raise TraceError(f"the ufunc {ufunc.__name__!r} is not NumPy's and not one of "
                                 "the scipy.special functions jitad records (see "
                                 "docs/coverage.md); write it with NumPy functions")
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if kwargs:
            raise TraceError(f"{ufunc.__name__}: jitad does not support the keyword(s) "
                             f"{sorted(kwargs)} on traced values: instead of out=, use the "
                             "returned value; instead of where=, np.where(mask, result, other)")
        result = impl(*inputs)
        if out is None:
            return result
        (target,) = out if isinstance(out, tuple) else (out,)
        return api.write_out(target, result)

    def __array_function__(self, func, types, args, kwargs):
        impl = api.FUNCTIONS.get(func)
        if impl is None:
            raise TraceError(f"jitad does not support {_qualname(func)} on traced values "
                             "(no derivative rule); see the coverage table in the README")
        return impl(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        if self._builder.is_read(self):  # data read from outside: a constant from here on
            value = np.asarray(self._builder.escape(self))
            return value if dtype is None else value.astype(dtype)
        if dtype is not None and self.size == 1 and np.dtype(dtype).kind in "iu":
            # np.int64(x), np.int32(x): an integer taken out of the trace, as int(x)
            name = np.dtype(dtype).name
            return np.asarray(self._concrete(f"np.{name}()", "integer", int), dtype)
        stored = _numpy_store(self, 1)  # y[:k] = x: NumPy asks for x as an array
        if stored is not None:
            raise stored
        advice = api.drop_in_advice(sys._getframe(1))
        if advice:
            raise TraceError(f"jitad cannot turn a traced value into a NumPy array: {advice}")
        raise TraceError("jitad cannot turn a traced value into a NumPy array (a library outside "
                         "NumPy asked for one, or NumPy's own np.array was reached under another "
                         "name, as after `from numpy import array`); use NumPy functions on it "
                         "directly, write np.array(...) / np.asarray(...) through the numpy "
                         "module (jitad records those), or jitad.stop_gradient if it is a "
                         "constant")

    # Python values from traced values: guards -------------------------------
    def _concrete(self, what, kind, convert):
        """The Python value ``convert(value)`` of this 0-d tracer, with a guard
        recording it: the compiled kernel re-checks it on every call and the
        call is re-traced when it no longer holds.

        ``kind``: "branch" (a truth value), "integer" (int() and indices:
        piecewise constant, so the guard checks the integer and any value in
        the same cell takes the same path, with derivative 0), or "value" (a
        float: the guard checks it exactly; whether it flows into the result,
        where the derivative would miss it, the dispatcher verifies by tracing
        again with the float moved, ``Builder.perturb``)."""
        if self.size != 1:
            raise ValueError(f"{what} of a traced array of shape {self.shape}: the truth value "
                             "of an array with more than one element is ambiguous; use "
                             "np.any / np.all, or np.where for an elementwise choice")
        if self._val is None:
            raise TraceError(
                f"{what} of a value the trace did not compute (a value after a long "
                "jitad.loop, or inside a transform's abstract trace): control flow cannot "
                "depend on it; write the choice with np.where")
        if _stored_into_numpy(self):
            return convert(np.nan)  # the trace stops with the error when f returns
        scalar = P.reshape(self, ()) if self.shape else self
        seen = np.asarray(self._val).reshape(())[()]
        if kind == "integer":
            converted = int(seen)
            P.guard(P.convert(scalar, np.int64), expected=converted, kind=kind, what=what)
            return converted
        P.guard(scalar, expected=seen.item(), kind=kind, what=what)
        if kind == "value":
            seen = self._builder.taken_float(seen, what)
        return convert(seen)

    def __bool__(self):
        flag = self if self.dtype == np.bool_ else P.ne_p.bind(self, 0)
        return flag._concrete("bool()", "branch", bool)

    def __float__(self):
        return self._concrete("float()", "value", float)

    def __int__(self):
        return self._concrete("int()", "integer", int)

    def __index__(self):
        if not np.issubdtype(self.dtype, np.integer):
            raise TypeError(f"only integer arrays can be used as an index, not {self.dtype}")
        return self._concrete("use as an index", "integer", int)

    def item(self):
        if np.issubdtype(self.dtype, np.integer) or self.dtype == np.bool_:
            return self._concrete(".item()", "integer", lambda v: type(v.item())(v))
        return self._concrete(".item()", "value", lambda v: v.item())

    def __complex__(self):
        raise TraceError("complex() of a traced value: jitad differentiates real code")

    def tolist(self):
        raise TraceError(".tolist() of a traced array: use NumPy operations on it")



def _qualname(func):
    module = getattr(func, "__module__", "") or ""
    name = getattr(func, "__name__", repr(func))
    return f"np.{name}" if module.startswith("numpy") else f"{module}.{name}"


def _install_methods():
    """Operator and ndarray methods, all routed through the dispatch tables."""
    def binary(fn, reflected=False):
        if reflected:
            return lambda self, other: fn(other, self)
        return lambda self, other: fn(self, other)

    ops = {"add": api.add, "sub": api.subtract, "mul": api.multiply, "truediv": api.divide,
           "pow": api.power, "matmul": api.matmul}
    for name, fn in ops.items():
        setattr(Tracer, f"__{name}__", binary(fn))
        setattr(Tracer, f"__r{name}__", binary(fn, reflected=True))
        setattr(Tracer, f"__i{name}__", api.updating(fn))
    for name in ("floordiv", "mod", "and", "or", "xor"):
        setattr(Tracer, f"__i{name}__", api.updating(getattr(api, f"__{name}__")))
    for name, fn in {"lt": np.less, "le": np.less_equal, "gt": np.greater,
                     "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}.items():
        setattr(Tracer, f"__{name}__", binary(api.UFUNCS[fn]))
    Tracer.__neg__ = lambda self: api.negative(self)
    Tracer.__pos__ = lambda self: self
    Tracer.__abs__ = lambda self: api.UFUNCS[np.absolute](self)
    Tracer.__getitem__ = api.getitem
    Tracer.T = property(lambda self: api.transpose(self))
    for name in api.METHODS:
        setattr(Tracer, name, getattr(api, name))


_install_methods()


@dataclass
class Outside:
    """The graph's inputs that are not arguments of f, in graph order after
    the arguments': ``reads``, values read from closures, globals and
    attributes (``jitad.reads``), then ``captured``, the tracers of an
    enclosing trace that f closed over; and ``static_reads``, (Read, value)
    pairs of the static values read, ``escaped``, the identities of the
    reads to key by content, and ``float_sites``, where the floats the trace
    took out of traced values were taken."""

    reads: list
    captured: list
    static_reads: list
    escaped: set
    float_sites: list  # (what, "file:line") of each float taken out of the trace


def trace(f, args, arg_names=None, reads=False, perturb=frozenset()) \
        -> tuple[Graph, object, Outside]:
    """Run ``f(*args)`` on tracers; (primal graph, output treedef, Outside).

    Leaves that are Python ints, bools, strings or None stay static (passed to
    ``f`` as they are); every other leaf becomes a graph input. With
    ``reads``, so does every array or float f reads from its closure, its
    globals or ``self`` (f runs as a copy that sees tracers there:
    ``reads.substituted``); without, those are constants of the graph (what
    the transforms' kernels read again on every call is then baked in: the
    view ``jitad.trace`` prints, and the one the tests of single stages use).
    ``perturb``: the positions, among the floats the trace takes out of
    traced values, of those to move slightly (``Builder.taken_float``).
    """
    leaves, treedef = tree.flatten(tuple(args))
    paths = tree.leaf_paths(treedef, "")
    names = _leaf_names(paths, arg_names)
    builder = Builder(concrete=True)
    builder.perturb = frozenset(perturb)
    traced_leaves, input_names = [], []
    for leaf, name in zip(leaves, names):
        if is_static(leaf):
            traced_leaves.append(leaf)
            continue
        value = leaf._val if isinstance(leaf, Tracer) else leaf
        arr = np.asarray(value)
        if not arr.dtype.isnative:  # the kernel takes it in native byte order
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if np.iscomplexobj(arr):
            raise _complex_error(value)
        _check_input_dtype(arr.dtype, name)
        traced = builder.new_input(arr.shape, arr.dtype, arr[()] if arr.ndim == 0 else arr)
        # NumPy changes a 0-d array in place but rebinds a scalar (x += 1)
        traced._array0d = (type(value) is np.ndarray and arr.ndim == 0) or \
            getattr(leaf, "_array0d", False)
        traced_leaves.append(traced)
        input_names.append(name)
    substitutes = {}
    for read in candidates(f) if reads else ():
        value = builder.read(read, read.fetch())
        if is_tracer(value):
            substitutes[read.identity] = value
    # one errstate for the whole trace, not one per op (it costs as much as
    # recording the op): the values computed while tracing never warn
    with builder, np.errstate(all="ignore"):
        try:
            out = substituted(f, substitutes)(*tree.unflatten(treedef, traced_leaves))
        except Exception:
            if builder.pending is not None:
                raise builder.pending from None
            raise
    if builder.pending is not None:
        raise builder.pending
    out_leaves, out_treedef = tree.flatten(out)
    graph = builder.graph(out_leaves)
    outside = Outside([r for r, _ in builder.reads.values()],
                      [outer for outer, _ in builder.captured.values()],
                      list(builder.static_reads.values()), set(builder.escaped),
                      list(builder.float_sites))
    input_names += [r.describe() for r in outside.reads]
    input_names += [f"captured{i}" for i in range(len(outside.captured))]
    return Graph(graph.inputs, graph.ops, graph.outputs, tuple(input_names)), out_treedef, outside


def is_static(leaf) -> bool:
    """Python ints, bools, strings and None are static: part of the cache key."""
    return leaf is None or isinstance(leaf, (bool, int, str)) and not isinstance(leaf, np.generic)


def _leaf_names(paths, arg_names):
    def name(path):
        i = int(path[1:path.index("]")])
        head = arg_names[i] if arg_names and i < len(arg_names) else f"x{i + 1}"
        return head + path[path.index("]") + 1:]
    return [name(p) for p in paths]
