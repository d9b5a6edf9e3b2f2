"""The services a server offers, found in folders of workflow repositories.

A folder given to ``--services`` is either one workflow repository (it holds notebooks) or a
folder of them (the bundled ``workflows/`` is one). Each notebook tagged with a
``parameters`` cell becomes a service named after the file (``sky_position.py`` →
``sky-position``); ``test_*`` notebooks are the repository's tests, not services.
Per repository, ``astroflow.yaml`` may say the messenger and the roles a caller needs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroflow.errors import AstroflowError
from astroflow.workflow import Workflow

log = logging.getLogger("astroflow.registry")

SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", "tests", "test", "data",
             ".ipynb_checkpoints", "build", "dist"}


@dataclass
class Service:
    name: str
    workflow: Workflow
    source: Path
    messenger: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def version(self) -> str:
        return self.workflow.version

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.workflow.title, "version": self.version,
                "messenger": self.messenger, "description": self.workflow.description}

    def detail(self) -> dict[str, Any]:
        info = self.workflow.describe()
        return {**self.summary(), "parameters": info["parameters"], "outputs": info["outputs"],
                "metadata": info["metadata"], "roles": sorted(self.roles),
                "token_access": self.workflow.token_access,
                "schema": self.workflow.json_schema()}


@dataclass
class ServiceCatalog:
    services: dict[str, Service] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (notebook, why it is not served)

    def get(self, name: str) -> Service | None:
        return self.services.get(name)

    def __len__(self) -> int:
        return len(self.services)

    def visible_to(self, roles: Iterable[str]) -> list[Service]:
        have = set(roles)
        return [s for s in self.services.values() if s.roles <= have]

    @classmethod
    def discover(cls, folders: Iterable[str | Path]) -> ServiceCatalog:
        catalog = cls()
        for folder in folders:
            folder = Path(folder)
            if not folder.is_dir():
                catalog.problems.append((str(folder), "no such folder"))
                continue
            repos = [folder] if _notebooks(folder) else sorted(
                p for p in folder.iterdir() if p.is_dir() and p.name not in SKIP_DIRS
                and not p.name.startswith("."))
            for repo in repos:
                catalog._add_repository(repo)
        return catalog

    def _add_repository(self, repo: Path) -> None:
        config = repository_config(repo)
        for path in _notebooks(repo, config.get("notebook_path")):
            name = path.stem.replace("_", "-")
            try:
                workflow = Workflow.from_path(path)
            except AstroflowError as exc:
                self.problems.append((str(path), str(exc)))
                log.warning("not serving %s: %s", path, exc)
                continue
            if name in self.services:
                self.problems.append((str(path), f"service name {name!r} already taken by "
                                                 f"{self.services[name].workflow.path}"))
                continue
            messenger = config.get("messenger") or workflow.metadata.get("messenger")
            roles = config.get("roles") or workflow.metadata.get("roles") or ()
            if isinstance(roles, str):
                roles = [r.strip() for r in roles.replace(",", " ").split()]
            self.services[name] = Service(name=name, workflow=workflow, source=repo,
                                          messenger=messenger, roles=frozenset(roles))


def repository_config(repo: Path) -> dict[str, Any]:
    """``astroflow.yaml`` (or MMODA's ``mmoda.yaml``) at the repository's root, if any."""
    for name in ("astroflow.yaml", "mmoda.yaml"):
        path = repo / name
        if path.is_file():
            import yaml

            data = yaml.safe_load(path.read_text()) or {}
            return data if isinstance(data, dict) else {}
    return {}


def _notebooks(folder: Path, subdir: str | None = None) -> list[Path]:
    base = folder / subdir if subdir else folder
    if not base.is_dir():
        return []
    found = []
    for path in sorted(base.iterdir()):
        if path.name.startswith(("test_", ".")) or not path.is_file():
            continue
        if path.suffix == ".ipynb" or (path.suffix == ".py" and _is_percent_notebook(path)):
            found.append(path)
    return found


def _is_percent_notebook(path: Path) -> bool:
    try:
        head = path.read_text(errors="replace")[:20000]
    except OSError:
        return False
    return "# %%" in head and "parameters" in head
