"""The IR alone: printing and validate()."""
from __future__ import annotations

import numpy as np
import pytest

from jitad.ir import Graph, GraphError, Lit, Op, Var, validate
from jitad.primitives import add_p, sin_p

F64 = np.dtype(np.float64)


def test_printer_numbers_inputs_from_one_minus_n():
    x, y, z = Var((), F64), Var((), F64), Var((), F64)
    graph = Graph((x, y), (Op(add_p, (x, Lit.of(2.0)), (z,), {}),), (z,), ("a", "b"))
    assert str(graph) == "v_-1 = a\nv_0 = b\nv_1 = v_-1 + 2.0\ny = v_1"
    assert "float64[]" in graph.pretty(types=True)


def test_validate_rejects_unbound_vars():
    x, stray, out = Var((), F64), Var((), F64), Var((), F64)
    with pytest.raises(GraphError, match="unbound"):
        validate(Graph((x,), (Op(sin_p, (stray,), (out,), {}),), (out,)))


def test_validate_rejects_double_assignment():
    x, out = Var((), F64), Var((), F64)
    ops = (Op(sin_p, (x,), (out,), {}), Op(sin_p, (x,), (out,), {}))
    with pytest.raises(GraphError, match="assigned twice"):
        validate(Graph((x,), ops, (out,)))


def test_validate_checks_shape_rules():
    x, out = Var((3,), F64), Var((2,), F64)
    with pytest.raises(GraphError, match="shape rule"):
        validate(Graph((x,), (Op(sin_p, (x,), (out,), {}),), (out,)))
