"""What the OpenAPI document says of answers: the one error body, and each route's refusals.

Every refusal of the API has the shape ``{"error": {"code", "message", "errors"?}}``
(`error_body`); routes list theirs with ``responses=errors(404, …)``,
so that the document names every status code a client can meet and the body it carries.
The MMODA facade (``/dispatch-data``) answers MMODA's own shape, `MmodaFailure`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi.exceptions import HTTPException
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict:
    """The body of every refusal of the API (routes, exception handlers)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return {"error": body}


class FieldProblem(BaseModel):
    """One problem of a request: which field, the value sent (shortened) and why."""

    model_config = ConfigDict(extra="allow")
    field: str
    value: Any = None
    reason: str


# Every ``error.code`` the API answers, and what it means (stable: clients branch on them).
ERROR_CODES = {
    "bad_request": "the request cannot be served as sent (400)",
    "bad_hook": "a GitLab hook that is not signed or not a push event (400, 401, 403)",
    "unauthorized": "the bearer token is missing, invalid or expired (401)",
    "forbidden": "the caller lacks a role this needs (403)",
    "not_found": "no such service, job, product, object or path, or not the caller's (404)",
    "product_unavailable": "the job has no such product, or it is not written yet (404)",
    "format_unavailable": "the product is not available in that format (404)",
    "method_not_allowed": "the path exists, not with this method (405; Allow lists them)",
    "body_too_large": "the request body is over its limit (413)",
    "upload_too_large": "an uploaded file is over its limit (413)",
    "parameter_too_large": "a parameter value is over its limit (413)",
    "unsupported_media_type": "the body is not in a media type the route reads (415)",
    "invalid_request": "the request is malformed: `errors` lists each field (422)",
    "invalid_parameters": "the service's parameters are invalid: `errors` lists each (422)",
    "rate_limited": "too many requests from this caller: retry after Retry-After (429)",
    "too_many_jobs": "too many queued jobs for this caller: retry after Retry-After (429)",
    "quota_exceeded": "over a per-caller quota (jobs_per_day, stored_bytes; 429)",
    "expired": "the job's files were removed by the storage policy: resubmit to recompute (410)",
    "store_full": "no space for new results and none could be freed: retry later (507)",
    "http_error": "another HTTP refusal (its status says which)",
    "internal_error": "the server failed on this request; the operators have the log (500)",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code: "
                                  + "; ".join(f"`{c}`: {m}" for c, m in ERROR_CODES.items()),
                      json_schema_extra={"enum": list(ERROR_CODES)})
    message: str = Field(description="what went wrong and what to do, for people")
    errors: list[FieldProblem] = Field(
        default_factory=list, description="every invalid field, when the request had some")


class ErrorBody(BaseModel):
    """The body of every refusal and failure of the API."""

    error: ErrorDetail


class MmodaFailure(BaseModel):
    """A refusal of the MMODA facade, as the MMODA dispatcher words it (``oda_api`` reads it)."""

    model_config = ConfigDict(extra="allow")
    query_status: str
    job_status: str
    exit_status: dict[str, Any]
    error_message: str


_DESCRIPTIONS = {
    400: "the request cannot be served as sent (the message says why)",
    401: "the bearer token is invalid or expired, or this needs a token",
    403: "the token lacks a role this needs",
    404: "no such service, job, product or resource (or not visible to the caller)",
    410: "the job's files expired (storage policy): submit the request again to recompute",
    413: "the body, a parameter value or an uploaded file is over its limit",
    422: "invalid request or parameters: `errors` lists every field, value and reason",
    429: "too many requests, queued jobs or jobs a day: retry after `Retry-After` seconds",
    507: "the store is full: no new job until space is freed; retry after `Retry-After`",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
    507: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
}


def errors(*codes: int, json_route: bool = True) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these refusals, each with the API's error body."""
    return {code: {**_body(ErrorBody, json_route), "description": _DESCRIPTIONS[code],
                   **({"headers": _HEADERS[code]} if code in _HEADERS else {})}
            for code in codes}


def mmoda_errors(*codes: int, json_route: bool = True) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for refusals of the MMODA facade (MMODA's status codes)."""
    return {code: {**_body(MmodaFailure, json_route), "description": _DESCRIPTIONS[code]}
            for code in codes}


def _body(model: type[BaseModel], json_route: bool) -> dict[str, Any]:
    """FastAPI files a ``model`` under the route's own media type; a route that answers
    something else than JSON (``json_route=False``) names its JSON error body itself."""
    if json_route:
        return {"model": model}
    return {"content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}


def content(*media_types: str, description: str = "the file") -> dict[int | str, dict[str, Any]]:
    """A 200 answer that is a file in one of ``media_types`` rather than the API's JSON."""
    def schema(media_type: str) -> dict[str, Any]:
        json = media_type.endswith(("/json", "+json"))
        return {} if json else {"type": "string", "format": "binary"}

    return {200: {"description": description,
                  "content": {media_type: {"schema": schema(media_type)}
                              for media_type in media_types}}}


# ``GET /jobs/{id}/events``: each event is ``state`` or ``progress``, its data the job (JSON).
EVENTS: dict[int | str, dict[str, Any]] = {200: {"description": "server-sent events until the job ends", "content": {
    "text/event-stream": {"schema": {"type": "object", "required": ["event", "data"],
                                     "properties": {"event": {"enum": ["state", "progress"]},
                                                    "data": {"type": "string"}}}}}}}


class EventStream(StreamingResponse):
    """Server-sent events (``response_class`` of a route, so the document says so)."""

    media_type = "text/event-stream"


class PlainText(Response):
    """Text such as Prometheus metrics (their exposition format version is a parameter)."""

    media_type = "text/plain"


class BinaryFile(Response):
    """A file download; its route lists the media types it sends with `content`."""

    media_type = "application/octet-stream"


class SharedPathRoute(APIRoute):
    """A route whose path other routes of this class serve with other methods (``GET`` and
    ``DELETE /jobs/{id}``): its 405 answer's ``Allow`` lists the methods of them all, as the
    document does, rather than its own alone (Starlette answers for the first route)."""

    _methods: ClassVar[dict[str, set[str]]] = {}  # path → methods of every such route

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._methods.setdefault(self.path_format, set()).update(self.methods or ())

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = ", ".join(sorted(self._methods[self.path_format]))
            raise HTTPException(405, headers={"Allow": allowed})
        await super().handle(scope, receive, send)


# The refusals every route of ``/api/v1`` that reads the caller's token may answer.
READ = (401, 403, 404, 422)

# The body of a job submission: the service's parameters, free-form here because each
# service has its own (``GET /api/v1/services/{name}`` gives their JSON Schema).
JOB_REQUEST: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "additionalProperties": True, "properties": {"parameters": {
        "type": "object", "additionalProperties": True,
        "description": "parameter name → value, as the service's JSON Schema describes"}}},
    "example": {"parameters": {"RA": 83.63}}}}}}

# ``POST /services/{name}/code``: the same parameters, and the language of the snippet.
def code_request(langs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    request = JOB_REQUEST["requestBody"]["content"]["application/json"]
    schema = {**request["schema"], "properties": {
        **request["schema"]["properties"], "lang": {"enum": list(langs), "default": "python"}}}
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": schema, "example": {**request["example"], "lang": "python"}}}}}
