"""Running notebooks: isolated, killable processes forked from a warm parent.

Every run does ``import astroflow`` (for ``astroflow.progress``), which imports
`astroflow.execution.progress`; so this package loads its parts only when they are asked for.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from astroflow.execution.progress import progress

if TYPE_CHECKING:
    from astroflow.execution.dask.executor import DaskExecutor
    from astroflow.execution.export import notebook_html
    from astroflow.execution.local import DEFAULT_PRELOAD, LocalExecutor, RunHandle
    from astroflow.execution.spec import OutputSpec, Progress, RunError, RunResult, RunSpec

_HOMES = {
    "DaskExecutor": "dask.executor",  # needs the ``dask`` extra; imported when asked for
    "notebook_html": "export",
    "DEFAULT_PRELOAD": "local",
    "LocalExecutor": "local",
    "RunHandle": "local",
    "OutputSpec": "spec",
    "Progress": "spec",
    "RunError": "spec",
    "RunResult": "spec",
    "RunSpec": "spec",
}

__all__ = [
    "DEFAULT_PRELOAD",
    "DaskExecutor",
    "LocalExecutor",
    "OutputSpec",
    "Progress",
    "RunError",
    "RunHandle",
    "RunResult",
    "RunSpec",
    "notebook_html",
    "progress",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'astroflow.execution' has no attribute {name!r}")
    value = getattr(import_module(f"astroflow.execution.{home}"), name)
    globals()[name] = value
    return value
