"""nb2workflow's backend API, so that a MMODA dispatcher (dispatcher-plugin-nb2workflow) can
use astroflow in place of an nb2workflow container.

The plugin calls, with ``data_server_url`` pointing at this server (every service) or at
``/nb2workflow/<repository>`` (one repository, as one nb2workflow container serves one):

- ``GET <url>`` (its connection test: any 200);
- ``GET <url>/api/v1.0/options``: ``{target: {"output": ..., "parameters": ...}}`` where a
  target is a notebook's file stem, as nb2workflow names them;
- ``GET <url>/api/v1.0/get/<target>?<parameters>``: synchronous, ``200 {output, exceptions,
  jobdir}`` (500 when the notebook raised, 400 ``{issues}`` for bad parameters); with
  ``_async_request=yes``: ``201 {workflow_status: submitted|started}`` until the job ends, then
  ``200 {workflow_status: done, data: {output, exceptions, jobdir}}``. ``_token`` is the
  caller's token, ``_async_request_callback`` an ``http(s)`` URL called with ``action=progress``
  and ``action=done`` as nb2workflow does; ``"\\x00"`` stands for ``None``;
- ``GET <url>/trace/<jobdir>/<target>``: the job's progress as HTML (``return_progress``);
- ``GET <url>/health``.

Jobs are astroflow's own (same cache, same queue, same auth as ``/api/v1``); ``jobdir`` is a
name (``nb2w-<job id>``), never a server path. Outputs are encoded as ``oda_api`` encodes them
(``NumpyDataProduct``, ``ODAAstropyTable``, ``PictureProduct``, ``BinaryProduct`` as their
``encode()`` dicts, texts and values as they are), which is what the plugin decodes.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import shutil
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from astroflow.compat import encoding
from astroflow.compat.waiting import request_caller, settle
from astroflow.errors import AstroflowError
from astroflow.jobs.model import TERMINAL, Job
from astroflow.products import Product, ProductError
from astroflow.registry.catalog import Service
from astroflow.server.auth import AuthError, Caller
from astroflow.server.platform import Forbidden, NotFound, Platform
from astroflow.workflow import Parameter, ValidationError

log = logging.getLogger(__name__)

router = APIRouter(tags=["nb2workflow"])

ODA = "http://odahub.io/ontology#"
UNIT = "http://odahub.io/ontology/unit#"
NONE = "\x00"
SYNC_WAIT = 3600.0      # seconds a synchronous request waits for its job (nb2workflow: forever)
JOBDIR = "nb2w-"
_TYPE_URIS = {int: ODA + "Integer", float: ODA + "Float", str: ODA + "String",
              bool: ODA + "Boolean", list: ODA + "StructuredParameter",
              dict: ODA + "StructuredParameter"}
_background: set[asyncio.Task] = set()


# --- description ----------------------------------------------------------------------------

def targets(p: Platform, who: Caller, repository: str | None = None) -> dict[str, Service]:
    """nb2workflow target (notebook file stem) → service, for one repository or all.

    Two repositories with notebooks of the same stem: the second is listed by its service
    name (``<stem with ->``) so that both stay reachable."""
    found: dict[str, Service] = {}
    for service in p.catalog.visible_to(who.roles):
        if repository is not None and service.repository != repository:
            continue
        name = service.workflow.name
        found[service.name if name in found else name] = service
    return found


def _target(p: Platform, who: Caller, repository: str | None, target: str) -> Service:
    found = targets(p, who, repository)
    service = found.get(target) or next((s for s in found.values() if s.name == target), None)
    if service is None:
        raise NotFound(f"target not known: {target}; available targets: {', '.join(found)}")
    return service


def annotated_class(uri: str | None, facts: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(owl_type, extra_ttl)``: with annotation predicates, nb2workflow gives the parameter a
    class of its own, a subclass of the annotated one carrying them, defined in ``extra_ttl``
    (which the plugin parses before reading the class's restrictions)."""
    if not facts:
        return uri, None
    import hashlib

    base = (uri or ODA + "Thing").rsplit("#", 1)[-1]
    digest = hashlib.sha1(repr((uri, sorted(facts.items()))).encode()).hexdigest()[:10]  # noqa: S324
    name = f"{base}_{digest}"
    return ODA + name, extra_ttl(name, uri, facts)


def extra_ttl(name: str, uri: str | None, facts: dict[str, Any]) -> str | None:
    """Turtle defining ``oda:<name>``: a subclass of ``uri`` with the predicates ``facts``."""
    lines = ["@prefix oda: <http://odahub.io/ontology#> .",
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .", ""]
    body = [f"rdfs:subClassOf <{uri}>"] if uri else []
    for predicate, value in facts.items():
        values = value if isinstance(value, list | tuple) else [value]
        body.append(f"oda:{predicate} " + ", ".join(_literal(v) for v in values))
    lines.append(f"oda:{name} " + " ;\n    ".join(body) + " .")
    return "\n".join(lines) + "\n"


class Resource(str):
    """An IRI object in ``extra_ttl`` (``oda:format oda:MJD``), not a literal."""


_FORMATS = {"mjd": "MJD", "isot": "ISOT", "jd": "JD", "unix": "UNIX", "iso": "ISO"}


def _literal(value: Any) -> str:
    if isinstance(value, Resource):
        return f"<{value}>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def parameter_options(param: Parameter) -> dict[str, Any]:
    """One parameter as nb2workflow's ``InputParameter.as_dict()`` (+ ``value``)."""
    uri = param.ontology.uri if param.ontology else _TYPE_URIS.get(param.type, ODA + "String")
    facts: dict[str, Any] = {}
    onto = param.ontology
    if param.minimum is not None and (onto is None or onto.lower_limit != param.minimum):
        facts["lower_limit"] = param.minimum
    if param.maximum is not None and (onto is None or onto.upper_limit != param.maximum):
        facts["upper_limit"] = param.maximum
    if param.enum is not None and (onto is None or onto.allowed_values != param.enum):
        facts["allowed_value"] = list(param.enum)
    if param.unit and (onto is None or onto.unit != param.unit):
        facts["unit"] = Resource(UNIT + param.unit)
    if param.label and (onto is None or onto.label != param.label):
        facts["label"] = param.label
    if param.format and (onto is None or onto.format != param.format):
        facts["format"] = Resource(ODA + _FORMATS.get(param.format, param.format.upper()))
    annotated, ttl = annotated_class(uri, facts)
    uri = annotated or uri  # a class was given, so one comes back
    comment = " oda:" + uri.removeprefix(ODA) if uri.startswith(ODA) else f" <{uri}>"
    return {"raw_line": f"{param.name} = {param.default!r} #{comment}", "name": param.name,
            "default_value": param.default, "value": param.default,
            "python_type": {"type_object": repr(param.type)}, "comment": comment,
            "owl_type": uri, "extra_ttl": ttl, "is_optional": param.optional,
            "is_file_reference": bool(onto and onto.role in ("file", "url"))}


def output_options(service: Service) -> dict[str, Any]:
    """The outputs as nb2workflow's ``extract_output_declarations()``."""
    outputs: dict[str, Any] = {}
    for out in service.workflow.outputs.values():
        uri = out.ontology.uri if out.ontology else None
        # declared on the output, even when its class has the same label (the plugin reads
        # the labels of the output's own class only)
        facts = {k: v for k, v in (("label", out.label), ("description", out.description)) if v}
        comment = "" if uri is None else " oda:" + uri.removeprefix(ODA)
        owl_type, ttl = annotated_class(uri, facts)
        outputs[out.name] = {"name": out.name, "value": None,
                             "python_type": {"type_object": repr(str)}, "comment": comment,
                             "owl_type": owl_type, "extra_ttl": ttl}
    return outputs


def options(p: Platform, who: Caller, repository: str | None = None) -> dict[str, Any]:
    return {target: {"output": output_options(s),
                     "parameters": {n: parameter_options(par)
                                    for n, par in s.workflow.parameters.items()}}
            for target, s in targets(p, who, repository).items()}


# --- outputs --------------------------------------------------------------------------------

def job_output(p: Platform, job: Job, service: Service) -> dict[str, Any]:
    """``output`` of a done job: each declared output as the plugin decodes it; one the
    notebook left as ``None`` (no product) is ``null``."""
    products_dir = p.artifacts.job_dir(job.id) / "products"
    output: dict[str, Any] = {}
    for entry in job.products:
        product = Product.from_dict(entry)
        for key, filename in product.files.items():
            if key not in product.derived:  # stored: fetched from a remote store if needed
                p.artifacts.path(job.id, f"products/{filename}")
        if product.meta.get("json_form"):  # plain rows or columns, as the notebook gave them
            output[product.name] = encoding.plain_json(product, products_dir)
            continue
        key, encoded = encoding.encode_product(product, products_dir)
        if key == encoding.TEXTS:
            output[product.name] = encoded["value"]
        else:
            output[product.name] = encoding.as_returned(encoded, product.meta.get("oda"))
    for name in service.workflow.outputs:  # an output left as None: null, as nb2workflow
        output.setdefault(name, None)      # reports it (the plugin reads every declared one)
    return output


def jobdir(job: Job) -> str:
    return JOBDIR + job.id


def exceptions(job: Job) -> list[dict[str, Any]]:
    """nb2workflow's ``serialize_workflow_exception`` of a failed job (none otherwise)."""
    if job.state not in ("failed", "cancelled"):
        return []
    error = job.error or {}
    ename = str(error.get("exception") or error.get("type") or "Exception")
    evalue = str(error.get("message") or ("cancelled" if job.state == "cancelled" else "failed"))
    return [{"ename": ename, "evalue": evalue.removeprefix(f"{ename}: "),
             "edump": str(error.get("traceback") or "")}]


def _done_data(p: Platform, job: Job, service: Service) -> dict[str, Any]:
    output: dict[str, Any] | str = "incomplete"
    if job.state == "done":
        output = job_output(p, job, service)
    return {"output": output, "exceptions": exceptions(job), "jobdir": jobdir(job)}


# --- routes ---------------------------------------------------------------------------------

def _platform(request: Request) -> Platform:
    return request.app.state.platform


def _who(request: Request) -> Caller:
    return request_caller(request, _text(request.query_params.get("_token")))


def _text(value: Any) -> str | None:
    if value is None or value == NONE:
        return None
    return str(value).strip() or None


async def get_options(request: Request, repository: str | None = None) -> Response:
    p = _platform(request)
    try:
        who = _who(request)
    except AuthError as exc:
        return JSONResponse({"issues": [f"invalid token: {exc.reason}"]}, status_code=403)
    if repository is not None and not targets(p, who, repository):
        return JSONResponse({"issues": [f"no repository {repository!r}"]}, status_code=404)
    return JSONResponse(encoding_safe(options(p, who, repository)))


def encoding_safe(value: Any) -> Any:
    from astroflow.compat.response import strict

    return strict(value)


async def get_workflow(request: Request, target: str, repository: str | None = None) -> Response:
    """``/api/v1.0/get/<target>``: run (or join) the job, sync or ``_async_request``."""
    p = _platform(request)
    args = request.query_params
    asynchronous = _text(args.get("_async_request")) is not None
    callback = _text(args.get("_async_request_callback"))
    try:
        who = _who(request)
        service = _target(p, who, repository, target)
    except AuthError as exc:
        return JSONResponse({"issues": [f"invalid token: {exc.reason}"]}, status_code=403)
    except NotFound as exc:
        return JSONResponse({"issues": [str(exc)]}, status_code=400)
    values = {k: (None if v == NONE else v) for k, v in args.items()
              if k in service.workflow.parameters}
    try:
        values = await run_in_threadpool(fetch_file_urls, p, service, values,
                                         _text(args.get("_token")))
        job, created = await run_in_threadpool(p.submit, service.name, values, who)
    except (ValidationError, FileFetchError) as exc:
        issues = ([f"{e.field}: {e.reason}" for e in exc.errors] or [str(exc)]) \
            if isinstance(exc, ValidationError) else [str(exc)]
        if asynchronous:
            return JSONResponse({"workflow_status": "done", "comment": "", "data": {
                "output": "incomplete",
                "exceptions": [{"ename": "ValueError", "evalue": i, "edump": i} for i in issues]}})
        return JSONResponse({"issues": issues}, status_code=400)
    except (Forbidden, AstroflowError) as exc:
        return JSONResponse({"issues": [str(exc)]}, status_code=403 if isinstance(
            exc, Forbidden) else 400)
    if asynchronous:
        if created and callback and callback.startswith(("http://", "https://")):
            task = asyncio.create_task(_callbacks(p, job.id, who, callback))
            _background.add(task)
            task.add_done_callback(_background.discard)
        if job.state not in TERMINAL:
            job = await _wait(p, job, who, 1.0)
        if job.state in TERMINAL:
            data = await run_in_threadpool(_done_data_safe, p, job, service)
            return JSONResponse(encoding_safe({"workflow_status": "done", "data": data,
                                               "comment": ""}))
        if job.state == "running":
            return JSONResponse({"workflow_status": "started", "comment": "task is started",
                                 "jobdir": jobdir(job)}, status_code=201)
        return JSONResponse({"workflow_status": "submitted",
                             "comment": "task created" if created else "task is submitted"},
                            status_code=201)
    job = await _wait(p, job, who, SYNC_WAIT)
    data = await run_in_threadpool(_done_data_safe, p, job, service)
    if job.state != "done":
        return JSONResponse(encoding_safe({"output": {}, "jobdir": data["jobdir"],
                                           "exceptions": [repr_exception(e)
                                                          for e in data["exceptions"]]}),
                            status_code=500)
    return JSONResponse(encoding_safe({**data, "exceptions": []}))


class FileFetchError(Exception):
    """A file parameter's URL that could not be fetched (nb2workflow's wording)."""


def fetch_file_urls(p: Platform, service: Service, values: dict[str, Any],
                    token: str | None) -> dict[str, Any]:
    """A file (``oda:POSIXPath``) parameter given an ``http(s)`` URL, as the MMODA dispatcher
    sends uploaded files: fetched into the upload store (with the caller's token added to a
    MMODA URL, as nb2workflow does) and replaced by its reference."""
    from astroflow.compat.request import with_mmoda_token
    from astroflow.jobs.uploads import UploadTooLarge, store_upload

    out = dict(values)
    for name, value in values.items():
        param = service.workflow.parameters[name]
        if param.role != "file" or not isinstance(value, str) \
                or not value.startswith(("http://", "https://")):
            continue
        url = with_mmoda_token(value, token) if token else value
        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60) as reply:
                reply.raise_for_status()
                stored = store_upload(p.artifacts, reply.iter_bytes(1 << 16),
                                      url.rsplit("/", 1)[-1].split("?")[0] or name,
                                      p.config.upload_limit)
        except httpx.ConnectError:
            raise FileFetchError("An issue, due to connection error, occurred when attempting "
                                 f"to getting the file size at the url {value}") from None
        except UploadTooLarge as exc:
            raise FileFetchError(f"{name}: {exc}") from None
        except httpx.HTTPError as exc:
            raise FileFetchError(f"An issue, due to {exc}, occurred when attempting to "
                                 f"download the file at the url {value}") from None
        out[name] = stored.ref
    return out


def repr_exception(e: dict[str, Any]) -> str:
    """Sync answers carry ``repr(exception)``, as nb2workflow's do."""
    return f"{e['ename']}({e['evalue']!r})"


def _done_data_safe(p: Platform, job: Job, service: Service) -> dict[str, Any]:
    try:
        return _done_data(p, job, service)
    except (ProductError, OSError) as exc:
        return {"output": "incomplete", "jobdir": jobdir(job), "exceptions": [
            {"ename": "ProductError", "evalue": str(exc), "edump": str(exc)}]}


async def _wait(p: Platform, job: Job, who: Caller, seconds: float) -> Job:
    return await settle(p, job, who, seconds)


async def _callbacks(p: Platform, job_id: str, who: Caller, url: str) -> None:
    """``action=progress`` once the job runs, ``action=done`` once it ended (nb2workflow's
    ``perform_callback``); failures to call are logged, never raised."""
    sent_progress = False
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                job = await run_in_threadpool(p.job, job_id, who)
                if job.state == "running" and not sent_progress:
                    await client.get(url, params={"action": "progress"})
                    sent_progress = True
                if job.state in TERMINAL:
                    await client.get(url, params={"action": "done"})
                    return
                await _wait(p, job, who, 5.0)
    except (httpx.HTTPError, NotFound, OSError) as exc:
        log.warning("nb2workflow callback %s for job %s failed: %s", url, job_id, exc)


async def get_trace(request: Request, job: str, target: str,
                    repository: str | None = None) -> Response:
    """The job's progress as HTML, what the plugin shows for ``return_progress=True``."""
    p = _platform(request)
    try:
        who = _who(request)
        found = await run_in_threadpool(p.job, job.removeprefix(JOBDIR), who)
    except (AuthError, NotFound, Forbidden):
        return Response("", status_code=404)
    return HTMLResponse(progress_html(found))


def progress_html(job: Job) -> str:
    report = job.progress or {}
    rows: list[tuple[str, Any]] = [("state", job.state)]
    for key in ("stage", "fraction", "substage", "subfraction", "message"):
        if report.get(key) is not None:
            value = report[key]
            rows.append((key, f"{100 * value:.0f}%" if key.endswith("fraction") else value))
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in rows)
    return f'<div class="astroflow-progress"><table>{cells}</table></div>'


async def health(request: Request, repository: str | None = None) -> Response:
    """nb2workflow's ``/health``: ``{summary, status}``; 500 with ``issues`` when unwell."""
    p = _platform(request)
    usage = shutil.disk_usage(getattr(p.config, "data_dir", None) or ".")
    avail_mb = usage.free / 1024 / 1024
    status = {"fs_space": {"size_mb": usage.total / 1024 / 1024, "avail_mb": avail_mb},
              "loadavg": list(os.getloadavg())}
    issues = []
    if avail_mb < 300:
        issues.append(f"not enough free space: {avail_mb:.5g} Mb left")
    if issues:
        return JSONResponse({"issues": issues, "status": status,
                             "summary": "warning: " + "; ".join(issues)}, status_code=500)
    return JSONResponse({"summary": "all is ok!", "status": status})


async def repository_root(request: Request, repository: str) -> Response:
    """The plugin's connection test reads ``data_server_url`` itself: 200 with the targets."""
    p = _platform(request)
    try:
        found = targets(p, _who(request), repository)
    except AuthError as exc:
        return JSONResponse({"issues": [f"invalid token: {exc.reason}"]}, status_code=403)
    if not found:
        return JSONResponse({"issues": [f"no repository {repository!r}"]}, status_code=404)
    return JSONResponse({"repository": repository, "targets": list(found)})


# nb2workflow's API is nb2workflow's contract (its shapes, its statuses), not astroflow's:
# left out of astroflow's OpenAPI document; tests/test_security_auth.py covers its routes.
for _prefix in ("", "/nb2workflow/{repository}"):
    router.add_api_route(_prefix + "/api/v1.0/options", get_options, methods=["GET"],
                         include_in_schema=False)
    router.add_api_route(_prefix + "/api/v1.0/get/{target}", get_workflow, methods=["GET"],
                         include_in_schema=False)
    router.add_api_route(_prefix + "/trace/{job}/{target}", get_trace, methods=["GET"],
                         include_in_schema=False)
router.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
router.add_api_route("/nb2workflow/{repository}/health", health, methods=["GET"],
                     include_in_schema=False)
router.add_api_route("/nb2workflow/{repository}", repository_root, methods=["GET"],
                     include_in_schema=False)
router.add_api_route("/nb2workflow/{repository}/", repository_root, methods=["GET"],
                     include_in_schema=False)
