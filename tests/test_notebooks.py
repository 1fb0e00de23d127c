"""The notebooks run top to bottom without an error, and are stored without outputs.

Each notebook runs in a fresh Jupyter kernel (nbclient) of the interpreter
running the tests, so it sees the jitad under test. Run with ``-s`` to see how
long each one took. The notebook dependencies are the ``notebooks`` extra.
"""
import json
import os
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
