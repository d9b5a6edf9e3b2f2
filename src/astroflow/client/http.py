"""HTTP with retries: exponential backoff, bounded in attempts and in total time.

Every call of the API is safe to repeat: reads are reads, a cancel of an ended job is a
no-op, and a repeated submission joins the job the first one queued (the server keys jobs
by their canonical parameters). So connection errors, 5xx answers and 429 are retried alike;
429 and 503 honour ``Retry-After``. Error answers become the exceptions of
:mod:`astroflow.client.errors`.
"""

from __future__ import annotations

import email.utils
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from astroflow.client.errors import (
    TOKEN_HINT,
    ApiError,
    AuthError,
    FieldProblem,
    NotFound,
    ServerBusy,
    ServerUnavailable,
    ValidationError,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Retry:
    """How hard to try: ``attempts`` per request, pauses from ``backoff`` doubling up to
    ``max_backoff`` (with jitter, so many clients do not return in step), and never past
    ``total`` seconds after the first attempt."""

    attempts: int = 8
    backoff: float = 0.25
    max_backoff: float = 8.0
    total: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Retry:
        """``ASTROFLOW_RETRIES`` (attempts) and ``ASTROFLOW_RETRY_TOTAL`` (seconds) over
        the defaults: CI jobs may want to fail fast, batch jobs to ride out long outages."""
        values: dict[str, Any] = {}
        for key, name, kind in (("attempts", "ASTROFLOW_RETRIES", int),
                                ("total", "ASTROFLOW_RETRY_TOTAL", float)):
            text = environ.get(name, "").strip()
            if text:
                try:
                    values[key] = max(kind(text), 1 if kind is int else 0.0)
                except ValueError:
                    raise ValueError(f"{name}={text!r} is not a number") from None
        return cls(**values)

    def pause(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        pause = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(pause, retry_after or 0.0)


NO_RETRY = Retry(attempts=1, total=0.0)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Http:
    """One connection pool to one server, with the caller's token and the retry policy."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 30.0,
                 retry: Retry | None = None, transport: httpx.BaseTransport | None = None,
                 verify: bool = True, user_agent: str = "astroflow-client",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url
        self.retry = retry or Retry.from_env()
        self.timeout = timeout
        self._sleep = sleep
        self._client = httpx.Client(base_url=base_url, headers=headers, timeout=timeout,
                                    transport=transport, verify=verify)

    def close(self) -> None:
        self._client.close()

    # -- plain requests ---------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                timeout: float | httpx.Timeout | None = None,
                retry_busy: bool = True) -> httpx.Response:
        """Send with retries; a 2xx response, or the matching exception."""
        def send() -> httpx.Response:
            return self._client.request(method, path, params=params, json=json,
                                        timeout=timeout if timeout is not None else self.timeout)

        return self._with_retries(method, path, send, retry_busy)

    def get_json(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw).json()

    @contextmanager
    def stream(self, method: str, path: str, *, params: Any = None,
               timeout: float | httpx.Timeout | None = None) -> Iterator[httpx.Response]:
        """A streamed response (downloads, server-sent events); opening it is retried.

        Errors once the body flows are the caller's to handle (it alone knows whether to
        resume or restart).
        """
        def send() -> httpx.Response:
            request = self._client.build_request(
                method, path, params=params,
                timeout=timeout if timeout is not None else self.timeout)
            response = self._client.send(request, stream=True)
            if response.status_code >= 400:
                response.read()
                response.close()
            return response

        response = self._with_retries(method, path, send, True)
        try:
            yield response
        finally:
            response.close()

    # -- the retry loop -------------------------------------------------------------------

    def _with_retries(self, method: str, path: str, send: Callable[[], httpx.Response],
                      retry_busy: bool) -> httpx.Response:
        policy = self.retry
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            try:
                response = send()
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                wait_hint = None
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status == 429 and not retry_busy:
                    raise ServerBusy(_message(response), status=429, attempts=attempt)
                if status not in RETRY_STATUSES:
                    raise error_for(response)
                problem = f"HTTP {status}: {_message(response)}"
                wait_hint = retry_after(response)
            elapsed = time.monotonic() - start
            pause = policy.pause(attempt, wait_hint)
            if attempt >= policy.attempts or elapsed + pause > policy.total:
                raise self._given_up(method, path, problem, response, attempt, elapsed)
            self._sleep(pause)

    def _given_up(self, method: str, path: str, problem: str, response: httpx.Response | None,
                  attempts: int, elapsed: float) -> Exception:
        status = response.status_code if response is not None else None
        if status == 429 and response is not None:
            return ServerBusy(f"{_message(response)} (server at {self.base_url} still busy "
                              f"after {attempts} attempts)", status=429, attempts=attempts)
        return ServerUnavailable(
            f"{method} {self.base_url}{path} failed after {attempts} attempt"
            f"{'s' if attempts > 1 else ''} in {elapsed:.1f} s: {problem}. Is the server "
            f"running at {self.base_url}? (set ASTROFLOW_URL or Client(url=...))",
            status=status, attempts=attempts)


def _message(response: httpx.Response) -> str:
    error = _error_body(response)
    return str(error.get("message") or response.reason_phrase or "error")


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:500]} if response.text else {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error
    if isinstance(body, dict) and "detail" in body:  # plain FastAPI errors
        return {"message": str(body["detail"])}
    return {}


def error_for(response: httpx.Response) -> ApiError:
    """The exception an error response stands for."""
    error = _error_body(response)
    status = response.status_code
    code = error.get("code")
    message = str(error.get("message") or response.reason_phrase or f"HTTP {status}")
    kw: dict[str, Any] = {"status": status, "code": code, "body": error}
    if status == 422 or code in ("invalid_parameters", "invalid_request"):
        problems = [FieldProblem(str(e.get("field")), e.get("value"), str(e.get("reason")))
                    for e in error.get("errors") or [] if isinstance(e, dict)]
        return ValidationError(problems, _headline(message, problems), **kw)
    if status == 401:
        return AuthError(f"the server refused the token: {message}; {TOKEN_HINT}", **kw)
    if status == 403:
        return AuthError(f"not allowed: {message}", **kw)
    if status == 404:
        return NotFound(message, **kw)
    return ApiError(f"HTTP {status}: {message}", **kw)


def _headline(message: str, problems: list[FieldProblem]) -> str:
    if not problems:
        return message
    return "invalid parameters" if message.startswith("invalid parameters") else message
