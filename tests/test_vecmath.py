"""vecmath: the accuracy contract, special values, vectorisation, the fast-trig protocol.

The contract: every function within 2 float steps of the correctly rounded
result (float64, and float32 through the float64 path), NumPy's float64
results at special inputs, and a loop calling it vectorises (no calls left,
vector doubles) on this CPU and on an AVX2-only target. The sample checks
here draw 5,000 points per kind of input plus all edge cases; the full
10**6-point sweep runs with ``JITAD_FULL_SWEEP=1``.
"""
import json
import os
import subprocess
import sys

import mpmath
import numba
import numpy as np
import pytest

from jitad.backend.vecmath import (FAST_LIMIT, FAST_TRIG, FUNCTIONS, exp, needs_exact_trig, sin,
                                   sin_fast)
from jitad.backend.vecmath import accuracy, remez, roots, sweep
from jitad.backend.vecmath.trig import TWO_OVER_PI, TWO_OVER_PI_BITS
from jitad.backend.vecmath.vectorization import avx2_environment, inspect_loop, loop_for

CONTRACT = 2  # float steps from the correctly rounded result
NAMES = sorted(FUNCTIONS)
ARITY = {name: 2 if name in ("power", "arctan2") else 1 for name in NAMES}


def _check(reports, label):
    for r in reports:
        where = f"{label} {r.dtype} {r.kind}: worst input {r.worst_input}"
        assert r.special_mismatches == 0, f"{where}: {r.special_mismatches} special values differ from NumPy"
        assert r.max_distance <= CONTRACT, f"{where}: {r.max_distance} steps ({r.max_ulp:.3f} ulp)"


@pytest.mark.parametrize("name", NAMES)
def test_sample_accuracy(name):
    _check(sweep.run(name, points=5000), name)


@pytest.mark.parametrize("name", sorted(FAST_TRIG))
def test_fast_trig_accuracy_below_the_limit(name):
    _check(sweep.run(name, points=5000, fast=True), f"{name} fast")


@pytest.mark.parametrize("name", sorted(FAST_TRIG))
def test_fast_trig_is_nan_exactly_where_needs_exact_trig(name):
    x = np.array([np.nextafter(FAST_LIMIT, 0.0), FAST_LIMIT, -FAST_LIMIT, 1e300, np.inf, np.nan, 1.0])
    fast = accuracy.apply(FAST_TRIG[name], x)
    exact = accuracy.apply(FUNCTIONS[name], x)
    flagged = np.array([needs_exact_trig(v) for v in x])
    assert flagged.tolist() == [False, True, True, True, False, False, False]
    assert np.all(np.isnan(fast[flagged])) and not np.any(np.isnan(exact[flagged]))
    np.testing.assert_array_equal(fast[~flagged], exact[~flagged])


@numba.njit(error_model="numpy")
def _kernel_with_fix_up(v_0, v_1):
    """The protocol of docs/vecmath.md: fast loop, flag, exact rerun if flagged."""
    rerun = False
    for i0 in range(v_0.size):
        e_0 = v_0[i0]
        rerun |= needs_exact_trig(e_0)
        v_1[i0] = exp(sin_fast(e_0) * 2.0)
    if rerun:
        for i0 in range(v_0.size):
            v_1[i0] = exp(sin(v_0[i0]) * 2.0)
    return v_1


def test_fix_up_protocol_gives_the_exact_result_and_vectorises():
    x = np.random.default_rng(0).uniform(-10.0, 10.0, 1000)
    x[[3, 500]] = [1e300, -2.0 ** 40]
    got = _kernel_with_fix_up(x, np.empty_like(x))
    np.testing.assert_array_equal(got, accuracy.apply(exp, 2.0 * accuracy.apply(sin, x)))
    assert inspect_loop(_kernel_with_fix_up).vectorised


def _report_dict(name, fn):
    r = inspect_loop(loop_for(fn, ARITY.get(name, 1)))
    return {"vectorised": r.vectorised, "types": r.vector_types, "registers": r.registers,
            "calls": r.calls}


@pytest.mark.parametrize("name", NAMES + [f"{n}_fast" for n in sorted(FAST_TRIG)])
def test_loop_vectorises(name):
    fn = FAST_TRIG[name[:-5]] if name.endswith("_fast") else FUNCTIONS[name]
    report = _report_dict(name, fn)
    assert report["vectorised"], report
    assert set(report["registers"]) & {"ymm", "zmm"}, report


def test_loops_vectorise_for_avx2_only():
    """The same loops compiled for Haswell (AVX2 + FMA, no AVX-512): 4 lanes, no zmm."""
    script = (
        "import json\n"
        "from jitad.backend.vecmath import FUNCTIONS, FAST_TRIG\n"
        "from tests.test_vecmath import _report_dict\n"
        "fns = dict(FUNCTIONS, **{k + '_fast': v for k, v in FAST_TRIG.items()})\n"
        "print(json.dumps({name: _report_dict(name, fn) for name, fn in fns.items()}))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(avx2_environment(), PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True,
                         text=True, check=True, timeout=900)
    reports = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(reports) == set(FUNCTIONS) | {f"{n}_fast" for n in FAST_TRIG}
    for name, report in reports.items():
        assert report["vectorised"] and "<4 x double>" in report["types"], (name, report)
        assert "zmm" not in report["registers"], (name, report)


@pytest.mark.parametrize("name", ["sin", "log", "power", "tanh"])
def test_accurate_inside_a_fastmath_kernel(name):
    """A caller compiled with fastmath must not pass its flags to the functions."""
    fn = FUNCTIONS[name]
    if ARITY[name] == 2:
        @numba.njit(fastmath=True)
        def loop(x, y, out):
            for i in range(out.size):
                out[i] = fn(x[i], y[i]) * 1.0
    else:
        @numba.njit(fastmath=True)
        def loop(x, out):
            for i in range(out.size):
                out[i] = fn(x[i]) * 1.0
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(0.1, 10.0, 20000) for _ in range(ARITY[name])]
    out = np.empty_like(inputs[0])
    loop(*inputs, out)
    with np.errstate(all="ignore"):
        rounded = accuracy.reference_longdouble(name, *inputs).astype(np.float64)
    assert np.max(np.abs(accuracy.ordinal(out) - accuracy.ordinal(rounded))) <= CONTRACT


def test_measure_detects_an_error_beyond_the_contract():
    @numba.njit(error_model="numpy")
    def three_steps_high(x):
        return exp(x) * (1.0 + 6.0 * 2.0 ** -53)

    @numba.njit(error_model="numpy")
    def wrong_zero(x):
        return abs(x) + 1.0 if x == 0.0 else exp(x)

    x = np.linspace(-5.0, 5.0, 101)
    assert accuracy.measure("exp", x, fn=three_steps_high).max_distance >= 3
    assert accuracy.measure("expm1", np.array([-0.0, 1.0]), fn=wrong_zero).special_mismatches == 1


def test_two_over_pi_bits():
    with mpmath.workprec(TWO_OVER_PI_BITS + 64):
        expected = int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** TWO_OVER_PI_BITS))
    assert TWO_OVER_PI == expected


@pytest.mark.parametrize("name", ["sin", "exp", "log1p", "power", "arctan2", "cbrt"])
def test_long_double_reference_rounds_as_mpmath(name):
    """Where the bulk reference rounds differently from mpmath, measure rechecks it."""
    _, unflagged = sweep.reference_check(name, points=400)
    assert unflagged == 0


@pytest.mark.skipif(os.environ.get("JITAD_FULL_SWEEP") != "1",
                    reason="the 10**6-point sweep takes a few minutes: set JITAD_FULL_SWEEP=1")
@pytest.mark.parametrize("name", NAMES + [f"{n}_fast" for n in sorted(FAST_TRIG)])
def test_full_sweep(name):
    fast = name.endswith("_fast")
    _check(sweep.run(name[:-5] if fast else name, points=10**6, fast=fast), name)


def test_remez_reproduces_a_stored_table():
    target, (a, b), n = remez.TABLES["roots.CBRT_GUESS"]
    assert tuple(remez.fit(target, a, b, range(n))[0]) == roots.CBRT_GUESS


def test_float32_and_integer_arguments_are_computed_in_float64():
    vm_tanh, vm_power = FUNCTIONS["tanh"], FUNCTIONS["power"]

    @numba.njit(error_model="numpy")
    def float32_kernel(x, out):
        for i in range(x.size):
            out[i] = vm_tanh(x[i]) + vm_power(x[i], 2)  # float64, rounded when stored
        return out

    x = np.linspace(-3.0, 3.0, 101, dtype=np.float32)
    got = float32_kernel(x, np.empty_like(x))
    x64 = x.astype(np.float64)
    np.testing.assert_array_equal(got, (np.tanh(x64) + x64 ** 2).astype(np.float32))


def test_the_lowering_knows_every_vector_function_without_importing_them():
    import subprocess
    import sys
    from jitad.backend import lowering, vecmath
    assert lowering.VECTOR_FUNCTIONS == set(vecmath.FUNCTIONS)
    assert lowering.VECTOR_COMPOSITES == set(vecmath.COMPOSITES)
    loaded = subprocess.run([sys.executable, "-c", "import sys, jitad; "
                             "print('jitad.backend.vecmath' in sys.modules)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"


def test_logaddexp_has_numpys_accuracy_and_special_values():
    """NumPy's formula on vecmath's exp and log1p: within 2 ulp of
    max(|x|, |y|, |result|) of the exact value, as NumPy's is (near a result
    of 0, where both cancel, that is no bound relative to the result)."""
    mpmath = pytest.importorskip("mpmath")
    from jitad.backend.vecmath import logaddexp

    @numba.njit(error_model="numpy")
    def kernel(x, y, out):
        for i in range(x.size):
            out[i] = logaddexp(x[i], y[i])
        return out

    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(size=n) * rng.choice([1e-3, 1.0, 30.0, 800.0], n)
    y = rng.normal(size=n) * rng.choice([1e-3, 1.0, 30.0, 800.0], n)
    x[:1000], y[:1000] = -0.693 + rng.normal(size=(2, 1000)) * 0.01  # cancellation
    got = kernel(x, y, np.empty_like(x))
    with mpmath.workprec(120):
        exact = np.array([float(mpmath.log(mpmath.exp(mpmath.mpf(a)) + mpmath.exp(mpmath.mpf(b))))
                          for a, b in zip(x, y)])
    scale = np.spacing(np.maximum(np.maximum(np.abs(x), np.abs(y)), np.abs(exact)))
    assert np.max(np.abs(got - exact) / scale) <= 2.0
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e308, -1e308, 5e-324])
    a, b = (v.ravel() for v in np.meshgrid(special, special))
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(kernel(a, b, np.empty_like(a)), np.logaddexp(a, b))
