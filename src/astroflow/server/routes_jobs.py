"""``/api/v1/jobs``: submit, follow (long poll or server-sent events), cancel, list."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from astroflow.jobs.model import TERMINAL
from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.edge import caller_key, check_value_sizes, parse_json_body
from astroflow.server.openapi import (
    EVENTS,
    JOB_REQUEST,
    READ,
    EventStream,
    SharedPathRoute,
    errors,
)
from astroflow.server.platform import Forbidden, Platform, owner_of, requester_of
from astroflow.server.records import job_record

router = APIRouter(prefix="/api/v1", tags=["jobs"], route_class=SharedPathRoute)

MAX_WAIT = 60.0
DB_POLL = 1.0          # subscribers re-read the store this often (jobs of other replicas)
SSE_KEEPALIVE = 15.0


@router.post("/services/{name}/jobs", status_code=201, response_model=None,
             openapi_extra=JOB_REQUEST,
             responses={200: {"description": "the done job of an identical request (cached)",
                              "content": {"application/json": {"schema": {}}}},
                        **errors(400, *READ, 413, 429, 507)})
async def submit_job(name: str, request: Request, p: Platform = Depends(platform),
                     who: Caller = Depends(caller)) -> Response:
    """Queue a job; an identical request joins the live job or returns the done one (200).

    Runs on the event loop, not in the thread pool: validation and the store's one short
    transaction take less time than the hand-over to a thread and back would. The body is
    read here rather than by ``Body(...)``: `parse_json_body` turns what Python's ``json``
    accepts but nothing after it can use (NaN, 1e400, deep nesting) into a 422.
    """
    request.app.state.rate_limiter.take(caller_key(who.sub, who.address))
    body = parse_json_body(await request.body())
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        from astroflow.workflow import FieldError, ValidationError

        raise ValidationError([FieldError("parameters", parameters, "must be a JSON object")])
    check_value_sizes(parameters, p.config.param_limit)
    job, created = p.submit(name, parameters, who)
    record = job_record(job, cached=not created and job.state == "done")
    return Response(json.dumps(record).encode(), media_type="application/json",
                    status_code=201 if created else 200)


@router.get("/jobs", responses=errors(401, 403, 422))
def list_jobs(mine: bool = True, service: str | None = None, state: str | None = None,
              limit: int = Query(50, ge=1, le=500), p: Platform = Depends(platform),
              who: Caller = Depends(caller)) -> list[dict[str, Any]]:
    """The caller's jobs, newest first; an anonymous caller's are those its address asked for.

    With ``mine=false``, for operators only: every job they may see. A job id is a capability
    (whoever has it may read a public job), so nobody else may enumerate them.
    """
    if not mine and not p.is_operator(who):
        raise Forbidden(f"listing everyone's jobs (mine=false) needs the "
                        f"{p.config.operator_role!r} role; mine=true lists your own")
    if mine and who.sub is None and requester_of(who) is None:
        return []
    jobs = p.store.list(owner=owner_of(who) if mine and who.sub else None,
                        requester=requester_of(who) if mine and who.sub is None else None,
                        service=service, states=[state] if state else None, limit=limit)
    return [job_record(j) for j in jobs if p.may_see(j, who)]


@router.get("/jobs/{job_id}", response_model=None, responses=errors(*READ))
async def get_job(job_id: str, wait: float = Query(0, ge=0, description="long-poll seconds"),
                  p: Platform = Depends(platform), who: Caller = Depends(caller)) -> Response:
    """The job; with ``wait`` the answer comes when it ends or after that many seconds."""
    body = p.ended_record(job_id, who)
    if body is not None:
        return Response(body, media_type="application/json")
    # One indexed read by primary key: shorter than a hand-over to the thread pool.
    if not wait:
        job = p.job(job_id, who)
    else:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, MAX_WAIT)
        # Subscribe before reading, so an end that happens in between is not missed.
        async with p.runner.events.subscribe(job_id) as sub:
            job = p.job(job_id, who)
            while job.state not in TERMINAL and (left := deadline - loop.time()) > 0:
                event = await sub.next(min(left, DB_POLL))
                if event is not None and (body := p.ended_record(job_id, who)) is not None:
                    return Response(body, media_type="application/json")  # recorded just now
                job = await run_in_threadpool(p.job, job_id, who)
    body = json.dumps(job_record(job)).encode()
    p.remember_ended(job, body)
    return Response(body, media_type="application/json")


@router.delete("/jobs/{job_id}", responses=errors(*READ))
def cancel_job(job_id: str, p: Platform = Depends(platform),
               who: Caller = Depends(caller)) -> dict[str, Any]:
    """Cancel: a queued job ends at once, a running one's process is killed.

    Only its submitter or an operator may: 403 for others who can see it, 404 otherwise.
    """
    return job_record(p.cancel(job_id, who))


@router.get("/jobs/{job_id}/events", response_class=EventStream,
            responses={**EVENTS, **errors(*READ, json_route=False)})
async def job_events(job_id: str, p: Platform = Depends(platform),
                     who: Caller = Depends(caller)) -> StreamingResponse:
    """Server-sent events: ``state`` and ``progress`` until the job ends."""
    await run_in_threadpool(p.job, job_id, who)

    async def stream() -> AsyncIterator[str]:
        async with p.runner.events.subscribe(job_id) as sub:
            job = await run_in_threadpool(p.job, job_id, who)
            yield _sse("state", job_record(job))
            last = (job.state, json.dumps(job.progress, sort_keys=True))
            idle = 0.0
            while job.state not in TERMINAL:
                event = await sub.next(DB_POLL)
                job = await run_in_threadpool(p.job, job_id, who)
                now = (job.state, json.dumps(job.progress, sort_keys=True))
                if now != last:
                    kind = "state" if now[0] != last[0] else "progress"
                    yield _sse(kind, job_record(job))
                    last, idle = now, 0.0
                elif event is None:
                    idle += DB_POLL
                    if idle >= SSE_KEEPALIVE:
                        idle = 0.0
                        yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
