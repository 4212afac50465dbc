"""Builds the tutorial notebooks from their sources and executes them to store the outputs.

Each notebook is written as a plain Python file in ``notebooks/_src/`` in the "percent"
format: ``# %%`` starts a code cell and ``# %% [markdown]`` a markdown cell (whose lines are
comments, ``# `` stripped); a ``# ruff:`` directive may precede the first cell. The build
adds ``%matplotlib inline`` to the first code cell, executes the notebook with nbclient
(kernel ``python3``) in ``notebooks/`` and writes ``notebooks/<name>.ipynb`` with its
outputs (plots as inline PNGs).

Usage::

    python notebooks/_build.py              # every notebook
    python notebooks/_build.py 02 05        # the ones whose names start with these
    python notebooks/_build.py --no-execute # write the notebooks without outputs

Needs nbformat, nbclient, ipykernel, matplotlib and scikit-learn (the ``notebooks`` extra).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "_src"
MAGIC = "%matplotlib inline"
CELL_TIMEOUT_S = 150


def parse(text: str) -> list[tuple[str, str]]:
    """(kind, source) cells of a percent-format file; kind is "code" or "markdown"."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip() and not line.startswith("# ruff:"):
            raise ValueError(f"text before the first cell marker: {line!r}")
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        source = "\n".join(lines).strip("\n")
        if source:
            out.append((kind, source))
    return out


def notebook(source: Path) -> nbformat.NotebookNode:
    """The unexecuted notebook for one source file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    magic_added = False
    for kind, text in parse(source.read_text()):
        if kind == "code":
            if not magic_added:
                text, magic_added = f"{MAGIC}\n{text}", True
            nb.cells.append(nbformat.v4.new_code_cell(text))
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{source.stem[:2]}-{i:03d}"  # stable ids: rebuilding gives small diffs
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Runs every cell (raises nbclient's CellExecutionError on the first failure)."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
    )
    client.execute()
    return nb


def main(argv: list[str]) -> None:
    run = "--no-execute" not in argv
    prefixes = [a for a in argv if not a.startswith("--")]
    for source in sorted(SOURCES.glob("[0-9]*.py")):
        if prefixes and not any(source.stem.startswith(p) for p in prefixes):
            continue
        nb = notebook(source)
        start = time.monotonic()
        if run:
            execute(nb, HERE)
        target = HERE / f"{source.stem}.ipynb"
        nbformat.write(nb, target)
        print(f"{target.name}: {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
