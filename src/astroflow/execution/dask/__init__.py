"""The ``dask`` executor: each job is a Dask task that runs the notebook in its own killable
process on a worker (forked from that worker's warm parent, as `LocalExecutor` does).

Its parts import ``distributed`` (the ``dask`` extra), so they load only when asked for:
``astroflow --help`` and the local executor never pay for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from astroflow.execution.dask.executor import DaskExecutor, DaskRunHandle
    from astroflow.execution.dask.plugin import PLUGIN_NAME, AstroflowWorkerPlugin

_HOMES = {"DaskExecutor": "executor", "DaskRunHandle": "executor",
          "PLUGIN_NAME": "plugin", "AstroflowWorkerPlugin": "plugin"}

__all__ = ["PLUGIN_NAME", "AstroflowWorkerPlugin", "DaskExecutor", "DaskRunHandle"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'astroflow.execution.dask' has no attribute {name!r}")
    value = getattr(import_module(f"astroflow.execution.dask.{home}"), name)
    globals()[name] = value
    return value
