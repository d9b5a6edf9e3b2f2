"""Operations: health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from astroflow.server.deps import platform
from astroflow.server.platform import Platform

router = APIRouter(tags=["system"])


@router.get("/healthz")
def health(p: Platform = Depends(platform)) -> dict[str, Any]:
    counts = p.store.counts()
    return {"status": "ok", "services": len(p.catalog), "store": p.config.redacted_db(),
            "queued": counts.get("queued", 0), "running": counts.get("running", 0),
            "workers": p.config.workers}


@router.get("/metrics")
def metrics(p: Platform = Depends(platform)) -> Response:
    from astroflow.server.metrics import render_metrics

    counts = p.store.counts()
    body, content_type = render_metrics(counts, counts.get("queued", 0), p.store.durations(),
                                        len(p.catalog))
    return Response(body, media_type=content_type)
