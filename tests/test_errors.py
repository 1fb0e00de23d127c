"""User mistakes raise typed errors that name the operation and the fix,
never a numba traceback and never a silently wrong number."""
from __future__ import annotations

import math

import numpy as np
import pytest

import jitad

numpy_asarray = np.asarray  # bound before any trace: NumPy's own function


def test_grad_of_a_non_scalar_names_the_shape():
    with pytest.raises(TypeError, match=r"scalar output, got an array of shape \(3,\)"):
        jitad.grad(lambda x: np.sin(x))(np.ones(3))


def test_grad_of_a_tuple_output():
    with pytest.raises(TypeError, match="one scalar"):
        jitad.grad(lambda x: (x, x))(1.0)


def test_grad_with_respect_to_an_integer_array():
    with pytest.raises(TypeError, match="dtype int64.*float64 and float32"):
        jitad.grad(lambda x: np.sum(x * 2.0))(np.arange(3))


def test_grad_with_respect_to_a_python_int():
    with pytest.raises(TypeError, match="Python int.*2.0, not 2"):
        jitad.grad(lambda x: x * 2.0)(2)


def test_math_sin_on_a_traced_value_suggests_np_sin():
    with pytest.raises(TypeError, match=r"np\.sin, not math\.sin"):
        jitad.grad(lambda x: math.sin(x))(1.0)


def test_float_of_a_traced_value():
    with pytest.raises(TypeError, match=r"float\(\) of a traced value"):
        jitad.grad(lambda x: float(x) * 2.0)(1.0)


def test_unknown_numpy_function_is_named():
    with pytest.raises(TypeError, match=r"np\.partition"):
        jitad.grad(lambda x: np.sum(np.partition(x, 1)))(np.ones(3))


def test_unknown_ufunc_is_named():
    with pytest.raises(TypeError, match=r"np\.spacing"):
        jitad.grad(lambda x: np.sum(np.spacing(x)))(np.ones(3))


def test_non_numpy_library_on_a_traced_value():
    """NumPy's own asarray under another name (a library that did ``from
    numpy import asarray``): jitad cannot see it, and says what to write."""
    with pytest.raises(TypeError, match=r"cannot turn a traced value into a NumPy array.*"
                                        r"from numpy import array.*np\.array\(\.\.\.\)"):
        jitad.grad(lambda x: np.sum(numpy_asarray(x)))(np.ones(3))


def test_writing_a_traced_value_into_a_numpy_array_says_what_to_do():
    def f(x):
        y = np.zeros(3)
        y[0] = x[0]
        return np.sum(y)
    with pytest.raises(TypeError, match=r"written into a NumPy array.*np\.zeros_like\(x\)"):
        jitad.grad(f)(np.ones(3))


def test_ufunc_out_argument_is_refused():
    def f(x):
        out = np.empty(3)
        np.sin(x, out=out)
        return np.sum(out)
    with pytest.raises(TypeError, match="out="):
        jitad.grad(f)(np.ones(3))


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums 3"):
        jitad.grad(lambda x: x, argnums=3)(1.0)


def test_unsupported_argument_type():
    with pytest.raises(TypeError, match="cannot take an argument of type set"):
        jitad.grad(lambda x: 1.0)({1.0})


def test_a_kernel_numba_rejects_names_the_op_and_the_input_types():
    """Never a numba traceback: the error names the IR line of the statement
    numba rejected, the kernel's input types, and says it is jitad's bug."""
    from jitad.backend.compile import compile_kernel
    from jitad.errors import CompileError
    kernel = compile_kernel("def kernel(v_0):\n    # v_1 = bogus(v_0)\n"
                            "    v_1 = v_0.no_such_method()\n    return (v_1,)\n")
    with pytest.raises(CompileError, match=r"at `v_1 = bogus\(v_0\)` \(line \d+\), for inputs "
                                           r"float64\[3\]; this is a bug in jitad") as caught:
        kernel(np.ones(3))
    assert "Unknown attribute 'no_such_method'" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("dtype, advice", [(np.float16, "astype"), (np.longdouble, "astype"),
                                           (object, "not numeric")])
def test_an_argument_of_a_dtype_kernels_cannot_compute_in_is_a_type_error(dtype, advice):
    """float16, long double and object arrays: a TypeError naming the
    argument, the dtype and the conversion, not numba's or NumPy's own error."""
    x = np.ones(3, dtype)
    name = np.dtype(dtype).name
    for transform in (jitad.grad, jitad.jit):
        with pytest.raises(TypeError, match=rf"argument 'x' has dtype {name}.*{advice}"):
            transform(lambda x: np.sum(x * x))(x)


def test_an_ndarray_method_jitad_does_not_record_is_a_trace_error_and_hasattr_is_false():
    """``x.sort()`` says what to write; ``hasattr`` (which libraries probe
    with) still answers False, and a misspelt name stays Python's error."""
    from jitad.errors import TraceError, UnsupportedAttribute
    seen = {}

    def f(x):
        seen["has sort"] = hasattr(x, "sort")
        with pytest.raises(AttributeError, match="'Tracer' object has no attribute 'sortt'"):
            x.sortt
        with pytest.raises(TraceError, match=r"x = np\.sort\(x\)"):
            x.sort()
        return np.sum(x)
    jitad.grad(f)(np.ones(3))
    assert seen == {"has sort": False}
    assert issubclass(UnsupportedAttribute, AttributeError)
