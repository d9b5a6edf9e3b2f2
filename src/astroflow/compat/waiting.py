"""What both MMODA facades (the dispatcher's ``/dispatch-data`` and nb2workflow's API) share:
who is calling, and waiting a little for a job to end before answering."""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from astroflow.jobs.model import TERMINAL, Job
from astroflow.server.auth import ANONYMOUS, AuthError, Caller, caller_from_header
from astroflow.server.platform import Platform


def request_caller(request: Request, token: str | None) -> Caller:
    """The caller of a ``token`` field, else of the ``Authorization`` header.

    A server that verifies no tokens serves everyone anonymously, as if none had been sent
    (``oda_api`` sends the ``ODA_TOKEN`` it finds to every server). One whose only key is the
    one `astroflow serve` made itself knows its own tokens and takes any other (a MMODA
    token) as none.
    """
    config = request.app.state.config.auth
    header = f"Bearer {token}" if token else request.headers.get("authorization")
    if header and not config.can_verify:
        return ANONYMOUS
    if header and not config.configured:
        try:
            return caller_from_header(header, config)
        except AuthError:
            return ANONYMOUS
    return caller_from_header(header, config)


async def settle(p: Platform, job: Job, who: Caller, seconds: float) -> Job:
    """The job once it ended, or as it is after ``seconds``."""
    if job.state in TERMINAL or seconds <= 0:
        return job
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with p.runner.events.subscribe(job.id) as sub:
        job = await run_in_threadpool(p.job, job.id, who)
        while job.state not in TERMINAL:
            left = deadline - loop.time()
            if left <= 0:
                break
            await sub.next(min(left, 1.0))
            job = await run_in_threadpool(p.job, job.id, who)
    return job
