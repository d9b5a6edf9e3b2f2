"""A done job's files: products in each format, previews, the executed notebook, provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse, Response
from starlette.background import BackgroundTask

from astroflow.jobs.model import Job
from astroflow.products import Product
from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.formats import MEDIA_TYPES
from astroflow.server.openapi import READ, BinaryFile, content, errors
from astroflow.server.platform import NotFound, Platform
from astroflow.server.schemas import Preview, Provenance, ok

router = APIRouter(prefix="/api/v1/jobs/{job_id}", tags=["products"])


def _product(p: Platform, job: Job, name: str) -> Product:
    for entry in job.products:
        if entry.get("name") == name:
            return Product.from_dict(entry)
    if job.state != "done":
        raise NotFound(f"job {job.id} is {job.state}; products exist once it is done")
    raise NotFound(f"job {job.id} has no product {name!r} "
                   f"(it has: {', '.join(e['name'] for e in job.products) or 'none'})")


def _products_dir(p: Platform, job: Job, product: Product) -> Path:
    for key, filename in product.files.items():
        if key not in product.derived:  # stored: fetch from a remote store if needed
            p.artifacts.path(job.id, f"products/{filename}")
    return p.artifacts.job_dir(job.id) / "products"


@router.get("/products/{name}", response_class=BinaryFile,
             responses={**content(*sorted({t.split(";")[0] for t in MEDIA_TYPES.values()})),
                        **errors(*READ, 410, json_route=False)})
def download_product(job_id: str, name: str, format: str | None = Query(None),
                     p: Platform = Depends(platform), who: Caller = Depends(caller)) -> Response:
    """One product in one format (``fits``, ``ecsv``, ``votable``, ``csv``, ``png``, ``json`` …)."""
    from astroflow.server.formats import download

    job = p.job_files(p.job(job_id, who))
    release = p.hold_files(job.id)  # the sweep keeps the files until the answer is sent
    try:
        product = _product(p, job, name)
        result = download(product, _products_dir(p, job, product), format)
    except BaseException:
        release()
        raise
    headers = {"Content-Disposition": f'attachment; filename="{result.filename}"'}
    if result.path is not None:
        return FileResponse(result.path, media_type=result.media_type, headers=headers,
                            background=BackgroundTask(release))
    return Response(result.content, media_type=result.media_type, headers=headers,
                    background=BackgroundTask(release))


@router.get("/products/{name}/preview", response_model=None,
            responses={**ok(Preview), **errors(*READ, 410)})
def preview_product(job_id: str, name: str, scale: str = Query("linear"),
                    offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000),
                    sort: str | None = None, descending: bool = False,
                    p: Platform = Depends(platform), who: Caller = Depends(caller)) -> dict[str, Any]:
    """What the portal draws: a Plotly figure, a table page, a scalar, text or a picture."""
    from astroflow.server.preview import preview

    job = p.job_files(p.job(job_id, who))
    product = _product(p, job, name)
    target = job_target(p, job) if product.type == "image" else None
    return preview(product, _products_dir(p, job, product), scale=scale, offset=offset,
                   limit=limit, sort=sort, descending=descending, target=target)


def job_target(p: Platform, job: Job) -> tuple[float, float] | None:
    """The job's position (its RA and Dec parameters, by ontology role) in degrees."""
    service = p.catalog.get(job.service)
    if service is None:
        return None
    by_role = {param.role: name for name, param in service.workflow.parameters.items()
               if param.role in ("ra", "dec")}
    try:
        return (float(job.parameters[by_role["ra"]]), float(job.parameters[by_role["dec"]]))
    except (KeyError, TypeError, ValueError):
        return None


@router.get("/notebook", response_class=BinaryFile,
            responses={**content("application/x-ipynb+json", "text/html",
                                 description="the notebook (ipynb) or its HTML rendering"),
                       **errors(*READ, 410, json_route=False)})
async def executed_notebook(job_id: str, format: str = Query("ipynb", pattern="^(ipynb|html)$"),
                            p: Platform = Depends(platform), who: Caller = Depends(caller)) -> Response:
    """The notebook as it ran, with its outputs (HTML is rendered on first request)."""
    job = await run_in_threadpool(p.job, job_id, who)
    await run_in_threadpool(p.job_files, job)
    ipynb = await run_in_threadpool(p.artifacts.path, job.id, "executed.ipynb")
    if not ipynb.exists():
        raise NotFound(f"job {job.id} has no executed notebook yet (it is {job.state})")
    if format == "ipynb":
        return FileResponse(ipynb, media_type="application/x-ipynb+json",
                            filename=f"{job.service}-{job.id[:8]}.ipynb")
    from astroflow.execution import notebook_html

    html = ipynb.with_suffix(".html")
    if not html.exists() or html.stat().st_mtime < ipynb.stat().st_mtime:
        html = await run_in_threadpool(notebook_html, ipynb)
    return FileResponse(html, media_type="text/html")


PROVENANCE_FORMATS = "^(json|provn|xml|summary)$"


@router.get("/provenance", response_model=None, responses={
    200: {"model": Provenance, **content(
        "text/provenance-notation", "application/xml",
        description="PROV-JSON (default), PROV-N, PROV-XML, or the readable summary")[200]},
    **errors(*READ)})
def job_provenance(job_id: str, format: str = Query("json", pattern=PROVENANCE_FORMATS),
                   p: Platform = Depends(platform), who: Caller = Depends(caller)) -> Any:
    """W3C PROV: the job as an activity, parameters and products (with sha256) as entities;
    ``format=summary`` is the same record for people (who, what, when, environment)."""
    from astroflow.server import provenance as prov

    job = p.job(job_id, who)
    record, workflow = provenance_record(p, job)
    if format == "summary":
        try:
            notebook = p.artifacts.path(job.id, "executed.ipynb")
        except OSError:
            notebook = None
        return prov.summary(record, workflow, notebook)
    if format == "json":
        return prov.provenance(record, workflow, base_url=p.config.base_url)
    return PlainTextResponse(prov.serialize(record, workflow, p.config.base_url, format),
                             media_type=prov.PROV_FORMATS[format])


def provenance_record(p: Platform, job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job and its workflow as `provenance` reads them; paths relative to the
    repository, products with the sha256 of each stored file."""
    from astroflow.server.provenance import public_path, with_checksums

    service = p.catalog.get(job.service)
    workflow: dict[str, Any] = {"name": job.service, "version": job.version,
                                "title": job.service}
    if service is not None:
        workflow.update(title=service.workflow.title, repository=service.repository,
                        repository_version=service.repository_version,
                        path=public_path(service.workflow.path, service.source),
                        environment="its own" if service.python else None)
    products_dir = p.artifacts.job_dir(job.id) / "products"
    for entry in job.products:  # fetch stored files from a remote store if needed
        derived = entry.get("derived") or ()
        for key, filename in (entry.get("files") or {}).items():
            if key not in derived:
                p.artifacts.path(job.id, f"products/{filename}")
    record = {"id": job.id, "service": job.service, "version": job.version, "state": job.state,
              "parameters": job.parameters, "owner": job.owner, "created": job.created,
              "started": job.started, "finished": job.finished,
              "products": with_checksums(job.products, Path(products_dir))}
    return record, workflow
