"""``astroflow data fetch NAME``: let a bundled workflow get its data before it serves.

A workflow repository names its data step in ``astroflow.yaml`` (``data_fetch:
"module:function"``); the function takes ``dest`` (a folder) and returns where the data are.
It runs in this process with the repository on ``sys.path``, as the notebook would import it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from astroflow.errors import AstroflowError
from astroflow.registry.catalog import SKIP_DIRS, repository_config


def find_repository(name: str, folders: list[Path]) -> Path:
    for folder in folders:
        candidates = [folder] if folder.name == name else [folder / name]
        for candidate in candidates:
            if candidate.is_dir() and candidate.name not in SKIP_DIRS:
                return candidate
    raise AstroflowError(f"no workflow repository named {name!r} in "
                         f"{', '.join(str(f) for f in folders)}")


def fetch_data(name: str, folders: list[Path], data_dir: Path) -> Path:
    repo = find_repository(name, folders)
    target = repository_config(repo).get("data_fetch")
    if not target:
        raise AstroflowError(f"{repo} declares no data step (data_fetch in astroflow.yaml): "
                             "it needs no data")
    module_name, _, function_name = str(target).partition(":")
    sys.path.insert(0, str(repo))
    try:
        function = getattr(importlib.import_module(module_name), function_name or "fetch")
    except (ImportError, AttributeError) as exc:
        raise AstroflowError(f"{repo}: data_fetch {target!r} cannot be imported ({exc})") from exc
    finally:
        sys.path.remove(str(repo))
    try:
        return Path(function(dest=data_dir / name))
    except Exception as exc:  # the workflow's own error says what it tried
        raise AstroflowError(f"{name}: {exc}") from exc


def first_available(steps: list[tuple[str, Callable[[], Path]]], log: Callable[[str], object],
                    errors: tuple[type[BaseException], ...],
                    accept: Callable[[Path], str | None] = lambda path: None,
                    ) -> tuple[Path | None, list[str]]:
    """Try a workflow's data sources in order (local copy → archive → PyPI copy …).

    Returns the first path a step gives that ``accept`` does not refuse (it returns a reason
    to refuse), and what each step before it said: the workflow's error lists them, so the
    operator sees everything that was tried. A step fails by raising one of ``errors``.
    """
    tried: list[str] = []
    for label, step in steps:
        try:
            path = step()
        except errors as exc:
            tried.append(f"{label}: {exc}")
            log(f"{label}: unavailable ({exc})")
            continue
        refusal = accept(path)
        if refusal is None:
            return path, tried
        tried.append(f"{label}: {refusal}")
    return None, tried
