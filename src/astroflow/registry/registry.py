"""The registry: follows repositories, deploys new versions, remembers what serves.

State lives in the database (tables ``repositories`` and ``deploy_attempts``), so the
``astroflow bot`` process and any number of servers agree on what is active: a server picks up
a version activated by the bot on its next `sync`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from astroflow.errors import AstroflowError
from astroflow.jobs.store import JobStore
from astroflow.registry.catalog import ServiceCatalog, load_repository
from astroflow.registry.model import AttemptRow, RepositoryRow
from astroflow.registry.pipeline import Pipeline, StepFailed
from astroflow.registry.sources import (
    RegistryConfig,
    Repository,
    describe,
    head_version,
    list_repositories,
)

if TYPE_CHECKING:
    from astroflow.registry.gitlab import StatusState

log = logging.getLogger("astroflow.registry")
LOG_TAIL = 4000


class Registry:
    def __init__(self, store: JobStore, catalog: ServiceCatalog, config: RegistryConfig,
                 data_dir: Path, executor_for: Callable[[str | None], Any]) -> None:
        self.store = store
        self.catalog = catalog
        self.config = config
        self.data_dir = Path(data_dir)
        self.pipeline = Pipeline(mirrors=self.data_dir / "mirrors",
                                 checkouts=self.data_dir / "checkouts",
                                 environments=self.data_dir / "envs", executor_for=executor_for,
                                 run_defaults=config.run_defaults)
        self._lock = threading.Lock()          # one deployment at a time per process
        self._loaded: dict[str, str] = {}      # repository → version loaded in the catalog

    # -- what serves ----------------------------------------------------------------------

    def sync(self) -> int:
        """Load into the catalogue every active version recorded in the database."""
        changed = 0
        with self.store.session() as s:
            rows = list(s.scalars(select(RepositoryRow).where(RepositoryRow.active_version.is_not(None))))
        for row in rows:
            if (row.active_version is None or not row.active_path
                    or self._loaded.get(row.name) == row.active_version):
                continue
            if not Path(row.active_path).is_dir():
                log.warning("active version of %s is missing at %s", row.name, row.active_path)
                continue
            public = "live-workflow-public" in (row.topics or []) or (row.kind != "gitlab" and not row.topics)
            repo = Repository(name=row.name, kind=row.kind, location=row.source, topics=tuple(row.topics or ()))
            services, problems = load_repository(
                Path(row.active_path), messenger=repo.messenger,
                roles=None if public else ("workflow-developer",), python=row.active_python,
                repository=row.name, repository_version=row.active_version)
            if problems:
                log.warning("active version of %s no longer inspects: %s", row.name, problems)
                continue
            self.catalog.activate(row.name, services)
            self._loaded[row.name] = row.active_version
            changed += 1
        return changed

    # -- deployments ----------------------------------------------------------------------

    def update(self, only: set[str] | None = None) -> list[dict[str, Any]]:
        """Look at every source; deploy each repository whose head is new. Returns outcomes."""
        with self._lock:
            try:
                repos = list_repositories(self.config, self.data_dir / "mirrors")
            except AstroflowError as exc:
                log.error("could not list repositories: %s", exc)
                return [{"repository": None, "status": "failed", "step": "list", "reason": str(exc)}]
            outcomes = []
            for repo in repos:
                if only is not None and repo.name not in only and repo.location not in only:
                    continue
                if not (repo.serves or repo.galaxy):
                    continue
                outcomes.append(self._update_one(repo))
            return outcomes

    def _update_one(self, repo: Repository) -> dict[str, Any]:
        try:
            version = head_version(repo, self.data_dir / "mirrors")
        except AstroflowError as exc:
            return self._record_failure(repo, "unknown", "fetch", str(exc), "")
        row = self._repository_row(repo)
        if row.active_version == version:
            return {"repository": repo.name, "version": version, "status": "unchanged"}
        if self._already_failed(repo.name, version):
            return {"repository": repo.name, "version": version, "status": "failed-before"}
        attempt_id = self._start_attempt(repo.name, version)
        self._commit_status(repo, version, "running", "astroflow is building and testing")
        try:
            deployment = self.pipeline.deploy(repo, version)
        except StepFailed as exc:
            return self._record_failure(repo, version, exc.step, exc.reason, exc.log_tail, attempt_id)
        if repo.serves:
            self._activate(repo, deployment)
        if repo.galaxy and self.config.galaxy_out:
            self._write_galaxy_tools(deployment)
        self._finish_attempt(attempt_id, "succeeded", "activate", None, "\n".join(deployment.log))
        self._commit_status(repo, version, "success",
                            f"deployed {len(deployment.services)} service(s)")
        log.info("deployed %s at %s", repo.name, version[:12])
        return {"repository": repo.name, "version": version, "status": "succeeded",
                "services": [s.name for s in deployment.services]}

    def _activate(self, repo: Repository, deployment: Any) -> None:
        """Record the new version, then switch the catalogue: jobs never see a half state."""
        with self.store.session() as s, s.begin():
            row = s.get_one(RepositoryRow, repo.name)
            row.active_version = deployment.version
            row.active_path = str(deployment.path)
            row.active_python = deployment.python
            row.activated = time.time()
            row.topics = list(repo.topics)
            row.services = [{"name": sv.name, "version": sv.version,
                             "notebook": sv.workflow.path.name} for sv in deployment.services]
        self.catalog.activate(repo.name, deployment.services)
        self._loaded[repo.name] = deployment.version

    def _write_galaxy_tools(self, deployment: Any) -> None:
        from astroflow.registry.galaxy import galaxy_command

        assert self.config.galaxy_out is not None  # only called when the operator set it
        root = Path(self.config.galaxy_out)
        out = root / deployment.repository.name.replace("/", "__")
        try:
            galaxy_command(deployment.path, out)
            deployment.log.append(f"galaxy tools written to {out}")
            if (root / ".git").exists():  # a Git repository of tools: one commit per deployment
                _git_commit(root, f"{deployment.repository.name} {deployment.version[:12]}")
                deployment.log.append(f"galaxy tools committed in {root}")
        except Exception as exc:  # a tool problem must not undo a working deployment
            deployment.log.append(f"galaxy tools could not be written: {exc}")

    # -- records --------------------------------------------------------------------------

    def _repository_row(self, repo: Repository) -> RepositoryRow:
        with self.store.session() as s, s.begin():
            row = s.get(RepositoryRow, repo.name)
            if row is None:
                row = RepositoryRow(name=repo.name, source=repo.location, kind=repo.kind,
                                    topics=list(repo.topics), services=[])
                s.add(row)
            else:
                row.source, row.kind, row.topics = repo.location, repo.kind, list(repo.topics)
            s.flush()
            s.expunge(row)
            return row

    def _already_failed(self, name: str, version: str) -> bool:
        with self.store.session() as s:
            query = (select(AttemptRow.status).where(AttemptRow.repository == name,
                                                     AttemptRow.version == version)
                     .order_by(AttemptRow.id.desc()).limit(1))
            return s.scalar(query) == "failed"

    def _start_attempt(self, name: str, version: str) -> int:
        with self.store.session() as s, s.begin():
            attempt = AttemptRow(repository=name, version=version, status="running",
                                 started=time.time())
            s.add(attempt)
            s.flush()
            return attempt.id

    def _finish_attempt(self, attempt_id: int, status: str, step: str | None, reason: str | None,
                        log_tail: str) -> None:
        with self.store.session() as s, s.begin():
            attempt = s.get_one(AttemptRow, attempt_id)
            attempt.status, attempt.step, attempt.reason = status, step, reason
            attempt.log_tail = log_tail[-LOG_TAIL:]
            attempt.finished = time.time()

    def _record_failure(self, repo: Repository, version: str, step: str, reason: str,
                        log_tail: str, attempt_id: int | None = None) -> dict[str, Any]:
        self._repository_row(repo)
        if attempt_id is None:
            attempt_id = self._start_attempt(repo.name, version)
        self._finish_attempt(attempt_id, "failed", step, reason, log_tail)
        if version != "unknown":
            self._commit_status(repo, version, "failed", f"{step}: {reason}")
        log.warning("deployment of %s at %s failed at %s: %s", repo.name, version[:12], step, reason)
        return {"repository": repo.name, "version": version, "status": "failed", "step": step,
                "reason": reason}

    def _commit_status(self, repo: Repository, version: str, state: StatusState,
                       description: str) -> None:
        if repo.kind != "gitlab" or repo.project_id is None or not repo.gitlab_url:
            return
        from astroflow.registry.gitlab import GitLabError, set_commit_status

        token = os.environ.get(repo.token_env) if repo.token_env else None
        try:
            set_commit_status(repo.gitlab_url, token, repo.project_id, version, state, description)
        except GitLabError as exc:
            log.warning("could not set the commit status of %s: %s", repo.name, exc)

    def status(self) -> list[dict[str, Any]]:
        """Per repository: what serves, and how the last attempt went."""
        with self.store.session() as s:
            rows = list(s.scalars(select(RepositoryRow).order_by(RepositoryRow.name)))
            result = []
            for row in rows:
                last = s.scalars(select(AttemptRow).where(AttemptRow.repository == row.name)
                                 .order_by(AttemptRow.id.desc()).limit(1)).first()
                result.append({
                    "name": row.name, "source": row.source, "kind": row.kind,
                    "topics": row.topics or [], "active_version": row.active_version,
                    "activated": row.activated, "services": row.services or [],
                    "status": last.status if last else "never attempted",
                    "last_attempt": None if last is None else {
                        "version": last.version, "status": last.status, "step": last.step,
                        "reason": last.reason, "log_tail": last.log_tail,
                        "started": last.started, "finished": last.finished},
                })
            return result


def _git_commit(repo: Path, message: str) -> None:
    import subprocess

    env = {**os.environ, "GIT_AUTHOR_NAME": "astroflow", "GIT_AUTHOR_EMAIL": "astroflow@localhost",
           "GIT_COMMITTER_NAME": "astroflow", "GIT_COMMITTER_EMAIL": "astroflow@localhost"}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, capture_output=True, env=env)
    staged = subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=repo, env=env)
    if staged.returncode:
        subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, check=True,
                       capture_output=True, env=env)


def describe_repositories(config: RegistryConfig, mirrors: Path) -> list[dict[str, Any]]:
    return [describe(r) for r in list_repositories(config, mirrors)]
