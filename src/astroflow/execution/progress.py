"""`progress()`: how a running notebook tells its caller how far it got.

Notebooks call it often and import it at the top, so this module imports nothing heavy.
Inside a run the executor has put a pipe on an inherited file descriptor and named it in the
environment; each report is one JSON line written with a single ``os.write`` (atomic on a
pipe below ``PIPE_BUF``), so reports from one run never interleave with another's. Outside a
run, or in a subprocess the notebook started, the call does nothing.

The fraction a run reports never goes down (a stage that counts its own 0–1 after an
earlier stage reached 22% is shown at 22%, not 2%): every service's progress bar only moves
forward, whatever its notebook reports.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

FD_VARIABLE = "ASTROFLOW_PROGRESS_FD"
PID_VARIABLE = "ASTROFLOW_PROGRESS_PID"
JOB_VARIABLE = "ASTROFLOW_JOB_ID"
# Linux guarantees atomic pipe writes up to 4096 bytes.
MAX_MESSAGE_BYTES = 4096
# The highest fraction this process has reported, per job (a run is one process).
_highest: dict[str, float] = {}


def _channel() -> tuple[int, str] | None:
    """The progress fd and job id, if this very process is a run (not a child of one)."""
    fd = os.environ.get(FD_VARIABLE)
    pid = os.environ.get(PID_VARIABLE)
    if not fd or not pid or pid != str(os.getpid()):
        return None
    try:
        return int(fd), os.environ.get(JOB_VARIABLE, "")
    except ValueError:
        return None


def _encode(report: dict[str, Any]) -> bytes:
    """One JSON line short enough to be written atomically; over-long text is cut."""
    line = _dump(report)
    if len(line) <= MAX_MESSAGE_BYTES:
        return line
    report = {key: value for key, value in report.items() if key != "extra"}
    limit = 1024
    while len(line) > MAX_MESSAGE_BYTES:
        for key in ("stage", "message"):
            if isinstance(report.get(key), str) and len(report[key]) > limit:
                report[key] = report[key][:limit] + "..."
        line = _dump(report)
        limit //= 2
    return line


def _dump(report: dict[str, Any]) -> bytes:
    return json.dumps(report, default=str, separators=(",", ":")).encode() + b"\n"


def progress(stage: str | None = None, fraction: float | None = None,
             message: str | None = None, **extra: Any) -> None:
    """Report the run's progress: a stage name, the fraction done (0–1) and a message.

    Extra keywords (``substage=``, ``subfraction=`` …) travel along. Never raises: a
    progress report must not be able to fail an analysis.
    """
    channel = _channel()
    if channel is None:
        return
    fd, job = channel
    try:
        report: dict[str, Any] = {
            "job_id": job,
            "stage": None if stage is None else str(stage),
            "fraction": _forward(job, fraction),
            "message": None if message is None else str(message),
            "time": time.time(),
        }
        if extra:
            report["extra"] = extra
        os.write(fd, _encode(report))
    except (OSError, TypeError, ValueError):
        pass


def _forward(job: str, fraction: float | None) -> float | None:
    """``fraction`` within [0, 1], and never below what this job reported before."""
    value = None if fraction is None else float(fraction)
    if value is None or value != value:  # none, or NaN: what was reported before
        return _highest.get(job)
    value = max(min(1.0, max(0.0, value)), _highest.get(job, 0.0))
    _highest[job] = value
    return value
