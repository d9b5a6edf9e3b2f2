"""The runner: takes queued jobs from the store in FIFO order and runs them on the executor.

One dispatcher thread claims jobs while slots are free; a small pool of recorder threads
takes each run as it ends, makes its files durable, and only then records it as done. The store is the
truth: a job's progress, its cancellation and its outcome all go through it, so a server
that dies loses nothing that was recorded and `JobStore.take_over` picks up the rest, at the
next start or, on another replica, within `STALE_AFTER` seconds plus one look.

A stopping server drains (`begin_drain`, `drain`): it claims nothing more, lets its runs end
within a grace period, and gives the rest back to the queue, never ending them as cancelled.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from astroflow.execution.protocol import PRODUCTS_DIR, RESULT_FILE
from astroflow.jobs.artifacts import ArtifactStore
from astroflow.jobs.events import EventBus
from astroflow.jobs.model import Job, State
from astroflow.jobs.store import STALE_AFTER, JobStore, Recovery, worker_id
from astroflow.jobs.uploads import materialise, parse_ref
from astroflow.registry.catalog import ServiceCatalog

log = logging.getLogger("astroflow.jobs")

POLL_SECONDS = 0.5
# Coordinators (jobs that submit sub-jobs and wait) run beside the worker slots, up to this
# many times as many as there are slots.
COORDINATORS = 4       # how often the store is looked at for work queued by other replicas
HEARTBEAT_SECONDS = STALE_AFTER / 4
TAKEOVER_SECONDS = 2.5   # how often other workers' silent claims are looked for
LEAVE_SECONDS = 10.0     # after the grace: how long stopped runs may take to be given back


@dataclass
class _Running:
    job: Job
    handle: Any
    cancelled: bool = False
    progress: dict[str, Any] | None = None  # the last reported, as stored
    requeue: bool = False   # stopped because this server leaves: back to the queue
    coordinator: bool = False  # waits for its own sub-jobs: holds no worker slot
    lost: bool = False      # taken over by another replica: record nothing


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
    run_env: dict[str, str] = field(default_factory=dict)  # every run's (the API's own URL)

    def __post_init__(self) -> None:
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._draining = threading.Event()   # claim nothing more
        self._hurry = False                  # give running jobs back now, not after the grace
        self._drain_deadline = 0.0           # time.monotonic() when the grace ends
        self._thread: threading.Thread | None = None
        # Threads that outlive jobs: one per job would cost a thread start per job.
        self._recorders = ThreadPoolExecutor(max_workers=max(2, self.slots),
                                             thread_name_prefix="astroflow-record")
        self.on_transition: Callable[[Job, str], None] | None = None
        self.on_store_full: Callable[[], None] | None = None  # a run found no space left
        # Services from a registry repository run in their own environment's warm parent.
        self.executor_for: Callable[[str | None], Any] = lambda python: self.executor

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> tuple[list[str], list[str]]:
        """Recover interrupted jobs, then start dispatching. Returns (requeued, failed)."""
        recovery = self._take_over()
        self._thread = threading.Thread(target=self._loop, name="astroflow-dispatch", daemon=True)
        self._thread.start()
        return recovery.requeued, recovery.failed

    def begin_drain(self, grace: float) -> None:
        """Claim no more jobs; those running have ``grace`` seconds to end (see `drain`).

        Called at the stop signal, so the grace counts from then, and nothing is claimed
        while the HTTP server waits for its open requests. Safe in a signal handler: it
        takes no lock the interrupted code may hold.
        """
        if not self._draining.is_set():
            self._drain_deadline = time.monotonic() + max(0.0, grace)
            self._draining.set()  # nobody waits on it: set() cannot meet its own lock
            log.info("draining: %d jobs running, %.0f s to end", len(self._running), grace)

    def hurry(self) -> None:
        """Skip what is left of the grace (a second stop signal; safe in a signal handler)."""
        self._hurry = True

    def drain(self, grace: float = 0.0) -> list[str]:
        """Let running jobs end until the grace is over, then give the rest back to the queue.

        Their runs are stopped and their jobs queued again with the attempt not counted,
        for another replica or the next start; none is recorded as cancelled. Returns the
        ids given back.
        """
        self.begin_drain(grace)
        while self.running and not self._hurry:
            left = self._drain_deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.1))
        with self._lock:
            leaving = list(self._running.values())
            for running in leaving:
                running.requeue = True
        for running in leaving:
            running.handle.cancel()
        deadline = time.monotonic() + LEAVE_SECONDS
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        given_back = [r.job.id for r in leaving]
        if given_back:
            log.info("drained: %d jobs given back to the queue", len(given_back))
        return given_back

    def stop(self, cancel_running: bool = False) -> None:
        """Stop dispatching; ``cancel_running`` stops the runs too (given back, see `drain`)."""
        if cancel_running:
            self.drain(0.0)
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def notify(self) -> None:
        """A job was queued: look for work now rather than at the next poll."""
        self._wake.set()

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def _working(self) -> int:
        """Running jobs that hold a worker slot (coordinators wait for others, they don't)."""
        with self._lock:
            return sum(not r.coordinator for r in self._running.values())

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
        last_beat = last_look = time.monotonic()  # start() has just taken over
        while not self._stop.is_set():
            try:
                launched = self._fill_slots()
                now = time.monotonic()
                if now - last_beat > HEARTBEAT_SECONDS:
                    last_beat = now
                    self._beat()
                if now - last_look > TAKEOVER_SECONDS and not self._draining.is_set():
                    last_look = now
                    if self._take_over().requeued:
                        launched = True  # claim them at once
            except Exception:  # the loop must survive a database hiccup
                log.exception("dispatcher error")
                launched = False
            if not launched:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()

    def _fill_slots(self) -> bool:
        launched = False
        while (self._working() < self.slots and self.running < COORDINATORS * self.slots
               and not self._stop.is_set() and not self._draining.is_set()):
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
        held = self.store.heartbeat(ids, worker=self.worker)
        for job_id in set(ids) - held:
            self._lose(job_id)
        for job_id in self.store.cancel_requested(ids):  # cancels sent to another replica
            self._kill_if_mine(job_id)

    def _lose(self, job_id: str) -> None:
        """Another replica took this job over (we were silent too long): stop our run of it."""
        with self._lock:
            running = self._running.get(job_id)
            if running is None or running.handle.done():
                return  # it ended and was recorded meanwhile
            running.lost = True
        log.warning("job %s was taken over by another replica; stopping its run here", job_id)
        abandon = getattr(running.handle, "abandon", None)  # backends without it: cancel
        (abandon or running.handle.cancel)()

    def _take_over(self) -> Recovery:
        """Other workers' interrupted jobs: done from their files, re-queued, or failed."""
        recovery = self.store.take_over(self.worker, self._completed)
        for job_id in recovery.failed:
            self._transition(job_id, "failed")
        for job_id in recovery.done:
            self.artifacts.drop_run_record(job_id)
            self._transition(job_id, "done")
        if recovery.requeued or recovery.failed or recovery.done:
            log.info("took over interrupted jobs: %d re-queued, %d done from their files, "
                     "%d failed", len(recovery.requeued), len(recovery.done), len(recovery.failed))
        return recovery

    def _completed(self, job: Job) -> list[dict[str, Any]] | None:
        """The products of an interrupted job's run if it had ended done (its server died
        between the run's end and the record): recording them beats running it again.

        Complete means ``result.json`` (written last, atomically) says done and every stored
        file of its products is present; the files are committed as `_record` would.
        """
        if job.job_dir is not None and job.job_dir != str(self.artifacts.job_dir(job.id)):
            return None  # written under another artifact folder than ours
        try:
            outcome = json.loads(self.artifacts.path(job.id, RESULT_FILE).read_text("utf-8"))
            if not isinstance(outcome, dict) or outcome.get("status") != "done":
                return None
            from astroflow.products.model import Product

            products = [Product.from_dict(entry).to_dict() for entry in outcome["products"]]
            for product in products:  # formats made on first download have no file yet
                derived = product.get("derived") or ()
                for key, name in product["files"].items():
                    if key not in derived and not self.artifacts.path(
                            job.id, f"{PRODUCTS_DIR}/{name}").is_file():
                        return None
            self.artifacts.discard_scratch(job.id)
            self.artifacts.commit(job.id)
        except Exception:  # missing, partial or unreadable: the job runs again
            return None
        return products

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
                                             env={**self.run_env,
                                                  **self.secrets.get(job.id, {})})
            spec.keep_scratch = False  # served jobs keep products and notebook, not scratch
            executor = self.executor_for(service.python)
            handle = executor.submit(spec, on_progress=lambda p: self._progress(job.id, p))
        except Exception as exc:
            log.exception("could not start job %s", job.id)
            self._fail(job, "bug", f"could not start: {exc}")
            return
        with self._lock:
            self._running[job.id] = _Running(job, handle,
                                             coordinator=bool(service.workflow.coordinator))
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
            if running.lost:
                return  # another replica runs it now, in the same folder: touch nothing
            # The run's scratch folder goes whatever the outcome: it may hold a context
            # file with the caller's token (MMODA's get_context).
            self.artifacts.discard_scratch(job_id)
            if self._cut_short(running, result) and self._give_back(job):
                return
            try:
                self.artifacts.commit(job_id)  # the executed notebook of a failed run is kept too
            except OSError as exc:
                if not store_full(exc):
                    raise
                self._fail(job, "store_full", STORE_FULL_MESSAGE)
                self._store_full()
                return
            products: list[dict[str, Any]] = []
            error = None
            state: State
            if store_full(result.error):
                state, error = "failed", {**_error(result.error, "failed"), "type": "store_full",
                                          "message": STORE_FULL_MESSAGE}
                self._store_full()
            elif result.status == "done":
                state = "done"
                products = [p.to_dict() for p in result.products]
            elif result.status == "cancelled" or running.cancelled or running.requeue:
                state, error = "cancelled", _error(result.error, "cancelled")
            else:
                state, error = "failed", _error(result.error, "failed")
            finished = time.time()
            if not self.store.finish(job_id, state, products=products, error=error, at=finished,
                                     worker=self.worker,
                                     stored_bytes=self.artifacts.usage(job_id)[0]):
                log.warning("job %s ended %s here but is no longer this worker's; not recorded",
                            job_id, state)
                return
            self.artifacts.drop_run_record(job_id)
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

    def _cut_short(self, running: _Running, result: Any) -> bool:
        """Whether the run ended only because this server is stopping: stopped by the drain,
        or crashed while it drains (a stop that signals the whole group kills the warm
        parent too). A user's cancel, a failure or a time limit stays what it is."""
        if running.cancelled or result.status == "done":
            return False
        stopped = result.status == "cancelled" or (
            result.error is not None and result.error.kind == "crashed")
        return stopped and (running.requeue or self._draining.is_set())

    def _give_back(self, job: Job) -> bool:
        """Queue again a job whose run this stopping server cut short. False when it may
        not go back: its cancel was asked for (it ends cancelled) or it is not ours."""
        if self.store.requeue(job.id, self.worker):
            self._transition(job.id, "queued", dataclasses.replace(job, state="queued"))
            return True
        return False

    def _store_full(self) -> None:
        log.error("the artifact store is full: a job could not write its results")
        if self.on_store_full is not None:
            self.on_store_full()

    def _fail(self, job: Job, kind: str, message: str) -> None:
        if self.store.finish(job.id, "failed", worker=self.worker,
                             error={"type": kind, "message": message, "traceback": "",
                                    "analysis": False}):
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


STORE_FULL_MESSAGE = ("store full: no space was left to write this job's results; the "
                      "server is freeing space, submit the request again in a few minutes")
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


def store_full(error: Any) -> bool:
    """Whether a run's error (a `RunError`) or an OSError means the store's disk is full."""
    if error is None:
        return False
    if isinstance(error, OSError):
        return error.errno in _FULL_ERRNOS
    text = f"{getattr(error, 'ename', '')}: {getattr(error, 'evalue', '')}"
    return any(marker in text for marker in _FULL_TEXTS) or "[Errno 28]" in text


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
