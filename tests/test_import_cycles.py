"""Imports flow one way: no two modules of the package (or of the IceCube science package)
import each other, not even lazily or for type checking. The pairs that still do are listed
here, to be undone when their modules are next changed; a new pair fails, and so does a
listed pair that is gone (strike it off)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (ROOT / "src" / "astroflow", ROOT / "workflows" / "icecube" / "icecube_ps")

# Still circular (lazy imports or TYPE_CHECKING ones), as of 2026-12-07.
KNOWN = {
    ("astroflow.client.client", "astroflow.client.services"),
    ("astroflow.client.errors", "astroflow.client.job"),
    ("astroflow.client.job", "astroflow.client.products"),
    ("astroflow.client.job", "astroflow.client.progressbar"),
    ("astroflow.client.plotting", "astroflow.client.products"),
}


def module_files(package: Path) -> dict[str, Path]:
    files = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of `known` that `path` imports anywhere (function bodies and TYPE_CHECKING
    blocks included), relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m in known and m != name}


def circular_pairs() -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for package in PACKAGES:
        files = module_files(package)
        graph = {name: imported(name, path, set(files)) for name, path in files.items()}
        for a, targets in graph.items():
            for b in targets:
                nested = a.startswith(b + ".") or b.startswith(a + ".")  # a package's own
                if a in graph.get(b, set()) and not nested:
                    pairs.add((min(a, b), max(a, b)))
    return pairs


def test_no_new_import_cycles():
    pairs = circular_pairs()
    assert pairs - KNOWN == set(), "modules that import each other: make the imports one-way"
    assert KNOWN - pairs == set(), "these pairs no longer import each other: strike them off"


def test_the_finder_sees_lazy_and_type_checking_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .b import g\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from pkg.a import f\n")
    files = module_files(package)
    assert imported("pkg.a", files["pkg.a"], set(files)) == {"pkg.b"}
    assert imported("pkg.b", files["pkg.b"], set(files)) == {"pkg.a"}
