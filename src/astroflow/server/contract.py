"""Finishing touches of the OpenAPI document that no single route can state.

- The bearer scheme is optional: every operation that reads the caller lists ``bearer`` *or*
  nothing (``{}``), since open services serve anonymous callers; a route that needs a token
  answers 401 (documented there).
- The job routes (`astroflow.server.routes_jobs`) build their JSON bytes themselves (the job
  record is returned as encoded once); their success bodies are documented here as
  `astroflow.server.schemas.JobRecord`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from astroflow.server.schemas import JobRecord

_REF = "#/components/schemas/{model}"
_JOB = {"$ref": "#/components/schemas/JobRecord"}
# (method, path, status) → the success body's schema
JOB_BODIES: dict[tuple[str, str, str], dict[str, Any]] = {
    ("post", "/api/v1/services/{name}/jobs", "201"): _JOB,
    ("post", "/api/v1/services/{name}/jobs", "200"): _JOB,
    ("get", "/api/v1/jobs", "200"): {"type": "array", "items": _JOB},
    ("get", "/api/v1/jobs/{job_id}", "200"): _JOB,
    ("delete", "/api/v1/jobs/{job_id}", "200"): _JOB,
}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with these touches (built once)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finish(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    _, defs = models_json_schema([(JobRecord, "serialization")], ref_template=_REF)
    schemas.update(defs.get("$defs", {}))
    for (method, path, status), schema in JOB_BODIES.items():
        operation = doc["paths"].get(path, {}).get(method)
        if operation is None or status not in operation["responses"]:
            continue
        media = operation["responses"][status].setdefault("content", {})
        media.setdefault("application/json", {})["schema"] = schema
    for operations in doc["paths"].values():
        for operation in operations.values():
            security = operation.get("security")
            if security and {} not in security:
                security.append({})
    return doc
