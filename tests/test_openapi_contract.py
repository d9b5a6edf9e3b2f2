"""The OpenAPI document is a contract: unique operation ids, a bearer security scheme, a
success schema for every ``/api/v1`` operation, and live answers that match those schemas.

On main before this change: no security scheme, two operation ids used twice
(``compat/dispatcher.py``), and 26 of 30 operations without a success schema (free-form
objects or none), so nothing could check what the API answers.
(Schemathesis' response checks over every operation: tests/test_security_openapi.py.)"""

from __future__ import annotations

import inspect
import re
import time
import warnings

import httpx
import jwt
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from server_process import SECRET, TEST_SERVICES, ServerProcess

from astroflow.server.app import create_app

JSON = "application/json"


@pytest.fixture(scope="module")
def document(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("ASTROFLOW_DATA", str(tmp_path_factory.mktemp("contract-data")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns of a duplicate operation id
        return create_app().openapi()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _operations(doc):
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_operation_ids_are_unique(document):
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def _specific(schema: dict) -> bool:
    """A schema that says something: a model, a type, an array of something."""
    return bool(schema) and any(k in schema for k in ("$ref", "type", "properties", "items"))


def test_every_api_operation_has_a_success_schema(document):
    missing = []
    for path, method, op in _operations(document):
        if not path.startswith("/api/v1/"):
            continue
        bodies = [media.get("schema") or {} for status, response in op["responses"].items()
                  if status.startswith("2") for media in response.get("content", {}).values()]
        if not any(_specific(schema) for schema in bodies):
            missing.append(f"{method.upper()} {path}")
    assert not missing, missing


def test_bearer_scheme_is_documented_and_optional(document):
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"]}
    job = document["paths"]["/api/v1/jobs/{job_id}"]["get"]
    assert job["security"] == [{"bearer": []}, {}]  # anonymous callers use open services
    assert "401" in job["responses"] and "404" in job["responses"]


def _token() -> str:
    claims = {"sub": "contract", "roles": ["general"], "exp": int(time.time() + 3600)}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("contract"), services=[TEST_SERVICES / "basics"],
                            env={"ASTROFLOW_OFFLINE": "1"})
    with process.running(), httpx.Client(base_url=process.url, timeout=30,
                      headers={"Authorization": f"Bearer {_token()}"}) as client:
        yield client


def _validator(doc: dict, path: str, method: str, status: int) -> Draft202012Validator:
    """A validator of one success body, its ``#/components/…`` references resolved in ``doc``."""
    schema = doc["paths"][path][method]["responses"][str(status)]["content"][JSON]["schema"]
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(doc))
    return Draft202012Validator(_rebase(schema), registry=registry)


def _rebase(schema):
    if isinstance(schema, dict):
        return {k: ("urn:openapi" + v if k == "$ref" and v.startswith("#/") else _rebase(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def test_live_answers_match_their_schemas(live):
    doc = live.get("/openapi.json").json()
    checks: list[tuple[str, str, int, httpx.Response]] = []
    submitted = live.post("/api/v1/services/quick/jobs", json={"parameters": {"n": 3}})
    checks.append(("/api/v1/services/{name}/jobs", "post", submitted.status_code, submitted))
    job_id = submitted.json()["id"]
    record = live.get(f"/api/v1/jobs/{job_id}", params={"wait": 20})
    assert record.json()["state"] == "done", record.text
    failed = live.post("/api/v1/services/boom/jobs", json={"parameters": {"mode": "bug"}})
    failed_id = failed.json()["id"]
    live.get(f"/api/v1/jobs/{failed_id}", params={"wait": 20})
    again = live.post("/api/v1/services/quick/jobs", json={"parameters": {"n": 3}})
    assert again.status_code == 200  # the cached, done job
    for path, method, url in (
            ("/api/v1/services", "get", "/api/v1/services"),
            ("/api/v1/services/{name}", "get", "/api/v1/services/quick"),
            ("/api/v1/jobs", "get", "/api/v1/jobs"),
            ("/api/v1/jobs/{job_id}", "get", f"/api/v1/jobs/{job_id}"),
            ("/api/v1/jobs/{job_id}", "get", f"/api/v1/jobs/{failed_id}"),
            ("/api/v1/jobs/{job_id}/products/{name}/preview", "get",
             f"/api/v1/jobs/{job_id}/products/table/preview"),
            ("/api/v1/jobs/{job_id}/products/{name}/preview", "get",
             f"/api/v1/jobs/{job_id}/products/y/preview"),
            ("/api/v1/jobs/{job_id}/provenance", "get", f"/api/v1/jobs/{job_id}/provenance"),
            ("/api/v1/jobs/{job_id}/provenance", "get",
             f"/api/v1/jobs/{job_id}/provenance?format=summary"),
            ("/api/v1/jobs/{job_id}/code", "get", f"/api/v1/jobs/{job_id}/code"),
            ("/api/v1/services/{name}/code", "get", "/api/v1/services/quick/code"),
            ("/api/v1/jobs/{job_id}/log", "get", f"/api/v1/jobs/{failed_id}/log"),
            ("/api/v1/resolve", "get", "/api/v1/resolve?name=Crab"),
            ("/api/v1/auth", "get", "/api/v1/auth"),
            ("/api/v1/auth/jwks", "get", "/api/v1/auth/jwks"),
            ("/healthz", "get", "/healthz")):
        response = live.get(url)
        checks.append((path, method, response.status_code, response))
    upload = live.post("/api/v1/uploads", files={"file": ("a.txt", b"hello")})
    checks.append(("/api/v1/uploads", "post", upload.status_code, upload))
    cancelled = live.delete(f"/api/v1/jobs/{job_id}")
    checks.append(("/api/v1/jobs/{job_id}", "delete", cancelled.status_code, cancelled))
    checks.append(("/api/v1/services/{name}/jobs", "post", again.status_code, again))
    problems = []
    for path, method, status, response in checks:
        assert 200 <= status < 300, (path, status, response.text[:300])
        errors = list(_validator(doc, path, method, status).iter_errors(response.json()))
        problems += [f"{method.upper()} {response.url.path}: {e.json_path}: {e.message[:200]}"
                     for e in errors]
    assert not problems, "\n".join(problems)
    assert record.json()["products"] and record.json()["links"]["self"].endswith(job_id)


def test_every_error_code_the_server_answers_is_documented(document):
    """The codes of the error handlers and of the routes that build error bodies themselves
    are the document's enum (an undocumented code would also fail schemathesis' checks)."""
    from astroflow.server import app as app_module
    from astroflow.server import edge, routes_registry, routes_resolve

    documented = set(document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"])
    emitted = {code for code, _, _ in app_module._SIMPLE_ERRORS.values()}
    emitted |= set(app_module._HTTP_CODES.values()) | {"http_error"}
    literals = (r'error_body\(\s*"([a-z_]+)"', r'"code": "([a-z_]+)"',
                r'\([A-Z]\w+, "([a-z_]+)", \d{3}\)', r'"([a-z_]+)" if what', r'else "([a-z_]+)"')
    for module in (app_module, edge, routes_registry, routes_resolve):
        source = inspect.getsource(module)
        for pattern in literals:
            emitted |= set(re.findall(pattern, source))
    assert emitted - documented == set()
    assert {"invalid_parameters", "parameter_too_large", "body_too_large", "bad_hook",
            "internal_error", "too_many_jobs", "upload_too_large"} <= emitted
