"""HTML rendering of an executed notebook, for people reading a job's results."""

from __future__ import annotations

from pathlib import Path


def notebook_html(ipynb: Path, html: Path | None = None) -> Path:
    """Write ``ipynb`` as a standalone HTML page (next to it unless ``html`` is given).

    nbconvert takes about a second to import, so runs never call this; the server does, when
    someone asks for the page.
    """
    import nbformat
    from nbconvert import HTMLExporter

    ipynb = Path(ipynb)
    target = Path(html) if html is not None else ipynb.with_suffix(".html")
    notebook = nbformat.read(ipynb, as_version=4)
    body, _resources = HTMLExporter().from_notebook_node(notebook)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(target)
    return target
