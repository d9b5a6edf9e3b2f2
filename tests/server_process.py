"""A real `astroflow serve` process on a free loopback port, for tests of the HTTP side."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

TEST_SERVICES = Path(__file__).resolve().parent / "services"
SECRET = "test-secret-of-at-least-32-bytes-length!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    data_dir: Path
    services: list[Path] = field(default_factory=lambda: [TEST_SERVICES])
    db: str | None = None
    workers: int = 2
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServerProcess:
        args = [sys.executable, "-m", "astroflow", "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--workers", str(self.workers)]
        for folder in self.services:
            args += ["--services", str(folder)]
        if self.db:
            args += ["--db", self.db]
        # A short drain: stop() waits 15 s, and suites end with jobs still running.
        env = {**os.environ, "ASTROFLOW_JWT_SECRET": SECRET, "ASTROFLOW_DRAIN_GRACE": "2",
               **self.env}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(args + self.extra_args, stdout=log, stderr=log, env=env,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s: {self.log()[-3000:]}")

    @contextmanager
    def running(self, timeout: float = 60) -> Iterator[ServerProcess]:
        """Started for the ``with`` block and stopped after it, even when a test fails."""
        self.start(timeout)
        try:
            yield self
        finally:
            self.stop()

    def log(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill9(self) -> None:
        """SIGKILL the server process alone, as a crash or the OOM killer would."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
