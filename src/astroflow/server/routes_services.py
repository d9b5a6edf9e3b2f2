"""``/api/v1/services``: what can be asked for, with parameters, outputs and JSON Schema."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends

from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.openapi import errors
from astroflow.server.platform import Platform
from astroflow.server.readme import find_readme
from astroflow.server.schemas import ServiceDetail, ServiceSummary, ok, ok_list

router = APIRouter(prefix="/api/v1/services", tags=["services"])


@router.get("", response_model=None, responses={**ok_list(ServiceSummary), **errors(401)})
def list_services(p: Platform = Depends(platform), who: Caller = Depends(caller)) -> list[dict[str, Any]]:
    """Services visible to the caller (restricted ones need the caller's roles)."""
    return [s.summary() for s in p.catalog.visible_to(who.roles)]


@router.get("/{name}", response_model=None,
            responses={**ok(ServiceDetail), **errors(401, 404, 422)})
def describe_service(name: str, p: Platform = Depends(platform),
                     who: Caller = Depends(caller)) -> dict[str, Any]:
    """The service's parameters, outputs and JSON Schema; ``readme`` is the address of its
    repository's README page, or null when the repository has none."""
    service = p.service(name, who)
    readme = f"/services/{quote(name)}/readme" if find_readme(service.source) else None
    return {**service.detail(), "readme": readme}
