"""``dask worker --preload astroflow.execution.dask.preload``: the worker starts with
astroflow's plugin (what ``astroflow worker`` does; without it the first job installs it)."""

from __future__ import annotations

from typing import Any

from astroflow.execution.dask.plugin import plugin_of


def dask_setup(worker: Any) -> None:
    plugin_of(worker)
