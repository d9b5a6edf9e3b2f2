"""Limits at the edge: request bodies, parameter values, JSON shape and submission rates.

Anything a caller sends is bounded before it costs the server memory or a 500: a body over
its limit is refused with 413 on its ``Content-Length`` before a byte of it is read, and a
body without one (chunked) is counted as it arrives and cut off at the limit. JSON bodies
are parsed by :func:`parse_json_body`, which turns what Python's ``json`` would accept but
nothing downstream can use (``NaN``, ``1e400``, 5,000-digit numbers, lone surrogates,
10,000 nested lists) into a 422 naming the field. Submissions go through a token bucket per
caller, so one caller cannot fill the store faster than ``rate_limit`` jobs a minute.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException

from astroflow.errors import AstroflowError
from astroflow.workflow import FieldError, ValidationError
from astroflow.workflow.validation import MAX_DEPTH

UPLOAD_PATHS = ("/api/v1/uploads", "/dispatch-data/run_analysis")
MULTIPART_SLACK = 64 * 1024   # multipart headers and boundaries around the file itself
MAX_DIGITS = 1000             # digits of a JSON number (Python refuses ints over 4,300)


class BodyTooLarge(HTTPException):
    """A request body over its limit (413). An HTTPException, so that FastAPI's body
    parsing passes it on instead of turning it into a 400."""

    def __init__(self, limit: int, what: str = "request body") -> None:
        noun, kind = ("file", "upload") if what == "upload" else ("request body", "body")
        super().__init__(status_code=413, detail=f"the {noun} is larger than the "
                                                 f"{size_text(limit)} {kind} limit")
        self.message = str(self.detail)
        self.code = "upload_too_large" if what == "upload" else "body_too_large"


class ParameterTooLarge(AstroflowError):
    """A parameter value over ``param_limit`` (413), naming each such field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))


class RateLimited(AstroflowError):
    """Too many submissions from one caller (429); ``retry_after`` in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- body size ------------------------------------------------------------------------------

class BodyLimit:
    """Pure ASGI middleware bounding request bodies: ``upload_limit`` (plus multipart slack)
    for multipart bodies on the upload paths, ``body_limit`` for every other body.

    Pure ASGI rather than BaseHTTPMiddleware: it adds no task per request, and a body under
    its limit passes with one header lookup and one comparison per chunk.
    """

    def __init__(self, app: Any, body_limit: int, upload_limit: int) -> None:
        self.app = app
        self.body_limit = body_limit
        self.upload_limit = upload_limit

    def limit_for(self, scope: dict) -> tuple[int, str]:
        if scope["path"] in UPLOAD_PATHS:
            for name, value in scope["headers"]:
                if name == b"content-type" and value.startswith(b"multipart/"):
                    return self.upload_limit + MULTIPART_SLACK, "upload"
        return self.body_limit, "request body"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit, what = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, BodyTooLarge(limit, what))  # the body is never read
            return
        received = 0
        started = False

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, what)
            return message

        async def watched_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:  # read outside a handler that knows the exception
            if started:
                raise
            await _refuse(send, exc)


def _content_length(scope: dict) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(send: Any, exc: BodyTooLarge) -> None:
    """413 in the API's error shape; ``Connection: close`` so the rest is never read."""
    body = json.dumps({"error": {"code": exc.code, "message": exc.message}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def size_text(limit: int) -> str:
    if limit >= 1 << 20 and limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    if limit >= 1 << 10 and limit % (1 << 10) == 0:
        return f"{limit >> 10} KiB"
    return f"{limit} bytes"


# --- JSON -----------------------------------------------------------------------------------

class _Unusable:
    """Stands for a JSON number no parameter can take, until its field is known."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant(text: str) -> _Unusable:
    return _Unusable(f"{text} is not a finite number (JSON has no NaN or Infinity)")


def _float(text: str) -> float | _Unusable:
    if len(text) > MAX_DIGITS:
        return _Unusable(f"a number of {len(text)} characters (at most {MAX_DIGITS})")
    value = float(text)
    return value if math.isfinite(value) else _Unusable(f"{text} is beyond the range of a "
                                                        "64-bit float (±1.8e308)")


def _int(text: str) -> int | _Unusable:
    if len(text) > MAX_DIGITS:
        return _Unusable(f"an integer of {len(text)} digits (at most {MAX_DIGITS})")
    return int(text)


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object body, or ValidationError naming the field and the reason.

    Python's ``json`` accepts ``NaN``, ``Infinity`` and lone surrogates, turns ``1e400``
    into infinity, raises ValueError for integers over 4,300 digits and RecursionError
    deep down: each of these becomes a field error here instead of a 500 later.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _body_error(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise _body_error("a JSON object is required, e.g. {\"parameters\": {}}")
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise _body_error(f"not valid JSON ({exc.msg} at line {exc.lineno} column "
                          f"{exc.colno})") from None
    except RecursionError:
        raise _body_error(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        raise _body_error(f"not usable JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _body_error(f"must be a JSON object, got {_kind(value)}")
    errors = check_json_value(value)
    if errors:
        raise ValidationError(errors)
    return value


def check_json_value(value: Any, prefix: str = "") -> list[FieldError]:
    """Problems of a parsed JSON value, each at its path: nesting deeper than `MAX_DEPTH`,
    unusable numbers and strings that are not valid Unicode (lone surrogates)."""
    errors: list[FieldError] = []
    stack: list[tuple[Any, str, int]] = [(value, prefix, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _has_surrogate(item):
                errors.append(FieldError(_field(path), item.encode("utf-8", "replace").decode(),
                                         "contains a lone surrogate (\\ud800–\\udfff), which "
                                         "is not valid Unicode"))
        elif isinstance(item, _Unusable):
            errors.append(FieldError(_field(path), None, item.reason))
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                errors.append(FieldError(_field(path), None,
                                         f"JSON nested more than {MAX_DEPTH} levels deep"))
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and not key.isascii() and _has_surrogate(key):
                    errors.append(FieldError(_field(path) or "body", None, "a key contains a "
                                             "lone surrogate, which is not valid Unicode"))
                    continue
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        if len(errors) >= 20:
            break
    return errors


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _field(path: str) -> str:
    """``parameters.x`` is the parameter ``x``: the name the 422 of validation uses too.
    A path deep into a value names the field alone (``items``, not ``items.0.0.0…``)."""
    path = path[len("parameters."):] if path.startswith("parameters.") else path
    parts = path.split(".", 4)
    return parts[0] if len(parts) > 4 else path


class InvalidBody(ValidationError):
    """A body that is not a usable JSON object at all (422 ``invalid_request``)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.args = ("invalid request: " + "; ".join(f"{e.field}: {e.reason}" for e in errors),)


def _body_error(reason: str) -> InvalidBody:
    return InvalidBody([FieldError("body", None, reason)])


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


# --- parameter sizes ------------------------------------------------------------------------

def check_value_sizes(values: Mapping[str, Any], limit: int) -> None:
    """ParameterTooLarge for each value over ``limit`` bytes (strings as UTF-8, structured
    values as JSON): a service's parameters are numbers, names and short lists, while a
    large input is a file, uploaded once and referred to by ``upload://``."""
    if limit <= 0:
        return
    errors = []
    for name, value in values.items():
        size = _value_size(value, limit)
        if size > limit:
            errors.append(FieldError(str(name), f"<{size} bytes>", f"longer than the "
                                     f"{size_text(limit)} limit of a parameter value (upload a "
                                     "file for large inputs)"))
    if errors:
        raise ParameterTooLarge(errors)


def _value_size(value: Any, limit: int) -> int:
    if isinstance(value, str):
        return len(value) if len(value) * 4 <= limit else len(value.encode("utf-8", "replace"))
    if isinstance(value, (dict, list)):
        try:
            return len(json.dumps(value, default=str))
        except (ValueError, RecursionError):
            return 0  # reported as a field error by the JSON checks or the validator
    return 0


# --- rate -----------------------------------------------------------------------------------

class RateLimiter:
    """A token bucket per caller: ``per_minute`` submissions a minute, in bursts of at most as
    many; 0 turns it off. Callers that went quiet are forgotten when the table gets large."""

    MAX_CALLERS = 10_000

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket, or raise RateLimited."""
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise RateLimited(f"more than {self.per_minute} submissions a minute from this "
                                  f"caller; try again in {wait} s", wait)
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.MAX_CALLERS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        full = 60.0  # a bucket idle this long is full again: forgetting it changes nothing
        for key in [k for k, (_, last) in self._buckets.items() if now - last >= full]:
            del self._buckets[key]


def caller_key(sub: str | None, address: str | None) -> str:
    """Whom a rate limit counts: the token's subject, else the client's address."""
    return f"sub:{sub}" if sub else f"addr:{address or 'unknown'}"
