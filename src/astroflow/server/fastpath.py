"""Status reads of ended jobs, answered before routing.

A client following a job asks ``GET /api/v1/jobs/{id}`` again and again, and once the job has
ended the answer never changes: the platform keeps its encoded record. Routing, dependency
resolution and parameter validation cost several times more than sending those bytes, so an
anonymous read of an ended job that anyone may see is answered here. Everything else (a
token to check, a job still going, a restricted service's job, a malformed query) goes on to
the API as usual, which gives the same answer the slow way.
"""

from __future__ import annotations

import re
from typing import Any

from astroflow.server.auth import Caller

PREFIX = "/api/v1/jobs/"
_JOB_ID = re.compile(r"[0-9a-f]{32}")
_PLAIN_QUERY = re.compile(rb"(wait=[0-9]+(\.[0-9]*)?)?")
ANONYMOUS = Caller(sub=None, roles=frozenset(), token=None)


class EndedJobReads:
    """Pure ASGI middleware; ``state`` is the app's state, which holds the platform."""

    def __init__(self, app: Any, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = self._cached(scope) if scope["type"] == "http" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _cached(self, scope: dict) -> bytes | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or not path.startswith(PREFIX):
            return None
        job_id = path[len(PREFIX):]
        if not _JOB_ID.fullmatch(job_id) or not _PLAIN_QUERY.fullmatch(scope["query_string"]):
            return None
        if any(name == b"authorization" for name, _ in scope["headers"]):
            return None  # the token must be checked (a bad one is a 401 even here)
        platform = getattr(self.state, "platform", None)
        return platform.ended_record(job_id, ANONYMOUS) if platform is not None else None
