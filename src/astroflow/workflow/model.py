"""`Parameter` and `Output`: what a workflow declares, fully typed after inspection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from astroflow.ontology.model import ClassInfo

# Python types a parameter may have, and their JSON Schema names.
JSON_TYPES: dict[type, str] = {
    float: "number", int: "integer", str: "string", bool: "boolean", list: "array", dict: "object",
}


@dataclass(frozen=True)
class Parameter:
    """One input declared in the ``parameters`` cell."""

    name: str
    type: type
    default: Any
    ontology: ClassInfo | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple | None = None
    format: str | None = None          # astropy.time format for time parameters ("isot", "mjd")
    optional: bool = False
    label: str | None = None
    description: str | None = None
    group: str | None = None
    line: int | None = None
    # The default is the source text of an expression (``2 * 60``), as nb2workflow reads it;
    # left as it is, the parameter is not injected and the notebook's expression runs.
    expression: bool = False

    @property
    def role(self) -> str | None:
        return self.ontology.role if self.ontology else None

    def describe(self) -> dict[str, Any]:
        """The record `astroflow inspect --json` prints and the API serves."""
        return {
            "name": self.name,
            "type": JSON_TYPES[self.type],
            "ontology": self.ontology.uri if self.ontology else None,
            "default": self.default,
            "unit": self.unit,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "enum": list(self.enum) if self.enum is not None else None,
            "format": self.format,
            "optional": self.optional,
            "role": self.role,
            "label": self.label,
            "group": self.group,
            "description": self.description,
            **({"expression": True} if self.expression else {}),
        }


@dataclass(frozen=True)
class Output:
    """One product declared in the ``outputs`` cell."""

    name: str
    ontology: ClassInfo | None = None
    label: str | None = None
    description: str | None = None
    line: int | None = None

    @property
    def type(self) -> str:
        """The product type the annotation promises; ``auto`` means decided from the value."""
        info = self.ontology
        if info is None:
            return "auto"
        if info.kind == "parameter":
            return "scalar"
        return info.product_type or "auto"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "ontology": self.ontology.uri if self.ontology else None,
            "label": self.label,
            "description": self.description,
        }


@dataclass
class Declarations:
    """Everything read from a notebook's tagged cells and notebook-level comments."""

    parameters: dict[str, Parameter] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
