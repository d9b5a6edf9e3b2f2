"""``run_analysis`` answers in the shape ``oda_api`` 1.3.x reads.

Every answer carries ``query_status``, ``job_monitor`` (``job_id``, ``session_id``,
``status``), ``exit_status`` (``status`` 0 or 1 and its messages) and ``products`` (which
``oda_api`` reads even before a job is done). Job states map onto MMODA's: queued →
``submitted``, running → ``progress`` once it reported progress (else ``submitted``), done →
``done``, failed and cancelled → ``failed``.

``oda_api`` decodes an answer by evaluating the text of the decoded JSON, so answers hold
strict JSON only (non-finite numbers become text).
"""

from __future__ import annotations

import math
import time
from typing import Any

from astroflow.jobs.model import Job


def query_status(job: Job) -> str:
    if job.state == "done":
        return "done"
    if job.state in ("failed", "cancelled"):
        return "failed"
    if job.state == "running" and job.progress:
        return "progress"
    return "submitted"


def exit_status(status: int = 0, message: str = "", error_message: str = "",
                debug_message: str = "", comment: str = "",
                job_status: str | None = None) -> dict[str, Any]:
    """MMODA's ``exit_status``; ``job_status`` is the job's MMODA state, as the dispatcher
    copies it there (clients poll on ``exit_status.job_status``)."""
    return {"status": status, "message": message, "error_message": error_message,
            "debug_message": debug_message, "comment": comment, "warning": "",
            "job_status": job_status if job_status is not None
            else ("failed" if status else "submitted")}


def progress_report(job: Job) -> list[dict[str, Any]]:
    """``full_report_dict_list``: the job's latest progress as a MMODA callback record."""
    report = job.progress or {}
    if not report:
        return []
    entry: dict[str, Any] = {"action": "progress"}
    for key, source, scale in (("stage", "stage", None), ("progress", "fraction", 100.0),
                               ("substage", "substage", None),
                               ("subprogress", "subfraction", 100.0),
                               ("message", "message", None)):
        value = report.get(source)
        if value is not None:
            entry[key] = value * scale if scale else value
            if scale:
                entry[f"{key}_max"] = scale
    return [entry]


def job_monitor(job_id: str | None, session_id: str, status: str,
                job: Job | None = None) -> dict[str, Any]:
    return {"job_id": job_id, "session_id": session_id, "status": status,
            "full_report_dict_list": progress_report(job) if job is not None else []}


def job_answer(job: Job, session_id: str, *, products: dict[str, Any] | None = None,
               comment: str = "") -> dict[str, Any]:
    """The answer for a job in its current state; ``products`` once it is done."""
    status = query_status(job)
    if status == "failed":
        error = job.error or {}
        message = str(error.get("message") or ("the job was cancelled"
                                                if job.state == "cancelled" else "failed"))
        exit_ = exit_status(1, message=message,
                            error_message=str(error.get("exception") or error.get("type") or ""),
                            debug_message=str(error.get("traceback") or ""), comment=comment,
                            job_status=status)
    else:
        exit_ = exit_status(0, comment=comment, job_status=status)
    return strict({
        "query_status": status,
        "job_status": status,
        "exit_status": exit_,
        "job_monitor": job_monitor(job.id, session_id, status, job),
        "products": products or {},
        "session_id": session_id,
        "time_request": time.time(),
    })


def failed_answer(message: str, session_id: str, job_id: str | None = None,
                  debug_message: str = "") -> dict[str, Any]:
    """A request refused before any job answered it (bad parameters, bad token …).

    ``oda_api`` shows ``error`` of a 400 answer and ``exit_status.message`` of a 403 one.
    """
    return strict({
        "query_status": "failed",
        "job_status": "failed",
        "exit_status": exit_status(1, message=message, error_message=message,
                                   debug_message=debug_message, job_status="failed"),
        "job_monitor": job_monitor(job_id, session_id, "failed"),
        "products": {},
        "session_id": session_id,
        "error": message,
        "error_message": message,
        "time_request": time.time(),
    })


def strict(value: Any) -> Any:
    """``value`` with non-finite floats as text, so that it is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value
