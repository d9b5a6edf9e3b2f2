"""`DaskExecutor`: the server's side of the ``dask`` backend, with `LocalExecutor`'s interface.

``submit(spec, on_progress)`` makes the job one Dask task (`task.run_job`, a unique key, never
cached) and returns a `DaskRunHandle` (wait / cancel / abandon / done / add_done_callback),
so `JobRunner` is the same for both backends. Progress and "started" notices arrive as Dask
events (see `protocol`); cancel and time limits kill the remote process (the time limit is
enforced by the worker's own executor, a cancel is sent to the workers with ``Client.run``).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed import Client
from distributed.client import FutureCancelledError

from astroflow.execution.dask.plugin import plugin_of
from astroflow.execution.dask.protocol import PROGRESS_TOPIC, WORKER_LOST
from astroflow.execution.dask.task import run_job
from astroflow.execution.local import RunHandle
from astroflow.execution.protocol import NOTEBOOK_FILE, SPEC_FILE
from astroflow.execution.sandbox.policy import RunLimits, SandboxPolicy
from astroflow.execution.spec import Progress, RunError, RunResult, RunSpec

log = logging.getLogger("astroflow.execution.dask")

ProgressCallback = Callable[[Progress], None]
MAX_RESUBMISSIONS = 3  # a run the scheduler loses (it restarted) goes again at most so often


def scheduler_address(url: str) -> str:
    """``dask://HOST:PORT`` (or ``tcp://…``, ``tls://…``) → the address Dask connects to."""
    text = url.strip()
    if text.startswith("dask://"):
        text = "tcp://" + text.removeprefix("dask://")
    if "://" not in text or not text.split("://", 1)[1]:
        raise ValueError(f"executor {url!r}: use local or dask://HOST:PORT")
    return text


class DaskRunHandle(RunHandle):
    """A job submitted to the cluster: `astroflow.execution.RunHandle`'s interface (wait,
    cancel, abandon, done, add_done_callback), its stops sent to the cluster.

    ``pid``, ``worker`` and ``attempt`` say where its run process is once it started.
    """

    def __init__(self, executor: DaskExecutor, run_id: str, spec: RunSpec,
                 on_progress: ProgressCallback | None) -> None:
        super().__init__(executor, run_id, spec, Path(spec.job_dir) / SPEC_FILE,  # type: ignore[arg-type]
                         on_progress)
        self.worker: str | None = None
        self.attempt = 0
        self.resubmissions = 0  # times the scheduler lost it and it was submitted again
        self.python: str | None = None
        self.future: Any = None
        self._finish_lock = threading.Lock()

    def _finish(self, result: RunResult) -> None:
        """Once: the future's end and a lost scheduler may both report it."""
        with self._finish_lock:
            if self._done.is_set():
                return
            super()._finish(result)


class DaskExecutor:
    """Runs notebooks on a Dask cluster, each in its own process on a worker.

    ``address`` is the scheduler's (``dask://HOST:PORT`` or ``tcp://…``), or pass a connected
    ``client``. ``sandbox`` and ``max_limits`` are the operator's policy, applied on the worker
    as the local executor applies it. ``store``: the artifact store's URL when it is remote
    (fsspec): workers then write into their own cache and upload the job's files; with a
    folder, the workers must see it at the same path (one machine, or a shared file system).
    ``python`` is the workflow environment's interpreter, at the same path on the workers.
    """

    def __init__(self, address: str | None = None, *, client: Client | None = None,
                 sandbox: SandboxPolicy | None = None, max_limits: RunLimits | None = None,
                 store: str | None = None, python: str | None = None,
                 timeout: float = 30.0, reconnect_timeout: float = 60.0) -> None:
        if client is None:
            if address is None:
                raise ValueError("DaskExecutor needs a scheduler address or a client")
            client = Client(scheduler_address(address), timeout=timeout,
                            set_as_default=False)
            self._own_client = True
        else:
            self._own_client = False
        self.client = client
        self.sandbox = sandbox
        self.max_limits = max_limits or (sandbox.limits if sandbox else RunLimits())
        self.store = store if store and "://" in store and not store.startswith("file://") else None
        self.python = python
        self.reconnect_timeout = reconnect_timeout
        self._runs: dict[str, DaskRunHandle] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._events: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        # One subscription for every run: reports leave the client's event loop at once
        # and are handed to callers (which write the store) on this thread.
        self._reader = threading.Thread(target=self._read_events, daemon=True,
                                        name="astroflow-dask-events")
        self._reader.start()
        client.subscribe_topic(PROGRESS_TOPIC, self._events.put_nowait)

    # -- public API (as LocalExecutor) ------------------------------------------------------

    def for_python(self, python: str | None) -> DaskExecutor | EnvironmentView:
        """The same cluster for runs of another workflow environment (`JobRunner.executor_for`)."""
        return self if python in (None, self.python) else EnvironmentView(self, python)

    get = for_python  # the `ExecutorPool` interface: one executor per environment

    def capacity(self, at_least: int = 1) -> int:
        """Runs the cluster takes at once now (its worker threads), at least ``at_least``."""
        try:
            threads = sum(self.client.nthreads().values())
        except Exception:  # noqa: BLE001 - the scheduler is not answering yet: the floor
            threads = 0
        return max(at_least, threads)

    def submit(self, spec: RunSpec, on_progress: ProgressCallback | None = None,
               python: str | None = None) -> DaskRunHandle:
        """Queue the run on the cluster; the scheduler starts it on a worker with a free thread."""
        if self._closed:
            raise RuntimeError("this executor is closed")
        spec = self._prepared(spec)
        run_id = uuid.uuid4().hex
        handle = DaskRunHandle(self, run_id, spec, on_progress)
        with self._lock:
            self._runs[run_id] = handle
        handle.python = python or self.python
        self._send(handle)
        return handle

    def _send(self, handle: DaskRunHandle) -> None:
        handle.future = self.client.submit(run_job, handle.spec, handle.job_id, handle.python,
                                           self.store, key=f"astroflow-run-{handle.job_id}",
                                           pure=False)
        handle.future.add_done_callback(lambda future, h=handle: self._ended(h, future))

    def run(self, spec: RunSpec, on_progress: ProgressCallback | None = None) -> RunResult:
        """Submit and wait."""
        return self.submit(spec, on_progress).wait()

    def warm(self, modules: list[str], python: str | None = None) -> None:
        """Have warm parents for these imports ready on every worker now (at server start)."""
        threading.Thread(target=self._warm, args=(python or self.python, list(modules)),
                         daemon=True, name="astroflow-dask-warm").start()

    def _warm(self, python: str | None, modules: list[str]) -> None:
        try:
            self.client.run(_warm_worker, python, self.sandbox, modules, on_error="ignore")
        except Exception:  # noqa: BLE001 - warming is a head start, never a failure
            log.warning("could not warm the Dask workers for %s", modules, exc_info=True)

    def running(self) -> dict[str, dict[str, int | None]]:
        """Worker address → {run id: pid} of the runs going on it (for operators, tests)."""
        return self.client.run(_running_on_worker)

    def started(self) -> dict[str, int]:
        """Worker address → runs started there since the worker started."""
        return self.client.run(started_on_worker)

    def close(self) -> None:
        """Cancel the runs still going and disconnect (a client we were given stays open)."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            handles = list(self._runs.values())
        for handle in handles:
            self._stop(handle, "cancelled")
        self._events.put(None)
        if self._own_client:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- inside ---------------------------------------------------------------------------

    def _prepared(self, spec: RunSpec) -> RunSpec:
        """Absolute paths, the operator's sandbox with the workflow's limits folded in (the
        worker applies the policy as given, with no ceiling of its own)."""
        job_dir = Path(spec.job_dir).resolve()
        source_dir = Path(spec.source_dir).resolve() if spec.source_dir is not None else None
        job_dir.mkdir(parents=True, exist_ok=True)
        policy = spec.sandbox or self.sandbox
        if policy is not None and spec.limits is not None:
            declared = dataclasses.asdict(spec.limits)
            policy = dataclasses.replace(policy, limits=policy.limits.overridden(**declared)
                                         .within(self.max_limits))
        return dataclasses.replace(spec, job_dir=job_dir, source_dir=source_dir,
                                   sandbox=policy, limits=None)

    def _stop(self, handle: DaskRunHandle, reason: str) -> None:
        if handle.done():
            return
        handle._stop_reason = handle._stop_reason or reason
        # Every worker hears it: the run is killed where it goes, or stopped where it lands
        # (not only where it started: that worker may be gone and the run going elsewhere).
        try:
            self.client.run(_stop_on_worker, handle.job_id, reason, on_error="ignore")
        except Exception:  # noqa: BLE001 - the cluster is gone: the run went with it
            log.warning("could not reach the workers to stop run %s", handle.job_id)
        if handle.pid is None and handle.future is not None:
            handle.future.cancel()  # still queued: the scheduler forgets it

    def _ended(self, handle: DaskRunHandle, future: Any) -> None:
        """The task is over (on a client thread): build the run's result."""
        with self._lock:
            self._runs.pop(handle.job_id, None)
        try:
            outcome = future.result()
        except FutureCancelledError:
            if handle._stop_reason is None and not self._closed:
                # Nobody asked: the scheduler went away (its workers close with it and kill
                # their runs). Submit the run again once the client is connected again.
                threading.Thread(target=self._resubmit, args=(handle,), daemon=True,
                                 name="astroflow-dask-resubmit").start()
                return
            outcome = None
        except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler, a bug
            handle._finish(self._lost_result(handle, exc))
            return
        if outcome is None:
            handle._finish(_stopped(handle, handle._stop_reason or "cancelled"))
            return
        handle.pid = outcome.get("pid") or handle.pid
        handle.worker = outcome.get("worker") or handle.worker
        handle.attempt = outcome.get("attempt") or handle.attempt
        handle._finish(_result(handle, outcome))

    def _resubmit(self, handle: DaskRunHandle) -> None:
        """Run again, under a new id, a run the scheduler lost; fail it if the scheduler
        stays away longer than ``reconnect_timeout`` or loses it too often."""
        handle.resubmissions += 1
        deadline = time.monotonic() + self.reconnect_timeout
        while self.client.status != "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.client.status != "running" or handle.resubmissions > MAX_RESUBMISSIONS:
            why = ("the Dask scheduler stayed unreachable" if self.client.status != "running"
                   else f"the Dask scheduler lost the run {handle.resubmissions} times")
            handle._finish(self._lost_result(handle, RuntimeError(why)))
            return
        log.warning("the Dask scheduler lost run %s; submitting it again", handle.job_id)
        self.client.subscribe_topic(PROGRESS_TOPIC, self._events.put_nowait)  # a new scheduler
        with self._lock:
            self._runs.pop(handle.job_id, None)
            handle.job_id, handle.pid, handle.worker = uuid.uuid4().hex, None, None
            self._runs[handle.job_id] = handle
        self._send(handle)

    def _lost_result(self, handle: DaskRunHandle, exc: Exception) -> RunResult:
        from distributed.scheduler import KilledWorker

        if isinstance(exc, KilledWorker):
            message = f"{WORKER_LOST}: the run's Dask worker died and the scheduler gave up"
        else:
            message = f"the Dask task failed: {type(exc).__name__}: {exc}"
        error = RunError("crashed", "WorkerLost" if isinstance(exc, KilledWorker) else
                         type(exc).__name__, message)
        return RunResult("failed", error, [], Path(handle.spec.job_dir) / NOTEBOOK_FILE, 0.0,
                         Path(handle.spec.job_dir))

    def _read_events(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            try:
                self._on_event(event[1] if isinstance(event, tuple) else event)
            except Exception:  # noqa: BLE001 - one bad message must not stop the reader
                log.exception("bad event from a Dask worker: %r", event)

    def _on_event(self, message: dict[str, Any]) -> None:
        handle = self._runs.get(message.get("run", ""))
        if handle is None:
            return
        if message.get("kind") == "started":
            handle.pid, handle.worker = message.get("pid"), message.get("worker")
            handle.attempt = int(message.get("attempt") or 1)
            if handle.attempt > 1:
                log.warning("run %s started again on %s: its worker was lost", handle.job_id,
                            handle.worker)
        elif message.get("kind") == "progress":
            handle._report(Progress(stage=message.get("stage"), fraction=message.get("fraction"),
                                    message=message.get("message"),
                                    time=float(message.get("time") or time.time()),
                                    substage=message.get("substage"),
                                    subfraction=message.get("subfraction"),
                                    extra=dict(message.get("extra") or {})))


class EnvironmentView:
    """A `DaskExecutor` for the runs of one workflow environment (its interpreter's path,
    the same on every worker)."""

    def __init__(self, executor: DaskExecutor, python: str) -> None:
        self.executor, self.python = executor, python

    def submit(self, spec: RunSpec, on_progress: ProgressCallback | None = None) -> DaskRunHandle:
        return self.executor.submit(spec, on_progress, python=self.python)

    def run(self, spec: RunSpec, on_progress: ProgressCallback | None = None) -> RunResult:
        return self.submit(spec, on_progress).wait()

    def warm(self, modules: list[str]) -> None:
        self.executor.warm(modules, python=self.python)


def _result(handle: DaskRunHandle, outcome: dict[str, Any]) -> RunResult:
    from astroflow.products.model import Product

    job_dir = Path(handle.spec.job_dir)
    error = outcome.get("error")
    return RunResult(status=outcome.get("status", "failed"),
                     error=RunError.from_dict(error) if error else None,
                     products=[Product.from_dict(p) for p in outcome.get("products") or []],
                     notebook_path=job_dir / NOTEBOOK_FILE,
                     duration=float(outcome.get("duration") or 0.0), job_dir=job_dir)


def _stopped(handle: DaskRunHandle, reason: object) -> RunResult:
    job_dir = Path(handle.spec.job_dir)
    if reason == "abandoned":
        error = RunError("cancelled", "Abandoned", "the run was stopped: another server runs "
                                                   "this job now")
    else:
        error = RunError("cancelled", "Cancelled", "the run was cancelled")
    return RunResult("cancelled", error, [], job_dir / NOTEBOOK_FILE, 0.0, job_dir)


# -- functions run on the workers (Client.run passes dask_worker) ---------------------------

def _stop_on_worker(run_id: str, reason: str, dask_worker: Any = None) -> bool:
    return plugin_of(dask_worker).stop(run_id, reason)


def _running_on_worker(dask_worker: Any = None) -> dict[str, int | None]:
    return plugin_of(dask_worker).running()


def started_on_worker(dask_worker: Any = None) -> int:
    return plugin_of(dask_worker).started


def _warm_worker(python: str | None, policy: SandboxPolicy | None, modules: list[str],
                 dask_worker: Any = None) -> None:
    plugin_of(dask_worker).warm(python, policy, modules)
