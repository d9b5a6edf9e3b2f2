"""FastAPI dependencies: the platform and the caller of each request."""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from astroflow.server.auth import Caller, caller_from_header
from astroflow.server.platform import Platform


# Both are ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-over
# that costs more than these few microseconds of work.
async def platform(request: Request) -> Platform:
    return request.app.state.platform


# The OpenAPI document's security scheme. Optional (``auto_error=False``): anonymous callers
# use open services; a route that needs a token answers 401 itself.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="a token from POST /api/v1/auth/login or /api/v1/auth/tokens, "
                                "from the server's OpenID Connect provider, or signed with its key")
_CREDENTIALS = Security(BEARER)


async def caller(request: Request,
                 credentials: HTTPAuthorizationCredentials | None = _CREDENTIALS) -> Caller:
    """The caller from ``Authorization: Bearer``; anonymous without it, 401 if it is bad.

    A provider's JWKS may have to be fetched (seconds, then cached): off the event loop.
    A header that is not a bearer token (``HTTPBearer`` passes it over) is still refused."""
    config = request.app.state.config.auth
    header = (f"Bearer {credentials.credentials}" if credentials
              else request.headers.get("authorization"))
    if header and config.jwks_url:
        who = await run_in_threadpool(caller_from_header, header, config)
    else:
        who = caller_from_header(header, config)
    return replace(who, address=request.client.host) if request.client else who
