"""A job's log (what its run printed on stdout and stderr), read in pieces while it runs.

The run's process writes the job folder's ``stdout.log``; a client asks for what lies past
the ``offset`` it already has and gets the text with the offset to ask from next, so a
portal can follow a running job without holding a connection open. Who may see the job may
read its log; nobody else learns that it exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from astroflow.execution.protocol import LOG_FILE
from astroflow.jobs.model import TERMINAL, Job
from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.openapi import READ, errors
from astroflow.server.platform import Platform
from astroflow.server.schemas import LogPage, ok

router = APIRouter(prefix="/api/v1/jobs/{job_id}", tags=["jobs"])

MAX_CHUNK = 256 * 1024  # bytes of log per answer


@router.get("/log", response_model=None, responses={**ok(LogPage), **errors(*READ)})
async def job_log(job_id: str, offset: int = Query(0, ge=0, description="bytes already read"),
                  limit: int = Query(MAX_CHUNK, ge=1, le=MAX_CHUNK),
                  p: Platform = Depends(platform), who: Caller = Depends(caller)) -> dict[str, Any]:
    """The run's stdout and stderr from byte ``offset`` on: ``text``, ``next_offset`` to ask
    from next, ``size`` so far and ``complete`` once the job has ended and all was read."""
    job = await run_in_threadpool(p.job, job_id, who)
    path = await run_in_threadpool(_log_path, p, job)
    return await run_in_threadpool(read_log, path, offset, limit, job)


def _log_path(p: Platform, job: Job) -> Path | None:
    local = p.artifacts.job_dir(job.id) / LOG_FILE
    if local.exists() or job.state not in TERMINAL:
        return local
    try:  # an ended job's log may live in a remote store
        return p.artifacts.path(job.id, LOG_FILE)
    except (OSError, FileNotFoundError):
        return None


def read_log(path: Path | None, offset: int, limit: int, job: Job) -> dict[str, Any]:
    """``limit`` bytes from ``offset``, cut before a split UTF-8 character."""
    size = path.stat().st_size if path is not None and path.exists() else 0
    data = b""
    if path is not None and offset < size:
        with open(path, "rb") as stream:
            stream.seek(offset)
            data = stream.read(limit)
        if offset + len(data) < size:
            data = _whole_characters(data)
    end = min(offset, size) + len(data) if offset <= size else size
    ended = job.state in TERMINAL
    return {"text": data.decode("utf-8", "replace"), "offset": offset, "next_offset": end,
            "size": size, "state": job.state, "complete": ended and end >= size}


def _whole_characters(data: bytes) -> bytes:
    """Drop a multi-byte UTF-8 character cut at the end (it comes whole with the next read)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # the first byte of the last character
            length = 1 if byte < 0x80 else 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
            return data if back >= length else data[:-back]
    return data
