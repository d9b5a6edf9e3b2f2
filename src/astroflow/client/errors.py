"""What can go wrong between the client and a server, one exception per thing to do next.

``ValidationError``: fix the listed parameters. ``AuthError``: get or renew a token.
``NotFound``: check the service or job id. ``ServerUnavailable``: the server did not answer
usefully even after retries; try later. ``JobFailed``: the job ran and failed; ``analysis``
tells a result of the science ("no data in this time range") from a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from astroflow.errors import AstroflowError

if TYPE_CHECKING:
    from astroflow.client.job import Job

TOKEN_HINT = ("set ASTROFLOW_TOKEN, save the token in ~/.config/astroflow/token, "
              "or pass Client(token=...)")


class ClientError(AstroflowError):
    """Base class of the client's errors."""


class ApiError(ClientError):
    """The server answered with an error: ``status``, its ``code`` and ``message``."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body


@dataclass(frozen=True)
class FieldProblem:
    """One refused parameter: its name, the value sent and why it was refused."""

    field: str
    value: Any
    reason: str

    def __iter__(self):  # unpacks as (field, value, reason)
        return iter((self.field, self.value, self.reason))


class ValidationError(ApiError, ValueError):
    """Invalid parameters; ``errors`` lists every (field, value, reason) the server found.

    From ``Client.map``, ``index`` is the position of the refused request in the batch.
    """

    index: int | None = None

    def __init__(self, errors: list[FieldProblem], message: str | None = None, *,
                 status: int | None = 422, code: str | None = "invalid_parameters",
                 body: Any = None) -> None:
        self.errors = list(errors)
        lines = [message or "invalid parameters"]
        lines += [f"  {e.field} = {e.value!r}: {e.reason}" for e in self.errors]
        super().__init__("\n".join(lines), status=status, code=code, body=body)


class AuthError(ApiError, PermissionError):
    """The server refused the credentials (401) or the caller's rights (403)."""


class NotFound(ApiError, LookupError):
    """No such service, job or product (or the caller may not see it)."""


class ServerUnavailable(ClientError, ConnectionError):
    """No usable answer after every retry: connection refused or reset, 5xx, timeouts."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class ServerBusy(ServerUnavailable):
    """429: the caller has too many queued jobs; submit again once some have ended."""


class WaitTimeout(ClientError, TimeoutError):
    """``wait(timeout=...)`` ran out; the job goes on on the server."""

    def __init__(self, job: Job, timeout: float) -> None:
        super().__init__(f"job {job.id} is still {job.state} after {timeout:g} s; it goes on "
                         f"on the server (job.wait() again, or job.cancel())")
        self.job = job


class JobFailed(ClientError):
    """The job ended without products: the remote error's type, message and traceback.

    ``analysis`` is true when the notebook raised ``AnalysisError`` (a scientific answer
    such as "no data"), false for a bug, a time limit or an interrupted run.
    """

    def __init__(self, job: Job) -> None:
        error = job.error
        self.job = job
        self.type = error.type if error else None
        self.remote_message = error.message if error else ""
        self.traceback = error.traceback if error else ""
        self.analysis = bool(error and error.analysis)
        kind = "analysis error" if self.analysis else (self.type or "error")
        super().__init__(f"job {job.id} of {job.service!r} {job.state}: {kind}: "
                         f"{self.remote_message}".rstrip(": "))


class JobCancelled(JobFailed):
    """The job was cancelled before it produced anything."""

    def __init__(self, job: Job) -> None:
        super().__init__(job)
        self.args = (f"job {job.id} of {job.service!r} was cancelled",)
