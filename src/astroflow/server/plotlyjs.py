"""plotly.js as plotly.py ships it, so the browser draws with the version the server's figures
are built for (one version, upgraded with plotly.py through the lock, never vendored apart)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

BUNDLE = "plotly.min.js"
PLACEHOLDER = "__PLOTLY_VERSION__"  # in static/index.html, filled in when the page is served


@cache
def bundle_dir() -> Path:
    """plotly.py's ``package_data`` folder, found without importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("plotly is not installed: the portal cannot serve plotly.js")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


@cache
def version() -> str:
    """The plotly.js version plotly.py bundles (part of the script URL, cached for a year)."""
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()
