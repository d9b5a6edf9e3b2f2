"""JSON records the API returns for jobs, built from the store's `Job`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from astroflow.jobs.model import EXPIRED_MESSAGE, Job, shown_progress
from astroflow.products import Product

API = "/api/v1"


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_record(job: Job, *, cached: bool = False) -> dict[str, Any]:
    from astroflow.server.formats import available_formats

    base = f"{API}/jobs/{job.id}"
    products = []
    for entry in job.products:
        product = Product.from_dict(entry)
        products.append({
            "name": product.name, "type": product.type, "title": product.title,
            "unit": product.unit, "description": product.description,
            "formats": available_formats(product),
            "url": f"{base}/products/{product.name}",
            "preview": f"{base}/products/{product.name}/preview",
        })
    elapsed = None
    if job.started is not None:
        elapsed = (job.finished or datetime.now(UTC).timestamp()) - job.started
    return {
        "id": job.id,
        "service": job.service,
        "version": job.version,
        "state": job.state,
        "cached": cached,
        "parameters": job.parameters,
        "progress": shown_progress(job.state, job.progress),
        "created": iso(job.created),
        "started": iso(job.started),
        "finished": iso(job.finished),
        "elapsed": round(elapsed, 4) if elapsed is not None else None,
        "error": job.error,
        "products": products,
        # the storage policy removed its files: the record stays, the request recomputes
        "expired": None if job.expired is None else {"at": iso(job.expired),
                                                     "message": EXPIRED_MESSAGE},
        "links": {"self": base, "events": f"{base}/events",
                  "notebook": f"{base}/notebook", "provenance": f"{base}/provenance",
                  "log": f"{base}/log", "archive": f"{base}/archive"},
    }
