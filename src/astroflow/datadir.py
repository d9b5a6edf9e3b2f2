"""Where astroflow keeps its data by default: one answer for the server, the resolver and
the bundled workflows' data steps, so that all of them find the same files."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$ASTROFLOW_DATA_DIR``, else ``$XDG_DATA_HOME/astroflow`` or
    ``~/.local/share/astroflow``."""
    if environ.get("ASTROFLOW_DATA_DIR"):
        return Path(environ["ASTROFLOW_DATA_DIR"])
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "astroflow"


@contextmanager
def preparing(folder: Path) -> Iterator[None]:
    """Hold ``<folder>.lock`` (an exclusive ``flock``) while ``folder`` is checked and built,
    so that processes preparing the same data at once (two replicas' ``astroflow data fetch``,
    parallel test workers) build it once and never read it half written."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
