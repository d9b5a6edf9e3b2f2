"""Where workflow repositories come from, and how one version of each is fetched.

Three kinds of source, configured in ``astroflow.toml`` (``[[sources]]`` tables) or by flags:

- ``folder``: a local folder of repositories (each sub-folder one repository);
- ``git``: one repository by URL or path, following a branch;
- ``gitlab``: every project of a GitLab group (subgroups included) carrying a registry topic.

A version is a Git commit when the repository is a Git repository, otherwise a hash of its
files. Each version is fetched into its own immutable folder, so the serving version is never
touched while a new one is built and tested.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroflow.errors import AstroflowError
from astroflow.registry.catalog import SKIP_DIRS, folder_hash, repository_config

TOPICS = ("live-workflow", "live-workflow-public", "galaxy-tool")


class SourceError(AstroflowError):
    """A source that cannot be listed or a repository that cannot be fetched."""


@dataclass(frozen=True)
class Repository:
    """One repository as a source lists it."""

    name: str
    kind: str                       # folder | git | gitlab
    location: str                   # folder path or clone URL
    branch: str | None = None
    topics: tuple[str, ...] = ()
    project_id: int | None = None   # GitLab project, for commit statuses
    gitlab_url: str | None = None
    token_env: str | None = None

    @property
    def public(self) -> bool:
        """Only ``live-workflow-public`` (or an untagged local folder) serves everyone."""
        return "live-workflow-public" in self.topics or (self.kind != "gitlab" and not self.topics)

    @property
    def serves(self) -> bool:
        return self.public or "live-workflow" in self.topics

    @property
    def galaxy(self) -> bool:
        return "galaxy-tool" in self.topics

    @property
    def messenger(self) -> str | None:
        from astroflow.registry.gitlab import messenger_from_topics

        return messenger_from_topics(self.topics)


@dataclass
class SourceConfig:
    kind: str
    location: str = ""
    branch: str | None = None
    group: str | None = None
    token_env: str | None = None
    topics: tuple[str, ...] = TOPICS


@dataclass
class RegistryConfig:
    sources: list[SourceConfig] = field(default_factory=list)
    galaxy_out: str | None = None          # folder (or Git repository path) for generated tools
    run_defaults: bool = True
    hook_secret_env: str = "ASTROFLOW_GITLAB_HOOK_SECRET"

    @classmethod
    def load(cls, path: Path | None) -> RegistryConfig:
        """``astroflow.toml``: ``[registry]`` settings and ``[[sources]]`` tables."""
        if path is None or not Path(path).is_file():
            return cls()
        data = tomllib.loads(Path(path).read_text())
        sources = []
        for entry in data.get("sources", []):
            kind = entry.get("kind")
            if kind not in ("folder", "git", "gitlab"):
                raise SourceError(f"{path}: source kind must be folder, git or gitlab, got {kind!r}")
            location = str(entry.get("path") or entry.get("url") or "")
            if kind != "gitlab" and location and not ("://" in location or location.startswith("/")):
                location = str((Path(path).parent / location).resolve())
            sources.append(SourceConfig(kind=kind, location=location, branch=entry.get("branch"),
                                        group=entry.get("group"), token_env=entry.get("token_env"),
                                        topics=tuple(entry.get("topics", TOPICS))))
        registry = data.get("registry", {})
        return cls(sources=sources, galaxy_out=registry.get("galaxy_out"),
                   run_defaults=registry.get("run_defaults", True))


def list_repositories(config: RegistryConfig, mirrors: Path) -> list[Repository]:
    repos: list[Repository] = []
    for source in config.sources:
        if source.kind == "folder":
            repos += _folder_repositories(Path(source.location))
        elif source.kind == "git":
            name = Path(source.location.rstrip("/")).name.removesuffix(".git")
            topics = tuple(_declared_topics_remote(source, mirrors))
            repos.append(Repository(name=name, kind="git", location=source.location,
                                    branch=source.branch, topics=topics))
        else:
            repos += _gitlab_repositories(source)
    return repos


def _folder_repositories(folder: Path) -> list[Repository]:
    if not folder.is_dir():
        raise SourceError(f"source folder {folder} does not exist")
    repos = []
    for path in sorted(folder.iterdir()):
        if path.is_dir() and path.name not in SKIP_DIRS and not path.name.startswith("."):
            topics = tuple(repository_config(path).get("topics", ()) or ())
            repos.append(Repository(name=path.name, kind="folder", location=str(path), topics=topics))
    return repos


def _declared_topics_remote(source: SourceConfig, mirrors: Path) -> list[str]:
    """A plain Git repository has no topics API: its ``astroflow.yaml`` declares them."""
    try:
        mirror = _mirror_for(source.location, mirrors)
        text = _git("show", f"{source.branch or 'HEAD'}:astroflow.yaml", cwd=mirror)
    except SourceError:
        return []
    import yaml

    data = yaml.safe_load(text) or {}
    return list(data.get("topics", []) or []) if isinstance(data, dict) else []


def _gitlab_repositories(source: SourceConfig) -> list[Repository]:
    from astroflow.registry.gitlab import list_group_projects

    token = os.environ.get(source.token_env) if source.token_env else None
    projects = list_group_projects(source.location, source.group or "", token, topics=source.topics)
    return [Repository(name=p.name, kind="gitlab", location=p.clone_url, branch=p.default_branch,
                       topics=tuple(p.topics), project_id=p.project_id,
                       gitlab_url=source.location, token_env=source.token_env) for p in projects]


# -- versions and checkouts ---------------------------------------------------------------

def _mirror_for(location: str, mirrors: Path, token: str | None = None) -> Path:
    """A bare mirror of a Git repository, cloned once and fetched on every look.

    A GitLab token travels as an HTTP header for that host only (never in the URL or config).
    """
    from astroflow.registry.gitlab import git_auth_env

    auth = git_auth_env(location, token) if token else {}
    digest = hashlib.sha256(location.encode()).hexdigest()[:16]
    mirror = mirrors / digest
    if not (mirror / "HEAD").exists():
        mirrors.mkdir(parents=True, exist_ok=True)
        partial = mirrors / f".{digest}.{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        _git("clone", "--quiet", "--mirror", location, str(partial), env=auth)
        try:
            partial.rename(mirror)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
    else:
        _git("fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*", cwd=mirror,
             env=auth)
    return mirror


def _token(repo: Repository) -> str | None:
    return os.environ.get(repo.token_env) if repo.token_env else None


def head_version(repo: Repository, mirrors: Path) -> str:
    """The version to deploy now: the branch head's commit, or the folder's content hash."""
    if repo.kind == "folder" and not (Path(repo.location) / ".git").exists():
        return folder_hash(Path(repo.location))
    mirror = _mirror_for(repo.location, mirrors, _token(repo))
    ref = repo.branch or _git("symbolic-ref", "--short", "HEAD", cwd=mirror).strip()
    return _git("rev-parse", f"{ref}^{{commit}}", cwd=mirror).strip()


def fetch_version(repo: Repository, version: str, mirrors: Path, checkouts: Path) -> Path:
    """An immutable folder holding exactly this version of the repository."""
    target = checkouts / _safe(repo.name) / version
    if target.exists():
        return target
    partial = target.with_name(f".{version}.{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if repo.kind == "folder" and not (Path(repo.location) / ".git").exists():
        shutil.copytree(repo.location, partial, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "data",
                                                      ".ipynb_checkpoints"))
    else:
        mirror = _mirror_for(repo.location, mirrors, _token(repo))
        archive = subprocess.run(["git", "archive", "--format=tar", version], cwd=mirror,
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            raise SourceError(f"git archive {version[:12]} failed: {archive.stderr.decode()[-500:]}")
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
    try:
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _safe(name: str) -> str:
    return name.replace("/", "__")


def _git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})})
    if result.returncode != 0:
        raise SourceError(f"git {' '.join(args[:2])} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def describe(repo: Repository) -> dict[str, Any]:
    return {"name": repo.name, "kind": repo.kind, "location": repo.location, "branch": repo.branch,
            "topics": list(repo.topics), "public": repo.public, "galaxy": repo.galaxy,
            "messenger": repo.messenger}
