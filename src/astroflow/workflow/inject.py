"""Safe parameter injection: validated values become Python literals in a new cell.

Only names declared in the parameters cell are written, and each value is rendered by a
renderer that knows only plain data (str, int, float, bool, None, list, dict), then read
back with ``ast.literal_eval`` as a guard. Nothing a caller sends can become code.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from typing import Any

from astroflow.errors import AstroflowError

INJECTED_TAG = "injected-parameters"  # papermill's convention, so tools recognise the cell


class InjectionError(AstroflowError):
    """A value or name that cannot be injected (should never pass validation)."""


def render_literal(value: Any) -> str:
    """The Python source of a plain-data value."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InjectionError(f"cannot inject non-finite number {value!r}")
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise InjectionError(f"dictionary keys must be strings, got {type(key).__name__}")
            items.append(f"{render_literal(key)}: {render_literal(item)}")
        return "{" + ", ".join(items) + "}"
    raise InjectionError(f"cannot inject a value of type {type(value).__name__}")


def injected_source(declared: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    """The injected cell's source: one assignment per declared parameter."""
    lines = ["# Parameters injected by astroflow"]
    for name, value in values.items():
        if name not in declared or not name.isidentifier():
            raise InjectionError(f"{name!r} is not a declared parameter")
        literal = render_literal(value)
        if ast.literal_eval(literal) != value and not _same_list(value, literal):
            raise InjectionError(f"value of {name!r} does not survive rendering")
        lines.append(f"{name} = {literal}")
    return "\n".join(lines) + "\n"


def _same_list(value: Any, literal: str) -> bool:
    return isinstance(value, tuple) and list(value) == ast.literal_eval(literal)


def inject(notebook: dict, parameters_cell: int, source: str) -> dict:
    """A new notebook with the injected cell right after the parameters cell.

    The cells themselves are shared with the original, not copied: the notebook is read-only
    here, and the run that fills in outputs gets its own copy in its own process.
    """
    result = {**notebook, "cells": list(notebook["cells"])}
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "id": "injected-parameters",
        "metadata": {"tags": [INJECTED_TAG]},
        "outputs": [],
        "source": source,
    }
    result["cells"].insert(parameters_cell + 1, cell)
    return result
