"""FastAPI dependencies: the platform and the caller of each request."""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request

from astroflow.server.auth import Caller, caller_from_header
from astroflow.server.platform import Platform


def platform(request: Request) -> Platform:
    return request.app.state.platform


def caller(request: Request) -> Caller:
    """The caller from ``Authorization: Bearer``; anonymous without it, 401 if it is bad."""
    who = caller_from_header(request.headers.get("authorization"), request.app.state.config.auth)
    return replace(who, address=request.client.host) if request.client else who
