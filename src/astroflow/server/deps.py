"""FastAPI dependencies: the platform and the caller of each request."""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request

from astroflow.server.auth import Caller, caller_from_header
from astroflow.server.platform import Platform


# Both are ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-over
# that costs more than these few microseconds of work.
async def platform(request: Request) -> Platform:
    return request.app.state.platform


async def caller(request: Request) -> Caller:
    """The caller from ``Authorization: Bearer``; anonymous without it, 401 if it is bad."""
    who = caller_from_header(request.headers.get("authorization"), request.app.state.config.auth)
    return replace(who, address=request.client.host) if request.client else who
