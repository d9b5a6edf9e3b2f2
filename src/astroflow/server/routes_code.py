"""``…/code``: the snippet that reproduces a request, for the portal's "API code" panel.

For a job, its service and canonical parameters; for a request not yet submitted, the
parameters are validated first (422 lists every problem), so a snippet always holds values
the service accepts, rendered as Python literals by :mod:`astroflow.client.snippet`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from astroflow.client.snippet import python_snippet, shell_snippet
from astroflow.compat.snippet import oda_api_snippet
from astroflow.registry.catalog import Service
from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.edge import parse_json_body
from astroflow.server.openapi import READ, SharedPathRoute, code_request, errors
from astroflow.server.platform import Platform
from astroflow.server.schemas import CodeSnippet, ok

router = APIRouter(prefix="/api/v1", tags=["code"], route_class=SharedPathRoute)

LANGS = ("python", "shell", "oda_api")

_LANG = Query("python", pattern="^(" + "|".join(LANGS) + ")$",
              description="python (the astroflow client), shell (the astroflow command) or "
                          "oda_api (MMODA's client, through the dispatcher facade)")


def snippet(lang: str, service: str, parameters: dict[str, Any], url: str, **kw: Any) -> str:
    """The snippet in `lang`: the astroflow client, its command, or MMODA's client through
    the dispatcher facade."""
    if lang == "python":
        return python_snippet(service, parameters, url, **kw)
    if lang == "shell":
        return shell_snippet(service, parameters, url, **kw)
    if lang == "oda_api":
        return oda_api_snippet(service, parameters, url, needs_token=kw.get("needs_token", False))
    raise ValueError(f"no snippet for {lang!r}; choose one of {', '.join(LANGS)}")


def server_url(request: Request, p: Platform) -> str:
    """The public URL: the operator's ``base_url`` if set, else the one this request used."""
    return (p.config.base_url or str(request.base_url)).rstrip("/")


def _needs_token(service: Service | None) -> bool:
    return service is not None and (bool(service.roles) or service.workflow.token_access)


@router.get("/jobs/{job_id}/code", response_model=None,
            responses={**ok(CodeSnippet), **errors(*READ)})
def job_code(job_id: str, request: Request, lang: str = _LANG, p: Platform = Depends(platform),
             who: Caller = Depends(caller)) -> dict[str, Any]:
    """Code that submits this job's request again (and is answered from this job)."""
    job = p.job(job_id, who)
    code = snippet(lang, job.service, job.parameters, server_url(request, p), job_id=job.id,
                   version=job.version, needs_token=_needs_token(p.catalog.get(job.service)))
    return {"lang": lang, "code": code}


@router.get("/services/{name}/code", response_model=None,
            responses={**ok(CodeSnippet), **errors(400, *READ)})
def request_code(name: str, request: Request, lang: str = _LANG,
                 p: Platform = Depends(platform), who: Caller = Depends(caller)) -> dict[str, Any]:
    """Code for a request not yet submitted: parameters as query fields (``?RA=83.6&…``)."""
    values = {k: v for k, v in request.query_params.items() if k != "lang"}
    return _request_code(p, who, name, values, lang, server_url(request, p))


@router.post("/services/{name}/code", response_model=None,
             responses={**ok(CodeSnippet), **errors(400, *READ, 413)},
             openapi_extra=code_request(LANGS))
async def request_code_from_body(name: str, request: Request, p: Platform = Depends(platform),
                                 who: Caller = Depends(caller)) -> dict[str, Any]:
    """The same, with typed JSON parameters (``{"parameters": {...}, "lang": "python"}``).

    The body is read by `parse_json_body`, as for a job: bytes that are not UTF-8 JSON,
    NaN or nesting too deep are a 422 in the API's error shape.
    """
    from astroflow.workflow import FieldError, ValidationError

    body = parse_json_body(await request.body())
    values = body.get("parameters", {})
    lang = body.get("lang", "python")
    problems = []
    if not isinstance(values, dict):
        problems.append(FieldError("parameters", values, "must be a JSON object"))
    if lang not in LANGS:
        problems.append(FieldError("lang", lang, f"must be one of {', '.join(LANGS)}"))
    if problems:
        raise ValidationError(problems)
    return _request_code(p, who, name, values, lang, server_url(request, p))


def _request_code(p: Platform, who: Caller, name: str, values: dict[str, Any], lang: str,
                  url: str) -> dict[str, Any]:
    service = p.service(name, who)
    canonical = service.workflow.validate(values)
    code = snippet(lang, service.name, canonical, url, needs_token=_needs_token(service))
    return {"lang": lang, "code": code}
