"""One warm executor per Python environment, created on first use."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from astroflow.execution.local import DEFAULT_PRELOAD, LocalExecutor
from astroflow.execution.sandbox.policy import RunLimits, SandboxPolicy


class ExecutorPool:
    """Workflows deployed with their own environment run in that environment's warm parent."""

    def __init__(self, max_parallel: int | None = None,
                 preload: Sequence[str] = DEFAULT_PRELOAD,
                 sandbox: SandboxPolicy | None = None,
                 max_limits: RunLimits | None = None) -> None:
        self.max_parallel = max_parallel
        self.preload = tuple(preload)
        self.sandbox = sandbox
        self.max_limits = max_limits
        self._executors: dict[str, LocalExecutor] = {}
        self._lock = threading.Lock()

    def get(self, python: str | None = None) -> LocalExecutor:
        key = python or sys.executable
        with self._lock:
            executor = self._executors.get(key)
            if executor is None:
                executor = LocalExecutor(python=key, preload=self.preload,
                                         max_parallel=self.max_parallel, sandbox=self.sandbox,
                                         max_limits=self.max_limits)
                self._executors[key] = executor
            return executor

    def close(self) -> None:
        with self._lock:
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            executor.close()

    def __enter__(self) -> ExecutorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
