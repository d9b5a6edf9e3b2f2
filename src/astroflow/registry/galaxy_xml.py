"""The Galaxy tool XML (https://docs.galaxyproject.org/en/latest/dev/schema.html).

Parameters become ``<param>`` elements of the matching type with their limits, allowed
values, default, label and help, grouped in ``<section>``s by ``oda:group``. The command
runs the generated script on the inputs JSON Galaxy writes from ``<configfiles>``, and each
output is collected from the file the script wrote (``from_work_dir``).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from astroflow.registry.galaxy_docs import Citation
from astroflow.registry.galaxy_plan import OUTPUT_DIR, GalaxyInput, GalaxyOutput, ToolPlan
from astroflow.registry.galaxy_requirements import CondaRequirement
from astroflow.registry.galaxy_runtime import DATASETS_DIR

PROFILE = "23.0"
# Roles whose ontology label tells more than the parameter's name ("Start time (ISOT)").
DESCRIBED_ROLES = {"ra", "dec", "start_time", "end_time", "time", "object_name", "radius",
                   "energy"}
URL_PATTERN = r"(https?|ftp)://\S+"
# Minimum sizes a correct file of each format has; FITS files come in 2880-byte blocks.
MIN_SIZE = {"fits": 2880}


@dataclass(frozen=True)
class ToolHead:
    """What identifies the tool and where its script is."""

    id: str
    name: str
    version: str
    script: str                 # file name next to the XML
    comment: str | None = None  # provenance, written as an XML comment


def tool_xml(head: ToolHead, plan: ToolPlan, requirements: list[CondaRequirement],
             help_text: str, citations: list[Citation], *, with_test: bool) -> str:
    """The tool XML document as text."""
    cdata: list[str] = []
    tool = ET.Element("tool", {"id": head.id, "name": head.name, "version": head.version,
                               "profile": PROFILE})
    if head.comment:
        tool.append(ET.Comment(f" {head.comment} "))
    needs = ET.SubElement(tool, "requirements")
    for requirement in requirements:
        attrs = {"type": "package"}
        if requirement.version:
            attrs["version"] = requirement.version
        ET.SubElement(needs, "requirement", attrs).text = requirement.name
    command = ET.SubElement(tool, "command", {"detect_errors": "exit_code"})
    command.text = _cdata(cdata, command_text(head.script, plan))
    configfiles = ET.SubElement(tool, "configfiles")
    ET.SubElement(configfiles, "inputs", {"name": plan.inputs_file, "filename": "inputs.json",
                                          "data_style": "paths"})
    _inputs(ET.SubElement(tool, "inputs"), plan)
    outputs = ET.SubElement(tool, "outputs")
    for output in plan.outputs:
        outputs.append(output_element(output))
    if with_test:
        _tests(ET.SubElement(tool, "tests"), plan)
    help_element = ET.SubElement(tool, "help")
    help_element.text = _cdata(cdata, help_text)
    if citations:
        cites = ET.SubElement(tool, "citations")
        for citation in citations:
            ET.SubElement(cites, "citation", {"type": citation.type}).text = citation.text
    ET.indent(tool, space="    ")
    text = ET.tostring(tool, encoding="unicode")
    for n, content in enumerate(cdata):
        safe = content.replace("]]>", "]]]]><![CDATA[>")
        text = text.replace(_placeholder(n), f"<![CDATA[{safe}]]>")
    return text + "\n"


def command_text(script: str, plan: ToolPlan) -> str:
    """Link input datasets under their own names, then run the script on the inputs JSON.

    Galaxy stores datasets as ``dataset_N.dat``; the link ``datasets/<param>/<name>`` keeps
    the name the user gave the dataset (``sources.ecsv``), made shell-safe the way IUC tools
    do, with the datatype as suffix when the name has none: readers that pick a format by
    suffix (``Table.read``) then work as they did in the notebook.
    """
    lines = []
    if plan.data_inputs:
        lines.append("#import re")
    for item in plan.data_inputs:
        ref = cheetah_ref(item)
        name = f"astroflow_name_{item.name}"
        folder = f"{DATASETS_DIR}/{item.name}"
        link = [
            f"#set ${name} = re.sub(r'[^\\w.-]', '_', str(${ref}.element_identifier))",
            f"#if '.' not in ${name}",
            f"#set ${name} = ${name} + '.' + str(${ref}.ext)",
            "#end if",
            f"mkdir -p '{folder}' && ln -s '${ref}' '{folder}/${name}' &&",
        ]
        lines += [f"#if ${ref}", *link, "#end if"] if item.optional else link
    lines.append(f"python '$__tool_directory__/{script}' '${plan.inputs_file}' '{OUTPUT_DIR}'")
    return "\n".join(lines)


def cheetah_ref(item: GalaxyInput) -> str:
    return f"{item.section}.{item.name}" if item.section else item.name


def _inputs(parent: ET.Element, plan: ToolPlan) -> None:
    sections: dict[str, ET.Element] = {}
    for item in plan.inputs:
        target = parent
        if item.section:
            if item.section not in sections:
                sections[item.section] = ET.SubElement(parent, "section", {
                    "name": item.section, "title": plan.sections[item.section],
                    "expanded": "true"})
            target = sections[item.section]
        target.append(param_element(item))


def param_element(item: GalaxyInput) -> ET.Element:
    """The ``<param>`` for one parameter."""
    p = item.parameter
    kind = item.kind
    galaxy_type = {"url": "text", "json": "text"}.get(kind, kind)
    element = ET.Element("param", {"name": p.name, "type": galaxy_type})
    if kind == "data":
        element.set("format", "data")
    elif kind == "boolean":
        element.set("checked", "true" if p.default else "false")
        element.set("truevalue", "true")
        element.set("falsevalue", "false")
    elif kind in ("float", "integer"):
        element.set("value", "" if p.default is None else number(p.default))
        low, high = p.minimum, p.maximum
        if kind == "integer":  # an integer parameter's limits are the integers inside them
            low = None if low is None else math.ceil(low)
            high = None if high is None else math.floor(high)
        if low is not None:
            element.set("min", number(low))
        if high is not None:
            element.set("max", number(high))
    elif kind != "select":
        default = json.dumps(p.default) if kind == "json" else p.default
        element.set("value", "" if default is None else str(default))
    if item.optional and kind != "boolean":
        element.set("optional", "true")
    element.set("label", p.label or p.name.replace("_", " "))
    help_text = param_help(item)
    if help_text:
        element.set("help", help_text)
    if kind == "select":
        for value in item.options:
            option = ET.SubElement(element, "option", {"value": option_value(value)})
            option.text = option_value(value)
            if p.default is not None and value == p.default:
                option.set("selected", "true")
    if kind == "url":
        empty_ok = item.optional or not p.default
        validator = ET.SubElement(element, "validator", {
            "type": "regex", "message": "an http(s) or ftp URL"})
        validator.text = f"^({URL_PATTERN})?$" if empty_ok else f"^{URL_PATTERN}$"
    return element


def param_help(item: GalaxyInput) -> str:
    p = item.parameter
    parts = []
    info = p.ontology
    if p.description:
        parts.append(p.description.rstrip("."))
    elif info is not None and info.role in DESCRIBED_ROLES and info.label and info.label.lower() \
            not in (p.name.lower(), (p.label or "").lower()):
        parts.append(info.label)  # what a role-bearing class means ("Start time (ISOT)")
    if p.unit:
        parts.append(f"unit: {p.unit}")
    if p.format:
        parts.append(f"time format: {p.format}")
    if item.kind == "json":
        parts.append(f"JSON {'array' if p.type is list else 'object'}")
    if item.kind == "url":
        parts.append("URL of the file")
    return "; ".join(parts)


def output_element(output: GalaxyOutput) -> ET.Element:
    attrs = {"name": output.name, "label": f"${{tool.name}}: {output.label}",
             "from_work_dir": f"{OUTPUT_DIR}/{output.file}"}
    if output.format is None:
        attrs["auto_format"] = "true"
    else:
        attrs["format"] = output.format
    return ET.Element("data", attrs)


def _tests(parent: ET.Element, plan: ToolPlan) -> None:
    """One test with the notebook's defaults: every output exists and looks like its format."""
    test = ET.SubElement(parent, "test", {"expect_num_outputs": str(len(plan.outputs))})
    sections: dict[str, ET.Element] = {}
    for item in plan.inputs:
        if item.test_file is None:
            continue
        target = test
        if item.section:
            if item.section not in sections:
                sections[item.section] = ET.SubElement(test, "section", {"name": item.section})
            target = sections[item.section]
        ET.SubElement(target, "param", {"name": item.name, "value": item.test_file.name})
    for output in plan.outputs:
        attrs = {"name": output.name}
        if output.format is not None:
            attrs["ftype"] = output.format
        element = ET.SubElement(test, "output", attrs)
        asserts = ET.SubElement(element, "assert_contents")
        ET.SubElement(asserts, "has_size", {"min": str(MIN_SIZE.get(output.format or "", 1))})
        if output.format == "fits":
            ET.SubElement(asserts, "has_text", {"text": "SIMPLE  ="})
            if output.writer == "table":
                ET.SubElement(asserts, "has_text", {"text": "BINTABLE"})
        elif output.format == "png":
            ET.SubElement(asserts, "has_image_width", {"min": "1"})


def datasets_for_test(plan: ToolPlan) -> dict[str, Path]:
    """``test-data`` file name → repository file, for the test's dataset inputs."""
    return {i.test_file.name: i.test_file for i in plan.inputs if i.test_file is not None}


def runnable_with_defaults(plan: ToolPlan) -> bool:
    """A required dataset without a file to give it makes a test with defaults impossible."""
    return all(i.optional or i.test_file is not None for i in plan.data_inputs)


def option_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return number(value)
    return str(value)


def number(value: float | int) -> str:
    """A number as Galaxy reads it back: integers without a point, floats with full precision."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"
    return repr(value)


def _cdata(store: list[str], content: str) -> str:
    store.append(content)
    return _placeholder(len(store) - 1)


def _placeholder(n: int) -> str:
    return f"@@ASTROFLOW_CDATA_{n}@@"
