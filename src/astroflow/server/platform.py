"""Everything one server process holds: catalogue, store, artifacts, executor, runner.

Routers reach it through ``request.app.state.platform``; nothing is module-global, so tests
can start several servers in one process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from astroflow.execution.local import DEFAULT_PRELOAD, MAX_WARM_PARENTS, warm_profile
from astroflow.execution.pool import ExecutorPool
from astroflow.jobs.artifacts import ArtifactStore
from astroflow.jobs.model import EXPIRED_MESSAGE, TERMINAL, Job
from astroflow.jobs.runner import JobRunner
from astroflow.jobs.store import JobStore, Quota
from astroflow.jobs.uploads import parse_ref
from astroflow.lifecycle.housekeeping import Housekeeper
from astroflow.lifecycle.policy import StoragePolicy
from astroflow.registry.catalog import Service, ServiceCatalog
from astroflow.registry.registry import Registry
from astroflow.server.auth import Caller
from astroflow.server.config import ServerConfig
from astroflow.server.isolation import report_sandbox, sandbox_policy
from astroflow.server.records import job_record
from astroflow.workflow import FieldError, ValidationError, cache_key

log = logging.getLogger("astroflow.server")
REGISTRY_SYNC_SECONDS = 5.0


class NotFound(LookupError):
    """No such service or job, or not one this caller may see (404)."""


class Forbidden(PermissionError):
    """The caller is known but lacks the role this needs (403)."""


class Expired(LookupError):
    """The job's files were removed by the storage policy; its record stays (410)."""


@dataclass
class Platform:
    config: ServerConfig
    catalog: ServiceCatalog
    store: JobStore
    artifacts: ArtifactStore
    runner: JobRunner
    executors: ExecutorPool
    registry: Registry | None = None
    housekeeper: Housekeeper | None = None  # storage lifecycle: sweep, store full, in use
    sandbox: dict[str, bool] = field(default_factory=dict)  # layer → available (health report)
    started: float = field(default_factory=time.time)
    # Records of ended jobs never change: keep their encoded JSON to answer status reads
    # without touching the database.
    _ended: OrderedDict[str, tuple[Job, bytes]] = field(default_factory=OrderedDict)
    ended_cache_size: int = 10_000
    _closing: threading.Event = field(default_factory=threading.Event)
    _ended_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, config: ServerConfig) -> Platform:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        catalog = ServiceCatalog.discover(config.services)
        store = JobStore(config.db_url)
        store.migrate()
        artifacts = ArtifactStore(config.store_root, cache=config.data_dir / "cache")
        policy = sandbox_policy(config.sandbox, config.run_limits, config.data_dir,
                                config.db_url)
        sandbox = report_sandbox(policy)  # before any thread: the probe forks
        executors = ExecutorPool(max_parallel=config.workers, preload=DEFAULT_PRELOAD,
                                 sandbox=policy, max_limits=config.max_run_limits)
        cluster = dask_executor(config, policy)  # None: runs fork on this machine
        _warm_services(cluster or executors, catalog)
        # Twice as many claimed jobs as processes: the next job is prepared and waiting in the
        # executor's queue while the current ones run, so no slot idles between jobs.
        runner = JobRunner(store=store, catalog=catalog, executor=cluster or executors.get(None),
                           artifacts=artifacts,
                           slots=2 * (cluster.capacity(config.workers) if cluster else config.workers),
                           default_time_limit=config.time_limit)
        runner.executor_for = cluster.get if cluster else executors.get
        # A notebook that combines services submits sub-jobs to this server's own API.
        runner.run_env = {"ASTROFLOW_API_URL": api_url(config)}
        registry = None
        if config.registry is not None and config.registry.sources:
            registry = Registry(store, catalog, config.registry, config.data_dir / "registry",
                                executors.get)
        housekeeper = Housekeeper(store, artifacts, config.storage or StoragePolicy(),
                                  holder=runner.worker)
        return cls(config=config, catalog=catalog, store=store, artifacts=artifacts,
                   runner=runner, executors=executors, registry=registry, housekeeper=housekeeper,
                   sandbox={layer: why is None for layer, why in sandbox.items()})

    def start(self) -> None:
        self.runner.on_transition = self._on_transition
        threading.Thread(target=_warm_resolver, daemon=True, name="astroflow-resolve").start()
        if self.registry is not None:
            self.registry.sync()
            self._registry_thread = threading.Thread(target=self._follow_registry, daemon=True,
                                                     name="astroflow-registry")
            self._registry_thread.start()
        if self.housekeeper is not None:
            self.housekeeper.on_expired = self.forget_ended
            self.runner.on_store_full = self.housekeeper.store_full
            self.housekeeper.start()
        requeued, failed = self.runner.start()
        if requeued or failed:
            log.info("recovered after restart: %d re-queued, %d failed as interrupted",
                     len(requeued), len(failed))

    def _follow_registry(self) -> None:
        """Pick up versions the bot activated; deploy new commits every ``registry_interval``."""
        assert self.registry is not None
        last_update = 0.0
        while not self._closing.wait(REGISTRY_SYNC_SECONDS):
            try:
                self.registry.sync()
                interval = self.config.registry_interval
                if interval and time.monotonic() - last_update > interval:
                    last_update = time.monotonic()
                    self.registry.update()
            except Exception:  # the loop must outlive a bad repository or a database hiccup
                log.exception("registry follow-up failed")

    def update_registry(self, only: set[str] | None = None) -> None:
        """Deploy now, in the background (a push hook must answer at once)."""
        if self.registry is not None:
            threading.Thread(target=self.registry.update, args=(only,), daemon=True,
                             name="astroflow-deploy").start()

    def begin_drain(self) -> None:
        """The server was asked to stop: claim no more jobs, and give the running ones
        ``drain_grace`` seconds from now to end (safe in a signal handler)."""
        self.runner.begin_drain(self.config.drain_grace)

    def close(self) -> None:
        """Drain, then stop. Jobs still running when the grace (counted from `begin_drain`;
        none without it) is over go back to the queue, never ending as cancelled.
        Idempotent: a forced exit closes from outside the lifespan."""
        if self._closing.is_set():
            return
        self._closing.set()
        self.runner.drain()
        self.runner.stop()
        if self.housekeeper is not None:
            self.housekeeper.stop()
        self.executors.close()
        self.runner.executor.close()  # the Dask client, if any (a local one is closed already)
        self.store.close()

    # -- services and jobs as a caller sees them --------------------------------------------

    def service(self, name: str, caller: Caller) -> Service:
        service = self.catalog.get(name)
        if service is None or not caller.has_roles(service.roles):
            raise NotFound(f"no service named {name!r}")
        return service

    def submit(self, name: str, parameters: dict[str, Any], caller: Caller) -> tuple[Job, bool]:
        """Validate and queue (or join, or serve from cache). Returns (job, created)."""
        service = self.service(name, caller)
        values = service.workflow.validate(parameters)
        check_file_parameters(service, values)
        # A restricted service's job belongs to its owner: identical requests of two users
        # must not share one record (its id, parameters and products).
        private = service.workflow.token_access or bool(service.roles)
        identity = caller.sub if private else None
        key = cache_key(service.name, service.version, values, identity)
        if self.housekeeper is not None and self.housekeeper.full and self.store.live(key) is None:
            self.housekeeper.ensure_space()  # a new job needs room: sweep first, or refuse
        job, created = self.store.submit(
            service=service.name, version=service.version, cache_key=key, parameters=values,
            owner=owner_of(caller), time_limit=service.workflow.time_limit,
            queue_limit=self.config.queue_limit, requester=requester_of(caller),
            quota=self.quota_of(caller))
        if created:
            if service.workflow.token_access and caller.token:
                self.runner.secrets[job.id] = {"ASTROFLOW_TOKEN": caller.token,
                                               "ODA_TOKEN": caller.token}
            self.runner.notify()
            log.info("job %s queued", job.id, extra={"job_id": job.id, "service": name,
                                                     "state": "queued", "owner": job.owner})
        return job, created

    def quota_of(self, caller: Caller) -> Quota | None:
        """The caller's quota by its roles; operators have none."""
        policy = self.config.storage
        if policy is None or self.is_operator(caller):
            return None
        quota = policy.quota.for_roles(caller.roles)
        return None if quota.unlimited else quota

    def job_files(self, job: Job) -> Job:
        """The job, if its files are still kept: Expired (410) once the policy removed them.
        Counts as a use of them, for eviction."""
        if job.expired is not None:
            raise Expired(f"the files of job {job.id} were removed by the storage policy "
                          f"({EXPIRED_MESSAGE})")
        if job.state == "done" and (job.last_used is None or time.time() - job.last_used > 10):
            self.store.touch(job.id)
        return job

    def hold_files(self, job_id: str) -> Callable[[], None]:
        """Keep the job's files from this replica's sweep until the returned call."""
        if self.housekeeper is None:
            return lambda: None
        return self.housekeeper.hold(job_id)

    def forget_ended(self, job_ids: list[str]) -> None:
        """Drop cached records (these jobs' files expired: their record changed)."""
        with self._ended_lock:
            for job_id in job_ids:
                self._ended.pop(job_id, None)

    def job(self, job_id: str, caller: Caller) -> Job:
        job = self.store.get(job_id)
        if job is None or not self.may_see(job, caller):
            raise NotFound(f"no job {job_id!r}")
        return job

    def cancel(self, job_id: str, caller: Caller) -> Job:
        """Cancel for the job's owner or an operator; others who may see it get 403."""
        job = self.store.get(job_id) if self.is_operator(caller) else self.job(job_id, caller)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if not self.may_cancel(job, caller):
            raise Forbidden(f"job {job_id} is not yours: only whoever submitted it, or the "
                            f"{self.config.operator_role!r} role, may cancel it (joining an "
                            "identical request does not make it yours)")
        if job.state not in TERMINAL:
            job = self.runner.cancel(job_id) or job
        return job

    def may_cancel(self, job: Job, caller: Caller) -> bool:
        """Its submitter (a user by ``sub``, an anonymous one by address) or an operator:
        a shared job must not be cancelled by whoever merely joined or found it."""
        if self.is_operator(caller):
            return True
        if job.owner is not None:
            return job.owner == caller.sub
        return caller.anonymous and job.requester is not None and \
            job.requester == requester_of(caller)

    def is_operator(self, caller: Caller) -> bool:
        return self.config.operator_role in caller.roles

    def ended_record(self, job_id: str, caller: Caller) -> bytes | None:
        """The encoded record of an ended job, if it is cached and the caller may see it."""
        entry = self._ended.get(job_id)
        if entry is None or not self.may_see(entry[0], caller):
            return None
        return entry[1]

    def remember_ended(self, job: Job, body: bytes | None = None) -> None:
        if job.state in TERMINAL:
            if body is None:
                body = json.dumps(job_record(job)).encode()
            with self._ended_lock:
                self._ended[job.id] = (job, body)
                while len(self._ended) > self.ended_cache_size:
                    self._ended.popitem(last=False)

    def _on_transition(self, job: Job, state: str) -> None:
        """The runner recorded an end: waiting clients get it without reading the store."""
        if job.state == state and state in TERMINAL and job.finished is not None:
            self.remember_ended(job)

    def may_see(self, job: Job, caller: Caller) -> bool:
        """Jobs of public services are shareable by id; restricted ones only their owner's."""
        service = self.catalog.get(job.service)
        restricted = service is None or bool(service.roles)
        return not restricted or (job.owner is not None and job.owner == owner_of(caller))


def dask_executor(config: ServerConfig, policy: Any) -> Any:
    """The `DaskExecutor` of ``--executor dask://HOST:PORT``; None for ``local``."""
    if config.executor.strip().lower() in ("", "local"):
        return None
    from astroflow.execution.dask.executor import DaskExecutor

    return DaskExecutor(config.executor, sandbox=policy, max_limits=config.max_run_limits,
                        store=config.store_root)


def _warm_services(executors: Any, catalog: ServiceCatalog) -> None:
    """Start the warm parents the services need, so first requests find their imports
    loaded; no more per environment than an executor keeps (more would only be retired)."""
    started: dict[str | None, set[tuple[str, ...]]] = {}
    for service in catalog.services.values():
        profiles = started.setdefault(service.python, {()})
        profile = warm_profile(service.workflow.imports)
        if profile not in profiles and len(profiles) >= MAX_WARM_PARENTS:
            continue  # this one starts with its first job
        profiles.add(profile)
        executors.get(service.python).warm(service.workflow.imports)


def _warm_resolver() -> None:
    """Load the bundled catalogues (and the 4FGL name index, when the catalogue has been
    fetched) now, so the portal's first Resolve answers at once."""
    from astroflow.resolve import load_catalogues
    from astroflow.resolve.fermi import fermi_catalogue

    try:
        load_catalogues()
        fermi_catalogue()
    except Exception:  # the resolver reports its own problems when asked
        log.exception("could not load the bundled catalogues")


def check_file_parameters(service: Service, values: dict[str, Any]) -> None:
    """Over HTTP a file parameter takes an upload reference, never a path on the server,
    and a file URL parameter an http(s) URL."""
    errors = []
    for name, param in service.workflow.parameters.items():
        value = values.get(name)
        if param.role == "file" and value not in (None, "") and parse_ref(value) is None:
            if value == param.default:
                continue  # the notebook's own default file, shipped with the workflow
            errors.append(FieldError(name, value, "upload the file first (POST /api/v1/uploads) "
                                                  "and pass the returned ref"))
        if param.role == "url" and value not in (None, "", param.default) and not is_web_url(value):
            errors.append(FieldError(name, value, "must be an http:// or https:// URL "
                                                  "(the notebook downloads the file)"))
    if errors:
        raise ValidationError(errors)


def is_web_url(value: Any) -> bool:
    """An ``http(s)://host…`` URL: a file URL parameter never names a server path."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def api_url(config: ServerConfig) -> str:
    """The URL at which runs reach this server's API (loopback when it listens on all)."""
    if config.base_url:
        return config.base_url.rstrip("/")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(config.host, config.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.port}"


def owner_of(caller: Caller) -> str | None:
    return caller.sub


def requester_of(caller: Caller) -> str | None:
    """Whose queue allowance a request uses: the user's, or its network address's."""
    if caller.sub is not None:
        return caller.sub
    return f"anon:{caller.address}" if caller.address else None
