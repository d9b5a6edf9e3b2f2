"""The notebook as the Python script a Galaxy tool runs.

Cells become ``# %%`` sections of one script, markdown cells comments. After the parameters
cell (kept, so its defaults stay visible) the script reads Galaxy's inputs JSON and assigns
the declared parameters only, converted to their declared types; after the last cell it
writes every declared output where the tool XML collects it.

IPython syntax has no meaning in a plain script, so it is handled explicitly:

* display-only magics (``%matplotlib``, ``%config``, ``%load_ext autoreload``,
  ``%autoreload``) are commented out: a script has no inline display to configure;
* any other magic or shell escape (``!ls``, ``%time``, ``%%bash``) is rewritten by IPython's
  own transformer into ``get_ipython()`` calls, and the script starts an IPython shell
  that shares its namespace, so the cell does what it did in the notebook (the tool then
  requires ``ipython``).
"""

from __future__ import annotations

import ast
import json
import pprint
import re
from dataclasses import dataclass
from typing import Any

from astroflow.registry.galaxy_plan import ToolPlan
from astroflow.workflow import Workflow
from astroflow.workflow.declarations import imported_modules
from astroflow.workflow.notebook import cells_of

RUNTIME_MODULE = "_astroflow_galaxy"
DISPLAY_ONLY_MAGICS = re.compile(
    r"^\s*%(matplotlib|config|load_ext\s+autoreload|autoreload|reload_ext\s+autoreload)\b")
_FUTURE = re.compile(r"^from\s+__future__\s+import\s+.+$", re.MULTILINE)


@dataclass(frozen=True)
class GalaxyScript:
    text: str
    needs_ipython: bool      # some cell keeps a magic: the tool requires ipython
    imports: frozenset[str]  # top-level modules the notebook imports


def notebook_script(workflow: Workflow, plan: ToolPlan, *, header: str) -> GalaxyScript:
    """The script for ``workflow``; ``header`` is the comment block naming its origin."""
    body: list[str] = []
    futures: set[str] = set()
    needs_ipython = False
    imports = notebook_imports(workflow)
    for cell in cells_of(workflow.notebook):
        if cell.cell_type == "markdown":
            body.append(_comment_block(cell.source))
            continue
        is_parameters = cell.index == workflow.parameters_cell
        if cell.cell_type != "code" or "injected-parameters" in cell.tags or (
                not cell.source.strip() and not is_parameters):
            continue
        source, magic = python_source(cell.source)
        needs_ipython |= magic
        for line in _FUTURE.findall(source):
            futures.add(line.strip())
        source = _FUTURE.sub("", source).strip("\n")
        tags = f" tags={json.dumps(list(cell.tags))}" if cell.tags else ""
        body.append(f"# %% cell {cell.index}{tags}\n{source}\n")
        if is_parameters:
            body.append(_inputs_block(plan))
    body.append(_outputs_block(plan))
    preamble = [header.rstrip("\n"), *sorted(futures), "import sys as _galaxy_sys", "",
                f"import {RUNTIME_MODULE} as _galaxy", "",
                "_galaxy_inputs, _galaxy_out = _galaxy.begin(_galaxy_sys.argv)"]
    if "astroflow" in imports:
        preamble.append("_galaxy.install_astroflow_shim()")
    if needs_ipython:
        preamble.append("_galaxy.start_ipython(globals())")
    preamble.append("display = _galaxy.display  # notebooks call display() without importing it")
    text = "\n".join(preamble) + "\n\n" + "\n".join(body)
    return GalaxyScript(text=text, needs_ipython=needs_ipython, imports=imports)


def notebook_imports(workflow: Workflow) -> frozenset[str]:
    """Top-level modules the notebook's code cells import (magics blanked out)."""
    found: set[str] = set()
    for cell in cells_of(workflow.notebook):
        if cell.cell_type == "code":
            found |= {m.split(".")[0] for m in imported_modules(cell.source)}
    return frozenset(found)


def python_source(source: str) -> tuple[str, bool]:
    """A cell's code as plain Python, and whether it still needs an IPython shell."""
    lines = []
    for line in source.splitlines():
        if DISPLAY_ONLY_MAGICS.match(line):
            lines.append(f"# {line.strip()}  # display-only magic, not needed in a script")
        else:
            lines.append(line)
    code = "\n".join(lines)
    if _is_python(code):
        return code, "get_ipython()" in code
    from IPython.core.inputtransformer2 import TransformerManager

    transformed = TransformerManager().transform_cell(code)
    return transformed.rstrip("\n"), transformed.rstrip() != code.rstrip()


def _is_python(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _comment_block(text: str) -> str:
    lines = [("# " + line).rstrip() for line in text.strip().splitlines()]
    return "# %% [markdown]\n" + "\n".join(lines) + "\n"


def _inputs_block(plan: ToolPlan) -> str:
    specs = {i.name: i.runtime_spec() for i in plan.inputs}
    lines = ["# %% Galaxy inputs: declared parameters only, converted to their declared types",
             f"_GALAXY_PARAMETERS = {_literal(specs)}",
             "_galaxy_values = _galaxy.read_inputs(_galaxy_inputs, _GALAXY_PARAMETERS)"]
    lines += [f"{i.name} = _galaxy_values[{i.name!r}]" for i in plan.inputs]
    return "\n".join(lines) + "\n"


def _outputs_block(plan: ToolPlan) -> str:
    specs = [o.runtime_spec() for o in plan.outputs]
    return ("# %% Galaxy outputs: each declared output where the tool collects it\n"
            f"_GALAXY_OUTPUTS = {_literal(specs)}\n"
            "_galaxy.write_outputs(globals(), _GALAXY_OUTPUTS, _galaxy_out)\n")


def _literal(value: Any) -> str:
    """A Python literal for plain data; JSON text when floats are not finite."""
    text = pprint.pformat(value, width=96, sort_dicts=False)
    try:
        if ast.literal_eval(text) == value:
            return text
    except (ValueError, SyntaxError):
        pass
    return f"__import__('json').loads({json.dumps(value)!r})"
