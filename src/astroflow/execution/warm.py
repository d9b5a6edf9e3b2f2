"""The controller's handle on one warm parent process and the thread that listens to it.

One thread per warm parent sleeps in a selector on three pipes: replies from the warm parent
(``started``/``exited``), progress lines written straight by the runs, and a wake-up pipe
for new deadlines. Deadlines (time limits) are the selector's timeout, so nothing polls.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from astroflow.execution.protocol import INLINE_BACKEND, LineReader, drain, send

log = logging.getLogger("astroflow.execution")


class ZygoteListener(Protocol):
    """What the executor hears from a warm parent (called on the listening thread)."""

    def on_started(self, zygote: Zygote, job: str, pid: int) -> None: ...
    def on_exited(self, zygote: Zygote, job: str, message: dict[str, Any]) -> None: ...
    def on_progress(self, job: str, message: dict[str, Any]) -> None: ...
    def on_deadline(self, job: str) -> None: ...
    def on_died(self, zygote: Zygote) -> None: ...


class Zygote:
    """A running warm parent: send it work, and it reports back through the listener."""

    def __init__(self, python: str, preload: Sequence[str], listener: ZygoteListener,
                 environment: dict[str, str] | None = None) -> None:
        self.listener = listener
        self.preloaded: set[str] = set(preload)
        self._alive = True
        self._deadlines: dict[str, float] = {}
        self._deadline_lock = threading.Lock()
        self._send_lock = threading.Lock()
        control_read, self._control = os.pipe()
        self._reply, reply_write = os.pipe()
        self._progress, progress_write = os.pipe()
        self._wake_read, self._wake_write = os.pipe()
        # Figures must become cell outputs as in Jupyter, whatever backend the caller uses.
        # ``environment`` replaces ours when runs are sandboxed: no server secret in it.
        env = {**(os.environ if environment is None else environment),
               "MPLBACKEND": INLINE_BACKEND}
        try:
            # -P: the controller's working directory must not shadow the notebooks' imports.
            # The warm parent's stdout is our stderr: a module printing at import time cannot
            # corrupt the reply pipe.
            self.process = subprocess.Popen(
                [python, "-P", "-m", "astroflow.execution.zygote", str(control_read),
                 str(reply_write), str(progress_write), ",".join(preload)],
                pass_fds=(control_read, reply_write, progress_write),
                stdin=subprocess.DEVNULL, stdout=2, start_new_session=True, env=env)
        except BaseException:
            for fd in (self._control, self._reply, self._progress, self._wake_read,
                       self._wake_write):
                os.close(fd)
            raise
        finally:
            for fd in (control_read, reply_write, progress_write):
                os.close(fd)
        for fd in (self._reply, self._progress, self._wake_read, self._wake_write):
            os.set_blocking(fd, False)
        self.pid = self.process.pid
        self._thread = threading.Thread(target=self._listen, name=f"astroflow-zygote-{self.pid}",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """False once the process is gone or was found unreachable."""
        return self._alive and self.process.poll() is None

    @alive.setter
    def alive(self, value: bool) -> None:
        self._alive = value

    # -- commands -------------------------------------------------------------------------

    def preload(self, modules: Sequence[str]) -> None:
        """Ask for more imports before the next fork (answered later, errors only logged)."""
        self.preloaded.update(modules)
        self._send("preload", modules=list(modules))

    def run(self, job: str, spec: Path, limit: int | None = None,
            coordinator: bool = False) -> None:
        """Fork a run now, or once fewer than ``limit`` of this parent's runs are going
        (a coordinator at once, and it does not count)."""
        self._send("run", job_id=job, spec=str(spec), limit=limit, coordinator=coordinator)

    def drop(self, job: str) -> None:
        """Forget a run still waiting in the warm parent (it answers ``exited``, no pid)."""
        self._send("drop", job_id=job)

    def set_deadline(self, job: str, when: float) -> None:
        """Call `on_deadline(job)` at monotonic time ``when`` unless cleared first."""
        with self._deadline_lock:
            self._deadlines[job] = when
        self._wake()

    def clear_deadline(self, job: str) -> None:
        with self._deadline_lock:
            self._deadlines.pop(job, None)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the warm parent (it kills its runs) and wait for the listener to finish."""
        with contextlib.suppress(OSError):
            self._send("exit")
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _send(self, kind: str, **fields: Any) -> None:
        with self._send_lock:
            if self._control < 0:
                raise BrokenPipeError("the warm parent is gone")
            send(self._control, kind, **fields)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"\0")

    # -- listening thread -----------------------------------------------------------------

    def _listen(self) -> None:
        replies, progress = LineReader(self._reply), LineReader(self._progress)
        selector = selectors.DefaultSelector()
        selector.register(self._reply, selectors.EVENT_READ, "reply")
        selector.register(self._progress, selectors.EVENT_READ, "progress")
        selector.register(self._wake_read, selectors.EVENT_READ, "wake")
        try:
            while not replies.closed:
                for key, _ in selector.select(self._timeout()):
                    if key.data == "wake":
                        drain(self._wake_read)
                    elif key.data == "progress":
                        self._dispatch_progress(progress)
                    else:
                        for message in replies.read():
                            self._dispatch_reply(message, progress)
                self._expire_deadlines()
        except Exception:  # noqa: BLE001 - the thread must always report the death below
            log.exception("warm parent %s: listener failed", self.pid)
        finally:
            selector.close()
            self._alive = False
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)
            self._dispatch_progress(progress)
            with self._send_lock:  # no write may reach a number the OS hands out again
                fds, self._control = (self._control, self._reply, self._progress,
                                      self._wake_read, self._wake_write), -1
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.listener.on_died(self)

    def _timeout(self) -> float | None:
        with self._deadline_lock:
            if not self._deadlines:
                return None
            soonest = min(self._deadlines.values())
        return max(0.0, soonest - time.monotonic())

    def _expire_deadlines(self) -> None:
        now = time.monotonic()
        with self._deadline_lock:
            expired = [job for job, when in self._deadlines.items() if when <= now]
            for job in expired:
                del self._deadlines[job]
        for job in expired:
            self.listener.on_deadline(job)

    def _dispatch_progress(self, progress: LineReader) -> None:
        with contextlib.suppress(OSError):
            for message in progress.read():
                self.listener.on_progress(str(message.get("job_id", "")), message)

    def _dispatch_reply(self, message: dict[str, Any], progress: LineReader) -> None:
        kind = message.get("type")
        if kind == "started":
            self.listener.on_started(self, str(message["job_id"]), int(message["pid"]))
        elif kind == "exited":
            # Everything the run wrote on the progress pipe is there by now: deliver it first.
            self._dispatch_progress(progress)
            self.clear_deadline(str(message["job_id"]))
            self.listener.on_exited(self, str(message["job_id"]), message)
        elif kind in ("ready", "preloaded") and message.get("errors"):
            for module, error in message["errors"].items():
                log.warning("warm parent %s could not preload %s: %s", self.pid, module, error)
