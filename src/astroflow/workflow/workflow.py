"""`Workflow`: a notebook read as a typed service (parameters in, products out)."""

from __future__ import annotations

import atexit
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astroflow.errors import AnnotationError
from astroflow.workflow import declarations as decl
from astroflow.workflow.inject import INJECTED_TAG, inject, injected_source
from astroflow.workflow.model import Output, Parameter
from astroflow.workflow.notebook import (
    cells_of,
    content_version,
    read_notebook,
    tagged_all,
    title_and_description,
)
from astroflow.workflow.schema import workflow_schema
from astroflow.workflow.validation import validate

if TYPE_CHECKING:
    from astroflow.execution import LocalExecutor, Progress, RunResult


@dataclass
class Workflow:
    """A notebook with its declared parameters and outputs.

    Build it with `Workflow.from_path`; it is immutable in spirit: a changed notebook is a new
    workflow with a new `version`.
    """

    path: Path
    name: str
    notebook: dict
    parameters: dict[str, Parameter]
    outputs: dict[str, Output]
    parameters_cell: int
    version: str
    title: str
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    imports: tuple[str, ...] = ()

    @classmethod
    def from_path(cls, path: str | Path, ontology: Any = None) -> Workflow:
        """Inspect a notebook; annotation problems raise `AnnotationError` with line and reason."""
        from astroflow.ontology import Ontology

        path = Path(path).resolve()
        notebook = read_notebook(path)
        return cls.from_notebook(notebook, path, ontology or Ontology.default())

    @classmethod
    def from_notebook(cls, notebook: dict, path: Path, ontology: Any) -> Workflow:
        cells = cells_of(notebook)
        # nb2workflow reads every cell tagged 'parameters' (or 'outputs'), later ones adding
        # to earlier ones; a notebook without a parameters cell is a service without inputs
        # (values are then injected at the top, as papermill does). A cell a past papermill
        # run left ('injected-parameters') is read as parameters too, as nb2workflow does,
        # and removed from what runs, as papermill removes it before injecting anew.
        parameters: dict[str, Parameter] = {}
        for cell in cells:
            if cell.cell_type == "code" and {"parameters", INJECTED_TAG} & set(cell.tags):
                parameters.update(decl.parse_parameters(cell.source, cell.index, ontology))
        outputs: dict[str, Output] = {}
        for cell in tagged_all(cells, "outputs"):
            outputs.update(decl.parse_outputs(cell.source, cell.index, ontology))
        stale = {c.index for c in cells if INJECTED_TAG in c.tags and "parameters" not in c.tags}
        if stale:
            notebook = {**notebook, "cells": [c for i, c in enumerate(notebook.get("cells", []))
                                              if i not in stale]}
            cells = cells_of(notebook)
        params_cells = tagged_all(cells, "parameters")
        declaring = {c.index for c in (*params_cells, *tagged_all(cells, "outputs"))}
        parameters_cell = params_cells[-1].index if params_cells else -1
        metadata: dict[str, Any] = {}
        imports: set[str] = set()
        for cell in cells:
            if cell.cell_type != "code":
                continue
            imports |= decl.imported_modules(cell.source)
            try:
                tree, comments = decl.parse_cell(cell.source, cell.index)
            except AnnotationError:
                if cell.index in declaring:
                    raise
                continue  # a syntax error elsewhere shows up when the notebook runs
            for key, values in decl.notebook_statements(tree, comments):
                metadata[key] = values[0] if len(values) == 1 else values
        unknown = decl.unknown_classes(ontology, [
            *(p.ontology for p in parameters.values()), *(o.ontology for o in outputs.values())])
        if unknown:
            # nb2workflow serves such notebooks (with a warning): so does astroflow.
            metadata["unknown_classes"] = unknown
        title, description = title_and_description(cells)
        return cls(
            path=path, name=path.stem, notebook=notebook, parameters=parameters,
            outputs=outputs, parameters_cell=parameters_cell,
            version=content_version(notebook), title=title or path.stem.replace("_", " "),
            description=description, metadata=metadata,
            imports=tuple(sorted(_third_party(imports, path.parent))),
        )

    # -- what the notebook declares -------------------------------------------------------

    @property
    def token_access(self) -> bool:
        """Does the notebook ask for the caller's token (``oda:oda_token_access oda:InOdaContext``)?"""
        value = self.metadata.get("oda_token_access")
        return isinstance(value, str) and value.endswith("InOdaContext")

    @property
    def time_limit(self) -> float | None:
        """Per-workflow time limit in seconds (``# oda:time_limit 600``), if any."""
        value = self.metadata.get("time_limit")
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    @property
    def coordinator(self) -> bool:
        """Does the notebook only submit sub-jobs and wait (``# oda:coordinator true``)?
        Such runs hold no worker slot, so that waiting can never starve its sub-jobs."""
        value = self.metadata.get("coordinator")
        return value is True or (isinstance(value, str) and value.lower() == "true")

    @property
    def run_limits(self) -> Any:
        """Limits the notebook declares for itself (``# oda:memory_limit "8G"``,
        ``oda:cpu_time_limit 600``, ``oda:process_limit 64``, ``oda:output_limit "5G"``);
        the server holds them to its operator's maximum; what is not declared stays None."""
        from astroflow.execution.sandbox.policy import parse_size

        declared: dict[str, Any] = {}
        for key, field_name, parse in (("memory_limit", "memory", parse_size),
                                       ("cpu_time_limit", "cpu_time", float),
                                       ("process_limit", "processes", int),
                                       ("output_limit", "output", parse_size)):
            value = self.metadata.get(key)
            if value is None or isinstance(value, bool):
                continue
            try:
                parsed = parse(value)
            except (TypeError, ValueError):
                continue
            if parsed > 0:
                declared[field_name] = parsed
        return _declared_limits(declared)

    def json_schema(self) -> dict[str, Any]:
        return workflow_schema(self.title, self.description, self.parameters)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "version": self.version,
            "metadata": self.metadata,
            "parameters": [p.describe() for p in self.parameters.values()],
            "outputs": [o.describe() for o in self.outputs.values()],
        }

    # -- requests -------------------------------------------------------------------------

    def validate(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Canonical values for a request, or `ValidationError` listing every problem."""
        return validate(self.parameters, values)

    def injected_notebook(self, values: Mapping[str, Any]) -> dict:
        """The notebook to run: validated values injected after the parameters cell.

        A parameter whose default is an expression's text (``x = 2 * 60``) and whose value
        is that text is left out, so the notebook's own expression runs (as with nb2workflow,
        whose papermill injects only what the caller gave)."""
        kept = {name: value for name, value in self.validate(values).items()
                if not (self.parameters[name].expression
                        and value == self.parameters[name].default)}
        return inject(self.notebook, self.parameters_cell, injected_source(self.parameters, kept))

    def run(self, values: Mapping[str, Any] | None = None, *, job_dir: str | Path | None = None,
            executor: LocalExecutor | None = None, time_limit: float | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            env: Mapping[str, str] | None = None) -> RunResult:
        """Validate, run in an isolated process, and return the result with its products."""
        spec = self.run_spec(values, job_dir=job_dir, time_limit=time_limit, env=env)
        return (executor or shared_executor()).run(spec, on_progress=on_progress)

    def run_spec(self, values: Mapping[str, Any] | None = None, *, job_dir: str | Path | None = None,
                 time_limit: float | None = None, env: Mapping[str, str] | None = None) -> Any:
        from astroflow.execution import OutputSpec, RunSpec

        notebook = self.injected_notebook(values or {})
        outputs = [OutputSpec(name=o.name, ontology=o.ontology, title=o.label,
                              description=o.description) for o in self.outputs.values()]
        directory = Path(job_dir) if job_dir else Path(tempfile.mkdtemp(prefix=f"astroflow-{self.name}-"))
        return RunSpec(notebook=notebook, outputs=outputs, job_dir=directory,
                       source_dir=self.path.parent, time_limit=time_limit or self.time_limit,
                       preload=self.imports, env=dict(env or {}), limits=self.run_limits,
                       coordinator=self.coordinator)


def _declared_limits(declared: dict[str, Any]) -> Any:
    """Only what was declared; the rest None, so the executor's defaults apply to it."""
    from astroflow.execution.sandbox.policy import RunLimits

    unset = {"memory": None, "cpu_time": None, "processes": None, "output": None}
    return RunLimits(**{**unset, **declared})


def _third_party(modules: set[str], source_dir: Path) -> set[str]:
    """Modules worth preloading in the warm parent: not the workflow's own local code, but
    what that code imports (``icecube_ps`` brings numpy, scipy and astropy).

    Local modules must not be preloaded: the warm parent outlives versions of the workflow,
    and a stale copy would run instead of the new one.
    """
    keep: set[str] = set()
    local: set[str] = set()
    for module in modules:
        top = module.split(".")[0]
        if _local_sources(source_dir, top):
            local.add(top)
        else:
            keep.add(module)
    for top in sorted(local):
        for path in _local_sources(source_dir, top)[:MAX_LOCAL_FILES]:
            try:
                found = decl.imported_modules(path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
            keep |= {m for m in found if not _local_sources(source_dir, m.split(".")[0])}
    return keep


MAX_LOCAL_FILES = 200  # a workflow's own package; a vendored tree beyond that is not scanned


def _local_sources(source_dir: Path, top: str) -> list[Path]:
    """The Python files of a module that lives beside the notebook ([] if it does not)."""
    if (source_dir / f"{top}.py").is_file():
        return [source_dir / f"{top}.py"]
    package = source_dir / top
    if package.is_dir():
        return sorted(package.rglob("*.py"))
    return []


_shared: LocalExecutor | None = None
_shared_lock = threading.Lock()


def shared_executor() -> LocalExecutor:
    """One warm executor per process for `Workflow.run` calls that don't bring their own."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from astroflow.execution import LocalExecutor

            _shared = LocalExecutor()
            atexit.register(_shared.close)
        return _shared
