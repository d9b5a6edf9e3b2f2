"""``astroflow galaxy PATH --out DIR``: Galaxy tools from workflow notebooks.

PATH is one notebook or a workflow repository (one tool per service notebook, ``test_*``
notebooks excluded). Each tool is ``<id>.xml`` and the script it runs, ``<id>.py``; next to
them go ``_astroflow_galaxy.py`` (the scripts' runtime), the repository's local modules the
notebooks import, and ``test-data/`` files for the tool tests. That folder is what a Galaxy
server or the Tool Shed takes as a tool repository.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import astroflow
from astroflow.errors import AstroflowError
from astroflow.registry import galaxy_runtime
from astroflow.registry.catalog import repository_config, service_notebooks
from astroflow.registry.galaxy_docs import tool_citations, tool_help
from astroflow.registry.galaxy_plan import ToolPlan, identifier, plan_tool
from astroflow.registry.galaxy_requirements import (
    KNOWN_PACKAGES,
    Requirements,
    tool_requirements,
)
from astroflow.registry.galaxy_script import RUNTIME_MODULE, notebook_imports, notebook_script
from astroflow.registry.galaxy_version import git_state, tool_version
from astroflow.registry.galaxy_xml import (
    ToolHead,
    datasets_for_test,
    runnable_with_defaults,
    tool_xml,
)
from astroflow.workflow import Workflow
from astroflow.workflow.declarations import notebook_statements, parse_cell
from astroflow.workflow.notebook import cells_of

REPOSITORY_MARKERS = ("astroflow.yaml", "mmoda.yaml", "requirements.txt", "environment.yml",
                      "environment.yaml", "pyproject.toml", ".git")
REFERENCE_PREDICATES = ("reference", "references", "doi")
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "tests")


@dataclass
class GalaxyTool:
    """One generated tool, ready to be written into a tool folder."""

    id: str
    version: str
    workflow: Workflow
    xml: str
    script_name: str
    script: str
    requirements: Requirements
    files: dict[str, Path] = field(default_factory=dict)  # folder-relative name → source
    warnings: list[str] = field(default_factory=list)

    @property
    def xml_name(self) -> str:
        return f"{self.id}.xml"


def galaxy_command(path: Path, out: Path, *, version: str | None = None) -> list[Path]:
    """Write the Galaxy tools of a notebook or repository into ``out``; the tool XML paths.

    Every notebook is inspected before anything is written: one bad notebook leaves ``out``
    untouched and raises an `AstroflowError` naming each problem.
    """
    return write_tools(build_tools(path, version=version), out)


def build_tools(path: Path, *, version: str | None = None) -> list[GalaxyTool]:
    path = Path(path).resolve()
    if path.is_file():
        return [build_tool(path, version=version)]
    if not path.is_dir():
        raise AstroflowError(f"{path}: no such notebook or repository folder")
    notebooks = service_notebooks(path)
    if not notebooks:
        raise AstroflowError(f"{path}: no service notebooks (a test_* notebook is not one)")
    tools, problems = [], []
    for notebook in notebooks:
        try:
            tools.append(build_tool(notebook, root=path, version=version))
        except AstroflowError as exc:
            problems.append(f"{notebook.name}: {exc}")
    if problems:
        raise AstroflowError("cannot make Galaxy tools of\n  " + "\n  ".join(problems))
    ids = [tool.id for tool in tools]
    if len(set(ids)) != len(ids):
        raise AstroflowError(f"two notebooks give the same tool id: {sorted(ids)}")
    return tools


def repository_root(notebook: Path) -> Path:
    """The repository of a notebook given alone: its folder, unless a folder above says
    (``notebook_path`` in ``astroflow.yaml``/``mmoda.yaml``) that its notebooks live there."""
    folder = notebook.resolve().parent
    if any((folder / marker).exists() for marker in REPOSITORY_MARKERS):
        return folder
    for candidate in folder.parents:
        subdir = repository_config(candidate).get("notebook_path")
        if isinstance(subdir, str) and (candidate / subdir).resolve() == folder:
            return candidate
        if (candidate / ".git").exists():
            break
    return folder


def build_tool(notebook: Path, *, root: Path | None = None,
               version: str | None = None) -> GalaxyTool:
    """The tool of one notebook; ``root`` is its repository (found when not given)."""
    notebook = Path(notebook).resolve()
    workflow = Workflow.from_path(notebook)
    root = (root or repository_root(notebook)).resolve()
    plan = plan_tool(workflow)
    tool_id = identifier(workflow.name) or "workflow"
    tool_ver = tool_version(explicit=version, declared=workflow.metadata.get("version"),
                            root=root, content=workflow.version)
    origin = _origin(notebook, root, tool_ver)
    imports = notebook_imports(workflow)
    script_name = f"{tool_id}.py"
    if tool_id in imports or tool_id in KNOWN_PACKAGES or tool_id in sys.stdlib_module_names:
        script_name = f"{tool_id}_tool.py"  # the script's folder comes first on sys.path
    draft = notebook_script(workflow, plan, header=_script_header(tool_id, script_name, origin))
    local = local_modules(imports, notebook.parent)
    extra = _runtime_packages(plan) + (["ipython"] if draft.needs_ipython else [])
    requirements = tool_requirements(root, imports, extra=extra, local=local)
    with_test = runnable_with_defaults(plan)
    warnings = []
    if requirements.unresolved_imports:
        warnings.append("no conda package known for the imports "
                        + ", ".join(requirements.unresolved_imports)
                        + ": declare them in requirements.txt")
    if not with_test:
        warnings.append("no test: a required dataset input has no default file")
    head = ToolHead(id=tool_id, name=workflow.title, version=tool_ver, script=script_name,
                    comment=f"Generated by astroflow {astroflow.__version__} from {origin}; "
                            "regenerate with `astroflow galaxy` rather than editing.")
    xml = tool_xml(head, plan, requirements.packages,
                   tool_help(root, workflow.description, workflow.title),
                   tool_citations(root, references(workflow), tool_id), with_test=with_test)
    files = {f"test-data/{name}": source for name, source in datasets_for_test(plan).items()}
    for module, source in local.items():
        files[module] = source
    return GalaxyTool(id=tool_id, version=tool_ver, workflow=workflow, xml=xml,
                      script_name=script_name, script=draft.text, requirements=requirements,
                      files=files, warnings=warnings)


def write_tools(tools: list[GalaxyTool], out: Path) -> list[Path]:
    """Write the tools and the files they share; the tool XML paths, in order."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runtime = Path(galaxy_runtime.__file__)
    shutil.copyfile(runtime, out / f"{RUNTIME_MODULE}.py")
    written = []
    for tool in tools:
        (out / tool.script_name).write_text(tool.script)
        for name, source in tool.files.items():
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target, ignore=COPY_IGNORE)
            else:
                shutil.copyfile(source, target)
        xml_path = out / tool.xml_name
        xml_path.write_text(tool.xml)
        written.append(xml_path)
    return written


def references(workflow: Workflow) -> list[object]:
    """Every ``# oda:reference`` statement of the notebook, in order (there may be several)."""
    found: list[object] = []
    for cell in cells_of(workflow.notebook):
        if cell.cell_type != "code":
            continue
        try:
            tree, comments = parse_cell(cell.source, cell.index)
        except AstroflowError:
            continue
        for key, values in notebook_statements(tree, comments):
            if key in REFERENCE_PREDICATES:
                found += values
    return found


def local_modules(imports: frozenset[str] | set[str], folder: Path) -> dict[str, Path]:
    """The workflow's own modules it imports: copied next to the script, not installed."""
    found = {}
    for module in sorted(imports):
        if (folder / f"{module}.py").is_file():
            found[f"{module}.py"] = folder / f"{module}.py"
        elif (folder / module).is_dir() and any((folder / module).glob("*.py")):
            found[module] = folder / module
    return found


def _runtime_packages(plan: ToolPlan) -> list[str]:
    """Packages the script's runtime imports to write the outputs."""
    writers = {o.writer for o in plan.outputs}
    packages = []
    if writers & {"table", "image"}:
        packages += ["astropy", "numpy"]
    return packages


def _origin(notebook: Path, root: Path, version: str) -> str:
    try:
        where = notebook.relative_to(root).as_posix()
    except ValueError:
        where = notebook.name
    state = git_state(root)
    commit = f" at commit {state.commit[:12]}" if state else ""
    return f"{where}{commit} (version {version})"


def _script_header(tool_id: str, script_name: str, origin: str) -> str:
    return (f"#!/usr/bin/env python3\n"
            f"# Galaxy tool {tool_id}: the notebook {origin} as a script.\n"
            f"# Generated by astroflow {astroflow.__version__}; regenerate with "
            f"`astroflow galaxy` rather than editing.\n"
            f"# Run: python {script_name} INPUTS_JSON [OUTPUT_DIR]  (Galaxy writes INPUTS_JSON)\n")


# -- command line ----------------------------------------------------------------------------

def add_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``astroflow galaxy`` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "galaxy", help="write Galaxy tools (XML + script) for a notebook or repository")
    parser.add_argument("path", type=Path, help="a notebook or a workflow repository folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tool files")
    parser.add_argument("--version", default=None,
                        help="tool version (default: oda:version, Git tags or commits)")
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Run ``astroflow galaxy``; `AstroflowError` propagates to the CLI's error handling."""
    tools = build_tools(args.path, version=args.version)
    written = write_tools(tools, args.out)
    for tool, path in zip(tools, written, strict=True):
        print(f"{path}  ({tool.id} {tool.version})")
        for warning in tool.warnings:
            print(f"  warning: {warning}", file=sys.stderr)
    return 0
