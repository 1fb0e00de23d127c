"""A table of programs a user could write wrongly, each with the error it
must raise: its type and a pattern over the message that names the operation
and says what to do instead.

What is asserted, and why:

- The error is a ``TypeError`` or ``ValueError`` (or one of jitad's subclasses
  of them, ``jitad.errors.TraceError``), never an internal type that says
  nothing to the user: no ``KeyError``, ``AttributeError``, ``AssertionError``,
  bare ``NotImplementedError`` or numba error (each of those reached users
  before: ``x.astype(np.float16)`` raised numba's ``NotImplementedError:
  float16``, ``np.cumsum(x, dtype=object)`` an ``AttributeError``, ``x +
  None`` a ``float()`` error from the code generator, a jvp tangent of the
  wrong shape returned uninitialised memory).
- Indexing errors are ``IndexError``, as NumPy raises for the same index on a
  plain array: an index out of bounds or an array of floats used as an index
  is the error Python's sequence protocol and user code (``except
  IndexError``) expect, traced or not.
- Plainly wrong NumPy code (shapes that do not broadcast, a matmul of
  unaligned shapes, a reshape to another size, a call with the wrong number
  of arguments) may raise NumPy's or Python's own ``ValueError``/``TypeError``
  as long as the message says what is wrong: jitad's tracer does what NumPy
  would, and the traceback points at the user's line.
- Each program runs through ``jitad.grad`` and, where the transform applies
  (a scalar function for ``hessian``, any for ``jacfwd``/``jvp``), through the
  others too: every transform traces the same way, so the same mistake must
  give the same error in each.
- Programs that look wrong but are allowed are in ``ALLOWED`` with the value
  jitad gives and why it is right (``if x > 0`` on a traced scalar is a
  guard; ``int(x)`` is piecewise constant; writing into an argument array is
  a functional update of the traced copy).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import pytest

import jitad
from jitad.errors import TraceError

V = np.array([1.0, 2.0, 3.0])
M = np.ones((2, 3))


@dataclasses.dataclass(frozen=True)
class Bad:
    """``f(*args)`` under each of ``transforms`` raises ``error`` matching ``match``."""
    name: str
    f: Callable
    args: tuple
    error: type
    match: str
    transforms: tuple = ("grad",)


def _run(transform, f, args):
    if transform == "grad":
        return jitad.grad(f)(*args)
    if transform == "jacfwd":
        return jitad.jacfwd(f)(*args)
    if transform == "hessian":
        return jitad.hessian(f)(*args)
    if transform == "jvp":
        return jitad.jvp(f, args, tuple(np.ones_like(a) for a in args))
    if transform == "call":  # f is a thunk that misuses the API itself
        return f()
    raise AssertionError(transform)


# -------------------------------------------------------------- bad programs

def write_traced_into_numpy(x):
    y = np.zeros(3)
    y[0] = x[0]
    return np.sum(y)


def write_traced_slice_into_numpy(x):
    y = np.zeros(3)
    y[:2] = x[:2]
    return np.sum(y)


def sort_in_place(x):
    x.sort()
    return np.sum(x * V)


def ufunc_out(x):
    out = np.empty(3)
    np.sin(x, out=out)
    return np.sum(out)


def reduction_out(x):
    out = np.empty(())
    return np.sum(x, out=out)


def _custom(bwd, name="rule"):
    @jitad.custom_vjp
    def f(x):
        return np.sin(x)
    bwd.__name__ = name
    f.defvjp(lambda x: (np.sin(x), x), bwd)
    return f


wrong_shape_rule = _custom(lambda x, g: (np.ones(4),), "wrong_shape_bwd")
not_a_tuple_rule = _custom(lambda x, g: g * np.cos(x))
two_cotangents_rule = _custom(lambda x, g: (g, g))


@jitad.custom_vjp
def without_rule(x):
    return np.sin(x)


def _leaked_tracer():
    leaked = []

    def keep(x):
        leaked.append(x)
        return x * 2.0
    jitad.grad(keep)(1.0)
    return leaked[0]


TRACED = ("grad", "jacfwd", "jvp")  # every transform that traces f
SCALAR = ("grad", "jacfwd", "jvp", "hessian")  # and f returns a scalar

BAD_PROGRAMS = [
    # the API used wrongly
    Bad("argnums out of range", lambda: jitad.grad(lambda x: x, argnums=3)(1.0), (),
        ValueError, r"argnums 3 is out of range for 1 arguments", ("call",)),
    Bad("negative argnums out of range", lambda: jitad.grad(lambda x: x, argnums=-5)(1.0), (),
        ValueError, r"argnums -5 is out of range", ("call",)),
    Bad("argnums by name", lambda: jitad.grad(lambda x: x, argnums="x")(1.0), (),
        TypeError, r"argnums must be an int or a tuple of ints.*got 'x'", ("call",)),
    Bad("grad of a vector output", lambda x: np.sin(x), (V,),
        TypeError, r"scalar output, got an array of shape \(3,\); use jitad\.jacobian",
        ("grad", "hessian")),
    Bad("grad of a tuple output", lambda x: (x, x), (1.0,),
        TypeError, r"one scalar.*container of 2 values; use jitad\.jacobian", ("grad", "hessian")),
    Bad("grad of a string output", lambda x: "loss", (1.0,),
        TypeError, r"floating-point output, got dtype <U4", ("grad",)),
    Bad("grad of a function returning None", lambda x: None, (1.0,),
        TypeError, r"floating-point output, got a non-numeric value \(None\?\)", ("grad",)),
    Bad("grad of a Python int", lambda x: x * 2.0, (2,),
        TypeError, r"argument 0 is a Python int.*pass a float \(2\.0, not 2\)", SCALAR),
    Bad("grad of a bool", lambda x: x * 2.0, (True,),
        TypeError, r"Python bool.*does not differentiate integers or booleans", ("grad",)),
    Bad("grad of an int array", lambda x: np.sum(x * 2.0), (np.arange(3),),
        TypeError, r"dtype int64; jitad differentiates float64 and float32.*\.astype\(float\)",
        SCALAR),
    Bad("grad of a bool array", lambda x: np.sum(x * 2.0), (np.ones(3, bool),),
        TypeError, r"dtype bool; jitad differentiates float64 and float32.*\.astype\(float\)"),
    Bad("grad of a list of ints", lambda x: np.sum(np.asarray(x) * 2.0), ([1, 2, 3],),
        TypeError, r"Python int \(1\).*pass a float", ("grad", "jacfwd")),
    Bad("grad of a string", lambda x: 1.0, ("abc",),
        TypeError, r"argument 0 is a str \('abc'\), which has no derivative.*outside argnums"),
    Bad("grad of None", lambda x: 1.0, (None,),
        TypeError, r"argument 0 is a NoneType \(None\), which has no derivative"),
    Bad("grad of a dict holding a string", lambda d: d["a"] * 2.0, ({"a": 1.0, "b": "s"},),
        TypeError, r"argument 0 is a str \('s'\), which has no derivative"),
    Bad("grad of a set", lambda x: 1.0, ({1.0},),
        TypeError, r"cannot take an argument of type set; pass floats, NumPy arrays"),
    Bad("grad of a complex number", lambda x: np.real(x), (1.0 + 2.0j,),
        TypeError, r"cannot take an argument of type complex"),
    Bad("grad of a complex array", lambda x: np.sum(np.real(x)), (np.ones(3, complex),),
        TraceError, r"complex array of shape \(3,\).*real and imaginary parts as two real arrays"),
    Bad("grad of a float16 array", lambda x: np.sum(x * x), (np.ones(3, np.float16),),
        TypeError, r"argument 'x' has dtype float16.*\.astype\(np\.float64\)", SCALAR),
    Bad("grad of a long double array", lambda x: np.sum(x * x), (np.ones(3, np.longdouble),),
        TypeError, r"dtype float128.*float32 and float64.*\.astype\(np\.float64\)"),
    Bad("grad of an object array", lambda x: np.sum(x * x), (np.ones(3, object),),
        TypeError, r"dtype object.*not numeric to jitad.*np\.asarray\(x, dtype=float\)"),
    Bad("jvp with primals not in a tuple", lambda: jitad.jvp(np.sin, V, V), (),
        TypeError, r"jvp: primals and tangents must be tuples.*jvp\(f, \(x,\), \(v,\)\)",
        ("call",)),
    Bad("jvp with a tangent of another shape", lambda: jitad.jvp(np.sin, (V,), (np.ones(2),)),
        (), ValueError, r"jvp: the tangent 0 has shape \(2,\), but the primal has shape \(3,\)",
        ("call",)),
    Bad("vjp with a cotangent of another shape",
        lambda: jitad.vjp(np.sin, V)[1](np.ones(2)), (),
        ValueError, r"vjp: the cotangent 0 has shape \(2,\), but the output has shape \(3,\)",
        ("call",)),
    Bad("jacobian with an unknown mode", lambda: jitad.jacobian(np.sin, mode="bwd")(V), (),
        ValueError, r"mode must be 'fwd', 'rev' or 'auto', not 'bwd'", ("call",)),
    Bad("a tracer leaked from a finished trace",
        lambda: (lambda t: jitad.grad(lambda y: y * t)(1.0))(_leaked_tracer()), (),
        TraceError, r"escaped from a finished trace.*pass it as an argument", ("call",)),

    # values leaving the trace
    Bad("writing a traced value into a NumPy array", write_traced_into_numpy, (V,),
        TraceError, r"written into a NumPy array \(y\[\.\.\.\] = x at .*test_bad_programs\.py:"
                    r"\d+\).*np\.zeros_like\(x\).*np\.stack", SCALAR),
    Bad("writing a traced slice into a NumPy array", write_traced_slice_into_numpy, (V,),
        TraceError, r"traced value of shape \(2,\) is written into a NumPy array \(y\[\.\.\.\] = x "
                    r"at .*test_bad_programs\.py:\d+\).*np\.zeros_like\(x\)", SCALAR),
    Bad("float() flowing into the result", lambda x: float(x) * 2.0, (1.0,),
        TypeError, r"float\(\) of a traced value .* at .*test_bad_programs\.py:\d+, flows into "
                   r"the result.*jitad\.stop_gradient", ("grad", "hessian")),
    Bad(".item() flowing into the result", lambda x: x.item() * 2.0, (1.0,),
        TypeError, r"\.item\(\) of a traced value .* flows into the result", ("grad",)),
    Bad("complex() of a traced value", lambda x: complex(x).real * 2.0, (1.0,),
        TraceError, r"complex\(\) of a traced value: jitad differentiates real code", SCALAR),
    Bad("math.exp on a traced value", lambda x: math.exp(x), (1.0,),
        TypeError, r"flows into the result.*np\.sin, not math\.sin", ("grad", "hessian")),
    Bad("math.sqrt of a traced sum", lambda x: math.sqrt(np.sum(x)), (V,),
        TypeError, r"flows into the result.*NumPy twin", ("grad",)),
    Bad("bool() of a traced array", lambda x: np.sum(x) if x else 0.0, (V,),
        ValueError, r"bool\(\) of a traced array of shape \(3,\).*np\.any / np\.all.*np\.where",
        SCALAR),
    Bad(".tolist() of a traced array", lambda x: sum(x.tolist()), (V,),
        TraceError, r"\.tolist\(\) of a traced array: use NumPy operations", SCALAR),
    Bad("a list of traced arrays given to NumPy", lambda x: np.sum([x, x]), (V,),
        TraceError, r"cannot turn a traced value into a NumPy array.*np\.array\(\.\.\.\)"),
    Bad("np.array(..., dtype=object) of traced values",
        lambda x: np.sum(np.asarray(x, dtype=object)), (V,),
        TraceError, r"dtype=object.*leave out dtype=object", SCALAR),

    # NumPy functions and keywords jitad does not record
    Bad("np.partition", lambda x: np.sum(np.partition(x, 1)), (V,),
        TypeError, r"np\.partition on traced values.*np\.sort", SCALAR),
    Bad("np.unique", lambda x: np.sum(np.unique(x)), (V,),
        TypeError, r"np\.unique on traced values.*depends on the values.*np\.where", SCALAR),
    Bad("np.linalg.eig", lambda x: np.sum(np.linalg.eig(np.outer(x, x))[0]), (V,),
        TypeError, r"np\.linalg\.eig on traced values.*np\.linalg\.eigh", SCALAR),
    Bad("np.fft.fft", lambda x: np.sum(np.abs(np.fft.fft(x))), (V,),
        TypeError, r"np\.fft\.fft on traced values.*matrix product with a DFT matrix"),
    Bad("np.histogram", lambda x: np.sum(np.histogram(x)[0]), (V,),
        TraceError, r"np\.histogram on traced values.*coverage table"),
    Bad("np.apply_along_axis", lambda x: np.sum(np.apply_along_axis(np.sum, 0, x)), (V,),
        TraceError, r"np\.apply_along_axis on traced values"),
    Bad("a scipy.special function jitad does not record",
        lambda x: __import__("scipy.special").special.wofz(x).real, (1.0,),
        TraceError, r"'wofz' is not NumPy's.*write it with NumPy functions"),
    Bad("x.sort() in place", sort_in_place, (V,),
        TraceError, r"x\.sort on a traced array.*x = np\.sort\(x\)", SCALAR),
    Bad("x.view of a traced array", lambda x: np.sum(x.view(np.int64)), (V,),
        AttributeError, r"x\.view on a traced array: jitad does not record ndarray\.view"),
    Bad("np.clip with out=", lambda x: np.sum(np.clip(x, 0, 1, out=np.empty(3))), (V,),
        TypeError, r"np\.clip: out= and ufunc keywords are not supported"),
    Bad("np.spacing", lambda x: np.sum(np.spacing(x)), (V,), TypeError, r"np\.spacing"),
    Bad("a ufunc with out=", ufunc_out, (V,),
        TraceError, r"out= names a NumPy array.*use the returned value.*np\.zeros_like\(x\)",
        SCALAR),
    Bad("a ufunc with where=", lambda x: np.sum(np.sin(x, where=x > 0)), (V,),
        TraceError, r"sin: .*\['where'\].*np\.where\(mask, result, other\)", SCALAR),
    Bad("np.sum with out=", reduction_out, (V,),
        TypeError, r"np\.sum: the keyword\(s\) \['out'\].*use the returned value", SCALAR),
    Bad("np.mean with where=", lambda x: np.mean(x, where=x > 0), (V,),
        TypeError, r"np\.mean: .*\['where'\].*np\.where\(mask, x, 0\.0\)", SCALAR),
    Bad("np.cumsum with dtype=object", lambda x: np.sum(np.cumsum(x, dtype=object)), (V,),
        TraceError, r"dtype=object on a traced value.*bool, integers, float32 and float64",
        SCALAR),
    Bad("astype(np.float16)", lambda x: np.sum(x.astype(np.float16)), (V,),
        TraceError, r"conversion to float16 on a traced value.*np\.float64", SCALAR),
    Bad("astype(np.longdouble)", lambda x: np.sum(x.astype(np.longdouble)), (V,),
        TraceError, r"conversion to float128 on a traced value"),
    Bad("a complex constant", lambda x: np.real(np.sum(x * 1j)), (V,),
        TraceError, r"complex number 1j met a traced value.*two real arrays", SCALAR),
    Bad("a long double constant", lambda x: np.sum(x * np.ones(3, np.longdouble)), (V,),
        TraceError, r"a float128 constant met a traced value.*np\.float64", SCALAR),
    Bad("a string array as an operand", lambda x: np.sum(x * np.array(["a", "b", "c"])), (V,),
        TraceError, r"cannot compute with array\(\['a', 'b', 'c'\].*numbers or numeric arrays"),
    Bad("None as an operand", lambda x: x + None, (1.0,),
        TraceError, r"cannot compute with None \(a NoneType\) and a traced value", SCALAR),

    # shapes and indices
    Bad("len() of a traced scalar", lambda x: len(x), (1.0,),
        TypeError, r"len\(\) of a 0-d traced array.*a scalar has no length", SCALAR),
    Bad("iterating over a traced scalar", lambda x: sum(a for a in x), (1.0,),
        TypeError, r"len\(\) of a 0-d traced array \(iterating over it", SCALAR),
    Bad("a traced value as a shape", lambda x: np.sum(x.reshape(x[0])), (V,),
        TypeError, r"0-d traced array.*using it as a shape.*Python int", SCALAR),
    Bad("matmul of scalars", lambda x: x @ x, (1.0,),
        ValueError, r"matmul: operands must have at least one dimension.*use \* to multiply",
        SCALAR),
    Bad("a reshape to another size", lambda x: np.sum(x.reshape(4)), (V,),
        ValueError, r"cannot reshape an array of shape \(3,\) \(size 3\) into shape \(4,\)",
        SCALAR),
    Bad("a matmul of unaligned shapes", lambda x: np.sum(M @ x[:2]), (V,),
        ValueError, r"dot: shapes \(2, 3\) and \(2,\) not aligned", SCALAR),
    Bad("shapes that do not broadcast", lambda x: np.sum(x + np.ones(2)), (V,),
        ValueError, r"shape \(3,\) and arg 1 with shape \(2,\)", SCALAR),
    Bad("np.stack of different shapes", lambda x: np.sum(np.stack([x, x[:2]])), (V,),
        ValueError, r"concatenate: shapes \[\(1, 3\), \(1, 2\)\] differ"),
    Bad("np.split into unequal parts", lambda x: np.sum(np.split(x, 2)[0]), (V,),
        ValueError, r"np\.split: .*equal division \(np\.array_split allows unequal parts\)"),
    Bad("np.concatenate of a scalar", lambda x: np.sum(np.concatenate([x, 1.0])), (V,),
        ValueError, r"np\.concatenate: zero-dimensional arrays cannot be concatenated"),
    Bad("a reduction over an axis out of range", lambda x: np.sum(x, axis=1), (V,),
        ValueError, r"axis 1 is out of bounds for an array of dimension 1", SCALAR),
    Bad("np.linalg.inv of a vector", lambda x: np.sum(np.linalg.inv(x)), (V,),
        ValueError, r"np\.linalg\.inv: expected \(a stack of\) matrices, got an array of shape"),
    Bad("a concatenate of different ranks", lambda x: np.sum(np.concatenate([x, M])), (V,),
        ValueError, r"concatenate: shapes \[\(3,\), \(2, 3\)\] differ off axis 0", SCALAR),
    Bad("an einsum of mismatched sizes",
        lambda x: np.sum(np.einsum("ij,jk->ik", M, x.reshape(1, 3))), (V,),
        ValueError, r"np\.einsum: letter 'j' has sizes 3 and 1", SCALAR),
    Bad("np.linalg.inv of a non-square matrix",
        lambda x: np.sum(np.linalg.inv(np.outer(x, x[:2]))), (V,),
        ValueError, r"np\.linalg\.inv: expected a \(stack of\) square matrices, got shape \(3, 2\)",
        SCALAR),
    Bad("np.linalg.det of a non-square matrix", lambda x: np.linalg.det(np.outer(x, x[:2])),
        (V,), ValueError, r"np\.linalg\.det: expected a \(stack of\) square matrices", SCALAR),
    Bad("np.linalg.solve with a non-square matrix",
        lambda x: np.sum(np.linalg.solve(np.outer(x, x[:2]), x)), (V,),
        ValueError, r"np\.linalg\.solve: expected a \(stack of\) square matrices"),
    Bad("an index out of bounds", lambda x: x[5], (V,),
        IndexError, r"index 5 is out of bounds for axis of size 3", TRACED),
    Bad("a negative index out of bounds", lambda x: x[-4], (V,),
        IndexError, r"index -4 is out of bounds"),
    Bad("a traced index out of bounds", lambda x: np.sum(np.take(x, x.astype(int))), (V,),
        IndexError, r"index 3 is out of bounds for axis 0 with size 3"),
    Bad("a float array as an index", lambda x: x[np.argmax(x) * 1.0], (V,),
        IndexError, r"arrays used as indices must be integers or booleans, got a traced float64"),
    Bad("a traced boolean mask as an index", lambda x: np.sum(x[x > 1.5]), (V,),
        TypeError, r"traced boolean mask.*shape would depend on the mask's values.*"
                   r"np\.where\(mask, x, 0\.0\)", SCALAR),

    # jitad.loop, vmap, custom_vjp
    Bad("a loop body taking one argument",
        lambda x: jitad.loop(lambda c: c * 2.0, 3, x), (1.0,),
        TypeError, r"takes 1 positional argument but 2 were given", SCALAR),
    Bad("a loop body changing the carry's shape",
        lambda x: np.sum(jitad.loop(lambda i, c: np.concatenate([c, c]), 3, x)), (V,),
        ValueError, r"scan: the body returns a carry of \[\(\(6,\).*not the \[\(\(3,\)",
        SCALAR),
    Bad("a loop body changing the carry's structure",
        lambda x: jitad.loop(lambda i, c: (c, c), 3, x)[0], (1.0,),
        TypeError, r"jitad\.loop: the body returns a carry of structure"),
    Bad("a loop body branching on the carry",
        lambda x: jitad.loop(lambda i, c: c * 2.0 if c > 0 else c, 3, x), (1.0,),
        TraceError, r"jitad\.loop: the body takes a Python value out of a traced one.*np\.where",
        SCALAR),
    Bad("vmap in_axes of the wrong length",
        lambda x: np.sum(jitad.vmap(lambda a: a * 2.0, in_axes=(0, 0))(x)), (V,),
        ValueError, r"vmap: in_axes must be an int, None, or one entry per argument \(1\)",
        SCALAR),
    Bad("vmap in_axes past the rank",
        lambda x: np.sum(jitad.vmap(lambda a: a * 2.0, in_axes=2)(x)), (V,),
        ValueError, r"vmap: in_axes=2 for an argument leaf of shape \(3,\)", SCALAR),
    Bad("vmap over batches of different sizes",
        lambda x: np.sum(jitad.vmap(lambda a, b: a * b)(x, np.ones(4))), (V,),
        ValueError, r"vmap: the batched arguments disagree on the batch size: \[3, 4\]", SCALAR),
    Bad("custom_vjp rule of the wrong shape", lambda x: np.sum(wrong_shape_rule(x)), (V,),
        ValueError, r"custom_vjp: wrong_shape_bwd returned a cotangent of shape \(4,\) for "
                    r"input 0, which has shape \(3,\)", ("grad", "hessian")),
    Bad("custom_vjp rule returning a bare array", lambda x: np.sum(not_a_tuple_rule(x)), (V,),
        TypeError, r"custom_vjp: bwd must return a tuple with one cotangent per input \(1\), "
                   r"got Tracer", ("grad", "hessian")),
    Bad("custom_vjp rule returning two cotangents for one input",
        lambda x: np.sum(two_cotangents_rule(x)), (V,),
        TypeError, r"one cotangent per input \(1\), got tuple", ("grad",)),
    Bad("custom_vjp without defvjp", lambda x: np.sum(without_rule(x)), (V,),
        TypeError, r"without_rule has no rule: call without_rule\.defvjp\(fwd, bwd\) first",
        SCALAR),

    # jitad.fd and check_grad
    Bad("fd.grad with an unknown method",
        lambda: jitad.fd.grad(lambda x: np.sum(x), V, method="backward"), (),
        ValueError, r"method must be one of \('forward', 'central', 'complex', 'richardson'\)",
        ("call",)),
    Bad("fd.grad of a vector output", lambda: jitad.fd.grad(np.sin, V), (),
        TypeError, r"scalar, got an output of shape \(3,\); use jacobian", ("call",)),
    Bad("fd.grad of an integer argument", lambda: jitad.fd.grad(lambda x: x * 2.0, 2), (),
        TypeError, r"args\[0\] has dtype int64: integer arguments are not differentiated",
        ("call",)),
    Bad("fd.grad with argnums out of range",
        lambda: jitad.fd.grad(lambda x: x * 2.0, 2.0, argnums=2), (),
        ValueError, r"argnums 2 out of range for 1 positional arguments", ("call",)),
    Bad("check_grad of a vector output", lambda: jitad.check_grad(np.sin, V), (),
        TypeError, r"scalar output, got an array of shape \(3,\)", ("call",)),
]

CASES = [pytest.param(bad, transform, id=f"{bad.name} [{transform}]")
         for bad in BAD_PROGRAMS for transform in bad.transforms]


def test_the_table_is_large_and_its_names_distinct():
    names = [bad.name for bad in BAD_PROGRAMS]
    assert len(set(names)) == len(names) >= 40


@pytest.mark.parametrize("bad, transform", CASES)
def test_a_bad_program_raises_a_typed_error_that_says_what_to_do(bad, transform):
    with pytest.raises(bad.error, match=bad.match) as caught:
        _run(transform, bad.f, bad.args)
    assert isinstance(caught.value, (TypeError, ValueError, IndexError)), type(caught.value)
    assert not isinstance(caught.value, (KeyError, AssertionError))


# ------------------------------------------ programs that look wrong but are fine

def write_into_an_argument(x):
    x[0] = 1.0  # a functional update of the traced copy: the caller's array is untouched
    return np.sum(x * x)


ALLOWED = [
    # (name, f, args, gradient, why)
    ("if on a traced scalar", lambda x: x * 2.0 if x > 0 else x * 3.0, (1.0,), 2.0,
     "a guard: the kernel checks the branch and re-traces when it changes"),
    ("int() of a traced scalar", lambda x: x * int(x), (1.5,), 1.0,
     "int() is piecewise constant, so the path's derivative is int(x)"),
    ("a write into an argument array", write_into_an_argument, (V.copy(),),
     np.array([0.0, 4.0, 6.0]), "x[0] no longer depends on the input"),
    ("a traced loop count", lambda x: jitad.loop(lambda i, c: c * 2.0, x, x), (3.0,), 8.0,
     "the count is guarded; the derivative of x * 2**3"),
    ("a float16 scalar constant", lambda x: np.sum(x * np.float16(2.0)), (V,),
     np.array([2.0, 2.0, 2.0]), "promotes to x's dtype, as in NumPy (numba has no float16 "
     "scalars: jitad records it as float32, exactly)"),
    ("a traced value turned into a size", lambda x: np.sum(np.zeros(int(x[0]) + 2) + x[0]),
     (V,), np.array([3.0, 0.0, 0.0]), "int() is guarded; the size is then a constant"),
]


@pytest.mark.parametrize("name, f, args, expected, why", ALLOWED, ids=[a[0] for a in ALLOWED])
def test_programs_that_look_wrong_but_are_allowed(name, f, args, expected, why):
    np.testing.assert_allclose(jitad.grad(f)(*args), expected, rtol=1e-14)
