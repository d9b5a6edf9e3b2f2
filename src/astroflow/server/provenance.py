"""W3C PROV-JSON for a job: what ran, on which inputs, for whom, and what it produced.

The job is a ``prov:Activity``; the workflow version, every parameter value and every product
are entities; the caller is an agent on whose behalf astroflow (a ``prov:SoftwareAgent``) ran
the workflow as its plan. Identifiers are the API's own URLs when the server knows its base
URL, so a product's provenance id is also where to download it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from prov.model import PROV, Literal, Namespace, ProvDocument, ProvEntity

from astroflow.ontology.model import ODA

ASTROFLOW_NS = "urn:astroflow:"
ODA_NS = str(ODA)


def provenance(job: Mapping[str, Any], workflow: Mapping[str, Any],
               base_url: str = "") -> dict[str, Any]:
    """The PROV-JSON document (as parsed JSON) of one job.

    ``job`` has ``id, service, version, state, parameters, owner, created, started, finished``
    (epoch seconds or ``None``) and ``products`` (manifest entries); ``workflow`` has ``name``,
    ``title``, ``version`` and optionally ``path``/``source``.
    """
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
    return json.loads(doc.serialize(format="json"))


def _workflow_entity(doc: ProvDocument, af: Namespace, services: Namespace,
                     workflow: Mapping[str, Any], job: Mapping[str, Any]) -> ProvEntity:
    name = str(workflow.get("name") or job.get("service"))
    version = str(workflow.get("version") or job.get("version") or "unknown")
    return doc.entity(services[f"{_local(name)}/versions/{_local(version)}"], _attributes({
        PROV["type"]: af["Workflow"],
        PROV["label"]: workflow.get("title") or name,
        af["name"]: name,
        af["version"]: version,
        af["source"]: workflow.get("source") or workflow.get("path"),
    }))


def _product_entity(doc: ProvDocument, af: Namespace, jobs: Namespace, job_id: str,
                    entry: Mapping[str, Any], base_url: str) -> ProvEntity:
    name = str(entry["name"])
    local = f"{job_id}/products/{_local(name)}"
    ontology = entry.get("ontology")
    types = [af["Product"]]
    if isinstance(ontology, str) and ontology.startswith(ODA_NS):
        types.append(doc.valid_qualified_name(ontology))
    attributes = [(PROV["type"], t) for t in types]
    attributes += [(key, value) for key, value in (
        (PROV["label"], entry.get("title") or name),
        (af["name"], name),
        (af["productType"], entry.get("type")),
        (af["unit"], entry.get("unit")),
        (af["ontology"], ontology if ontology and len(types) == 1 else None),
        (af["url"], jobs.uri + local if base_url else None),
    ) if value is not None]
    attributes += [(af["format"], fmt) for fmt in entry.get("files") or {}]
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
