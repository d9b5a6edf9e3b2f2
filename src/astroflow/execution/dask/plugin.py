"""The worker side: a Dask `WorkerPlugin` holding warm `LocalExecutor` parents per environment.

A job's task (`astroflow.execution.dask.task.run_job`) hands its `RunSpec` to the plugin,
which runs it exactly as the local executor does: forked from a warm parent of the
workflow's environment, in the spec's sandbox, killed at its time limit. The plugin also
keeps the runs going on this worker, so a cancel sent by the server (``Client.run``) finds
and kills the run's process — or, when it arrives first, stops the run as soon as it comes.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from astroflow.execution.local import DEFAULT_PRELOAD, LocalExecutor, RunHandle
from astroflow.execution.sandbox.policy import SandboxPolicy
from astroflow.execution.spec import RunSpec

log = logging.getLogger("astroflow.execution.dask")

PLUGIN_NAME = "astroflow"
_REMEMBERED_STOPS = 10_000  # stop requests kept for runs not arrived yet (bounded)
_install_lock = threading.Lock()

ExecutorKey = tuple[str | None, bool, tuple[int, ...]]


class AstroflowWorkerPlugin(WorkerPlugin):
    """Warm parents and the runs going on one Dask worker.

    ``max_parallel`` bounds the runs at once (default: the worker's threads, which already
    bound the tasks Dask gives it); ``max_warm_parents`` is per environment.
    """

    name = PLUGIN_NAME

    def __init__(self, max_parallel: int | None = None, max_warm_parents: int = 4) -> None:
        self.max_parallel = max_parallel
        self.max_warm_parents = max_warm_parents
        self.worker: Any = None
        self._executors: dict[ExecutorKey, LocalExecutor] = {}
        self._runs: dict[str, RunHandle] = {}
        self._stops: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.started = 0  # runs started on this worker since it started (for operators)
        self._fanning: set[str] = set()  # runs that wait for their own tasks on the cluster

    # -- Dask's plugin hooks ----------------------------------------------------------------

    def setup(self, worker: Any) -> None:
        self.worker = worker
        if self.max_parallel is None:
            self.max_parallel = max(1, int(getattr(worker.state, "nthreads", 1) or 1))

    def teardown(self, worker: Any) -> None:
        """Kill every run and warm parent: none outlives its worker."""
        with self._lock:
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            executor.close()

    # -- runs -------------------------------------------------------------------------------

    def executor_for(self, python: str | None, policy: SandboxPolicy | None) -> LocalExecutor:
        """The local executor of this environment and sandbox (its warm parents start with
        the sandbox's environment and shut ports, so both are part of the key)."""
        key: ExecutorKey = (python, policy is None,
                            tuple(policy.blocked_ports) if policy is not None else ())
        with self._lock:
            executor = self._executors.get(key)
            if executor is None:
                executor = LocalExecutor(python=python, preload=DEFAULT_PRELOAD,
                                         max_parallel=self.max_parallel,
                                         max_warm_parents=self.max_warm_parents,
                                         sandbox=policy,
                                         max_limits=policy.limits if policy else None)
                self._executors[key] = executor
            return executor

    def start(self, run_id: str, python: str | None, spec: RunSpec,
              on_progress: Any) -> RunHandle:
        """Submit the run here and remember it (stopped at once if a stop came first)."""
        handle = self.executor_for(python, spec.sandbox).submit(spec, on_progress=on_progress)
        with self._lock:
            self._runs[run_id] = handle
            self.started += 1
            early = self._stops.pop(run_id, None)
        if early is not None:
            self._apply_stop(handle, early)
        return handle

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)
            self._fanning.discard(run_id)

    def fan_out(self, run_id: str) -> None:
        """The run submits tasks to the cluster and waits for them: its job task secedes."""
        with self._lock:
            if run_id in self._runs:
                self._fanning.add(run_id)

    def fanning_out(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._fanning

    def stop(self, run_id: str, reason: str) -> bool:
        """Cancel (or abandon) a run; True if it is going here. A run not here yet is
        stopped when it arrives (the server broadcasts stops to every worker)."""
        with self._lock:
            handle = self._runs.get(run_id)
            if handle is None:
                self._stops[run_id] = reason
                while len(self._stops) > _REMEMBERED_STOPS:
                    self._stops.popitem(last=False)
                return False
        self._apply_stop(handle, reason)
        return True

    def stopped_before_start(self, run_id: str) -> str | None:
        """The stop asked for a run before it came here, if any (and forget it)."""
        with self._lock:
            return self._stops.pop(run_id, None)

    def running(self) -> dict[str, int | None]:
        """Run id → pid of each run going on this worker."""
        with self._lock:
            return {run_id: handle.pid for run_id, handle in self._runs.items()}

    def warm(self, python: str | None, policy: SandboxPolicy | None,
             modules: list[str]) -> None:
        self.executor_for(python, policy).warm(modules)

    @staticmethod
    def _apply_stop(handle: RunHandle, reason: str) -> None:
        (handle.abandon if reason == "abandoned" else handle.cancel)()


def mark_fanning_out(run_id: str, dask_worker: Any = None) -> None:
    """``Client.run`` target: the run ``run_id`` on this worker fans out (`astroflow.parallel`)."""
    plugin_of(dask_worker).fan_out(run_id)


def plugin_of(worker: Any) -> AstroflowWorkerPlugin:
    """This worker's plugin, installed on first use: a plain ``dask worker`` (as
    dask-jobqueue and dask-kubernetes start them) runs astroflow jobs without a preload."""
    plugin = worker.plugins.get(PLUGIN_NAME)
    if plugin is not None:
        return plugin
    with _install_lock:
        plugin = worker.plugins.get(PLUGIN_NAME)
        if plugin is None:
            plugin = AstroflowWorkerPlugin()
            plugin.setup(worker)
            worker.plugins[PLUGIN_NAME] = plugin
        return plugin
