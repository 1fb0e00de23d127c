"""Random small NumPy programs (tests/programs.py), each compiled by jitad and
checked five ways:

1. the value of ``jitad.jit(f)`` against NumPy running ``f``;
2. ``jitad.grad(f)`` along a random direction against the complex step
   (where every statement is analytic) or central differences;
3. forward against reverse: ``jitad.jvp`` against the gradient's projection;
4. ``jitad.hessian(f)``: symmetric, and its product with a direction against
   central differences of jitad's gradient;
5. a second call of the same compiled functions at new values of the same
   shapes (a cache hit, or a re-trace where a guard fails).

The default run checks 12 fixed programs. Hunt with more:
``python -m pytest tests/test_random_programs.py --fuzz-programs 500``
(``--fuzz-seed S`` starts from another seed). A failure prints the smallest
prefix of the program that still fails, as source you can paste.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import jitad

from .derivatives import directional, tolerance
from .programs import Generator, Program

LENGTH = 6


def pytest_generate_tests(metafunc):
    if "program_seed" in metafunc.fixturenames:
        first = metafunc.config.getoption("fuzz_seed")
        count = metafunc.config.getoption("fuzz_programs")
        metafunc.parametrize("program_seed", range(first, first + count))


def _close(got, want, rtol, what, scale=None):
    got, want = np.asarray(got, float), np.asarray(want, float)
    scale = 1.0 + (np.max(np.abs(want), initial=0.0) if scale is None else scale)
    error = np.max(np.abs(got - want), initial=0.0)
    assert error <= rtol * scale, f"{what}: jitad {got!r}, expected {want!r} (error {error:.3g})"


def check(program: Program, k: int, seed: int):
    """The five checks on the program that ends at statement k."""
    f = program.function(k)
    rng = np.random.default_rng(seed)
    jit_f, grad_f, hess_f = jitad.jit(f), jitad.grad(f), jitad.hessian(f)
    method = "complex" if program.analytic(k) else "central"
    for call in ("first", "second"):
        x = rng.uniform(-1.0, 1.0, program.input_shape)
        direction = rng.standard_normal(program.input_shape)
        _close(jit_f(x), f(x), 1e-12, f"{call} call, value")

        g = np.asarray(grad_f(x))
        assert g.shape == np.shape(x) and g.dtype == np.float64, (g.shape, g.dtype)
        projected = np.sum(g * direction)
        terms = float(np.sum(np.abs(g * direction)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            reference = float(directional(f, [x], [direction], method))
        _close(projected, reference, tolerance(method, abs(float(f(x)))),
               f"{call} call, gradient by {method} differences", scale=terms)

        _, tangent = jitad.jvp(f, (x,), (direction,))
        _close(tangent, projected, 1e-12, f"{call} call, forward against reverse", scale=terms)

        h = np.asarray(hess_f(x)).reshape(g.size, g.size)
        _close(h, h.T, 1e-12, f"{call} call, Hessian symmetry")
        step = np.finfo(float).eps ** (1 / 3)
        by_differences = (np.asarray(grad_f(x + step * direction))
                          - np.asarray(grad_f(x - step * direction))) / (2 * step)
        _close(h @ direction.ravel(), by_differences.ravel(), 1e-6,
               f"{call} call, Hessian against differences of the gradient")


def smallest_failing(program: Program, seed: int) -> tuple[str, str]:
    """The first statement k at which the program fails, and the failure."""
    for k in range(len(program.statements)):
        try:
            check(program, k, seed)
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            return program.source(k), f"{type(error).__name__}: {error}"
    return program.source(), "failed once, passed when re-run (nondeterministic?)"


def test_random_program(program_seed):
    program = Generator(program_seed).program(LENGTH)
    try:
        check(program, len(program.statements) - 1, program_seed)
    except Exception:  # noqa: BLE001 - minimised and reported below
        source, failure = smallest_failing(program, program_seed)
        pytest.fail(f"random program {program_seed} (input shape {program.input_shape}) "
                    f"fails:\n{source}\n{failure}", pytrace=False)


def test_generator_draws_every_kind_of_statement():
    """The default programs exercise every statement kind, and the generator is
    deterministic, so the default run is the same test every time."""
    kinds = {s.kind for seed in range(60) for s in Generator(seed).program(LENGTH).statements}
    assert kinds == {"unary", "binary", "reduction", "where", "matmul", "gram", "slicing",
                     "fancy", "reshaping", "joining", "inplace", "branch", "integer_index",
                     "loop"}
    assert Generator(3).program().statements == Generator(3).program().statements


def test_programs_run_in_numpy():
    """Every drawn program is valid NumPy, with the shape the generator says."""
    for seed in range(200):
        program = Generator(seed).program(LENGTH)
        x = np.random.default_rng(seed).uniform(-1.0, 1.0, program.input_shape)
        scope = {"np": np, "x": x}
        for s in program.statements:
            exec("\n".join(s.lines), scope)
            assert np.shape(scope[s.name]) == s.shape, (seed, s)
        assert np.isfinite(program.function()(x))
