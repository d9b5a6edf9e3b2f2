"""The FastAPI application: one factory, routers per concern, errors that say what to do.

Every error body has one shape, ``{"error": {"code", "message", "errors"?}}``; invalid
parameters list every (field, value, reason) with status 422. Bad input never reaches a 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from astroflow.errors import AstroflowError
from astroflow.jobs.store import QueueFull, QuotaExceeded
from astroflow.jobs.uploads import UploadTooLarge
from astroflow.lifecycle.housekeeping import StoreFull
from astroflow.products import ProductError
from astroflow.server.auth import AuthError
from astroflow.server.config import ServerConfig
from astroflow.server.edge import (
    BodyLimit,
    BodyTooLarge,
    InvalidBody,
    ParameterTooLarge,
    RateLimited,
    RateLimiter,
)
from astroflow.server.fastpath import EndedJobReads
from astroflow.server.formats import FormatError
from astroflow.server.openapi import error_body
from astroflow.server.platform import Expired, Forbidden, NotFound, Platform
from astroflow.server.timing import ServerTiming
from astroflow.workflow import ValidationError

log = logging.getLogger("astroflow.server")


def create_app(config: ServerConfig | None = None, platform: Platform | None = None) -> FastAPI:
    config = config or ServerConfig.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal platform
        platform = platform or Platform.build(config)
        app.state.platform = platform
        platform.start()
        try:
            yield
        finally:
            platform.close()

    app = FastAPI(title="astroflow", version=_version(), lifespan=lifespan, docs_url=None,
                  description="Annotated analysis notebooks as online services.")
    _offline_docs(app)
    app.state.config = config
    app.add_middleware(EndedJobReads, state=app.state)
    # Bodies over their limit are refused before they are read (edge limits).
    app.add_middleware(BodyLimit, body_limit=config.body_limit, upload_limit=config.upload_limit)
    app.state.rate_limiter = RateLimiter(config.rate_limit)
    app.add_middleware(ServerTiming)  # added last: outermost, so it times the fast path too
    _error_handlers(app)

    from astroflow.server import (
        routes_auth,
        routes_code,
        routes_jobs,
        routes_products,
        routes_registry,
        routes_resolve,
        routes_services,
        routes_system,
        routes_uploads,
    )

    app.include_router(routes_services.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_products.router)
    app.include_router(routes_uploads.router)
    app.include_router(routes_registry.router)
    app.include_router(routes_resolve.router)
    app.include_router(routes_code.router)
    app.include_router(routes_auth.router)  # sign-in and API tokens
    from astroflow.server import routes_archive, routes_log

    app.include_router(routes_log.router)
    app.include_router(routes_archive.router)

    from astroflow.server.routes_portal import mount_portal

    mount_portal(app)  # "/" and /static: the portal talks only to the public API above
    app.include_router(routes_system.router)
    from astroflow.compat import dispatcher  # the MMODA dispatcher facade, /dispatch-data

    app.include_router(dispatcher.router)
    from astroflow.compat import nb2workflow_api  # nb2workflow's backend API, for MMODA

    app.include_router(nb2workflow_api.router)
    from astroflow.server import contract  # the OpenAPI document's job bodies, optional bearer

    contract.install(app)
    return app


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI served from the vendored copy (FastAPI's default uses a CDN)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="astroflow API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg")


def _version() -> str:
    from astroflow import __version__

    return __version__


def _error_handlers(app: FastAPI) -> None:
    # Errors that list (field, value, reason): code and status by class, most specific first.
    field_errors: list[tuple[type[Exception], str, int]] = [
        (InvalidBody, "invalid_request", 422), (ValidationError, "invalid_parameters", 422),
        (ParameterTooLarge, "parameter_too_large", 413)]

    async def _invalid(_: Request, exc: Exception) -> JSONResponse:
        code, status = next((c, s) for kind, c, s in field_errors if isinstance(exc, kind))
        return JSONResponse(error_body(code, str(exc), [e.as_dict() for e in exc.errors]),  # type: ignore[attr-defined]
                            status_code=status)

    for kind, _, _ in field_errors:
        app.add_exception_handler(kind, _invalid)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body",
                   "value": _short(e.get("input")), "reason": e.get("msg", "invalid")}
                  for e in exc.errors()]
        message = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return JSONResponse(error_body("invalid_request", message, errors), status_code=422)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        # Connection: close, so that the server reads no more of the body
        return JSONResponse(error_body(exc.code, exc.message), status_code=413,
                            headers={"Connection": "close"})

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(error_body("rate_limited", str(exc)), status_code=429,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own refusals (unknown path, method not allowed, …) in the one shape."""
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = getattr(exc, "headers", None) or {}
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such path: {request.url.path} (the API is described at /docs)"
        elif exc.status_code == 405 and "allow" in {k.lower() for k in headers}:
            allowed = next(v for k, v in headers.items() if k.lower() == "allow")
            message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
        return JSONResponse(error_body(code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(AuthError)
    async def _unauthorized(_: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(error_body("unauthorized", exc.reason), status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(QuotaExceeded)
    @app.exception_handler(StoreFull)
    async def _later(_: Request, exc: Exception) -> JSONResponse:
        code, status = ("quota_exceeded", 429) if isinstance(exc, QuotaExceeded) else \
            ("store_full", 507)
        return JSONResponse(error_body(code, str(exc)), status_code=status,
                            headers={"Retry-After": str(exc.retry_after)})  # type: ignore[attr-defined]

    for error, (code, status, headers) in _SIMPLE_ERRORS.items():
        app.add_exception_handler(error, _simple_handler(code, status, headers))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "the server failed on this request; "
                                       "the operators have the details in the log"),
                            status_code=500)


# Errors whose message says it all: exception class → (code, HTTP status, extra headers).
# Starlette picks the most specific class, so AstroflowError only catches the rest.
_SIMPLE_ERRORS: dict[type[Exception], tuple[str, int, dict[str, str]]] = {
    NotFound: ("not_found", 404, {}),
    Forbidden: ("forbidden", 403, {}),
    Expired: ("expired", 410, {}),
    QueueFull: ("too_many_jobs", 429, {"Retry-After": "5"}),
    ProductError: ("product_unavailable", 404, {}),
    FormatError: ("format_unavailable", 404, {}),
    UploadTooLarge: ("upload_too_large", 413, {}),
    AstroflowError: ("bad_request", 400, {}),
}


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "rate_limited"}


def _simple_handler(code: str, status: int, headers: dict[str, str]):
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(code, str(exc)), status_code=status, headers=headers or None)

    return handle


def _short(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool, type(None))):
        return value[:200] if isinstance(value, str) else value
    return repr(value)[:200]
