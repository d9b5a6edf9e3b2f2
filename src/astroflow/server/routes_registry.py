"""``/api/v1/registry``: what each followed repository serves, and triggers for deployment."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.openapi import errors
from astroflow.server.platform import Forbidden, NotFound, Platform
from astroflow.server.schemas import Accepted, RepositoryStatus, ok, ok_list

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

ADMIN_ROLE = "registry-admin"
DEVELOPER_ROLE = "workflow-developer"


def _registry(p: Platform):
    if p.registry is None:
        raise NotFound("this server follows no repositories (no [[sources]] in astroflow.toml)")
    return p.registry


@router.get("", response_model=None,
            responses={**ok_list(RepositoryStatus), **errors(401, 404)})
async def registry_status(p: Platform = Depends(platform),
                          who: Caller = Depends(caller)) -> list[dict[str, Any]]:
    """Per repository: active version, last attempt (step, reason, log tail), status.

    Repositories deployed for workflow developers only are listed to callers with that role.
    """
    entries = await run_in_threadpool(_registry(p).status)
    if DEVELOPER_ROLE in who.roles or ADMIN_ROLE in who.roles:
        return entries
    return [e for e in entries if "live-workflow" not in e["topics"]
            or "live-workflow-public" in e["topics"]]


@router.post("/update", status_code=202, response_model=None,
             responses={**ok(Accepted, 202), **errors(401, 403, 404)})
def registry_update(p: Platform = Depends(platform), who: Caller = Depends(caller)) -> dict[str, Any]:
    """Look at every source now (role ``registry-admin``)."""
    _registry(p)
    if ADMIN_ROLE not in who.roles:
        raise Forbidden(f"updating the registry needs the {ADMIN_ROLE!r} role")
    p.update_registry()
    return {"accepted": True}


@router.post("/hooks/gitlab", status_code=202, response_model=None,
             responses={**ok(Accepted, 202), **errors(400, 401, 403, 404, 413)})
async def gitlab_hook(request: Request, p: Platform = Depends(platform)) -> JSONResponse:
    """GitLab push events: checked against the shared secret, then deployed at once."""
    from astroflow.registry.gitlab import HookError, parse_push_hook

    registry = _registry(p)
    secret = os.environ.get(registry.config.hook_secret_env)
    body = await request.body()
    try:
        event = parse_push_hook(dict(request.headers), body, secret)
    except HookError as exc:
        return JSONResponse({"error": {"code": "bad_hook", "message": str(exc)}},
                            status_code=getattr(exc, "status", 400))
    if event.deleted:
        return JSONResponse({"accepted": False, "reason": "branch deleted: nothing to deploy"},
                            status_code=202)
    p.update_registry({event.path_with_namespace, event.clone_url})
    return JSONResponse({"accepted": True, "repository": event.path_with_namespace,
                         "commit": event.after}, status_code=202)
