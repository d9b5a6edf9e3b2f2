"""How a typed workflow maps onto Galaxy: parameter kinds, sections, output formats.

Both the tool XML and the script read this plan, so the names, sections and files the XML
declares are exactly those the script reads and writes.

Output formats, decided once here:

* tables, light curves and spectra → ``fits`` (a binary table). Galaxy ships a FITS datatype
  but none for ECSV; FITS keeps column units, descriptions and table metadata, and every
  astronomy tool reads it, where ``tabular``/``csv`` would drop units and metadata.
* images → ``fits``; pictures → ``png``; texts → ``txt``.
* scalars → ``json`` holding the bare value (Galaxy's *Parse parameter value* tool turns it
  into a workflow parameter), or ``txt`` for strings, which would otherwise carry quotes.
* binary, file and unannotated outputs → sniffed by Galaxy (``auto_format``), since only
  the value at run time says what they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroflow.workflow import Output, Parameter, Workflow

OUTPUT_DIR = "outputs"
NON_EXPOSED_ROLES = {"token"}  # Galaxy cannot supply an MMODA token; the default stays

# product type → (Galaxy format or None to sniff, runtime writer, file suffix)
PRODUCT_FORMATS: dict[str, tuple[str | None, str, str]] = {
    "table": ("fits", "table", "fits"),
    "lightcurve": ("fits", "table", "fits"),
    "spectrum": ("fits", "table", "fits"),
    "image": ("fits", "image", "fits"),
    "picture": ("png", "picture", "png"),
    "text": ("txt", "text", "txt"),
    "binary": (None, "file", "dat"),
    "file": (None, "file", "dat"),
    "auto": (None, "auto", "dat"),
}


@dataclass(frozen=True)
class GalaxyInput:
    """One notebook parameter as a Galaxy ``<param>``."""

    parameter: Parameter
    kind: str                    # float, integer, boolean, text, select, data, url, json
    section: str | None = None   # name of the <section> holding it
    test_file: Path | None = None  # a repository file to give it in the tool test

    @property
    def name(self) -> str:
        return self.parameter.name

    @property
    def optional(self) -> bool:
        return self.parameter.optional

    @property
    def options(self) -> tuple:
        """Values of a select: the allowed values, or true/false for an optional boolean."""
        if self.parameter.enum is not None:
            return tuple(self.parameter.enum)
        return (True, False) if self.parameter.type is bool else ()

    def runtime_spec(self) -> dict[str, Any]:
        """What the script needs to read and check this value from Galaxy's JSON."""
        p = self.parameter
        spec: dict[str, Any] = {"type": p.type.__name__, "default": p.default,
                                "optional": p.optional}
        if p.enum is not None:
            spec["enum"] = list(p.enum)
        if p.minimum is not None:
            spec["minimum"] = p.minimum
        if p.maximum is not None:
            spec["maximum"] = p.maximum
        if self.section:
            spec["section"] = self.section
        if self.kind == "data":
            spec["data"] = True
        return spec


@dataclass(frozen=True)
class GalaxyOutput:
    """One notebook output as a Galaxy ``<data>`` collected from the job folder."""

    output: Output
    name: str
    format: str | None     # None: Galaxy sniffs it
    writer: str
    file: str              # relative to OUTPUT_DIR

    @property
    def label(self) -> str:
        return self.output.label or self.output.name.replace("_", " ")

    def runtime_spec(self) -> dict[str, Any]:
        return {"name": self.output.name, "file": self.file, "writer": self.writer}


@dataclass
class ToolPlan:
    inputs: list[GalaxyInput]
    sections: dict[str, str]            # section name → title (the oda:group)
    outputs: list[GalaxyOutput]
    hidden: list[Parameter] = field(default_factory=list)
    inputs_file: str = "inputs"         # Cheetah name of the inputs JSON configfile

    @property
    def data_inputs(self) -> list[GalaxyInput]:
        return [i for i in self.inputs if i.kind == "data"]


def plan_tool(workflow: Workflow) -> ToolPlan:
    exposed = [p for p in workflow.parameters.values() if p.role not in NON_EXPOSED_ROLES]
    hidden = [p for p in workflow.parameters.values() if p.role in NON_EXPOSED_ROLES]
    taken = {p.name for p in exposed}
    sections: dict[str, str] = {}
    by_group: dict[str, str] = {}
    inputs = []
    for parameter in exposed:
        section = None
        if parameter.group:
            if parameter.group not in by_group:
                name = _unique(identifier(parameter.group) or "group", taken, "group")
                by_group[parameter.group] = name
                sections[name] = parameter.group
            section = by_group[parameter.group]
        inputs.append(GalaxyInput(parameter, param_kind(parameter), section,
                                  _test_file(parameter, workflow.path.parent)))
    outputs = []
    for output in workflow.outputs.values():
        galaxy_format, writer, suffix = output_format(output)
        name = _unique(output.name, taken, "out")
        outputs.append(GalaxyOutput(output, name, galaxy_format, writer,
                                    f"{output.name}.{suffix}"))
    return ToolPlan(inputs=inputs, sections=sections, outputs=outputs, hidden=hidden,
                    inputs_file=_unique("inputs", taken, "json"))


def param_kind(parameter: Parameter) -> str:
    if parameter.role == "file" and parameter.type is str:
        return "data"
    if parameter.role == "url" and parameter.type is str:
        return "url"
    if parameter.type is bool:  # None is not a checkbox state: an optional boolean is a select
        return "select" if parameter.default is None else "boolean"
    if parameter.enum is not None:
        return "select"
    if parameter.type is float:
        return "float"
    if parameter.type is int:
        return "integer"
    if parameter.type in (list, dict):
        return "json"
    return "text"


def output_format(output: Output) -> tuple[str | None, str, str]:
    if output.type == "scalar":
        info = output.ontology
        if info is not None and info.python_type is str:
            return "txt", "text", "txt"
        return "json", "json", "json"
    return PRODUCT_FORMATS.get(output.type, PRODUCT_FORMATS["auto"])


def identifier(text: str) -> str:
    """A Galaxy/Cheetah-safe name: lower-case letters, digits and underscores."""
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_").lower()
    if name and name[0].isdigit():
        name = "_" + name
    return name


def _unique(name: str, taken: set[str], suffix: str) -> str:
    """``name``, else ``name_<suffix>``, ``name_<suffix>2`` … whichever is free."""
    candidate, n = name, 1
    while candidate in taken:
        candidate = f"{name}_{suffix}{n if n > 1 else ''}"
        n += 1
    taken.add(candidate)
    return candidate


def _test_file(parameter: Parameter, folder: Path) -> Path | None:
    """A file the notebook's default names, to run the tool test with defaults."""
    if param_kind(parameter) != "data" or not isinstance(parameter.default, str):
        return None
    if not parameter.default.strip():
        return None
    path = (folder / parameter.default).resolve()
    return path if path.is_file() and folder.resolve() in path.parents else None
