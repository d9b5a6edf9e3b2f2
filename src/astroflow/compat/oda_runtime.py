"""What makes ``oda_api``'s ``ProgressReporter`` and ``get_context`` work inside a run.

``oda_api`` (1.3.x) reads its context from ``.oda_api_context``, a JSON file in the current
directory: ``get_context()`` returns it, and ``ProgressReporter()`` takes its ``callback`` from
it; for a ``file://`` callback each ``report_progress`` opens that path for writing and dumps
one JSON object into it. MMODA points the callback at its dispatcher over HTTP; here it points
at a FIFO in the run's scratch folder, and a thread of the run hands every report it reads
there to `astroflow.progress`. Reports thus reach the job through the executor's own channel,
from the notebook or from any subprocess it starts, and nothing travels over the network.
The callback names the FIFO relative to the run's folder (``file://.oda_api_progress``): the
context file is found there only, so whoever reads it opens the FIFO from the same folder,
and no server path reaches the notebook, its printouts or its errors.

As in nb2workflow (``workflow()`` in service.py), the context always has both keys,
``callback`` and ``token``; the token is ``None`` unless the run was given one, which the
platform does only for notebooks that declare ``oda:oda_token_access oda:InOdaContext``. Both
files are private to the run's user and removed when the run ends.

``oda_api``'s ``PictureProduct`` takes the type of its bytes from ``puremagic``, which calls a
JPEG ``jfif``, and accepts it only if ``mimetypes.types_map`` knows that extension: it does
once the system's mime.types are read (MMODA's images do that), not in a fresh interpreter.
A run makes sure of it. Every run imports this module: standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from astroflow.execution.progress import progress

CONTEXT_FILE = ".oda_api_context"
PROGRESS_FIFO = ".oda_api_progress"
TOKEN_VARIABLES = ("ODA_TOKEN", "ASTROFLOW_TOKEN")
MAX_PENDING = 1 << 16          # an unfinished report longer than this is dropped
_DECODER = json.JSONDecoder()


def uses_oda_api(notebook: Mapping[str, Any]) -> bool:
    """Whether any code cell mentions ``oda_api`` (only those runs get a context)."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if "oda_api" in (source if isinstance(source, str) else "".join(source)):
            return True
    return False


def run_token(run_env: Mapping[str, str]) -> str | None:
    """The caller's token the platform gave this run (``RunSpec.env``), if any."""
    for name in TOKEN_VARIABLES:
        value = str(run_env.get(name, "")).strip()
        if value:
            return value
    return None


@contextlib.contextmanager
def oda_context(work: Path, notebook: Mapping[str, Any],
                run_env: Mapping[str, str]) -> Iterator[OdaRuntime | None]:
    """Provide ``oda_api``'s context for the duration of a run (nothing if it does not use it).

    The token comes from ``run_env``, the variables given to this very run, never from the
    environment the run inherited (the server's own).
    """
    if not uses_oda_api(notebook):
        yield None
        return
    know_jfif()
    runtime = OdaRuntime(Path(work), run_token(run_env))
    runtime.open()
    try:
        yield runtime
    finally:
        runtime.close()


def know_jfif() -> None:
    """``.jfif`` in ``mimetypes.types_map``, read by ``oda_api.data_products.PictureProduct``."""
    import mimetypes

    if mimetypes.types_map.get(".jfif") != "image/jpeg":
        mimetypes.add_type("image/jpeg", ".jfif")  # reads the system's files first, if unread


class OdaRuntime:
    """The context file and the progress relay of one run."""

    def __init__(self, work: Path, token: str | None = None) -> None:
        self.context_path = work / CONTEXT_FILE
        self.fifo_path = work / PROGRESS_FIFO
        self.token = token
        self._fd: int | None = None
        self._wake: tuple[int, int] | None = None
        self._pending = b""
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def callback(self) -> str | None:
        """The FIFO as a ``file://`` URL relative to the run's folder (no server path)."""
        return f"file://{PROGRESS_FIFO}" if self._fd is not None else None

    def open(self) -> None:
        """Start the relay, then write the context that names it."""
        try:
            self._open_fifo()
        except OSError as exc:  # no FIFOs here: the run goes on without progress reports
            reason = exc.strerror or type(exc).__name__  # not str(exc): it holds the path
            print(f"astroflow: oda_api progress reports are unavailable: {reason}",
                  file=sys.stderr)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        context: dict[str, Any] = {"callback": self.callback, "token": self.token or None}
        _write_private(self.context_path, json.dumps(context).encode())

    def _open_fifo(self) -> None:
        _remove(self.fifo_path)  # a link the scratch folder made to a file of the repository
        os.mkfifo(self.fifo_path, 0o600)
        # Read and write access: opening never blocks, writers never block on open, and the
        # relay never sees end-of-file between two reports.
        self._fd = os.open(self.fifo_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="oda-api-progress", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Relay what is left, stop the thread, remove the files (the token with them)."""
        if self._thread is not None and self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")
            self._thread.join(timeout=2.0)
        if self._fd is not None:
            self.pump()
            os.close(self._fd)
            self._fd = None
        if self._wake is not None:
            for fd in self._wake:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wake = None
        _remove(self.fifo_path)
        _remove(self.context_path)

    def _serve(self) -> None:
        assert self._fd is not None and self._wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._fd, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while True:
                try:
                    ready = {key.fd for key, _ in selector.select()}
                except OSError:
                    return
                if self._wake[0] in ready:
                    return
                self.pump()

    def pump(self) -> int:
        """Read what the FIFO holds and report each complete report; returns how many."""
        with self._lock:
            if self._fd is None:
                return 0
            while True:
                try:
                    chunk = os.read(self._fd, 65536)
                except (BlockingIOError, InterruptedError):
                    break
                if not chunk:
                    break
                self._pending += chunk
            reports, self._pending = split_reports(self._pending)
            for report in reports:
                forward(report)
            return len(reports)


def split_reports(data: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """Complete JSON objects in ``data`` and the unfinished rest.

    ``report_progress`` writes objects back to back with no separator; a report still being
    written stays pending, and bytes that are no report at all are skipped.
    """
    text = data.decode("utf-8", "replace")
    reports: list[dict[str, Any]] = []
    pos = 0
    while True:
        start = text.find("{", pos)
        if start < 0:
            return reports, b""
        parsed = _next_object(text, start)
        if parsed is None:
            rest = text[start:].encode()
            return reports, (b"" if len(rest) > MAX_PENDING else rest)
        obj, pos = parsed
        if isinstance(obj, dict):
            reports.append(obj)


def _next_object(text: str, start: int, tries: int = 64) -> tuple[Any, int] | None:
    """The first value that parses from a ``{`` at or after ``start``, and where it ends."""
    at = start
    for _ in range(tries):
        try:
            obj, end = _DECODER.raw_decode(text, at)
        except ValueError:
            at = text.find("{", at + 1)
            if at < 0:
                return None
            continue
        return obj, end
    return None


def forward(report: Mapping[str, Any]) -> None:
    """One ``report_progress`` payload as an `astroflow.progress` call."""
    progress(stage=_text(report.get("stage")),
             fraction=_fraction(report.get("progress"), report.get("progress_max", 100)),
             message=_text(report.get("message")),
             substage=_text(report.get("substage")),
             subfraction=_fraction(report.get("subprogress"),
                                   report.get("subprogress_max", 100)))


def _fraction(value: Any, maximum: Any) -> float | None:
    try:
        value, maximum = float(value), float(maximum)
    except (TypeError, ValueError):
        return None
    if not maximum > 0 or value != value:
        return None
    return min(1.0, max(0.0, value / maximum))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only the run's user can read (it may hold a token)."""
    _remove(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
