"""FastAPI dependencies: the platform and the caller of each request."""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from astroflow.server.auth import Caller, caller_from_header
from astroflow.server.platform import Platform


# Both are ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-over
# that costs more than these few microseconds of work.
async def platform(request: Request) -> Platform:
    return request.app.state.platform


async def caller(request: Request) -> Caller:
    """The caller from ``Authorization: Bearer``; anonymous without it, 401 if it is bad.

    A provider's JWKS may have to be fetched (seconds, then cached): off the event loop."""
    header, config = request.headers.get("authorization"), request.app.state.config.auth
    if header and config.jwks_url:
        who = await run_in_threadpool(caller_from_header, header, config)
    else:
        who = caller_from_header(header, config)
    return replace(who, address=request.client.host) if request.client else who
