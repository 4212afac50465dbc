"""The tutorial notebooks (notebooks/*.ipynb) run top to bottom and their assertions hold.

Each notebook is executed with nbclient in a fresh ``python3`` kernel, on a copy (the
committed file, with its stored outputs, is not rewritten), from a temporary directory.
A failing cell (an exception or a failed ``assert``) fails the test. The committed
notebooks must also match their sources in ``notebooks/_src`` (rebuild with
``python notebooks/_build.py``) and hold their outputs, plots included.

Slow, and they need the ``notebooks`` extra (``pip install -e ".[test,notebooks]"``): the
notebook stack is imported inside the tests, so ``-m "not slow"`` runs without it.
"""

import copy
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb"))
CELL_TIMEOUT_S = 150


def _builder():
    spec = importlib.util.spec_from_file_location("_notebook_build", NOTEBOOKS / "_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_source_has_a_notebook():
    sources = sorted(p.stem for p in (NOTEBOOKS / "_src").glob("[0-9]*.py"))
    assert len(sources) == 7 and [f"{s}.ipynb" for s in sources] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_built_from_its_source_and_holds_outputs(name):
    import nbformat

    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    built = _builder().notebook(NOTEBOOKS / "_src" / name.replace(".ipynb", ".py"))
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in built.cells
    ], f"{name} is stale: run python notebooks/_build.py {name[:2]}"
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{name}: not executed"
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{name}: no plot stored"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = copy.deepcopy(nbformat.read(NOTEBOOKS / name, as_version=4))
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on a failing cell or assertion
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
