"""Reading notebooks from disk: ``.ipynb`` through nbformat, percent ``.py`` through jupytext.

Both end up as one plain nbformat-v4 JSON dict, because that is what the executor runs and
what is kept as the executed notebook.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from astroflow.errors import NotebookError

NOTEBOOK_SUFFIXES = (".ipynb", ".py")


@dataclass(frozen=True)
class Cell:
    """One cell as the workflow layer needs it."""

    index: int
    cell_type: str
    source: str
    tags: tuple[str, ...]


def read_notebook(path: Path) -> dict:
    """Read a notebook file into a plain nbformat v4 dict."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"{path}: no such notebook file")
    if path.suffix == ".ipynb":
        import nbformat

        try:
            node = nbformat.read(path, as_version=4)
        except Exception as exc:  # nbformat raises several unrelated types
            raise NotebookError(f"{path}: not a readable .ipynb notebook ({exc})") from exc
    elif path.suffix == ".py":
        import jupytext

        try:
            node = jupytext.read(path, fmt="py:percent")
        except Exception as exc:
            raise NotebookError(f"{path}: not a readable jupytext notebook ({exc})") from exc
    else:
        raise NotebookError(f"{path}: expected a .ipynb or jupytext percent .py notebook")
    return json.loads(json.dumps(node))


def cells_of(notebook: dict) -> list[Cell]:
    cells = []
    for i, cell in enumerate(notebook.get("cells", [])):
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        tags = tuple(cell.get("metadata", {}).get("tags", ()) or ())
        cells.append(Cell(i, cell.get("cell_type", "code"), source, tags))
    return cells


def tagged(cells: list[Cell], tag: str) -> Cell | None:
    """The code cell carrying ``tag``; more than one is an error (which one would win?)."""
    found = [c for c in cells if tag in c.tags and c.cell_type == "code"]
    if len(found) > 1:
        indexes = ", ".join(str(c.index) for c in found)
        raise NotebookError(f"cells {indexes} are all tagged {tag!r}; tag exactly one")
    return found[0] if found else None


def tagged_all(cells: list[Cell], tag: str) -> list[Cell]:
    """Every code cell carrying ``tag``, in notebook order (nb2workflow reads them all)."""
    return [c for c in cells if tag in c.tags and c.cell_type == "code"]


def title_and_description(cells: list[Cell]) -> tuple[str | None, str | None]:
    """Title from the first markdown heading, description from the rest of that cell."""
    for cell in cells:
        if cell.cell_type != "markdown" or not cell.source.strip():
            continue
        lines = cell.source.strip().splitlines()
        first = lines[0].strip()
        if first.startswith("#"):
            title = first.lstrip("#").strip() or None
            rest = "\n".join(lines[1:]).strip() or None
            return title, rest
        return None, cell.source.strip()
    return None, None


def content_version(notebook: dict) -> str:
    """A version from what runs (code and markdown), not from outputs or metadata noise."""
    digest = hashlib.sha256()
    for cell in cells_of(notebook):
        digest.update(cell.cell_type.encode())
        digest.update(b"\0")
        digest.update(cell.source.encode())
        digest.update(b"\0")
        digest.update(",".join(cell.tags).encode())
        digest.update(b"\1")
    return digest.hexdigest()[:12]
