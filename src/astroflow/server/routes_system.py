"""Operations: health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from astroflow.server.auth import AuthError, Caller
from astroflow.server.deps import caller, platform
from astroflow.server.openapi import PlainText, errors
from astroflow.server.platform import Forbidden, Platform
from astroflow.server.schemas import Health, ok

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=None, responses=ok(Health))
def health(p: Platform = Depends(platform)) -> dict[str, Any]:
    """Open to anyone, so it names no path, URL or host: only the store's kind."""
    counts = p.store.counts()
    return {"status": "ok", "services": len(p.catalog), "store": p.config.store_kind,
            "queued": counts.get("queued", 0), "running": counts.get("running", 0),
            "workers": p.config.workers,
            "sandbox": p.sandbox}  # layer → whether this machine gives it to runs


@router.get("/metrics", response_class=PlainText, responses=errors(401, 403, json_route=False))
def metrics(p: Platform = Depends(platform), who: Caller = Depends(caller)) -> Response:
    """Prometheus text; with ``metrics_role`` set, only for tokens holding that role."""
    from astroflow.server.metrics import render_metrics

    role = p.config.metrics_role
    if role is not None and who.anonymous:
        raise AuthError(f"/metrics needs a token with the {role!r} role")
    if role is not None and role not in who.roles:
        raise Forbidden(f"/metrics needs the {role!r} role")
    counts = p.store.counts()
    body, content_type = render_metrics(counts, counts.get("queued", 0), p.store.durations(),
                                        len(p.catalog))
    return Response(body, media_type=content_type)
