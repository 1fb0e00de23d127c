"""The generated coverage table is current, and NumPy functions jitad does
not support fail with an error that names them."""
from __future__ import annotations

import numpy as np
import pytest

import jitad
from jitad import coverage, transforms
from jitad.backend.reference import evaluate
from jitad.numpy_api import FUNCTIONS, UFUNCS, UNSUPPORTED
from jitad.tracer import trace


def test_docs_coverage_is_up_to_date():
    """Regenerate with: python -m jitad.coverage --write"""
    assert coverage.DOC.read_text() == coverage.markdown()


def test_every_table_entry_has_a_row():
    names = {row.name for row in coverage.function_rows()}
    expected = {coverage.public_name(f) for f in list(UFUNCS) + list(FUNCTIONS)
                if f not in UNSUPPORTED}
    assert names == expected


@pytest.mark.parametrize("f, name", [
    (lambda x: np.sum(np.partition(x, 1)), "np.partition"),
    (lambda x: np.sum(np.unique(x)), "np.unique"),
    (lambda x: np.sum(np.abs(np.fft.fft(x))), "np.fft.fft"),
    (lambda x: np.sum(np.linalg.eig(np.outer(x, x))[0]), "np.linalg.eig"),
    (lambda x: np.median(x), "np.median"),
    (lambda x: np.sum(np.interp(x, [0.0, 5.0], [1.0, 2.0])), "np.interp"),  # in no table
], ids=["partition", "unique", "fft", "eig", "median", "interp"])
def test_unsupported_functions_are_named(f, name):
    with pytest.raises(TypeError, match=name.replace(".", r"\.")):
        jitad.grad(f)(np.array([3.0, 1.0, 2.0]))


def test_refusals_say_what_to_use_instead():
    with pytest.raises(TypeError, match="np.where"):
        jitad.grad(lambda x: np.sum(np.nonzero(x)[0] * 1.0))(np.ones(3))


def test_assignment_into_a_traced_array_with_a_traced_index_shows_the_functional_form():
    def f(x, i):
        y = x.copy()
        y[i] = 0.0
        return np.sum(y)
    with pytest.raises(TypeError, match=r"traced integer index into an array of shape \(3,\).*"
                                        r"np\.where\(np\.arange"):
        jitad.grad(f)(np.ones(3), np.array([1]))


def test_traced_boolean_mask_is_refused_with_advice():
    with pytest.raises(TypeError, match=r"traced boolean mask.*np\.where\(mask, x, 0\.0\)"):
        jitad.grad(lambda x: np.sum(x[x > 0]))(np.ones(3))


def test_bitwise_operators_need_masks():
    with pytest.raises(TypeError, match=r"np\.bitwise_and.*int64"):
        trace(lambda n: n & 1, (np.arange(3),))


def test_argmax_is_an_integer_without_derivative():
    """x[argmax(x)] is a gather by a traced index: the gradient is one-hot."""
    def f(x):
        return x[np.argmax(x)] * 2.0 + np.argmin(x)
    x = np.array([0.5, 3.0, -1.0])
    graph = transforms.vjp_graph(trace(f, (x,))[0], [0], seed=1.0)
    value, grad = evaluate(graph, x)
    assert value == 8.0
    np.testing.assert_array_equal(grad, [0.0, 2.0, 0.0])
