"""A real Dask cluster as separate processes on 127.0.0.1: ``dask scheduler`` and
``astroflow worker`` (Dask's worker under its nanny, with astroflow's preload)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from server_process import free_port


@dataclass
class DaskCluster:
    folder: Path
    nworkers: int = 2
    port: int = field(default_factory=free_port)
    scheduler: subprocess.Popen | None = None
    workers: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"dask://127.0.0.1:{self.port}"

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        # Workers give up on a vanished scheduler after this (and `astroflow worker` starts
        # them again): the scheduler-restart test waits seconds, not Dask's default 30 s.
        env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "4s"}
        return subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True, env=env)

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn("scheduler", [
            sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
            "--port", str(self.port), "--no-dashboard"])

    def start(self, timeout: float = 40) -> DaskCluster:
        self.start_scheduler()
        self.workers = self._spawn("workers", [
            sys.executable, "-m", "astroflow", "worker", "--scheduler", self.url,
            "--nworkers", str(self.nworkers), "--nthreads", "1"])
        self.wait_for_workers(self.nworkers, timeout)
        return self

    def wait_for_workers(self, n: int, timeout: float = 40) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait(10)

    def log(self) -> str:
        return "".join((self.folder / f"{n}.log").read_text(errors="replace")[-3000:]
                       for n in ("scheduler", "workers") if (self.folder / f"{n}.log").exists())

    def stop(self) -> None:
        for process in (self.workers, self.scheduler):
            for sig, seconds in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                if process is None or process.poll() is not None:
                    break
                os.killpg(process.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(seconds)
