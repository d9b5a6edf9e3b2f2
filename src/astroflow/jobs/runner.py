"""The runner: takes queued jobs from the store in FIFO order and runs them on the executor.

One dispatcher thread claims jobs while slots are free; a small pool of recorder threads
takes each run as it ends, makes its files durable, and only then records it as done. The store is the
truth: a job's progress, its cancellation and its outcome all go through it, so a server
that dies loses nothing that was recorded and `JobStore.recover` picks up the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from astroflow.jobs.artifacts import ArtifactStore
from astroflow.jobs.events import EventBus
from astroflow.jobs.model import Job
from astroflow.jobs.store import JobStore, worker_id
from astroflow.jobs.uploads import materialise, parse_ref
from astroflow.registry.catalog import ServiceCatalog

log = logging.getLogger("astroflow.jobs")

POLL_SECONDS = 0.5       # how often the store is looked at for work queued by other replicas
HEARTBEAT_SECONDS = 5.0


@dataclass
class _Running:
    job: Job
    handle: Any
    cancelled: bool = False
    progress: dict[str, Any] | None = None  # the last reported, as stored


@dataclass
class JobRunner:
    store: JobStore
    catalog: ServiceCatalog
    executor: Any                      # astroflow.execution.LocalExecutor (or another backend)
    artifacts: ArtifactStore
    events: EventBus = field(default_factory=EventBus)
    slots: int = 2
    default_time_limit: float | None = 3600.0
    worker: str = field(default_factory=worker_id)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # job id → env (tokens), never stored

    def __post_init__(self) -> None:
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Threads that outlive jobs: one per job would cost a thread start per job.
        self._recorders = ThreadPoolExecutor(max_workers=max(2, self.slots),
                                             thread_name_prefix="astroflow-record")
        self.on_transition: Callable[[Job, str], None] | None = None
        # Services from a registry repository run in their own environment's warm parent.
        self.executor_for: Callable[[str | None], Any] = lambda python: self.executor

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> tuple[list[str], list[str]]:
        """Recover interrupted jobs, then start dispatching. Returns (requeued, failed)."""
        requeued, failed = self.store.recover(self.worker)
        for job_id in failed:
            self._transition(job_id, "failed")
        self._thread = threading.Thread(target=self._loop, name="astroflow-dispatch", daemon=True)
        self._thread.start()
        return requeued, failed

    def stop(self, cancel_running: bool = False) -> None:
        self._stop.set()
        self._wake.set()
        if cancel_running:
            with self._lock:
                for running in self._running.values():
                    running.handle.cancel()
        if self._thread:
            self._thread.join(timeout=10)

    def notify(self) -> None:
        """A job was queued: look for work now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    # -- cancellation ---------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job | None:
        job = self.store.cancel(job_id)
        if job is None:
            return None
        if job.state == "cancelled":
            self._transition(job_id, "cancelled")
        self._kill_if_mine(job_id)
        return self.store.get(job_id)

    def _kill_if_mine(self, job_id: str) -> None:
        with self._lock:
            running = self._running.get(job_id)
            if running is not None:
                running.cancelled = True
        if running is not None:
            running.handle.cancel()

    # -- dispatch -------------------------------------------------------------------------

    def _loop(self) -> None:
        last_beat = 0.0
        while not self._stop.is_set():
            try:
                launched = self._fill_slots()
                now = time.monotonic()
                if now - last_beat > HEARTBEAT_SECONDS:
                    last_beat = now
                    self._beat()
            except Exception:  # the loop must survive a database hiccup
                log.exception("dispatcher error")
                launched = False
            if not launched:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()

    def _fill_slots(self) -> bool:
        launched = False
        while self.running < self.slots and not self._stop.is_set():
            job = self.store.claim_next(self.worker, services=list(self.catalog.services),
                                        job_dir_prefix=self.artifacts.jobs_prefix)
            if job is None:
                break
            launched = True
            self._launch(job)
        return launched

    def _beat(self) -> None:
        with self._lock:
            ids = list(self._running)
        self.store.heartbeat(ids)
        for job_id in self.store.cancel_requested(ids):  # cancels sent to another replica
            self._kill_if_mine(job_id)

    def _launch(self, job: Job) -> None:
        self._transition(job.id, "running", job)
        service = self.catalog.get_version(job.service, job.version)
        if service is None:
            current = self.catalog.get(job.service)
            have = current.version if current else "none"
            self._fail(job, "unavailable", f"service {job.service} version {job.version} is no "
                       f"longer served (current: {have}); submit the request again")
            return
        job_dir = self.artifacts.job_dir(job.id)
        time_limit = job.time_limit or self.default_time_limit
        try:
            values = self._inputs(service.workflow, job.parameters, job_dir)
            spec = service.workflow.run_spec(values, job_dir=job_dir, time_limit=time_limit,
                                             env=self.secrets.get(job.id, {}))
            spec.keep_scratch = False  # served jobs keep products and notebook, not scratch
            executor = self.executor_for(service.python)
            handle = executor.submit(spec, on_progress=lambda p: self._progress(job.id, p))
        except Exception as exc:
            log.exception("could not start job %s", job.id)
            self._fail(job, "bug", f"could not start: {exc}")
            return
        with self._lock:
            self._running[job.id] = _Running(job, handle)
        handle.add_done_callback(lambda _handle, job_id=job.id: self._ended(job_id))

    def _inputs(self, workflow: Any, values: dict[str, Any], job_dir: Any) -> dict[str, Any]:
        """Upload references become paths of copies in the job's folder."""
        resolved = dict(values)
        for name, value in values.items():
            if parse_ref(value) is not None:
                resolved[name] = str(materialise(self.artifacts, value, job_dir))
        return resolved

    def _progress(self, job_id: str, progress: Any) -> None:
        record = {"stage": progress.stage, "fraction": progress.fraction,
                  "message": progress.message, "substage": progress.substage,
                  "subfraction": progress.subfraction, "time": progress.time}
        self.store.report_progress(job_id, record)
        with self._lock:
            running = self._running.get(job_id)
            if running is not None:
                running.progress = record
        self.events.publish(job_id, {"type": "progress", "progress": record})

    def _ended(self, job_id: str) -> None:
        """A run is over (called on the executor's thread): record it on a recorder thread."""
        try:
            self._recorders.submit(self._record, job_id)
        except RuntimeError:  # the interpreter is exiting: recovery at the next start
            log.warning("job %s ended while the server stopped; not recorded", job_id)

    def _record(self, job_id: str) -> None:
        with self._lock:
            running = self._running[job_id]
        job = running.job
        try:
            result = running.handle.wait()
            # The run's scratch folder goes whatever the outcome: it may hold a context
            # file with the caller's token (MMODA's get_context).
            self.artifacts.discard_scratch(job_id)
            self.artifacts.commit(job_id)  # the executed notebook of a failed run is kept too
            products: list[dict[str, Any]] = []
            error = None
            if result.status == "done":
                state = "done"
                products = [p.to_dict() for p in result.products]
            elif result.status == "cancelled" or running.cancelled:
                state, error = "cancelled", _error(result.error, "cancelled")
            else:
                state, error = "failed", _error(result.error, "failed")
            finished = time.time()
            if self.store.finish(job_id, state, products=products, error=error, at=finished):
                job = dataclasses.replace(job, state=state, products=products, error=error,
                                          finished=finished, progress=running.progress or job.progress)
            self._transition(job_id, state, job)
        except Exception as exc:
            log.exception("job %s: could not record its result", job_id)
            self._fail(job, "bug", f"could not record the result: {exc}")
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            self.secrets.pop(job_id, None)
            self._wake.set()

    def _fail(self, job: Job, kind: str, message: str) -> None:
        self.store.finish(job.id, "failed", error={"type": kind, "message": message,
                                                   "traceback": "", "analysis": False})
        self._transition(job.id, "failed", job)

    def _transition(self, job_id: str, state: str, job: Job | None = None) -> None:
        job = job or self.store.get(job_id)
        if job is None:
            return
        if self.on_transition is not None:  # before waiters wake, so they find what it keeps
            self.on_transition(job, state)
        self.events.publish(job_id, {"type": "state", "state": state})
        log.info("job %s %s", job_id, state, extra={"job_id": job_id, "service": job.service,
                                                     "state": state, "owner": job.owner})


def _error(error: Any, fallback: str) -> dict[str, Any]:
    """The API's error record from the executor's `RunError`."""
    if error is None:
        return {"type": fallback, "message": fallback, "traceback": "", "analysis": False}
    if error.kind in ("time_limit", "cancelled", "crashed"):
        message = error.evalue
    else:
        message = f"{error.ename}: {error.evalue}" if error.kind == "bug" else error.evalue
    return {"type": error.kind, "message": message, "traceback": error.traceback,
            "analysis": error.kind == "analysis", "exception": error.ename, "cell": error.cell}
