"""The coverage table: every NumPy function, ufunc and ndarray method jitad
records, the derivative modes it supports and the primitives it becomes --
generated from the dispatch tables (``jitad.numpy_api``) by tracing each entry
on a small example, so it cannot drift from the code.

    python -m jitad.coverage            # print the table (Markdown)
    python -m jitad.coverage --write    # write docs/coverage.md

>>> rows = {row.name: row for row in function_rows()}
>>> rows["np.sum"].modes, rows["np.sum"].primitives
('fwd, rev', 'reduce_sum')
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import numpy_api as api
from . import transforms
from .backend.lowering import Accumulate, Elementwise, Indexed, Loop, lowering_of
from .numpy_api.dispatch import public_name
from .primitives import PRIMITIVES
from .tracer import trace

DOC = Path(__file__).resolve().parent.parent / "docs" / "coverage.md"

# Every example gets float64 matrices x and y (symmetric positive definite,
# so the np.linalg routines apply). These say how to call an entry when
# ``f(x)`` (functions), ``f(x)`` or ``f(x, y)`` (ufuncs, by arity) or
# ``x.name()`` (methods) will not do; two-argument lambdas get x and y.
def _copied_into_zeros(x):
    y = np.zeros_like(x)
    np.copyto(y, x * 2.0)
    return y


def _diagonal_filled(x):
    y = x * 1.0
    np.fill_diagonal(y, 0.0)
    return y


_FUNCTION_CALLS = {
    np.copyto: _copied_into_zeros,
    np.fill_diagonal: _diagonal_filled,
    np.where: lambda x: np.where(x > 1.0, x, 0.0),
    np.clip: lambda x: np.clip(x, 0.4, 1.5),
    np.average: lambda x: np.average(x, axis=0, weights=np.arange(1.0, 4.0)),
    np.reshape: lambda x: np.reshape(x, (9,)),
    np.swapaxes: lambda x: np.swapaxes(x, 0, 1),
    np.moveaxis: lambda x: np.moveaxis(x, 0, 1),
    np.expand_dims: lambda x: np.expand_dims(x, 0),
    np.broadcast_to: lambda x: np.broadcast_to(x, (2, 3, 3)),
    np.split: lambda x: np.split(x, 3)[1],
    np.array_split: lambda x: np.array_split(x, 2)[1],
    np.tile: lambda x: np.tile(x, 2),
    np.repeat: lambda x: np.repeat(x, 2, axis=0),
    np.roll: lambda x: np.roll(x, 1, axis=0),
    np.full_like: lambda x: np.full_like(x, 2.0),
    np.take: lambda x: np.take(x, [0, 2], axis=0),
    np.take_along_axis: lambda x: np.take_along_axis(x, np.array([[0, 2, 1]]), axis=0),
    np.broadcast_arrays: lambda x, y: np.broadcast_arrays(x, y)[0],
    np.concatenate: lambda x, y: np.concatenate([x, y]),
    np.stack: lambda x, y: np.stack([x, y]),
    np.hstack: lambda x, y: np.hstack([x, y]),
    np.vstack: lambda x, y: np.vstack([x, y]),
    np.column_stack: lambda x, y: np.column_stack([x, y]),
    np.tensordot: lambda x, y: np.tensordot(x, y),
    np.einsum: lambda x, y: np.einsum("ij,jk->ik", x, y),
    np.linalg.solve: lambda x, y: np.linalg.solve(x, y),
    np.linalg.slogdet: lambda x: np.linalg.slogdet(x)[1],
    np.linalg.multi_dot: lambda x, y: np.linalg.multi_dot([x, y, x]),
    np.linalg.svd: lambda x: np.linalg.svd(x)[0],
    np.linalg.eigh: lambda x: np.linalg.eigh(x)[1],
    np.linalg.qr: lambda x: np.linalg.qr(x)[0],
    np.linalg.lstsq: lambda x, y: np.linalg.lstsq(x, y)[0],
    np.linalg.matrix_power: lambda x: np.linalg.matrix_power(x, 3),
    np.convolve: lambda x, y: np.convolve(x[0], y[1], "same"),
    np.append: lambda x, y: np.append(x, y, axis=0),
    np.vsplit: lambda x: np.vsplit(x, 3)[0],
    np.hsplit: lambda x: np.hsplit(x, [1])[1],
    np.dsplit: lambda x: np.dsplit(x[None], 3)[0],
    np.pad: lambda x: np.pad(x, 1, mode="reflect"),
    np.meshgrid: lambda x, y: np.meshgrid(x[0], y[1])[0],
}
for _f in (np.dot, np.matmul, np.vdot, np.inner, np.outer, np.isclose):
    _FUNCTION_CALLS[_f] = lambda x, y, _f=_f: _f(x, y)
# functions that answer with Python values (shapes, dtypes): nothing to record
_STATIC = {np.shape, np.ndim, np.size, np.result_type}
_MASK_UFUNCS = {np.logical_and, np.logical_or, np.logical_xor, np.logical_not, np.bitwise_and,
                np.bitwise_or, np.bitwise_xor, np.invert}
_METHOD_CALLS = {
    "reshape": lambda x: x.reshape(9), "swapaxes": lambda x: x.swapaxes(0, 1),
    "repeat": lambda x: x.repeat(2), "astype": lambda x: x.astype(np.float32),
    "dot": lambda x: x.dot(x), "take": lambda x: x.take([0, 1]),
    "clip": lambda x: x.clip(0.4, 1.5), "squeeze": lambda x: x[None].squeeze(),
    "__and__": lambda x, y: x & y, "__rand__": lambda x: True & x,
    "__or__": lambda x, y: x | y, "__ror__": lambda x: False | x,
    "__xor__": lambda x, y: x ^ y, "__rxor__": lambda x: True ^ x, "__invert__": lambda x: ~x,
    "__floordiv__": lambda x: x // 0.3, "__rfloordiv__": lambda x: 2.0 // x,
    "__mod__": lambda x: x % 0.3, "__rmod__": lambda x: 2.0 % x,
    "__setitem__": lambda x, y: _assigned(x, y),
}


def _assigned(x, y):
    x = x * 1.0
    x[1:, 0] = y[0, :2]
    return x
_MASK_OPERATORS = {"__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "__invert__"}
_OPERATORS = {"__and__": "a & b", "__rand__": "b & a", "__or__": "a | b", "__ror__": "b | a",
              "__xor__": "a ^ b", "__rxor__": "b ^ a", "__invert__": "~a",
              "__floordiv__": "a // b", "__rfloordiv__": "b // a", "__mod__": "a % b",
              "__rmod__": "b % a", "__setitem__": "a[i] = v"}


@dataclass(frozen=True)
class Row:
    name: str
    family: str
    modes: str
    primitives: str
    note: str


def _examples(masks=False) -> tuple:
    x = np.array([[2.0, 0.5, 0.1], [0.5, 2.0, 0.3], [0.1, 0.3, 2.0]])
    y = np.array([[1.5, -0.2, 0.0], [-0.2, 1.0, 0.4], [0.0, 0.4, 3.0]])
    return (x > 1.0, y < 1.0) if masks else (x, y)


def _modes(graph) -> str:
    """'fwd, rev' when the output depends differentiably on a float input and
    both sweeps build; '-' for integer, boolean or piecewise-constant output."""
    wrt = [i for i, v in enumerate(graph.inputs) if np.issubdtype(v.dtype, np.inexact)]
    active = transforms.active_vars(graph, wrt)
    if not any(o in active for o in graph.outputs):
        return "-"
    transforms.jvp_graph(graph, wrt)
    transforms.vjp_graph(graph, wrt)
    return "fwd, rev"


def _row(name, family, call, impl, masks=False) -> Row:
    args = _examples(masks)[:len(inspect.signature(call).parameters) - _defaults(call)]
    graph = transforms.simplify(trace(call, args)[0])
    used = list(dict.fromkeys(op.primitive.name for op in graph.ops))
    doc = inspect.getdoc(impl) or ""
    note = doc.split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
    return Row(name, family, _modes(graph), ", ".join(used) or "(none: identity)", note)


def _defaults(call) -> int:
    return sum(p.default is not p.empty for p in inspect.signature(call).parameters.values())


def _family(impl) -> str:
    return getattr(impl, "__module__", "").rsplit(".", 1)[-1]


def function_rows() -> list:
    """One row per NumPy function and ufunc in the dispatch tables."""
    rows = []
    for ufunc, impl in api.UFUNCS.items():
        call = (lambda x, u=ufunc: u(x)) if ufunc.nin == 1 else (lambda x, y, u=ufunc: u(x, y))
        rows.append(_row(public_name(ufunc), "ufunc", call, impl, masks=ufunc in _MASK_UFUNCS))
    for func, impl in api.FUNCTIONS.items():
        if func in api.UNSUPPORTED:
            continue
        if func in _STATIC:
            rows.append(Row(public_name(func), _family(impl), "-", "(static: a Python value)", ""))
            continue
        call = _FUNCTION_CALLS.get(func, lambda x, f=func: f(x))
        rows.append(_row(public_name(func), _family(impl), call, impl))
    return sorted(rows, key=lambda r: (r.family, r.name))


_DISTRIBUTION_ARGS = {"norm": (), "t": (3.0,), "gamma": (2.0,), "beta": (2.0, 3.0)}


def scipy_rows() -> list:
    """One row per scipy.special ufunc jitad records on traced values, and
    one per jitad.scipy drop-in of a SciPy function that cannot take one."""
    import scipy.special

    from .scipy import special as drop_ins, stats
    rows = []
    for name, impl in api.SCIPY_UFUNCS.items():
        u = getattr(scipy.special, name)
        call = (lambda x, u=u: u(x)) if u.nin == 1 else (lambda x, y, u=u: u(x, y))
        rows.append(_row(f"scipy.special.{name}", "scipy.special", call, impl))
    calls = {"logsumexp": lambda x, y: drop_ins.logsumexp(x, axis=1, b=y),
             "softmax": lambda x: drop_ins.softmax(x, axis=0),
             "log_softmax": lambda x: drop_ins.log_softmax(x, axis=-1),
             "polygamma": lambda x: drop_ins.polygamma(2, x)}
    for name, call in calls.items():
        rows.append(_row(f"jitad.scipy.special.{name}", "jitad.scipy", call,
                         getattr(drop_ins, name)))
    for name, shapes in _DISTRIBUTION_ARGS.items():
        dist = getattr(stats, name)
        for method in [m for m in api.special.STATS_METHODS if hasattr(dist, m)]:
            fn = getattr(dist, method)
            rows.append(_row(f"jitad.scipy.stats.{name}.{method}", "jitad.scipy",
                             lambda x, fn=fn, a=shapes: fn(x * 0.4, *a, loc=0.1, scale=1.5), fn))
    return rows


def method_rows() -> list:
    rows = []
    for name in api.METHODS:
        impl = getattr(api, name)
        label = _OPERATORS.get(name, f"ndarray.{name}")
        call = _METHOD_CALLS.get(name, lambda x, n=name: getattr(x, n)())
        rows.append(_row(label, "operator" if name in _OPERATORS else "method", call, impl,
                         masks=name in _MASK_OPERATORS))
    return rows


_PREAMBLE = """\
# NumPy coverage

Generated by `python -m jitad.coverage --write` from jitad's dispatch tables
(`jitad/numpy_api`): each entry was traced on an example, and its derivative
graphs were built in both modes. Do not edit by hand; `tests/test_coverage.py`
checks that this file is up to date.

**modes**: `fwd, rev` -- differentiable in forward (tangent) and reverse
(adjoint) mode, and to any order (every rule is written with primitives);
`-` -- the result is an integer or boolean value, or piecewise constant
(comparisons, masks, argmax, floor, sign): no derivative flows through it.

## Decisions

- **Ties** in `max`, `min`, `np.maximum`, `np.minimum`, `np.clip` split the
  derivative evenly between the tied elements (d/dx max(x, 0) at 0 is 1/2).
- **var/std** take NumPy's `ddof` (and `correction`); the gradient of `std`
  where the variance is 0 is NaN, as the formula gives (and JAX, PyTorch).
- **Norms** (`np.linalg.norm` vector and Frobenius, `np.hypot`) have gradient
  0 at the zero vector (a subgradient) instead of NaN.
- **np.where** never leaks NaN or inf from the branch not taken: the
  chain-rule product is zero wherever the incoming (co)tangent is zero.
- **Products** (`prod`, `cumprod`) are differentiated exactly at zeros (to
  second order), not through prod / x.
- **Fancy indexing** with integer arrays (constants or traced integer
  arguments such as labels) is a gather; its adjoint adds into place, so a
  repeated index receives the sum of its cotangents. Traced indices are
  bounds-checked by the compiled kernel (`IndexError`), negative ones wrap.
- **Boolean masks** must be constants (a NumPy array, not a traced value):
  the result's shape depends on the mask. For traced masks use `np.where`.
- **In-place writes** (`x[i] = v`, `x += v`, `out=x`) follow NumPy's
  semantics for every alias and view of the array (a write through
  `v = x[1:]` changes `x`), with the derivative of what NumPy computes; a
  repeated index keeps the last write. Arrays passed in or read from outside
  the function are not changed in the caller's memory. A traced integer
  index, or a traced mask with an array of values, is refused with the
  `np.where` form to use; writing a traced value into a NumPy array (made
  with `np.zeros`) is refused with `np.zeros_like(x)` as the way out.
- **Numbers taken out of a trace**: `int()`, `bool()` and indices are
  guarded (re-checked on every call); `float()`, `.item()` and `math`
  functions are guarded too, and allowed where the number only steers
  control flow; where it flows into the result the derivative would miss a
  term, so that is an error naming the line.
- **cholesky**, **eigh** and **eigvalsh** read one triangle of their input,
  as NumPy does, so the gradient lives on that triangle; `det`, `slogdet`
  and `inv` need an invertible matrix; the np.linalg routines take stacks of
  matrices.
- **Decompositions** (`svd`, `eigh`, `qr`): singular values and eigenvalues
  are always differentiated (at repeated ones, along the symmetric
  functions of them); U, V and eigenvectors only where the spectrum is
  distinct (and, for the vectors of a non-square SVD, nonzero): elsewhere
  the kernel raises `ValueError`, checked on every call. Losses should not
  depend on the sign of a singular vector or eigenvector (LAPACK's choice).
  The extra columns of a non-square `svd(full_matrices=True)` U (rows of
  Vh) are not unique: using them in a derivative is an error. `qr` is the
  reduced QR of a matrix with m >= n and full column rank; `lstsq` and
  `pinv` (built from QR) need full rank, which the kernel checks.
- **Matrix norms** `'nuc'`, `2`, `-2` and `cond` go through the singular
  values; `matrix_power` is repeated squaring (negative powers of `inv`).
- **argmax/argmin** are supported as integer outputs without a derivative.
- **scipy.special** ufuncs are primitives whose kernels call SciPy's own
  compiled scalar functions (the same values as SciPy); `xlogy(0, y)` and
  `xlog1py(0, y)` are exactly 0 for every y, with derivative 0 in y there.
  SciPy's Python functions (`logsumexp`, `softmax`, `polygamma`,
  `scipy.stats`) call `np.asarray` first: use the `jitad.scipy` drop-ins.
- **np.array, np.asarray, np.asanyarray, np.ascontiguousarray** of lists and
  tuples holding traced values (nested, mixed with numbers and NumPy arrays;
  `dtype=`, `ndmin=`), and `np.r_`, `np.c_`: recorded as a concatenation
  and a reshape (NumPy does not dispatch them, so while a trace records,
  jitad puts wrappers in their place in the `numpy` module; a name bound by
  `from numpy import array` is NumPy's own and is refused with that advice).
  `np.array(x)` of a traced array is a copy, `np.asarray(x)` the same array.
- **Scalar casts**: `np.float64(x)` and `np.float32(x)` of a traced value
  are traced casts (the derivative flows, as through `x * 1.0`);
  `np.int64(x)` (and the other integer types) take the integer out of the
  trace with a guard, exactly as `int(x)`.
- **np.sort/np.argsort** sort when the kernel runs, on the values of that
  call (stable: ties keep their order); the derivative of np.sort is the
  gather by the permutation, argsort has none.
- **np.pad** and **np.gradient** take NumPy's own indices and coefficients
  (computed on constants), so edges, large reflections and uneven spacing
  are NumPy's; np.pad supports the modes constant (numbers or a traced
  number), edge, reflect, symmetric and wrap.
"""


def _table(rows, header) -> list:
    lines = [f"| {header} | modes | primitives | notes |", "|---|---|---|---|"]
    lines += [f"| `{r.name}` | {r.modes} | {r.primitives} | {r.note} |" for r in rows]
    return lines


def markdown() -> str:
    """The whole coverage document."""
    lines = [_PREAMBLE]
    rows = function_rows()
    for family in dict.fromkeys(r.family for r in rows):
        lines += [f"## {family}", ""] + _table([r for r in rows if r.family == family],
                                                "NumPy") + [""]
    rows = scipy_rows()
    lines += ["## scipy.special", "", "SciPy's ufuncs work on traced values as they are "
              "(`scipy.special.gammaln(x)`).", ""]
    lines += _table([r for r in rows if r.family == "scipy.special"], "SciPy") + [""]
    lines += ["## jitad.scipy", "", "Drop-ins, with SciPy's signatures, for the SciPy "
              "functions that call `np.asarray` on their input (which a traced value "
              "refuses; the error names the drop-in).", ""]
    lines += _table([r for r in rows if r.family == "jitad.scipy"], "function") + [""]
    lines += ["## methods and operators", ""] + _table(method_rows(), "syntax") + [""]
    lines += ["## refused on purpose", "", "| NumPy | why, and what to use instead |",
              "|---|---|"]
    lines += [f"| `{public_name(f)}` | {why} |" for f, why in api.UNSUPPORTED.items()]
    lines += ["", "## primitives", "", "| primitive | kind | derivative rules | lowering |",
              "|---|---|---|---|"]
    # variadic primitives (concatenate, custom_vjp_call) exist per arity: one row each
    for prim in sorted({p.name: p for p in PRIMITIVES}.values(), key=lambda p: p.name):
        rules = ", ".join(mode for mode, table in (("jvp", prim.jvps), ("vjp", prim.vjps))
                          if any(rule is not None for rule in table)) or "-"
        if prim.multiple_results:
            # one rule for all inputs at once, built from the body graph
            rules = ", ".join(mode for mode, rule in (("jvp", prim.jvp_all),
                                                      ("vjp", prim.vjp_all)) if rule) or "-"
        lines.append(f"| `{prim.name}` | {prim.kind} | {rules} | {_lowering_kind(prim)} |")
    return "\n".join(lines) + "\n"


def _lowering_kind(prim) -> str:
    lowering = lowering_of(prim)
    if lowering is None:
        return "its operand (forwards it)"
    if isinstance(lowering, (Elementwise, Indexed)):
        return "fused loop"
    if isinstance(lowering, Loop):
        return "for loop calling the compiled body"
    return "fused reduction" if isinstance(lowering, Accumulate) else "statement"


def main(argv=None) -> None:
    text = markdown()
    if "--write" in (argv if argv is not None else sys.argv[1:]):
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text)
        print(f"wrote {DOC}")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
