"""What a run may use: the operator's limits, a workflow's own within them, the sandbox layers.

A `SandboxPolicy` is plain data: it travels in the pickled `RunSpec` to whatever process
forks the run (the local warm parent today, a Dask worker's tomorrow), and the run applies
it to itself with `astroflow.execution.sandbox.apply.enter_sandbox`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int | float) -> int:
    """``"4GiB"``, ``"512M"``, ``"2 GB"`` or a number of bytes → bytes (binary units)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text)
    match = _SIZE.match(str(text))
    if match is None:
        raise ValueError(f"invalid size {text!r}: use a number with an optional unit "
                         "K, M, G or T (e.g. 4G, 512MiB)")
    unit = (match.group(2) or "").lower()[:1]
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: int) -> str:
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


@dataclass(frozen=True)
class RunLimits:
    """Per-run ceilings; None means unlimited.

    ``memory`` bytes of writable memory (RLIMIT_DATA, and the cgroup's memory when the
    kernel lets us make one), ``cpu_time`` CPU seconds of the run process, ``processes``
    tasks at once (threads count), ``output`` bytes: the largest file and the job folder.
    """

    memory: int | None = 4 << 30
    cpu_time: float | None = None
    processes: int | None = 256
    output: int | None = 2 << 30

    def within(self, ceiling: RunLimits) -> RunLimits:
        """These limits, none above the operator's ``ceiling``."""
        values = {}
        for f in fields(self):
            mine, most = getattr(self, f.name), getattr(ceiling, f.name)
            values[f.name] = most if mine is None else (mine if most is None else min(mine, most))
        return RunLimits(**values)

    def overridden(self, **declared: float | int | None) -> RunLimits:
        """These defaults with a workflow's declared values (None: keep the default)."""
        changes: dict[str, Any] = {k: v for k, v in declared.items() if v is not None}
        return replace(self, **changes)


@dataclass(frozen=True)
class SandboxPolicy:
    """How a server run is confined (see the README's "Security model").

    ``read`` and ``write`` add paths to the run's allow-lists (the run's own job folder, its
    workflow's source, the Python installation and the system's libraries are always in);
    ``data_dir`` is the server's data folder, whose workflow data folders a run may read but
    whose database, artifacts, uploads and registry it may not; ``blocked_ports`` are TCP
    ports a run may not connect to (the job database's), set up once per warm parent.
    ``workflow_cache`` is where each workflow keeps what outlives a run (reduced datasets,
    derived tables): a run reads and writes only its own workflow's folder there
    (`workflow_cache_dir`), named in its environment as ``ASTROFLOW_CACHE_DIR``.
    """

    limits: RunLimits = field(default_factory=RunLimits)
    read: tuple[Path, ...] = ()
    write: tuple[Path, ...] = ()
    data_dir: Path | None = None
    private_data: tuple[str, ...] = ("artifacts", "cache", "registry", "uploads")
    blocked_ports: tuple[int, ...] = ()
    workflow_cache: Path | None = None
    filesystem: bool = True      # Landlock file rules
    namespaces: bool = True      # own user + mount namespace: private /tmp, /run, /dev/shm
    strict: bool = False         # refuse to run when a layer is missing, instead of warning


CACHE_VARIABLE = "ASTROFLOW_CACHE_DIR"


def workflow_cache_dir(root: Path, source_dir: Path) -> Path:
    """The cache folder of the workflow in `source_dir`: one per repository *and* version
    (its resolved folder), so a version never reads what another one computed, and no
    workflow reads or writes another's."""
    source = Path(source_dir).resolve()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    return Path(root) / f"{source.name}-{digest}"
