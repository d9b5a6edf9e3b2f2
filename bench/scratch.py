"""Where benchmarks keep their files: beside a deployment's data, not in /tmp.

A server's jobs live under its data directory (``data/`` for `make serve`, else
``~/.local/share/astroflow``). On this machine /tmp is much slower than the rest of the same
disk at creating files (about 300 µs per file against 7 µs in /root or /work; a job creates a
dozen), which would measure /tmp rather than astroflow. ``--scratch /tmp`` measures it anyway.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_scratch() -> Path:
    """``$ASTROFLOW_BENCH_SCRATCH``, else ``~/.cache/astroflow-bench`` (created)."""
    folder = Path(os.environ.get("ASTROFLOW_BENCH_SCRATCH",
                                 Path.home() / ".cache" / "astroflow-bench"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
