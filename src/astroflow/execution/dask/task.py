"""The Dask task of one job: run its spec in the worker's plugin and return the outcome.

Runs in a worker thread. Its return value is plain data (msgpack/pickle friendly): the
server rebuilds the `RunResult` from it, so it never has to read the job folder the worker
wrote (which, across machines, it only sees after the worker's ``commit``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from distributed import get_client, get_worker, rejoin, secede

from astroflow.execution.dask.plugin import plugin_of
from astroflow.execution.dask.protocol import (
    FANOUT_VARIABLE,
    MAX_ATTEMPTS,
    PROGRESS_TOPIC,
    RUN_VARIABLE,
    SCHEDULER_VARIABLE,
    WORKER_LOST,
)
from astroflow.execution.spec import Progress, RunSpec

FANOUT_POLL_SECONDS = 0.05  # how soon a waiting run's thread goes back once it fans out


def run_job(spec: RunSpec, run_id: str, python: str | None,
            store: str | None = None) -> dict[str, Any]:
    """Run ``spec`` on this worker; ``store`` (a remote fsspec URL) gets the job's files.

    A run whose worker was lost is started again by Dask (its ``allowed-failures``); it
    runs once more, then a further start ends it at once as "worker lost".
    """
    worker = get_worker()
    plugin = plugin_of(worker)
    attempt = _count_attempt(worker)
    if attempt > MAX_ATTEMPTS:
        return _outcome("failed", {"kind": "crashed", "ename": "WorkerLost",
                                   "evalue": f"{WORKER_LOST}: the run's Dask worker died "
                                             f"{MAX_ATTEMPTS} times"}, attempt=attempt)
    early = plugin.stopped_before_start(run_id)
    if early is not None:
        return _outcome("cancelled", {"kind": "cancelled", "ename": "Cancelled",
                                      "evalue": "the run was cancelled"}, attempt=attempt)
    artifacts = _artifact_store(store)
    if artifacts is not None:  # remote store: write into this machine's cache, then upload
        spec = dataclasses.replace(spec, job_dir=artifacts.job_dir(Path(spec.job_dir).name))
    spec = _with_cluster_access(spec, worker, run_id)

    def report(progress: Progress) -> None:
        worker.log_event(PROGRESS_TOPIC, {"run": run_id, "kind": "progress",
                                          **_progress_message(progress)})

    handle = plugin.start(run_id, python, spec, report)
    try:
        _announce(worker, run_id, handle, attempt)
        result = _wait(plugin, run_id, handle, spec.coordinator)
    finally:
        plugin.forget(run_id)
    if artifacts is not None:
        artifacts.commit(Path(spec.job_dir).name)
    error = result.error.to_dict() if result.error else None
    return _outcome(result.status, error, [p.to_dict() for p in result.products],
                    result.duration, handle.pid, attempt, worker.address)


def _wait(plugin: Any, run_id: str, handle: Any, coordinator: bool) -> Any:
    """The run's result. A run that waits for others (a coordinator's sub-jobs, or its own
    `astroflow.parallel` tasks on this cluster, which it announces) gives its worker thread
    back meanwhile (``secede``): with every thread held by a waiting job, nothing could run."""
    seceded = coordinator
    if seceded:
        secede()
    try:
        while True:
            try:
                return handle.wait(None if seceded else FANOUT_POLL_SECONDS)
            except TimeoutError:
                if plugin.fanning_out(run_id):
                    secede()
                    seceded = True
    finally:
        if seceded:
            rejoin()


def _with_cluster_access(spec: RunSpec, worker: Any, run_id: str) -> RunSpec:
    """Fan-out on (the default): the run learns the scheduler's address (`astroflow.parallel`).
    Off (``ASTROFLOW_DASK_FANOUT=0`` on the worker): a sandboxed run may not connect to the
    scheduler, this worker or its nanny at all, since whoever reaches them can run code on
    the cluster outside any sandbox."""
    if os.environ.get(FANOUT_VARIABLE, "1").strip().lower() not in ("0", "off", "false", "no"):
        return dataclasses.replace(spec, env={**spec.env,
                                              SCHEDULER_VARIABLE: worker.scheduler.address,
                                              RUN_VARIABLE: f"{run_id}@{worker.address}"})
    if spec.sandbox is None:
        return spec
    from distributed.comm import get_address_host_port

    addresses = [worker.scheduler.address, worker.address, getattr(worker, "nanny", None)]
    ports = {get_address_host_port(a)[1] for a in addresses if isinstance(a, str) and a}
    blocked = tuple(sorted({*spec.sandbox.blocked_ports, *ports}))
    return dataclasses.replace(spec, sandbox=dataclasses.replace(spec.sandbox,
                                                                 blocked_ports=blocked))


def _announce(worker: Any, run_id: str, handle: Any, attempt: int) -> None:
    """Tell the server where the run is (its pid once forked: tests and operators use it)."""
    deadline = time.monotonic() + 5.0
    while handle.pid is None and not handle.done() and time.monotonic() < deadline:
        time.sleep(0.002)
    worker.log_event(PROGRESS_TOPIC, {"run": run_id, "kind": "started", "pid": handle.pid,
                                      "worker": worker.address, "attempt": attempt,
                                      "host": os.uname().nodename})


def _count_attempt(worker: Any) -> int:
    """This start's number (1 the first time): the scheduler counts, per task, the workers
    that died while running it (``suspicious``), so nothing needs keeping or cleaning up."""
    key = worker.get_current_task()
    return 1 + int(get_client().run_on_scheduler(_deaths, key))


def _deaths(key: Any, dask_scheduler: Any = None) -> int:
    """On the scheduler: how many workers died while running task ``key``."""
    task = dask_scheduler.tasks.get(key) if dask_scheduler is not None else None
    return int(getattr(task, "suspicious", 0) or 0)


def _artifact_store(store: str | None) -> Any:
    if store is None or "://" not in store or store.startswith("file://"):
        return None  # a folder the server and this worker share: write in place
    from astroflow.jobs.artifacts import ArtifactStore

    return ArtifactStore(store)


def _progress_message(progress: Progress) -> dict[str, Any]:
    return {"stage": progress.stage, "fraction": progress.fraction, "message": progress.message,
            "time": progress.time, "substage": progress.substage,
            "subfraction": progress.subfraction, "extra": progress.extra}


def _outcome(status: str, error: dict[str, Any] | None, products: list | None = None,
             duration: float = 0.0, pid: int | None = None, attempt: int = 1,
             worker: str | None = None) -> dict[str, Any]:
    return {"status": status, "error": error, "products": products or [], "duration": duration,
            "pid": pid, "attempt": attempt, "worker": worker}
