"""Shared fixtures: notebooks written to disk the way authors write them."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]


def write_notebook(path: Path, parameters: str, body: str = "", outputs: str | None = None,
                   markdown: str | None = None, extra_cells: list | None = None) -> Path:
    """A notebook with a markdown cell, a `parameters` cell, a body cell and an `outputs` cell."""
    nb = nbformat.v4.new_notebook()
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    if body:
        nb.cells.append(nbformat.v4.new_code_cell(body))
    for cell in extra_cells or []:
        nb.cells.append(cell)
    if outputs is not None:
        nb.cells.append(nbformat.v4.new_code_cell(outputs, metadata={"tags": ["outputs"]}))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebook(tmp_path: Path):
    """Factory: ``notebook(parameters, body, outputs, markdown)`` → path of a new .ipynb."""
    counter = iter(range(1000))

    def make(parameters: str, body: str = "", outputs: str | None = None,
             markdown: str | None = None, name: str | None = None, **kw) -> Path:
        return write_notebook(tmp_path / (name or f"nb{next(counter)}.ipynb"), parameters, body,
                              outputs, markdown, **kw)

    return make
