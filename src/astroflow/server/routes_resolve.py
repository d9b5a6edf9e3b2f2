"""``/api/v1/resolve``: an object name → ICRS RA/Dec in degrees, and which resolver answered.

The portal's Resolve button calls it. The route answers its own errors in the API's one
error shape (404 not_found, 422 invalid_request), so it behaves the same in any app.
The resolver is ``app.state.resolver`` when the app sets one, else the process default
configured from ``ASTROFLOW_SESAME_URL`` / ``ASTROFLOW_OFFLINE``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from astroflow.resolve import NameNotFound, NameResolver, default_resolver
from astroflow.resolve.resolution import Resolution
from astroflow.resolve.resolver import MAX_NAME_LENGTH
from astroflow.server.openapi import error_body, errors
from astroflow.server.schemas import ok

router = APIRouter(prefix="/api/v1/resolve", tags=["resolve"])


def name_resolver(request: Request) -> NameResolver:
    return getattr(request.app.state, "resolver", None) or default_resolver()


# The name is checked here (so that errors have the API's shape in any app) and documented
# as it is checked: required, not blank, at most MAX_NAME_LENGTH characters.
_NAME = {"name": "name", "in": "query", "required": True,
         "description": "object name, e.g. 'Crab' or 'NGC 1068'",
         "schema": {"type": "string", "pattern": r"\S", "maxLength": MAX_NAME_LENGTH}}


@router.get("", response_model=None, responses={**ok(Resolution), **errors(404, 422)},
            openapi_extra={"parameters": [_NAME]})
def resolve_name(name: str = Query("", include_in_schema=False),
                 resolver: NameResolver = Depends(name_resolver)) -> Any:
    """``{name, canonical, ra, dec, resolver, object_type, aliases}`` for an object name."""
    try:
        return resolver.resolve(name).as_dict()
    except NameNotFound as exc:
        return JSONResponse(error_body("not_found", str(exc)), status_code=404)
    except ValueError as exc:
        return JSONResponse(error_body("invalid_request", f"name: {exc}", [
            {"field": "name", "value": name[:200], "reason": str(exc)}]), status_code=422)
