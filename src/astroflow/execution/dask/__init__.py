"""The ``dask`` executor: each job is a Dask task that runs the notebook in its own killable
process on a worker (forked from that worker's warm parent, as `LocalExecutor` does).

Importing this package imports ``distributed`` (the ``dask`` extra): the local executor
never does.
"""

from __future__ import annotations

from astroflow.execution.dask.executor import DaskExecutor, DaskRunHandle
from astroflow.execution.dask.plugin import PLUGIN_NAME, AstroflowWorkerPlugin

__all__ = ["PLUGIN_NAME", "AstroflowWorkerPlugin", "DaskExecutor", "DaskRunHandle"]
