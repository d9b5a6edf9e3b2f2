"""A job on the server, as the client follows it: state, progress, error, products."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from astroflow.client.errors import ClientError, JobCancelled, JobFailed, WaitTimeout
from astroflow.client.follow import (
    EVENTS_READ,
    POLL_WAIT,
    TERMINAL,
    job_path,
    long_poll,
    remaining,
    stream_records,
)
from astroflow.client.progressbar import Display, ProgressOption, job_display

if TYPE_CHECKING:
    from astroflow.client.http import Http
    from astroflow.client.products import Products


class Connection(Protocol):
    """What a job needs of the `Client` that made it: its HTTP session (so this module
    does not import the client's)."""

    http: Http


class Progress(NamedTuple):
    """What the notebook last reported with ``astroflow.progress``."""

    stage: str | None = None
    fraction: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class RemoteError:
    """Why a job failed, as the server recorded it."""

    type: str | None
    message: str
    traceback: str
    analysis: bool

    @classmethod
    def from_record(cls, d: dict[str, Any] | None) -> RemoteError | None:
        if not d:
            return None
        return cls(type=d.get("type"), message=str(d.get("message") or ""),
                   traceback=str(d.get("traceback") or ""), analysis=bool(d.get("analysis")))


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Job:
    """One request to a service. Attributes mirror the server's job record."""

    def __init__(self, client: Connection, record: dict[str, Any]) -> None:
        self.client = client
        self.record: dict[str, Any] = record

    # -- the record -------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def service(self) -> str:
        return self.record.get("service", "")

    @property
    def version(self) -> str:
        return self.record.get("version", "")

    @property
    def state(self) -> str:
        """``queued``, ``running``, ``done``, ``failed`` or ``cancelled``."""
        return self.record.get("state", "queued")

    @property
    def cached(self) -> bool:
        """Whether the submission was answered by an earlier, identical job."""
        return bool(self.record.get("cached"))

    @property
    def elapsed(self) -> float | None:
        return self.record.get("elapsed")

    @property
    def created(self) -> datetime | None:
        return _when(self.record.get("created"))

    @property
    def started(self) -> datetime | None:
        return _when(self.record.get("started"))

    @property
    def finished(self) -> datetime | None:
        return _when(self.record.get("finished"))

    @property
    def parameters(self) -> dict[str, Any]:
        """The canonical values the job runs with (defaults filled in, types coerced)."""
        return dict(self.record.get("parameters") or {})

    @property
    def progress(self) -> Progress:
        p = self.record.get("progress") or {}
        return Progress(p.get("stage"), p.get("fraction"), p.get("message"))

    @property
    def error(self) -> RemoteError | None:
        return RemoteError.from_record(self.record.get("error"))

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL

    @property
    def ok(self) -> bool:
        return self.state == "done"

    def _update(self, record: dict[str, Any]) -> None:
        if record.get("id") == self.id:
            # A cached or joined submission said so once; later reads do not repeat it.
            cached = self.record.get("cached")
            self.record = record
            if cached and not record.get("cached"):
                self.record = {**record, "cached": cached}

    # -- actions ----------------------------------------------------------------------------

    def refresh(self, wait: float = 0) -> Job:
        """Read the job's current state from the server; with ``wait`` (seconds) the server
        answers as soon as the job ends, or after that long."""
        self._update(long_poll(self.client.http, self.id, wait))
        return self

    def cancel(self) -> Job:
        """Stop the job: a queued one ends at once, a running one's process is killed."""
        self._update(self.client.http.request("DELETE", job_path(self.id)).json())
        return self

    def wait(self, progress: ProgressOption = True, timeout: float | None = None,
             check: bool = True) -> Job:
        """Block until the job ends; returns the job.

        ``progress``: a bar while someone watches (``True``), nothing (``False``), or a
        function called with the job at each change. ``timeout`` raises
        :class:`WaitTimeout` (the job goes on). With ``check`` a failed job raises
        :class:`JobFailed` and a cancelled one :class:`JobCancelled`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        display = job_display(progress, self)
        try:
            if display is not None:
                display.update(self)  # a cached job shows as done at once
                self._follow_events(display, deadline)
            else:
                self._follow_polls(deadline)
        finally:
            if display is not None:
                display.close()
        if not self.ended:
            raise WaitTimeout(self, timeout or 0.0)
        if check:
            self.raise_for_state()
        return self

    def _follow_polls(self, deadline: float | None) -> None:
        while not self.ended:
            left = remaining(deadline)
            if left is not None and left <= 0:
                return
            self._update(long_poll(self.client.http, self.id,
                                   POLL_WAIT if left is None else min(left, POLL_WAIT)))

    def _follow_events(self, display: Display, deadline: float | None) -> None:
        def on_record(record: dict[str, Any]) -> bool:
            self._update(record)
            display.update(self)
            left = remaining(deadline)
            return self.ended or (left is not None and left <= 0)

        while not self.ended:
            left = remaining(deadline)
            if left is not None and left <= 0:
                return
            read = EVENTS_READ if left is None else min(EVENTS_READ, left + 0.5)
            if stream_records(self.client.http, self.id, read, on_record) == 0:
                # Nothing came (a proxy cutting streams, a server going down): a long poll
                # paces the loop and, through the retries, waits for the server's return.
                left = remaining(deadline)
                self._update(long_poll(self.client.http, self.id,
                                       2.0 if left is None else max(0.0, min(left, 2.0))))
            elif not self.ended:
                self.refresh()  # the stream broke: read the status, retrying while it is down
            display.update(self)

    def raise_for_state(self) -> None:
        """Raise :class:`JobFailed` (or :class:`JobCancelled`) unless the job is done or live."""
        if self.state == "failed":
            raise JobFailed(self)
        if self.state == "cancelled":
            raise JobCancelled(self)

    # -- results ----------------------------------------------------------------------------

    @property
    def products(self) -> Products:
        """The job's products by name; raises unless the job is done."""
        from astroflow.client.products import Products

        if not self.ok:
            self.raise_for_state()
            raise ClientError(f"job {self.id} is {self.state}; its products exist once it is "
                              "done (call job.wait() first)")
        return Products(self, self.record.get("products") or [])

    def save_all(self, directory: str | Path = ".", format: str | None = None) -> list[Path]:
        """Write every product into ``directory`` (its primary format, or ``format`` where
        a product has it, or ``"all"`` for every format); returns the paths."""
        return self.products.save_all(directory, format)

    def notebook(self) -> Any:
        """The executed notebook, outputs included, as an ``nbformat`` NotebookNode."""
        import nbformat

        text = self.client.http.request("GET", f"{job_path(self.id)}/notebook",
                                        params={"format": "ipynb"}).text
        return nbformat.reads(text, as_version=4)

    def save_notebook(self, directory: str | Path = ".", format: str = "ipynb") -> Path:
        """Write the executed notebook (``ipynb`` or ``html``) into ``directory``."""
        from astroflow.client.products import save_download

        return save_download(self.client.http, f"{job_path(self.id)}/notebook",
                             {"format": format}, directory,
                             f"{self.service}-{self.id[:8]}.{format}")

    def notebook_html(self) -> str:
        return self.client.http.request("GET", f"{job_path(self.id)}/notebook",
                                        params={"format": "html"}).text

    def provenance(self) -> dict[str, Any]:
        """W3C PROV-JSON: the job as an activity, parameters and products as entities."""
        return self.client.http.get_json(f"{job_path(self.id)}/provenance")

    def code(self, lang: str = "python") -> str:
        """A snippet that reproduces this job with the client (``python``) or the CLI."""
        return self.client.http.get_json(f"{job_path(self.id)}/code", params={"lang": lang})["code"]

    # -- Python niceties --------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        extra = f" {self.elapsed:.2f} s" if self.elapsed is not None else ""
        if not self.ended and self.progress.fraction is not None:
            extra += f" {self.progress.fraction:.0%}"
        return f"<Job {self.id[:8]} {self.service} {self.state}{extra}>"
