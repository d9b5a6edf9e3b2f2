"""A ``run_analysis`` request: the dispatcher's own fields, then the service's parameters.

``oda_api`` sends every value as a form or query field: ``None`` as ``"\\x00"``, lists and
dicts as JSON text, booleans as ``True``/``False`` — astroflow's validator reads all of these.
The source-query names (``RA``, ``T1`` …) become the parameters with the matching roles, and
``T1``/``T2`` are read in ``T_format`` first. Fields no parameter takes are reported back as
unused, as MMODA does, rather than refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from astroflow.compat.instrument import COMMON_ROLES, RENAME, TIME_NAMES, role_parameters
from astroflow.registry.catalog import Service
from astroflow.workflow import FieldError, Parameter, ValidationError

NONE = "\x00"
QUERY_STATUSES = ("new", "submitted", "progress", "ready", "done", "failed")
# Fields of the dispatcher protocol itself, never service parameters.
CONTROL = frozenset({
    "instrument", "product_type", "query_type", "query_status", "job_id", "session_id",
    "token", "off_line", "api", "oda_api_version", "verbose", "dry_run", "async_dispatcher",
    "run_asynch", "return_progress", "time_request", "client-name", "T_format",
})


@dataclass
class AnalysisRequest:
    """The dispatcher fields of one ``run_analysis`` call, and everything else in ``fields``."""

    instrument: str | None
    product_type: str | None
    query_status: str
    job_id: str | None
    session_id: str
    token: str | None
    time_format: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    api: bool = True
    return_progress: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_new(self) -> bool:
        return self.query_status == "new" or not self.job_id

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> AnalysisRequest:
        def text(name: str) -> str | None:
            value = raw.get(name)
            if value is None or value == NONE:
                return None
            value = str(value).strip()
            return value or None

        status = (text("query_status") or "new").lower()
        if status not in QUERY_STATUSES:
            raise ValidationError([FieldError("query_status", status,
                                              f"must be one of {', '.join(QUERY_STATUSES)}")])
        return cls(instrument=text("instrument"), product_type=text("product_type"),
                   query_status=status, job_id=text("job_id"),
                   session_id=text("session_id") or new_session_id(), token=text("token"),
                   time_format=text("T_format"),
                   api=truthy(text("api")), return_progress=truthy(text("return_progress")),
                   fields={k: v for k, v in raw.items() if k not in CONTROL}, raw=dict(raw))

    def echo(self) -> dict[str, Any]:
        """The request as MMODA returns it in ``analysis_parameters``: every field as it came
        (so ``oda_api`` finds its own values again), except the token."""
        echoed = {k: (None if v == NONE else v) for k, v in self.raw.items()
                  if k != "token" and isinstance(v, str | int | float | bool)}
        return {**echoed, "session_id": self.session_id, "query_status": self.query_status}


class NoneNotAllowed(ValidationError):
    """A non-optional parameter sent as ``None``: MMODA's own wording (a 400)."""

    def __init__(self, name: str, raw: Any) -> None:
        super().__init__([FieldError(name, raw, "is not optional and cannot be None")])
        self.args = (f"Non-optional parameter {name} is set to None",)

    def __str__(self) -> str:
        return self.args[0]


def truthy(value: str | None) -> bool:
    """A flag as MMODA's clients send it (``True``, ``true``, ``yes``, ``1``)."""
    return (value or "").lower() in ("true", "yes", "1", "y", "on")


def new_session_id() -> str:
    return secrets.token_hex(8).upper()


def service_values(service: Service, request: AnalysisRequest) -> tuple[dict[str, Any], list[str]]:
    """``(values for the service, names of fields it does not use)``."""
    params = service.workflow.parameters
    roles = role_parameters(service)
    values: dict[str, Any] = {}
    unused: list[str] = []
    errors: list[FieldError] = []
    fields = dict(request.fields)
    if "T_format" in params and request.time_format is not None:  # the notebook's own
        fields["T_format"] = request.time_format
    for name, raw in fields.items():
        value = None if raw == NONE else raw
        target = params.get(name) or (roles.get(name) if name in COMMON_ROLES else None)
        if target is None and name.endswith(RENAME):  # MMODA's name for e.g. a ``token``
            target = params.get(name.removesuffix(RENAME))
        if target is None:
            unused.append(name)
            continue
        if target.name != name and target.name in fields:
            continue  # the parameter's own name wins over its aliases
        if value is None and not target.optional:
            raise NoneNotAllowed(name, raw)
        if target.role in ("file", "url") and request.token:
            value = with_mmoda_token(value, request.token)
        if name in TIME_NAMES and value is not None:
            try:
                value = read_time(value, request.time_format, target)
            except ValueError as exc:
                errors.append(FieldError(name, raw, str(exc)))
                continue
        values[target.name] = value
    if errors:
        raise ValidationError(errors)
    return values, unused


def with_mmoda_token(value: Any, token: str) -> Any:
    """A MMODA download URL (``..._is_mmoda_url=True``) with the caller's ``token`` added,
    as nb2workflow adds it before fetching a file from the dispatcher; other values as
    they are."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return value
    from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

    parts = urlsplit(value)
    args = parse_qs(parts.query, keep_blank_values=True)
    if args.get("_is_mmoda_url", [""])[0].lower() != "true" or "token" in args:
        return value
    args["token"] = [token]
    return urlunsplit(parts._replace(query=urlencode(args, doseq=True)))


def read_time(value: Any, time_format: str | None, target: Parameter) -> Any:
    """``T1``/``T2`` given in ``T_format`` (``isot`` by default), as ``target`` takes times.

    The time goes in the parameter's declared format; a parameter without one takes ISOT text
    (written the same way however the request spelled it, so that it caches alike), or an MJD
    number when it is a float. ISOT text that does not parse is left to the validator.
    """
    fmt = (time_format or "isot").lower()
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if fmt == "mjd" and number is None:
        raise ValueError(f"{value!r} is not an MJD (T_format is mjd)")
    from astropy.time import Time

    try:
        time = Time(str(value).strip() if fmt == "isot" or number is None else number,
                    format=fmt, scale="utc")
    except (TypeError, ValueError) as exc:
        if fmt == "isot":
            return str(value).strip()
        raise ValueError(f"{value!r} is not a time in format {fmt!r} ({exc})") from None
    wanted = target.format or ("mjd" if target.type is float else "isot")
    converted = getattr(time, wanted)
    return float(converted) if wanted == "mjd" else str(converted)
