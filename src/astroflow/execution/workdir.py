"""The run's scratch folder and atomic JSON files in the job folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

SCRATCH = "work"


def scratch_dir(job_dir: Path, source_dir: Path | None) -> Path:
    """``job_dir/work`` with a link to every top-level entry of ``source_dir``.

    Notebooks read their neighbours by relative path (``data/catalog.fits``) but must not
    write into the repository they came from: new files land in the scratch folder.
    """
    work = Path(job_dir).resolve() / SCRATCH
    work.mkdir(parents=True, exist_ok=True)
    if source_dir is None:
        return work
    source = Path(source_dir).resolve()
    for entry in os.scandir(source):
        link = work / entry.name
        if not os.path.lexists(link):
            os.symlink(source / entry.name, link)
    return work


def write_json(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # dumps, not dump: only the one-shot encoder is the C one.
    text = json.dumps(data, default=str)
    with open(tmp, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(tmp, path)


def discard(work: Path) -> None:
    """Remove a scratch folder (it may hold a context file with the caller's token)."""
    shutil.rmtree(work, ignore_errors=True)


def clear_outputs(notebook: dict[str, Any]) -> dict[str, Any]:
    """Empty every code cell's outputs and count, in place: the notebook as a run starts it."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return notebook
