"""W3C PROV-JSON for a job: what ran, on which inputs, for whom, and what it produced.

The job is a ``prov:Activity``; the workflow version, every parameter value and every product
are entities; the caller is an agent on whose behalf astroflow (a ``prov:SoftwareAgent``) ran
the workflow as its plan. Identifiers are the API's own URLs when the server knows its base
URL, so a product's provenance id is also where to download it.

`summary` is the same record for people (who, what, when, environment, inputs, products with
their checksums), and `serialize` gives the PROV graph as PROV-JSON, PROV-N or PROV-XML. No
record carries a server path: the workflow is named by its repository, version and the
notebook's path inside the repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform as host
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from prov.identifier import QualifiedName
from prov.model import PROV, Literal, Namespace, ProvDocument, ProvEntity

from astroflow.ontology.model import ODA

ASTROFLOW_NS = "urn:astroflow:"
ODA_NS = str(ODA)


def provenance(job: Mapping[str, Any], workflow: Mapping[str, Any],
               base_url: str = "") -> dict[str, Any]:
    """The PROV-JSON document (as parsed JSON) of one job.

    ``job`` has ``id, service, version, state, parameters, owner, created, started, finished``
    (epoch seconds or ``None``) and ``products`` (manifest entries, optionally with
    ``checksums``: format → sha256); ``workflow`` has ``name``, ``title``, ``version`` and
    optionally ``repository``, ``path``/``source`` (made relative: never a server path).
    """
    return json.loads(_serialized(prov_document(job, workflow, base_url), "json"))


PROV_FORMATS = {"json": "application/json", "provn": "text/provenance-notation",
                "xml": "application/xml"}


def serialize(job: Mapping[str, Any], workflow: Mapping[str, Any], base_url: str,
              fmt: str) -> str:
    """The PROV graph as ``json`` (PROV-JSON), ``provn`` (PROV-N) or ``xml`` (PROV-XML)."""
    doc = prov_document(job, workflow, base_url)
    return doc.get_provn() if fmt == "provn" else _serialized(doc, fmt)


def _serialized(doc: ProvDocument, fmt: str) -> str:
    """The document as text (prov returns ``None`` only when given a file to write to)."""
    text = doc.serialize(format=fmt)
    assert text is not None
    return text


def prov_document(job: Mapping[str, Any], workflow: Mapping[str, Any],
                  base_url: str = "") -> ProvDocument:
    """The PROV document of one job (see `provenance`)."""
    doc = ProvDocument()
    af = doc.add_namespace("astroflow", ASTROFLOW_NS)
    doc.add_namespace("oda", ODA_NS)
    api = base_url.rstrip("/") + "/api/v1/" if base_url else ASTROFLOW_NS
    jobs = doc.add_namespace("jobs", api + "jobs/")
    services = doc.add_namespace("services", api + "services/")
    users = doc.add_namespace("users", ASTROFLOW_NS + "users/")
    job_id = _local(str(job["id"]))

    activity = doc.activity(
        jobs[job_id], _time(job.get("started")), _time(job.get("finished")),
        _attributes({
            PROV["type"]: af["Job"],
            PROV["label"]: f"{job.get('service')} job {job['id']}",
            af["service"]: job.get("service"),
            af["serviceVersion"]: job.get("version"),
            af["state"]: job.get("state"),
            af["created"]: _time(job.get("created")),
            af["cached"]: job.get("cached"),
        }))

    plan = _workflow_entity(doc, af, services, workflow, job)
    doc.used(activity, plan, _time(job.get("started")), other_attributes={
        PROV["role"]: af["workflow"]})

    parameters = []
    for name, value in (job.get("parameters") or {}).items():
        entity = doc.entity(jobs[f"{job_id}/parameters/{_local(name)}"], _attributes({
            PROV["type"]: af["Parameter"],
            PROV["label"]: name,
            af["name"]: name,
            PROV["value"]: _literal(value, af),
        }))
        doc.used(activity, entity, _time(job.get("started")),
                 other_attributes={PROV["role"]: af["parameter"]})
        parameters.append(entity)

    for entry in job.get("products") or []:
        entity = _product_entity(doc, af, jobs, job_id, entry, base_url)
        doc.wasGeneratedBy(entity, activity, _time(job.get("finished")))
        for parameter in parameters:
            doc.wasDerivedFrom(entity, parameter, activity)

    caller = _caller(doc, users, job.get("owner"))
    platform = doc.agent(af["platform"], _attributes({
        PROV["type"]: PROV["SoftwareAgent"],
        PROV["label"]: "astroflow",
        af["version"]: _astroflow_version(),
    }))
    doc.wasAssociatedWith(activity, caller)
    doc.wasAssociatedWith(activity, platform, plan)
    doc.actedOnBehalfOf(platform, caller, activity)
    return doc


def _workflow_entity(doc: ProvDocument, af: Namespace, services: Namespace,
                     workflow: Mapping[str, Any], job: Mapping[str, Any]) -> ProvEntity:
    name = str(workflow.get("name") or job.get("service"))
    version = str(workflow.get("version") or job.get("version") or "unknown")
    return doc.entity(services[f"{_local(name)}/versions/{_local(version)}"], _attributes({
        PROV["type"]: af["Workflow"],
        PROV["label"]: workflow.get("title") or name,
        af["name"]: name,
        af["version"]: version,
        af["repository"]: workflow.get("repository"),
        af["source"]: public_path(workflow.get("source") or workflow.get("path")),
    }))


def _product_entity(doc: ProvDocument, af: Namespace, jobs: Namespace, job_id: str,
                    entry: Mapping[str, Any], base_url: str) -> ProvEntity:
    name = str(entry["name"])
    local = f"{job_id}/products/{_local(name)}"
    ontology = entry.get("ontology")
    types = [af["Product"]]
    if isinstance(ontology, str) and ontology.startswith(ODA_NS):
        qualified = doc.valid_qualified_name(ontology)
        if qualified is not None:
            types.append(qualified)
    attributes: list[tuple[QualifiedName, Any]] = [(PROV["type"], t) for t in types]
    attributes += [(key, value) for key, value in (
        (PROV["label"], entry.get("title") or name),
        (af["name"], name),
        (af["productType"], entry.get("type")),
        (af["unit"], entry.get("unit")),
        (af["ontology"], ontology if ontology and len(types) == 1 else None),
        (af["url"], jobs.uri + local if base_url else None),
    ) if value is not None]
    attributes += [(af["format"], fmt) for fmt in entry.get("files") or {}]
    attributes += [(af["sha256"], f"{fmt}:{digest}")
                   for fmt, digest in (entry.get("checksums") or {}).items()]
    return doc.entity(jobs[local], attributes)


def _caller(doc: ProvDocument, users: Namespace, owner: str | None) -> Any:
    if owner is None:
        return doc.agent(users["anonymous"], {PROV["type"]: PROV["Person"],
                                              PROV["label"]: "anonymous caller"})
    return doc.agent(users[_local(owner)], {PROV["type"]: PROV["Person"], PROV["label"]: owner})


def _attributes(values: Mapping[Any, Any]) -> dict[Any, Any]:
    """Drop absent attributes: PROV has no null."""
    return {k: v for k, v in values.items() if v is not None}


def _literal(value: Any, af: Namespace) -> Any:
    """Scalars stay typed literals; anything else (lists, None) becomes JSON text."""
    if isinstance(value, bool | int | float | str):
        return value
    return Literal(json.dumps(value, sort_keys=True, default=str), datatype=af["json"])


def _time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(float(epoch), tz=UTC)


def _local(name: str) -> str:
    """A safe local part of a qualified name (user names may hold '@', ' ' or '/')."""
    return quote(name, safe="@.-_~")


def _astroflow_version() -> str:
    from astroflow import __version__

    return __version__


def public_path(path: Any, root: Any = None) -> str | None:
    """A path as a caller may see it: relative to ``root`` (the repository) when inside it,
    else its last component; never the server's absolute path."""
    if path is None:
        return None
    text = str(path)
    if root is not None:
        try:
            return Path(text).relative_to(Path(str(root))).as_posix()
        except ValueError:
            pass
    for flavour in (PurePosixPath, PureWindowsPath):
        if flavour(text).is_absolute():
            return flavour(text).name
    return text


def sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


CHECKSUMS_FILE = "sha256.json"  # beside the products: an ended job's files never change


def with_checksums(products: Iterable[Mapping[str, Any]], products_dir: Path
                   ) -> list[dict[str, Any]]:
    """Manifest entries with ``checksums`` (format → sha256) of the files present, each file
    hashed once (kept by name, size and modification time in the job's folder)."""
    cache_path = products_dir.parent / CHECKSUMS_FILE
    try:
        cache = json.loads(cache_path.read_text("utf-8"))
    except (OSError, ValueError):
        cache = {}
    changed = False
    out = []
    for entry in products:
        sums = {}
        for fmt, name in (entry.get("files") or {}).items():
            path = products_dir / str(name)
            if not path.is_file():
                continue
            stat = path.stat()
            key = [stat.st_size, stat.st_mtime_ns]
            known = cache.get(str(name))
            if not (isinstance(known, list) and known[:2] == key):
                cache[str(name)] = known = [*key, sha256(path)]
                changed = True
            sums[fmt] = known[2]
        out.append({**entry, "checksums": sums})
    if changed:
        with contextlib.suppress(OSError):  # a read-only store: hashed again next time
            cache_path.write_text(json.dumps(cache), "utf-8")
    return out


def summary(job: Mapping[str, Any], workflow: Mapping[str, Any],
            notebook: Path | None = None) -> dict[str, Any]:
    """Provenance for people: who asked, what ran (service, version, repository, notebook),
    when, with which parameters and uploaded inputs, in which environment, and what came out
    (each file with its sha256)."""
    def iso(epoch: float | None) -> str | None:
        moment = _time(epoch)
        return None if moment is None else moment.isoformat(timespec="seconds")

    started, finished = job.get("started"), job.get("finished")
    inputs = [{"parameter": name, "file": ref.split("/", 3)[-1], "sha256": ref.split("/")[2]}
              for name, ref in (job.get("parameters") or {}).items()
              if isinstance(ref, str) and ref.startswith("upload://") and ref.count("/") >= 3]
    products = [{"name": e.get("name"), "title": e.get("title"), "type": e.get("type"),
                 "files": [{"format": fmt, "file": name,
                            "sha256": (e.get("checksums") or {}).get(fmt)}
                           for fmt, name in (e.get("files") or {}).items()]}
                for e in job.get("products") or []]
    return {
        "job": job.get("id"), "state": job.get("state"), "cached": bool(job.get("cached")),
        "who": job.get("owner") or "anonymous",
        "what": {"service": job.get("service"), "title": workflow.get("title"),
                 "version": job.get("version"), "repository": workflow.get("repository"),
                 "repository_version": workflow.get("repository_version"),
                 "notebook": public_path(workflow.get("path") or workflow.get("source"))},
        "when": {"created": iso(job.get("created")), "started": iso(started),
                 "finished": iso(finished),
                 "seconds": (round(float(finished) - float(started), 3)
                             if started is not None and finished is not None else None)},
        "parameters": dict(job.get("parameters") or {}),
        "inputs": inputs,
        "environment": environment(workflow.get("environment")),
        "products": products,
        "notebook": ({"file": "executed.ipynb", "sha256": sha256(notebook)}
                     if notebook is not None and notebook.is_file() else None),
    }


def environment(service_env: str | None = None) -> dict[str, Any]:
    """The platform's software: astroflow, Python, the OS, the science stack's versions."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("numpy", "astropy", "scipy", "nbformat"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    return {"astroflow": _astroflow_version(), "python": sys.version.split()[0],
            "system": f"{host.system()} {host.machine()}",
            "service_environment": service_env or "astroflow's own", "packages": packages}
