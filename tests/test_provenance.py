"""PROV-JSON of a job: activity, entities, relations, and a document that parses back."""

from __future__ import annotations

import json

from prov.model import ProvActivity, ProvAgent, ProvDocument, ProvEntity, ProvGeneration

from astroflow.server.provenance import provenance

JOB = {
    "id": "4f2a9c",
    "service": "sky-position",
    "version": "1a2b3c",
    "state": "done",
    "cached": False,
    "parameters": {"RA": 83.633, "DEC": 22.0145, "T1": "2024-01-01T00:00:00",
                   "n_bins": 24, "smooth": True, "bands": [1, 2], "note": None},
    "owner": "alice@example.org",
    "created": 1_700_000_000.0,
    "started": 1_700_000_001.5,
    "finished": 1_700_000_003.25,
    "products": [
        {"name": "light_curve", "type": "lightcurve", "title": "light curve",
         "files": {"ecsv": "light_curve.ecsv", "fits": "light_curve.fits"}, "unit": None,
         "ontology": "http://odahub.io/ontology#LightCurve", "meta": {}},
        {"name": "mean_rate", "type": "scalar", "title": "mean rate",
         "files": {"json": "mean_rate.json"}, "unit": "1 / h",
         "ontology": "http://example.org/other#Rate", "meta": {}},
    ],
}
WORKFLOW = {"name": "sky-position", "title": "Sky position", "version": "1a2b3c",
            "path": "workflows/sky-position/sky_position.py"}


def parsed(doc: dict) -> ProvDocument:
    return ProvDocument.deserialize(content=json.dumps(doc), format="json")


def records(prov: ProvDocument, kind: type) -> list:
    return [r for r in prov.get_records() if isinstance(r, kind)]


def test_document_parses_back_with_every_element():
    doc = provenance(JOB, WORKFLOW, base_url="https://astro.example.org/")
    prov = parsed(doc)
    (activity,) = records(prov, ProvActivity)
    assert str(activity.identifier) == "jobs:4f2a9c"
    assert activity.identifier.uri == "https://astro.example.org/api/v1/jobs/4f2a9c"
    assert activity.get_startTime().timestamp() == 1_700_000_001.5
    assert activity.get_endTime().timestamp() == 1_700_000_003.25
    entities = records(prov, ProvEntity)
    assert len(entities) == 1 + 7 + 2  # workflow, parameters, products
    generations = records(prov, ProvGeneration)
    assert len(generations) == 2
    assert len(doc["wasDerivedFrom"]) == 2 * 7
    assert len(doc["used"]) == 1 + 7
    assert {str(a.identifier) for a in records(prov, ProvAgent)} == {
        "users:alice@example.org", "astroflow:platform"}


def test_parameters_carry_name_and_value():
    doc = provenance(JOB, WORKFLOW)
    entities = doc["entity"]
    ra = entities["jobs:4f2a9c/parameters/RA"]
    assert ra["astroflow:name"] == "RA"
    assert float(ra["prov:value"]["$"]) == 83.633
    assert entities["jobs:4f2a9c/parameters/T1"]["prov:value"] == "2024-01-01T00:00:00"
    assert entities["jobs:4f2a9c/parameters/smooth"]["prov:value"] is True
    bands = entities["jobs:4f2a9c/parameters/bands"]["prov:value"]
    assert bands == {"$": "[1, 2]", "type": "astroflow:json"}
    assert entities["jobs:4f2a9c/parameters/note"]["prov:value"]["$"] == "null"
    used_roles = {u["prov:entity"]: u["prov:role"]["$"] for u in doc["used"].values()}
    assert used_roles["services:sky-position/versions/1a2b3c"] == "astroflow:workflow"
    assert used_roles["jobs:4f2a9c/parameters/RA"] == "astroflow:parameter"


def test_products_are_generated_typed_and_derived():
    doc = provenance(JOB, WORKFLOW, base_url="http://localhost:8000")
    lc = doc["entity"]["jobs:4f2a9c/products/light_curve"]
    types = lc["prov:type"] if isinstance(lc["prov:type"], list) else [lc["prov:type"]]
    assert {t["$"] for t in types} == {"astroflow:Product", "oda:LightCurve"}
    assert lc["astroflow:url"] == "http://localhost:8000/api/v1/jobs/4f2a9c/products/light_curve"
    assert sorted(lc["astroflow:format"]) == ["ecsv", "fits"]
    rate = doc["entity"]["jobs:4f2a9c/products/mean_rate"]
    assert rate["astroflow:ontology"] == "http://example.org/other#Rate"
    assert rate["astroflow:unit"] == "1 / h"
    generated = {g["prov:entity"]: g for g in doc["wasGeneratedBy"].values()}
    assert set(generated) == {"jobs:4f2a9c/products/light_curve",
                              "jobs:4f2a9c/products/mean_rate"}
    assert all(g["prov:activity"] == "jobs:4f2a9c" for g in generated.values())
    derived = {(d["prov:generatedEntity"], d["prov:usedEntity"])
               for d in doc["wasDerivedFrom"].values()}
    assert ("jobs:4f2a9c/products/mean_rate", "jobs:4f2a9c/parameters/DEC") in derived
    assert doc["prefix"]["oda"] == "http://odahub.io/ontology#"


def test_agents_and_plan():
    doc = provenance(JOB, WORKFLOW)
    alice = doc["agent"]["users:alice@example.org"]
    assert alice["prov:type"]["$"] == "prov:Person" and alice["prov:label"] == "alice@example.org"
    platform = doc["agent"]["astroflow:platform"]
    assert platform["prov:type"]["$"] == "prov:SoftwareAgent"
    associations = list(doc["wasAssociatedWith"].values())
    assert {a["prov:agent"] for a in associations} == {"users:alice@example.org",
                                                      "astroflow:platform"}
    (with_plan,) = [a for a in associations if "prov:plan" in a]
    assert with_plan["prov:plan"] == "services:sky-position/versions/1a2b3c"
    (delegation,) = doc["actedOnBehalfOf"].values()
    assert delegation["prov:responsible"] == "users:alice@example.org"
    workflow = doc["entity"]["services:sky-position/versions/1a2b3c"]
    assert workflow["astroflow:source"] == "workflows/sky-position/sky_position.py"
    assert workflow["prov:label"] == "Sky position"


def test_anonymous_queued_job_without_products():
    job = {**JOB, "owner": None, "state": "queued", "started": None, "finished": None,
           "products": [], "parameters": {}}
    doc = provenance(job, {"name": "sky-position", "title": None, "version": "1a2b3c"})
    prov = parsed(doc)
    (activity,) = records(prov, ProvActivity)
    assert activity.get_startTime() is None and activity.get_endTime() is None
    assert "users:anonymous" in doc["agent"]
    assert "wasGeneratedBy" not in doc and len(records(prov, ProvEntity)) == 1
    assert doc["prefix"]["jobs"] == "urn:astroflow:jobs/"


def test_checksums_are_computed_once_and_follow_changes(tmp_path):
    """Product files are hashed once per job (a provenance read must not re-read gigabytes),
    and again when a file changes."""
    from hashlib import sha256

    from astroflow.server.provenance import CHECKSUMS_FILE, public_path, with_checksums

    products = tmp_path / "products"
    products.mkdir()
    (products / "light_curve.ecsv").write_text("a")
    entries = [{"name": "light_curve", "files": {"ecsv": "light_curve.ecsv",
                                                 "fits": "light_curve.fits"}}]
    first = with_checksums(entries, products)
    assert first[0]["checksums"] == {"ecsv": sha256(b"a").hexdigest()}  # the fits is absent
    cache = tmp_path / CHECKSUMS_FILE
    assert cache.exists()
    cache.write_text(cache.read_text().replace(sha256(b"a").hexdigest(), "0" * 64))
    assert with_checksums(entries, products)[0]["checksums"]["ecsv"] == "0" * 64  # not re-read
    (products / "light_curve.ecsv").write_text("bb")
    assert with_checksums(entries, products)[0]["checksums"]["ecsv"] == sha256(b"bb").hexdigest()
    assert public_path("/srv/astroflow/repos/x/nb.ipynb", "/srv/astroflow/repos/x") == "nb.ipynb"
    assert public_path("/elsewhere/nb.ipynb", "/srv/repo") == "nb.ipynb"
    assert public_path("C:\\repos\\nb.py") == "nb.py" and public_path("nb/a.py") == "nb/a.py"


def test_no_server_path_reaches_the_record():
    """Defect 10: an absolute source path was copied into the PROV record (fails on 311d7db)."""
    doc = provenance(JOB, {**WORKFLOW, "path": "/srv/secret/checkout/sky_position.py"})
    assert "/srv/secret" not in json.dumps(doc)
    assert doc["entity"]["services:sky-position/versions/1a2b3c"]["astroflow:source"] == (
        "sky_position.py")
