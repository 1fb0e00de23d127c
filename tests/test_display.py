"""Rich display: primal, tangent and adjoint traces, graph HTML, show_source.

The traces are checked line by line on the classic example (Baydin et al.,
"Automatic differentiation in machine learning: a survey", table 2 and 3), and
their values against jitad's own derivatives.
"""
import numpy as np
import pytest

import jitad
from jitad.display import Trace, adjoint_trace, graph_html, primal_trace, show_source, \
    tangent_trace


def classic(x1, x2):
    return x1 * np.sqrt(np.log(x1 / np.sin(x2 ** 2)))


def column(trace: Trace, section: int, col: int) -> list:
    return [row[col] for row in trace.sections[section].rows]


def test_primal_trace_lines_and_values():
    t = primal_trace(classic, 2.0, 0.5)
    assert column(t, 0, 0) == ["v_-1 = x1", "v_0 = x2", "v_1 = v_0 ** 2", "v_2 = sin(v_1)",
                               "v_3 = v_-1 / v_2", "v_4 = log(v_3)", "v_5 = sqrt(v_4)",
                               "v_6 = v_-1 * v_5"]
    assert float(column(t, 0, 1)[-1]) == pytest.approx(classic(2.0, 0.5), rel=1e-5)


def test_tangent_trace_is_the_forward_sweep():
    t = tangent_trace(classic, 2.0, 0.5, argnums=0)
    assert column(t, 0, 2) == [
        "v̇_-1 = ẋ1", "v̇_0 = 0", "v̇_1 = 0", "v̇_2 = 0",
        "v̇_3 = v̇_-1 * (1.0 / v_2)", "v̇_4 = v̇_3 * (1.0 / v_3)", "v̇_5 = v̇_4 * (0.5 / v_5)",
        "v̇_6 = v̇_-1 * v_5 + v̇_5 * v_-1"]
    _, x1_dot = jitad.jvp(classic, (2.0, 0.5), (1.0, 0.0))
    assert float(column(t, 0, 3)[-1]) == pytest.approx(x1_dot, rel=1e-5)


def test_tangent_trace_in_a_given_direction():
    t = tangent_trace(classic, 2.0, 0.5, argnums=(0, 1), tangents=[0.0, 1.0])
    _, x2_dot = jitad.jvp(classic, (2.0, 0.5), (0.0, 1.0))
    assert float(column(t, 0, 3)[-1]) == pytest.approx(x2_dot, rel=1e-5)
    assert column(t, 0, 2)[1] == "v̇_0 = ẋ2"


def test_adjoint_trace_runs_bottom_up_and_accumulates():
    t = adjoint_trace(classic, 2.0, 0.5, argnums=(0, 1))
    assert column(t, 1, 0) == [
        "v̄_6 = ȳ",
        "v̄_-1 = v̄_6 * v_5",
        "v̄_5 = v̄_6 * v_-1",
        "v̄_4 = v̄_5 * (0.5 / v_5)",
        "v̄_3 = v̄_4 * (1.0 / v_3)",
        "v̄_-1 += v̄_3 * (1.0 / v_2)",  # x1 has two uses: its adjoint accumulates
        "v̄_2 = v̄_3 * -(v_3 / v_2)",
        "v̄_1 = v̄_2 * cos(v_1)",
        "v̄_0 = v̄_1 * (2.0 * v_0)",
        "x̄1 = v̄_-1",
        "x̄2 = v̄_0"]
    values = [float(v) for v in column(t, 1, 1)[-2:]]
    assert values == pytest.approx(jitad.grad(classic, argnums=(0, 1))(2.0, 0.5), rel=1e-5)


def test_running_sums_of_a_value_with_three_uses():
    t = adjoint_trace(lambda x: x * np.sin(x) + np.exp(x), 0.7)
    lines = column(t, 1, 0)
    x_lines = [line for line in lines if line.startswith("v̄_0 ")]
    assert [line.split()[1] for line in x_lines] == ["=", "+=", "+="]
    # the value column shows the adjoint after each line: the last is the gradient
    g = jitad.grad(lambda x: x * np.sin(x) + np.exp(x))(0.7)
    assert float(t.sections[1].rows[lines.index(x_lines[-1])][1]) == pytest.approx(g, rel=1e-5)


def test_arrays_broadcasting_and_reductions():
    def f(x, b):
        return np.sum(np.tanh(x + b) ** 2)
    x = np.array([0.1, -0.4, 0.3])
    t = adjoint_trace(f, x, 0.2, argnums=(0, 1))
    grad_x, grad_b = jitad.grad(f, argnums=(0, 1))(x, 0.2)
    last = t.sections[1].rows[-2:]
    assert last[0][0] == "x̄ = v̄_-1" and last[1][0] == "b̄ = v̄_0"
    # b was broadcast: its adjoint is the reduced sum of a (3,) cotangent
    assert float(last[1][1]) == pytest.approx(grad_b, rel=1e-4)
    assert np.fromstring(last[0][1].strip("[]"), sep=",") == pytest.approx(grad_x, rel=1e-3)


def test_text_columns_align_with_combining_accents():
    lines = str(adjoint_trace(classic, 2.0, 0.5)).splitlines()
    adjoint = lines[lines.index("") + 1:]
    # the value column starts at the same display column on every line
    starts = {len(line.replace("\u0304", "").rsplit("   ", 1)[0]) for line in adjoint[1:]}
    assert len(starts) == 1


def notebook_html(obj) -> str:
    """What Jupyter shows for obj: IPython's HTML formatter, with which
    importing jitad in a notebook registers the Graph table."""
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    jitad.display._register_with_ipython()  # as at import inside a running notebook
    data, _ = shell.display_formatter.format(obj)
    return data["text/html"]


def test_html_of_traces_and_graphs():
    html = adjoint_trace(classic, 2.0, 0.5)._repr_html_()
    assert "reverse adjoint trace" in html and "v\u0304<sub>-1</sub> +=" in html
    graph = jitad.trace(classic, 2.0, 0.5)
    table = notebook_html(graph)
    assert table == graph_html(graph)
    assert table.count("<tr>") == 1 + 2 + 6 + 1  # header, inputs, ops, output
    assert "v<sub>3</sub>" in table and "float64[]" in table
    assert str(graph).splitlines()[2] == "v_1 = v_0 ** 2"  # plain text unchanged


def test_html_escapes_operation_text():
    html = graph_html(jitad.trace(lambda x: np.where(x > 0.0, x, 0.0), np.ones(2)))
    assert "&gt;" in html and "x > 0" not in html


def test_trace_of_structured_arguments():
    def loss(params, x):
        return np.sum((x @ params["W"] + params["b"]) ** 2)
    params = {"W": np.ones((3, 2)), "b": np.zeros(2)}
    t = adjoint_trace(loss, params, np.ones((4, 3)))
    assert [row[0] for row in t.sections[1].rows[-2:]] == [
        "p̄arams['W'] = v̄_-2", "p̄arams['b'] = v̄_-1"]


def test_integer_arguments_are_refused():
    with pytest.raises(TypeError, match="float"):
        adjoint_trace(lambda x: x * 2, np.arange(3))


def test_show_source_prints_the_last_kernel(capsys):
    g = jitad.grad(lambda x: np.sum(np.cos(x)))
    g(np.ones(3))
    g(np.ones(4))
    show_source(g)
    out = capsys.readouterr().out
    assert out.startswith("# value_and_grad(") and "float64[4]" in out
    assert "def kernel(" in out and "np.sin" in out


def test_show_source_errors():
    with pytest.raises(TypeError, match="jitad transform"):
        show_source(np.sin)
    with pytest.raises(ValueError, match="call it once"):
        show_source(jitad.jit(lambda x: x + 1.0))


def test_long_traces_show_their_head_and_tail():
    def f(x):
        for _ in range(300):
            x = np.sin(x) * 0.9
        return x
    t = tangent_trace(f, 0.3)
    lines = str(t).splitlines()
    assert len(t.sections[0].rows) == 601 and len(lines) == 1 + 400 + 1
    assert lines[201].startswith("… 201 more lines …")
    assert lines[-1].split()[-1] == f"{jitad.grad(f)(0.3):.6g}"
    assert graph_html(jitad.trace(f, 0.3)).count("<tr>") == 1 + 400 + 1


def test_the_cache_names_a_numpy_scalar_argument_apart_from_a_0d_array():
    g = jitad.grad(lambda x: x * x)
    g(np.float64(2.0))
    g(np.array(2.0))
    text = str(g.cache)
    assert "(np.float64)" in text and "(float64[])" in text, text
