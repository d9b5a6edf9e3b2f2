"""``/dispatch-data/...``: the MMODA dispatcher protocol, over astroflow's own jobs.

``oda_api.api.DispatcherAPI(url=".../dispatch-data")`` works against this router unchanged:
as in MMODA, a repository is an instrument and its notebooks its products
(``instrument="my-repo", product="echo"``); each service is also an instrument of its own
(its one product: the service's name), as single-notebook repositories have always used. The facade keeps no state: a
request is validated and submitted through `Platform` (same cache, same auth, same progress),
polls read the job by its id, and a done job's products are encoded from its files.

Tokens arrive as MMODA sends them, in the ``token`` field (an ``Authorization: Bearer``
header works too). Refusals use MMODA's status codes, which ``oda_api`` turns into its own
exceptions: 400 ``RequestNotUnderstood``, 403 ``Unauthorized``.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from astroflow.compat import encoding, instrument, response
from astroflow.compat.nb2workflow_api import progress_html
from astroflow.compat.request import AnalysisRequest, new_session_id, service_values
from astroflow.compat.snippet import oda_api_snippet
from astroflow.compat.waiting import request_caller, settle
from astroflow.errors import AstroflowError
from astroflow.jobs.model import Job
from astroflow.jobs.store import QueueFull, QuotaExceeded
from astroflow.jobs.uploads import CHUNK, UploadTooLarge, store_upload
from astroflow.lifecycle.housekeeping import StoreFull
from astroflow.products import Product, ProductError
from astroflow.products.stored import product_path
from astroflow.registry.catalog import Service
from astroflow.server.auth import AuthError, Caller
from astroflow.server.edge import (
    BodyTooLarge,
    ParameterTooLarge,
    RateLimited,
    caller_key,
    check_value_sizes,
    parse_json_body,
)
from astroflow.server.openapi import BinaryFile, SharedPathRoute, content, errors, mmoda_errors
from astroflow.server.platform import Forbidden, NotFound, Platform
from astroflow.workflow import ValidationError

router = APIRouter(prefix="/dispatch-data", tags=["mmoda"], route_class=SharedPathRoute)

SUBMIT_WAIT = 3.0   # seconds a new request waits for its job, so quick jobs answer at once
POLL_WAIT = 5.0     # seconds a poll waits for the job to end before answering its state


class Refused(Exception):  # noqa: N818 - carries an HTTP status and MMODA's answer
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- run_analysis ---------------------------------------------------------------------------

# One route per method (not ``api_route``): each gets its own OpenAPI operation id.
@router.get("/run_analysis", responses=mmoda_errors(400, 403, 413, 429))
@router.post("/run_analysis", responses=mmoda_errors(400, 403, 413, 429))
async def run_analysis(request: Request) -> JSONResponse:
    """Submit (``query_status=new``) or poll (``job_id`` and the last status) one analysis."""
    p: Platform = request.app.state.platform
    try:
        raw = await _fields(request, p)
        query = AnalysisRequest.parse(raw)
    except (ValidationError, UploadTooLarge, BodyTooLarge, ParameterTooLarge, AuthError,
            Refused) as exc:
        return _refusal(_refused(exc), new_session_id())
    try:
        who = request_caller(request, query.token)
        service, instrument_name = _resolve(p, query.instrument, query.product_type, who)
        values, unused = service_values(service, query)  # polls resend every field too
        comment = _unused_comment(unused)
        if query.is_new:
            address = request.client.host if request.client else None
            request.app.state.rate_limiter.take(caller_key(who.sub, address))
            job, _ = await run_in_threadpool(p.submit, service.name, values, who)
            job = await settle(p, job, who, SUBMIT_WAIT)
        else:
            assert query.job_id is not None  # a request that is not new names its job
            job = await run_in_threadpool(p.job, query.job_id, who)
            if job.service != service.name:
                raise Refused(400, f"job {job.id} belongs to instrument {job.service!r}, "
                                   f"not {service.name!r}")
            job = await settle(p, job, who, POLL_WAIT)
        body = await run_in_threadpool(_answer, p, job, query, service, str(request.base_url),
                                       comment, instrument_name)
    except (Refused, AuthError, NotFound, Forbidden, ValidationError, QueueFull,
            AstroflowError) as exc:
        retry_after = getattr(exc, "retry_after", None)  # rate, quota, store full
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return _refusal(_refused(exc), query.session_id, query.job_id, headers)
    return JSONResponse(body)


def _answer(p: Platform, job: Job, query: AnalysisRequest, service: Service, base_url: str,
            comment: str, instrument_name: str | None = None) -> dict[str, Any]:
    products: dict[str, Any] = {}
    api = query.api
    if job.state == "done":
        try:
            products = _encoded_products(p, job)
            if not api:
                products.update(encoding.html_products(
                    [Product.from_dict(e) for e in job.products],
                    p.artifacts.job_dir(job.id) / "products", instrument.product_key(service),
                    none_valued=none_outputs(service, job), order=list(service.workflow.outputs)))
        except (ProductError, OSError) as exc:
            return response.failed_answer(f"the products of job {job.id} could not be "
                                          f"encoded: {exc}", query.session_id, job.id)
        products["extra_metadata"] = extra_metadata(service, job)
        none_values(products, service, job)
        parameters = {**job.parameters, **query.echo(), "job_id": job.id}
        products["analysis_parameters"] = parameters
        if instrument_name and instrument_name != service.name:
            target, product = instrument_name, instrument.product_key(service)
        else:
            target, product = service.name, instrument.product_name(service)
        products["api_code"] = oda_api_snippet(
            target, job.parameters, (p.config.base_url or base_url), product=product,
            needs_token=bool(service.roles) or service.workflow.token_access)
    if query.return_progress:
        page = progress_html(job)
        if api:
            products["progress_product_list"] = [{"name": "progress", "value": page}]
        else:
            products["progress_product_html_output"] = [page]
    return response.job_answer(job, query.session_id, products=products, comment=comment)


def none_outputs(service: Service, job: Job) -> dict[str, str]:
    """The value outputs (a parameter class, not a product) the notebook left as ``None``,
    with their class URIs: MMODA still returns them."""
    made = {e.get("name") for e in job.products}
    return {name: out.ontology.uri for name, out in service.workflow.outputs.items()
            if name not in made and out.ontology is not None and out.ontology.kind != "product"}


def none_values(products: dict[str, Any], service: Service, job: Job) -> None:
    """Each ``None`` value output as the plugin gives it to oda_api: ``{name, value: None,
    meta_data: {uri}}`` in ``text_product_list``."""
    for name, uri in none_outputs(service, job).items():
        products[encoding.TEXTS].append({"name": name, "value": None, "meta_data": {"uri": uri}})
        products["prod_uris"][name] = uri
        out = service.workflow.outputs[name]
        products["extra_metadata"][name] = {k: v for k in ("label", "description", "group")
                                            if (v := getattr(out, k, None))}


def extra_metadata(service: Service, job: Job) -> dict[str, Any]:
    """``products.extra_metadata``: each product's label, description and group as its
    output declares them (``{}`` for an output without), what the plugin returns."""
    found: dict[str, Any] = {}
    outputs = service.workflow.outputs
    for entry in job.products:
        name = str(entry["name"])
        declared = outputs.get(name)
        meta: dict[str, Any] = {}
        if declared is not None:
            for key in ("label", "description", "group"):
                value = getattr(declared, key, None)
                if value:
                    meta[key] = value
        found[name] = meta
    return found


def _encoded_products(p: Platform, job: Job) -> dict[str, Any]:
    products = [Product.from_dict(entry) for entry in job.products]
    for product in products:
        for key, filename in product.files.items():
            if key not in product.derived:
                p.artifacts.path(job.id, f"products/{filename}")  # fetched from a remote store
    return encoding.encode_products(products, p.artifacts.job_dir(job.id) / "products")


def _unused_comment(unused: list[str]) -> str:
    if not unused:
        return ""
    if len(unused) == 1:
        return f"Please note that argument {unused[0]} is not used"
    return f"Please note that arguments {', '.join(unused)} are not used"


# --- instruments ----------------------------------------------------------------------------

@router.get("/instr-list", responses={**mmoda_errors(403), **errors(422)})
@router.get("/api/instr-list", responses={**mmoda_errors(403), **errors(422)})
def instrument_list(request: Request, token: str | None = Query(None)) -> Response:
    """The instruments (services) this caller may use."""
    p: Platform = request.app.state.platform
    try:
        who = request_caller(request, token)
    except AuthError as exc:
        return _refusal(_refused(exc), new_session_id())
    visible = p.catalog.visible_to(who.roles)
    names = [s.name for s in visible]
    names += sorted({s.repository for s in visible if s.repository} - set(names))
    return JSONResponse(names)


@router.get("/api/par-names", responses={**mmoda_errors(400, 403), **errors(422)})
def parameter_names(request: Request, instrument_name: str | None = Query(None, alias="instrument"),
                    product_type: str | None = Query(None),
                    token: str | None = Query(None)) -> Response:
    """The names ``run_analysis`` accepts for an instrument and product type."""
    return _describe(request, instrument_name, product_type, token, instrument.par_names)


@router.get("/api/meta-data", responses={**mmoda_errors(400, 403), **errors(422)})
@router.get("/meta-data", responses={**mmoda_errors(400, 403), **errors(422)})
def meta_data(request: Request, instrument_name: str | None = Query(None, alias="instrument"),
              product_type: str | None = Query(None), token: str | None = Query(None)) -> Response:
    """MMODA's description of an instrument: source query, instrument query, product query."""
    return _describe(request, instrument_name, product_type, token, instrument.meta_data)


def _describe(request: Request, name: str | None, product_type: str | None, token: str | None,
              describe: Any) -> Response:
    p: Platform = request.app.state.platform
    try:
        who = request_caller(request, token)
        products = _repository(p, name, who)
        if products is None:
            service, _ = _resolve(p, name, product_type, who)
    except (Refused, AuthError) as exc:
        return _refusal(_refused(exc), new_session_id())
    if products is None:
        return JSONResponse(response.strict(describe(service)))
    if describe is instrument.par_names:
        return JSONResponse(instrument.repository_par_names(products, product_type))
    assert name is not None  # a repository's products are found by the repository's name
    return JSONResponse(response.strict(instrument.instrument_description(name, products)))


# --- download_products ----------------------------------------------------------------------

_DOWNLOAD = {**content("application/octet-stream", "application/gzip",
                      description="one file, or a .tar.gz of several"),
             **mmoda_errors(400, 403, json_route=False), **errors(413, 422, json_route=False)}


@router.get("/download_products", response_class=BinaryFile, responses=_DOWNLOAD)
@router.post("/download_products", response_class=BinaryFile, responses=_DOWNLOAD)
async def download_products(request: Request) -> Response:
    """A done job's product files: one file, or a ``.tar.gz`` of several (``file_list``)."""
    p: Platform = request.app.state.platform
    raw = await _fields(request, p, uploads=False)
    session = str(raw.get("session_id") or new_session_id())
    try:
        who = request_caller(request, _text(raw.get("token")))
        job_id = _text(raw.get("job_id"))
        if not job_id:
            raise Refused(400, "job_id is required")
        job = await run_in_threadpool(p.job, job_id, who)
        if job.state != "done":
            raise Refused(400, f"job {job.id} is {job.state}; its products exist once it is done")
        files = await run_in_threadpool(_job_files, p, job, _text(raw.get("file_list")))
    except (Refused, AuthError, NotFound, Forbidden, ProductError) as exc:
        return _refusal(_refused(exc), session, _text(raw.get("job_id")))
    archive = str(raw.get("return_archive", "True")).lower() not in ("false", "0", "no")
    name = _text(raw.get("download_file_name"))
    if len(files) == 1 and not archive:
        arcname, path = files[0]
        return FileResponse(path, filename=name or arcname,
                            media_type="application/octet-stream")
    packed, default = await run_in_threadpool(_pack, files, f"{job.service}-{job.id[:8]}")
    return FileResponse(packed, filename=name or default, media_type="application/gzip",
                        background=BackgroundTask(packed.unlink, missing_ok=True))


def _job_files(p: Platform, job: Job, file_list: str | None) -> list[tuple[str, Path]]:
    """``(name in the archive, local path)`` of the requested products (all by default)."""
    wanted = [w.strip() for w in (file_list or "").split(",") if w.strip()]
    files: list[tuple[str, Path]] = []
    found: set[str] = set()
    for entry in job.products:
        product = Product.from_dict(entry)
        for key, filename in product.files.items():
            if not wanted or product.name in wanted or filename in wanted:
                if key not in product.derived:  # stored: fetched from a remote store
                    p.artifacts.path(job.id, f"products/{filename}")
                path = product_path(product, p.artifacts.job_dir(job.id) / "products", key)
                files.append((filename, path))
                found.update({product.name, filename})
    missing = [w for w in wanted if w not in found]
    if missing or not files:
        raise Refused(400, f"job {job.id} has no product or file {', '.join(missing) or ''} "
                           f"(it has: {', '.join(e['name'] for e in job.products) or 'none'})")
    return files


def _pack(files: list[tuple[str, Path]], stem: str) -> tuple[Path, str]:
    """One file gzipped, several in a tar.gz; a temporary file removed once sent."""
    with tempfile.NamedTemporaryFile(prefix="astroflow-download-", suffix=".gz",
                                     delete=False) as handle:
        if len(files) == 1:
            arcname, path = files[0]
            with gzip.GzipFile(fileobj=handle, mode="wb", filename=arcname) as out, \
                    path.open("rb") as source:
                shutil.copyfileobj(source, out)
            return Path(handle.name), f"{arcname}.gz"
        with tarfile.open(fileobj=handle, mode="w:gz") as tar:
            for arcname, path in files:
                tar.add(path, arcname=f"{stem}/{arcname}")
    return Path(handle.name), f"{stem}.tar.gz"


# --- shared ---------------------------------------------------------------------------------

async def _fields(request: Request, p: Platform, uploads: bool = True) -> dict[str, Any]:
    """Query fields, then form fields (or a JSON object) of a POST; uploaded files are
    stored and become their ``upload://`` reference, as for the astroflow API.

    Every field is bounded (``param_limit``); a JSON body goes through the same parser as
    the API's (`parse_json_body`); files are stored only for a caller with a valid token
    when the server verifies tokens, as ``POST /api/v1/uploads`` requires.
    """
    fields: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            fields.update(parse_json_body(await request.body()))
        else:
            async with request.form() as form:
                files = []
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        files.append((key, value))
                    else:
                        fields[key] = value
                check_value_sizes(fields, p.config.param_limit)
                if files and uploads:
                    _upload_caller(request, _text(fields.get("token")))
                    for key, value in files:
                        stored = await run_in_threadpool(store_upload, p.artifacts,
                                                         _chunks(value), value.filename,
                                                         p.config.upload_limit)
                        fields[key] = stored.ref
    check_value_sizes(fields, p.config.param_limit)
    return fields


def _upload_caller(request: Request, token: str | None) -> Caller:
    """Who uploads: anyone on a server without operator-set keys, else only a caller with a
    valid token."""
    who = request_caller(request, token)
    if request.app.state.config.auth.configured and who.sub is None:
        raise Refused(403, "file uploads need a token on this server (the token field or "
                           "Authorization: Bearer)")
    return who


def _chunks(upload: UploadFile) -> Any:
    while data := upload.file.read(CHUNK):
        yield data


def _repository(p: Platform, name: str | None, who: Caller) -> dict[str, Service] | None:
    """A repository instrument's products (notebook stem → service), or None when ``name``
    is a service (a service's name wins over a repository's of the same name)."""
    if not name or p.catalog.get(name) is not None:
        return None
    products = {instrument.product_key(s): s for s in p.catalog.visible_to(who.roles)
                if s.repository == name}
    return products or None


def _resolve(p: Platform, name: str | None, product_type: str | None,
             who: Caller) -> tuple[Service, str]:
    """``(service, instrument name)`` for an instrument and product type: a repository and
    one of its notebooks, or a service and its own product."""
    products = _repository(p, name, who)
    if products is not None:
        found = products.get(product_type or "") or next(
            (s for s in products.values() if s.name == product_type), None)
        if found is None and not product_type and len(products) == 1:
            found = next(iter(products.values()))
        if found is None:
            raise Refused(400, f"instrument {name!r} has no product {product_type!r}; "
                               f"its products are {', '.join(products)}")
        return found, str(name)
    service = _service(p, name, product_type, who)
    return service, service.name


def _service(p: Platform, name: str | None, product_type: str | None, who: Caller) -> Service:
    if not name:
        raise Refused(400, "instrument is required (GET /dispatch-data/instr-list lists them)")
    try:
        service = p.service(name, who)
    except NotFound:
        visible = p.catalog.visible_to(who.roles)
        known = ", ".join([s.name for s in visible]
                          + sorted({s.repository for s in visible if s.repository}))
        raise Refused(400, f"instrument: {name!r} is not known here; known: {known}") from None
    if not instrument.is_product(service, product_type):
        raise Refused(400, f"instrument {service.name!r} has no product {product_type!r}; "
                           f"its product is {instrument.product_name(service)!r}")
    return service


def _refused(exc: Exception) -> Refused:
    if isinstance(exc, Refused):
        return exc
    if isinstance(exc, AuthError):
        return Refused(403, f"invalid token: {exc.reason}")
    if isinstance(exc, Forbidden):
        return Refused(403, str(exc))
    if isinstance(exc, QueueFull):
        return Refused(429, str(exc))
    if isinstance(exc, RateLimited | QuotaExceeded):
        return Refused(429, str(exc))
    if isinstance(exc, StoreFull):
        return Refused(507, str(exc))
    if isinstance(exc, (UploadTooLarge, ParameterTooLarge)):
        return Refused(413, str(exc))
    if isinstance(exc, BodyTooLarge):
        return Refused(413, exc.message)
    return Refused(400, str(exc))


def _refusal(refused: Refused, session_id: str, job_id: str | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(response.failed_answer(refused.message, session_id, job_id),
                        status_code=refused.status, headers=headers)


def _text(value: Any) -> str | None:
    if value is None or value == "\x00":
        return None
    return str(value).strip() or None
