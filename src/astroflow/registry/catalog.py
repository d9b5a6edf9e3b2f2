"""The services a server offers, found in folders of workflow repositories.

A folder given to ``--services`` is either one workflow repository (it holds notebooks) or a
folder of them (the bundled ``workflows/`` is one). Each notebook tagged with a
``parameters`` cell becomes a service named after the file (``sky_position.py`` →
``sky-position``); ``test_*`` notebooks are the repository's tests, not services.
Per repository, ``astroflow.yaml`` may say the messenger and the roles a caller needs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroflow.datadir import default_data_dir
from astroflow.errors import AstroflowError
from astroflow.registry.installed import offered_choices
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
    python: str | None = None          # interpreter of the service's environment (None: astroflow's)
    repository: str | None = None
    repository_version: str | None = None

    @property
    def version(self) -> str:
        """The repository's version (commit or content hash): a change to the workflow's own
        module, not only to its notebook, must give new results rather than cached ones."""
        return (self.repository_version or self.workflow.version)[:12]

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
    # Every version ever activated in this process: queued jobs run the version they asked for.
    versions: dict[tuple[str, str], Service] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        for service in self.services.values():
            self.versions[(service.name, service.version)] = service

    def get(self, name: str) -> Service | None:
        return self.services.get(name)

    def get_version(self, name: str, version: str) -> Service | None:
        return self.versions.get((name, version))

    def activate(self, repository: str, services: list[Service]) -> None:
        """Switch a repository's services to a new version in one step."""
        with self._lock:
            updated = {n: s for n, s in self.services.items() if s.repository != repository}
            for service in services:
                updated[service.name] = service
                self.versions[(service.name, service.version)] = service
            self.services = updated

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
        services, problems = load_repository(repo, repository_version=folder_hash(repo))
        self.problems += problems
        for service in services:
            if service.name in self.services:
                self.problems.append((str(service.workflow.path), f"service name {service.name!r} "
                                      f"already taken by {self.services[service.name].workflow.path}"))
                continue
            self.services[service.name] = service
            self.versions[(service.name, service.version)] = service


def service_name(notebook: Path) -> str:
    return notebook.stem.replace("_", "-")


def load_repository(repo: Path, *, messenger: str | None = None, roles: Iterable[str] | None = None,
                    python: str | None = None, repository: str | None = None,
                    repository_version: str | None = None) -> tuple[list[Service], list[tuple[str, str]]]:
    """Inspect every service notebook of one repository (nothing runs)."""
    config = repository_config(repo)
    services, problems = [], []
    for path in service_notebooks(repo, config):
        try:
            workflow = Workflow.from_path(path)
        except AstroflowError as exc:
            problems.append((str(path), str(exc)))
            log.warning("not serving %s: %s", path, exc)
            continue
        workflow = offered_choices(workflow, config.get("installed_choices"), default_data_dir())
        declared = config.get("roles") or workflow.metadata.get("roles") or ()
        if isinstance(declared, str):
            declared = [r.strip() for r in declared.replace(",", " ").split()]
        services.append(Service(
            name=service_name(path), workflow=workflow, source=repo,
            messenger=messenger or config.get("messenger") or workflow.metadata.get("messenger"),
            roles=frozenset(roles if roles is not None else declared), python=python,
            repository=repository or repo.name, repository_version=repository_version))
    return services, problems


def service_notebooks(repo: Path, config: dict[str, Any] | None = None) -> list[Path]:
    """Service notebooks (not ``test_*``), where ``astroflow.yaml``/``mmoda.yaml`` says they are."""
    config = repository_config(repo) if config is None else config
    found = _notebooks(repo, config.get("notebook_path"))
    pattern = config.get("filename_pattern")
    if pattern:
        found = [p for p in found if _matches(pattern, p.name)]
    return found


def _matches(pattern: str, name: str) -> bool:
    """MMODA's ``filename_pattern`` is a regular expression; a glob is accepted too."""
    try:
        return re.fullmatch(pattern, name) is not None or fnmatch.fnmatch(name, pattern)
    except re.error:
        return fnmatch.fnmatch(name, pattern)


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


def folder_hash(folder: Path) -> str:
    """The version of a local repository's content: a hash of its files (not its data)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part in (".git", ".venv", "__pycache__", "data", ".ipynb_checkpoints")
               for part in relative.parts) or not path.is_file():
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\1")
    return digest.hexdigest()[:12]
