"""The notebooks run top to bottom without an error, and are stored without outputs.

Their text cannot drift from their output: a result (a timing, a ratio, a
count) is printed from the run or asserted in a cell, which running the
notebook checks, and the markdown states no measured number of its own. Every
plot is followed by a printed "Look at: ..." line saying what to see.

Each notebook runs in a fresh Jupyter kernel (nbclient) of the interpreter
running the tests, so it sees the jitad under test. Run with ``-s`` to see how
long each one took. The notebook dependencies are the ``notebooks`` extra.
"""
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

import jitad

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_the_teaching_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} >= {"01_why_automatic_differentiation",
                                           "02_forward_and_reverse",
                                           "03_training_a_network",
                                           "04_fitting_with_scipy"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, (
                f"{path.name} was saved with outputs; strip them with "
                f"`jupyter nbconvert --clear-output --inplace {path}`")


def _cells(path, cell_type):
    return [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == cell_type]


# a measured quantity written into the text: 0.45x, 76 iterations, 3.2 ms, 40%, five orders
MEASURED = re.compile(r"\d[\d.,]*\s*(?:µs|us|ms|s\b|%|×|x\b|times|iterations|evaluations of)"
                      r"|(?:two|three|four|five|six|seven|eight|nine|ten) orders of magnitude")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_states_no_measured_numbers(path):
    for text in _cells(path, "markdown"):
        prose = re.sub(r"\$[^$]*\$|`[^`]*`", "", text)  # formulas and code are not claims
        found = MEASURED.search(prose)
        assert found is None, (
            f"{path.name}: the markdown states {found.group(0)!r}; print it from the run "
            f"(an f-string) or assert it in a cell, and describe what to look for instead")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_claims_are_asserted_and_plots_captioned(path):
    code = _cells(path, "code")
    assert any(re.search(r"^\s*assert ", source, re.M) for source in code), (
        f"{path.name} asserts none of its claims")
    for source in code:
        if "plt.show()" in source:
            assert 'print("Look at:' in source, (
                f"{path.name}: a plot without a printed 'Look at: ...' caption:\n{source[:300]}")


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """A kernel spec "python3" that starts this interpreter with this jitad.

    ipykernel installs such a spec into every environment it is installed in,
    but a user-wide spec of the same name (~/.local/share/jupyter) would win
    and could start another Python. A spec of our own, first on JUPYTER_PATH,
    leaves nothing to chance and changes nothing outside the test.
    """
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    package_root = os.path.dirname(os.path.dirname(jitad.__file__))
    python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (jitad tests)", "language": "python",
        "env": {"PYTHONPATH": python_path}}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root))
        yield "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, kernel_name):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, kernel_name=kernel_name, timeout=120,
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on an error
    print(f"\n{path.name}: {time.perf_counter() - start:.1f} s")
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output["output_type"] == "error"]
    assert errors == []
