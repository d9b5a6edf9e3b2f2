"""Where astroflow keeps its data by default: one answer for the server, the resolver and
the bundled workflows' data steps, so that all of them find the same files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$ASTROFLOW_DATA_DIR``, else ``$XDG_DATA_HOME/astroflow`` or
    ``~/.local/share/astroflow``."""
    if environ.get("ASTROFLOW_DATA_DIR"):
        return Path(environ["ASTROFLOW_DATA_DIR"])
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "astroflow"
