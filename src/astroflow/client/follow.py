"""Following a job until it ends: long polls, or server-sent events when progress is shown.

Both survive a server restart: a broken stream or a refused connection falls back to a
status read, which the HTTP layer retries with backoff, and following resumes from the job's
current state (it is kept by the server's store, not by the connection).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from astroflow.client.http import Http

TERMINAL = frozenset({"done", "failed", "cancelled"})
POLL_WAIT = 30.0        # seconds per long poll (the server caps it at 60)
EVENTS_READ = 40.0      # the server sends a keep-alive every 15 s on an idle stream


def job_path(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(event, data)`` pairs of a text/event-stream (comments and ids are skipped)."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def long_poll(http: Http, job_id: str, seconds: float) -> dict[str, Any]:
    """The job's record once it ends, or after ``seconds``, whichever comes first."""
    seconds = max(0.0, seconds)
    params = {"wait": round(seconds, 3)} if seconds else None
    return http.get_json(job_path(job_id), params=params, timeout=http.timeout + seconds)


def stream_records(http: Http, job_id: str, read_timeout: float,
                   on_record: Callable[[dict[str, Any]], bool]) -> int:
    """Feed each record of the job's event stream to ``on_record`` until it returns True.

    Returns how many records came. A stream that breaks, times out or ends early returns
    quietly: the caller reads the status (with retries) and decides what next.
    """
    count = 0
    timeout = httpx.Timeout(http.timeout, read=read_timeout)
    try:
        with http.stream("GET", f"{job_path(job_id)}/events", timeout=timeout) as response:
            for _event, data in sse_events(response.iter_lines()):
                try:
                    record = json.loads(data)
                except ValueError:
                    continue
                count += 1
                if on_record(record):
                    break
    except (httpx.TransportError, httpx.StreamError):
        pass  # the stream broke: the caller falls back to long polling
    return count


def remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()
