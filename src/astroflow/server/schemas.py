"""What the API answers, as pydantic models: the success bodies of the ``/api/v1`` routes.

They document (OpenAPI) and are checked against live answers (tests/test_security_openapi.py,
schemathesis' response checks); routes return their plain dicts, built elsewhere
(`astroflow.server.records`, the catalogue, the registry), and name a model with
``response_model=None, responses=ok(Model)`` so that nothing is filtered or re-encoded: the
records stay byte for byte what `astroflow.client` and the ``oda_api`` facade read. Every
model allows extra fields, so a record may grow without breaking the contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- services -----------------------------------------------------------------------------

class ServiceSummary(_Open):
    """A service as the catalogue lists it."""

    name: str
    title: str
    version: str = Field(description="the workflow's version: a content hash or a commit")
    messenger: str | None = None
    description: str | None = None


class ParameterRecord(_Open):
    name: str
    type: str
    default: Any = None
    ontology: str | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: list[Any] | None = None
    format: str | None = Field(None, description="astropy time format of a time parameter")
    optional: bool = False


class OutputRecord(_Open):
    name: str
    type: str
    ontology: str | None = None


class ServiceDetail(ServiceSummary):
    """A service with its parameters, outputs and the JSON Schema of a request."""

    parameters: list[ParameterRecord]
    outputs: list[OutputRecord]
    metadata: dict[str, Any] = {}
    roles: list[str] = Field([], description="roles a caller needs (none: open to all)")
    token_access: bool = False
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of `parameters`")
    readme: str | None = Field(None, description="address of the repository's README page")


# --- jobs ---------------------------------------------------------------------------------

JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class Progress(_Open):
    stage: str | None = None
    fraction: float | None = None
    message: str | None = None
    substage: str | None = None
    subfraction: float | None = None
    ended: str | None = None


class JobError(_Open):
    """Why a job failed: ``type`` is ``bug``, ``analysis``, ``timeout``, ``killed`` …"""

    type: str
    message: str
    traceback: str | None = None


class ProductRecord(_Open):
    """One product of a done job, with the addresses of its files and its preview."""

    name: str
    type: str
    title: str | None = None
    unit: str | None = None
    description: str | None = None
    formats: list[str]
    url: str
    preview: str


class JobLinks(_Open):
    self_: str = Field(alias="self")
    events: str
    notebook: str
    provenance: str
    log: str
    archive: str


class JobExpiry(_Open):
    """When the storage policy removed the job's files; its products answer 410."""

    at: str
    message: str = Field(description='"expired: resubmit to recompute"')


class JobRecord(_Open):
    """A job: its request, state, progress, times (ISO 8601, UTC), error and products."""

    id: str
    service: str
    version: str
    state: JobState
    cached: bool
    parameters: dict[str, Any]
    progress: Progress
    created: str | None
    started: str | None
    finished: str | None
    elapsed: float | None = Field(description="seconds run so far, or in all")
    error: JobError | None
    products: list[ProductRecord]
    expired: JobExpiry | None = None
    links: JobLinks


# --- products, code, logs -----------------------------------------------------------------

class Preview(_Open):
    """What the portal draws: ``kind`` says which other fields there are (a Plotly
    ``figure``; a table page's ``columns``, ``rows``, ``nrows``; a ``value``; a ``text`` …)."""

    kind: Literal["plotly", "table", "scalar", "text", "picture", "download", "image"]


class ProvJson(_Open):
    """W3C PROV-JSON of the job: its activity, the entities used and generated, the agents."""

    prefix: dict[str, str]


class ProvenanceSummary(_Open):
    """``format=summary``: the same record for people (who, what, when, environment)."""

    job: str
    state: str
    who: str
    what: dict[str, Any]


class Provenance(RootModel[ProvJson | ProvenanceSummary]):
    """PROV-JSON (``format=json``, the default) or its summary (``format=summary``)."""


class CodeSnippet(_Open):
    lang: str
    code: str


class LogPage(_Open):
    """A slice of the job's log; read on from ``next_offset`` until ``complete``."""

    text: str
    offset: int
    next_offset: int
    size: int
    state: JobState
    complete: bool


class Upload(_Open):
    """An uploaded file: pass ``ref`` as the value of a file parameter."""

    ref: str
    filename: str
    size: int
    sha256: str


# --- registry -----------------------------------------------------------------------------

class DeployAttempt(_Open):
    version: str
    status: str
    step: str | None = None
    reason: str | None = None
    log_tail: str | None = None
    started: float
    finished: float | None = None


class RepositoryStatus(_Open):
    """A followed repository: its active version and services, and its last deployment."""

    name: str
    source: str
    kind: str
    topics: list[str]
    active_version: str | None = None
    activated: float | None = None
    services: list[dict[str, Any]]
    status: str
    last_attempt: DeployAttempt | None = None


class Accepted(_Open):
    """A request taken for later (``accepted``), or why not (``reason``)."""

    accepted: bool
    reason: str | None = None


# --- auth and system ----------------------------------------------------------------------

class Jwks(_Open):
    """The server's public signing keys (JSON Web Key Set), for verifiers of its tokens."""

    keys: list[dict[str, Any]]


class Health(_Open):
    status: str
    services: int
    store: str
    queued: int
    running: int
    workers: int


def ok(model: type[Any], status: int = 200,
       description: str = "success") -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry documenting a success body the route builds itself (a pydantic
    model, or a dataclass such as `astroflow.resolve.Resolution`)."""
    return {status: {"model": model, "description": description}}


def ok_list(model: type[Any], status: int = 200,
            description: str = "success") -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry for a JSON array of ``model`` records."""
    return {status: {"model": list[model], "description": description}}  # type: ignore[valid-type]
