"""``astroflow data fetch NAME``: let a bundled workflow get its data before it serves.

A workflow repository names its data step in ``astroflow.yaml`` (``data_fetch:
"module:function"``); the function takes ``dest`` (a folder) and returns where the data are.
It runs in this process with the repository on ``sys.path``, as the notebook would import it.
Options of the command (``--source``, ``--release``) are passed as keyword arguments of the
same name, to a function that takes them: for one that does not, the option is refused.
The help of ``astroflow data fetch`` shows each workflow's own text: ``data_help`` in its
``astroflow.yaml``, else the docstring of its data function (read without importing it).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

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


def data_step(repo: Path) -> str:
    """The ``module:function`` a repository declares as its data step."""
    target = repository_config(repo).get("data_fetch")
    if not target:
        raise AstroflowError(f"{repo} declares no data step (data_fetch in astroflow.yaml): "
                             "it needs no data")
    return str(target)


def accepts(function: Callable[..., Any], keyword: str) -> bool:
    """Whether `function` can be called with ``keyword=...``."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # no signature to read: let the call say
        return True
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return True
    p = parameters.get(keyword)
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def fetch_data(name: str, folders: list[Path], data_dir: Path,
               options: Mapping[str, Any] | None = None) -> Path:
    """Run workflow `name`'s data step into ``data_dir/name``; `options` (those not None)
    are passed as keyword arguments (``source``, ``release`` …)."""
    repo = find_repository(name, folders)
    target = data_step(repo)
    module_name, _, function_name = target.partition(":")
    sys.path.insert(0, str(repo))
    try:
        function = getattr(importlib.import_module(module_name), function_name or "fetch")
    except (ImportError, AttributeError) as exc:
        raise AstroflowError(f"{repo}: data_fetch {target!r} cannot be imported ({exc})") from exc
    finally:
        sys.path.remove(str(repo))
    kwargs = {k: v for k, v in (options or {}).items() if v is not None}
    refused = [k for k in kwargs if not accepts(function, k)]
    if refused:
        names = ", ".join("--" + k.replace("_", "-") for k in refused)
        raise AstroflowError(f"{name}: its data step ({target}) takes no {names} option")
    try:
        return Path(function(dest=data_dir / name, **kwargs))
    except Exception as exc:  # the workflow's own error says what it tried
        raise AstroflowError(f"{name}: {exc}") from exc


def _docstring(repo: Path, target: str) -> str | None:
    """The docstring of the data function, read from its source file (not imported)."""
    module_name, _, function_name = target.partition(":")
    base = repo.joinpath(*module_name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError):
                return None
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                        and node.name == (function_name or "fetch"):
                    return ast.get_docstring(node)
    return None


def data_help(folders: list[Path]) -> list[tuple[str, str]]:
    """(name, help text) of each workflow repository in `folders` that has a data step."""
    out = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for repo in sorted(folder.iterdir()):
            if not repo.is_dir() or repo.name in SKIP_DIRS or repo.name.startswith("."):
                continue
            config = repository_config(repo)
            if not config.get("data_fetch"):
                continue
            text = config.get("data_help") or _docstring(repo, str(config["data_fetch"]))
            out.append((repo.name, inspect.cleandoc(str(text)) if text else
                        f"data step {config['data_fetch']} (no help text)"))
    return out


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
