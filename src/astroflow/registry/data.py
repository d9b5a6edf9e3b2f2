"""``astroflow data fetch NAME``: let a bundled workflow get its data before it serves.

A workflow repository names its data step in ``astroflow.yaml`` (``data_fetch:
"module:function"``); the function takes ``dest`` (a folder) and returns where the data are.
It runs in this process with the repository on ``sys.path``, as the notebook would import it.
"""

from __future__ import annotations

import importlib
import sys
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
