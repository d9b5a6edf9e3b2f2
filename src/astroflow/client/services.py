"""What a server offers: services, their typed parameters and outputs, readable help."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from astroflow.client.render import number, table

if TYPE_CHECKING:
    from astroflow.client.client import Client
    from astroflow.client.job import Job


@dataclass(frozen=True)
class Parameter:
    """One input of a service: JSON type, unit, limits or allowed values, default."""

    name: str
    type: str
    default: Any = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple | None = None
    format: str | None = None
    optional: bool = False
    description: str | None = None
    label: str | None = None
    ontology: str | None = None

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Parameter:
        enum = d.get("enum")
        return cls(name=d["name"], type=d.get("type") or "string", default=d.get("default"),
                   unit=d.get("unit"), minimum=d.get("minimum"), maximum=d.get("maximum"),
                   enum=tuple(enum) if enum is not None else None, format=d.get("format"),
                   optional=bool(d.get("optional")), description=d.get("description"),
                   label=d.get("label"), ontology=d.get("ontology"))

    @property
    def limits(self) -> tuple[float | None, float | None]:
        return (self.minimum, self.maximum)

    def constraint(self) -> str:
        """Allowed values or range as text (``0 ≤ n ≤ 1000``, ``one of 'a', 'b'``)."""
        if self.enum is not None:
            return "one of " + ", ".join(repr(v) for v in self.enum)
        if self.minimum is not None and self.maximum is not None:
            return f"{number(self.minimum)} ≤ {self.name} ≤ {number(self.maximum)}"
        if self.minimum is not None:
            return f"≥ {number(self.minimum)}"
        if self.maximum is not None:
            return f"≤ {number(self.maximum)}"
        return ""


@dataclass(frozen=True)
class Output:
    """One product a service makes: its name and product type (table, image, …)."""

    name: str
    type: str
    label: str | None = None
    description: str | None = None
    ontology: str | None = None

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Output:
        return cls(name=d["name"], type=d.get("type") or "file", label=d.get("label"),
                   description=d.get("description"), ontology=d.get("ontology"))


@dataclass(frozen=True)
class ServiceSummary:
    """A line of the service listing."""

    name: str
    title: str
    version: str
    messenger: str | None = None
    description: str | None = None

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> ServiceSummary:
        return cls(name=d["name"], title=d.get("title") or d["name"], version=d.get("version", ""),
                   messenger=d.get("messenger"), description=d.get("description"))


@dataclass
class Service:
    """A service as the server describes it, bound to the client that asked."""

    name: str
    title: str
    version: str
    parameters: dict[str, Parameter]
    outputs: dict[str, Output]
    description: str | None = None
    messenger: str | None = None
    roles: tuple[str, ...] = ()
    token_access: bool = False
    schema: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict, repr=False)
    client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_record(cls, d: dict[str, Any], client: Client | None = None) -> Service:
        return cls(name=d["name"], title=d.get("title") or d["name"], version=d.get("version", ""),
                   parameters={p["name"]: Parameter.from_record(p) for p in d.get("parameters", [])},
                   outputs={o["name"]: Output.from_record(o) for o in d.get("outputs", [])},
                   description=d.get("description"), messenger=d.get("messenger"),
                   roles=tuple(d.get("roles") or ()), token_access=bool(d.get("token_access")),
                   schema=d.get("schema") or {}, record=d, client=client)

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters.values()}

    def submit(self, params: dict[str, Any] | None = None, /, **kwargs: Any) -> Job:
        return self._client().submit(self.name, params, **kwargs)

    def run(self, params: dict[str, Any] | None = None, /, **kwargs: Any) -> Job:
        return self._client().run(self.name, params, **kwargs)

    def _client(self) -> Client:
        if self.client is None:
            raise RuntimeError(f"service {self.name!r} is not bound to a client")
        return self.client

    def help(self, file: TextIO | None = None) -> None:
        """Print what the service does, its parameters and its outputs."""
        print(self.describe(), file=file or sys.stdout)

    def describe(self) -> str:
        lines = [f"{self.title}  ({self.name}, version {self.version})"]
        if self.description:
            lines.append(self.description)
        if self.messenger:
            lines.append(f"messenger: {self.messenger}")
        if self.roles:
            lines.append(f"needs roles: {', '.join(self.roles)} (a token is required)")
        elif self.token_access:
            lines.append("uses the caller's token (send one to get your own results)")
        lines.append("")
        rows = [["parameter", "type", "default", "unit", "allowed", "description"]]
        for p in self.parameters.values():
            kind = p.type + ("?" if p.optional else "") + (f" ({p.format})" if p.format else "")
            rows.append([p.name, kind, repr(p.default), p.unit or "", p.constraint(),
                         p.description or p.label or ""])
        lines += table(rows) if self.parameters else ["(no parameters)"]
        lines.append("")
        rows = [["output", "type", "description"]]
        rows += [[o.name, o.type, o.description or o.label or ""] for o in self.outputs.values()]
        lines += table(rows) if self.outputs else ["(no outputs)"]
        example = ", ".join(f"{p.name!r}: {p.default!r}" for p in self.parameters.values())
        lines += ["", f"job = client.run({self.name!r}, {{{example}}})"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()
