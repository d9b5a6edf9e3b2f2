"""Every third-party package that ``src/astroflow`` imports is declared in pyproject.toml,
so a fresh install never depends on what other packages happen to bring along.

Fails on main before issue 20: requests, anyio, starlette, pydantic, cryptography and
traitlets were imported but arrived only transitively.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
# Imported only inside a function, for values that prove the package is there already.
OPTIONAL = {"pandas": "products/tables.py converts a DataFrame a notebook returned"}
# Code that runs only with an extra installed may import what that extra declares: the Dask
# executor (`pip install astroflow[dask]`), and astroflow.parallel on its cluster path (it
# imports distributed inside the function that found a scheduler).
EXTRA_CODE = {"execution/dask/": "dask", "parallel.py": "dask"}


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (REPO / "src" / "astroflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            relative = path.relative_to(REPO / "src" / "astroflow").as_posix()
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(relative)
    return found


def _extra(files: set[str]) -> str | None:
    """The one extra all these files belong to, or None."""
    extras = {next((e for prefix, e in EXTRA_CODE.items() if f.startswith(prefix)), None)
              for f in files}
    return extras.pop() if len(extras) == 1 else None


def test_every_import_is_a_declared_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    extras = {name: {canonicalize_name(Requirement(r).name) for r in requirements}
              for name, requirements in project["optional-dependencies"].items()}
    distributions = packages_distributions()
    undeclared = {}
    for module, files in _imports().items():
        if module in sys.stdlib_module_names or module in ("astroflow", "__future__") \
                or module in OPTIONAL:
            continue
        owners = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert owners, f"{module} (imported in {sorted(files)}) is not installed"
        extra = _extra(files)
        if not owners & (declared | (extras[extra] if extra else set())):
            undeclared[module] = sorted(files)
    assert undeclared == {}, f"imported but not declared in [project] dependencies: {undeclared}"
