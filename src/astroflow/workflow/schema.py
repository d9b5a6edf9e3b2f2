"""JSON Schema of a workflow's parameters: what the portal builds forms from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from astroflow.workflow.model import JSON_TYPES, Parameter

# A time string as the server takes it (`astroflow.workflow.validation`): an ISO date with an
# optional time of day (``T`` or a space), fraction and ``Z``, or an MJD number. Not
# ``format: date-time``: RFC 3339 requires a zone, which astronomers' ISOT (UTC implied) has
# not, so RFC 3339 validators refused every default. The portal keys on ``x-time-format``.
TIME_PATTERN = (r"^\s*(?:\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d*)?)?)?Z?"
                r"|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*$")
_STRING_TIME_FORMATS = ("isot", "iso", "fits")


def parameter_schema(param: Parameter) -> dict[str, Any]:
    kind = JSON_TYPES[param.type]
    schema: dict[str, Any] = {"type": [kind, "null"] if param.optional else kind}
    if param.label:
        schema["title"] = param.label
    if param.description:
        schema["description"] = param.description
    schema["default"] = param.default
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    if param.enum is not None:
        schema["enum"] = list(param.enum) + ([None] if param.optional else [])
    if param.format in _STRING_TIME_FORMATS and kind == "string":
        schema["pattern"] = TIME_PATTERN
    # Facts JSON Schema has no keyword for, kept as extensions the portal understands.
    extra = {
        "x-unit": param.unit,
        "x-ontology": param.ontology.uri if param.ontology else None,
        "x-role": param.role,
        "x-time-format": param.format,
        "x-group": param.group,
        # The ontology class's own description (rdfs:comment), the help under a field the
        # notebook did not describe itself (`oda:description` above wins).
        "x-ontology-description": param.ontology.description if param.ontology else None,
    }
    schema.update({k: v for k, v in extra.items() if v is not None})
    return schema


def workflow_schema(title: str, description: str | None,
                    parameters: Mapping[str, Parameter]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": {name: parameter_schema(p) for name, p in parameters.items()},
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema
