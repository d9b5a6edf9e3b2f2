"""The deployment pipeline of one repository version, step by step.

fetch → find notebooks → environment → inspect → test → activate. A failure at any step
leaves the previous version serving; the attempt records the step, the reason and the tail
of the log, and (for GitLab) the commit gets a status saying so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroflow.errors import AstroflowError
from astroflow.registry.catalog import (
    Service,
    load_repository,
    repository_config,
    service_notebooks,
)
from astroflow.registry.environments import (
    EnvironmentError_,
    base_satisfies,
    ensure_environment,
    requirements_of,
)
from astroflow.registry.sources import Repository, fetch_version

log = logging.getLogger("astroflow.registry")

STEPS = ("fetch", "discover", "environment", "inspect", "test", "activate")
DEFAULT_TEST_TIMEOUT = 600.0


class StepFailed(AstroflowError):
    def __init__(self, step: str, reason: str, log_tail: str = "") -> None:
        super().__init__(f"{step}: {reason}")
        self.step, self.reason, self.log_tail = step, reason, log_tail


@dataclass
class Deployment:
    """What a successful pipeline produces: services ready to activate."""

    repository: Repository
    version: str
    path: Path
    python: str | None
    services: list[Service]
    log: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    mirrors: Path
    checkouts: Path
    environments: Path
    executor_for: Callable[[str | None], Any]     # interpreter → executor (warm parent per env)
    run_defaults: bool = True
    test_timeout: float = DEFAULT_TEST_TIMEOUT

    def deploy(self, repo: Repository, version: str) -> Deployment:
        """Run every step; raise `StepFailed` naming the first one that failed."""
        notes: list[str] = []
        step = "fetch"
        try:
            path = fetch_version(repo, version, self.mirrors, self.checkouts)
            notes.append(f"fetched {repo.name} at {version[:12]} into {path}")
            step = "discover"
            config = repository_config(path)
            notebooks = service_notebooks(path, config)
            tests = sorted(p for p in path.rglob("test_*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                raise StepFailed(step, "no service notebook found (a notebook with a cell tagged "
                                       "'parameters', not named test_*)")
            notes.append(f"notebooks: {', '.join(p.name for p in notebooks)}; tests: "
                         f"{', '.join(p.name for p in tests) or 'none'}")
            step = "environment"
            python = self._environment(path, notes)
            step = "inspect"
            roles = None if repo.public else ("workflow-developer",)
            services, problems = load_repository(
                path, messenger=repo.messenger, roles=roles, python=python,
                repository=repo.name, repository_version=version)
            if problems:
                raise StepFailed(step, "; ".join(f"{Path(nb).name}: {why}" for nb, why in problems))
            step = "test"
            run_defaults = config.get("run_defaults", self.run_defaults)
            self._test(path, python, tests, services if run_defaults else [], notes)
            return Deployment(repo, version, path, python, services, notes)
        except StepFailed:
            raise
        except EnvironmentError_ as exc:
            raise StepFailed(step, str(exc), exc.log) from exc
        except (AstroflowError, OSError) as exc:
            raise StepFailed(step, str(exc), "\n".join(notes[-20:])) from exc

    def _environment(self, path: Path, notes: list[str]) -> str | None:
        requirements = requirements_of(path)
        satisfied = base_satisfies(requirements)
        env = ensure_environment(requirements, self.environments, satisfied_by_base=satisfied)
        notes.append(f"environment {env.key}: {len(requirements)} requirements"
                     + (" (met by astroflow's own)" if env.key == "base" else ""))
        return None if env.key == "base" else env.python

    def _test(self, path: Path, python: str | None, tests: list[Path], services: list[Service],
              notes: list[str]) -> None:
        """Every ``test_*.ipynb`` must run cleanly, and every service with its defaults."""
        from astroflow.execution import RunSpec
        from astroflow.workflow.notebook import read_notebook

        executor = self.executor_for(python)
        scratch = path.parent / f".tests-{path.name}-{int(time.time() * 1000)}"
        runs: list[tuple[str, Any]] = []
        for test in tests:
            spec = RunSpec(notebook=read_notebook(test), outputs=[], job_dir=scratch / test.stem,
                           source_dir=test.parent, time_limit=self.test_timeout)
            runs.append((f"test notebook {test.relative_to(path)}", executor.submit(spec)))
        for service in services:
            spec = service.workflow.run_spec({}, job_dir=scratch / f"defaults-{service.name}",
                                             time_limit=self.test_timeout)
            runs.append((f"service {service.name} with its defaults", executor.submit(spec)))
        failures = []
        for what, handle in runs:
            result = handle.wait()
            if result.status == "done":
                notes.append(f"passed: {what} ({result.duration:.2f} s)")
                continue
            error = result.error
            detail = f"{error.ename}: {error.evalue}" if error else result.status
            failures.append(f"{what} failed: {detail}")
            if error and error.traceback:
                notes.append(error.traceback[-2000:])
        if failures:
            raise StepFailed("test", "; ".join(failures), "\n".join(notes[-30:]))
