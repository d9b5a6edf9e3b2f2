"""A control group per run, where the kernel lets this process make one (cgroup v2 or v1).

Why besides rlimits: a cgroup counts every process of the run together, whatever uid it
runs as (RLIMIT_NPROC spares root), and its memory limit covers the run's subprocesses and
the page cache it dirties, not only one process's address space. It is optional: a server
started by systemd with ``Delegate=yes``, in a container with a writable cgroupfs, or as
root gets it; elsewhere the rlimits stand alone and the server says so at start.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "astroflow-run-"


@dataclass(frozen=True)
class RunGroup:
    """The run's folders: one (v2) or one per controller (v1: pids, memory)."""

    folders: tuple[Path, ...]

    def oom_kills(self) -> int:
        """How many processes the kernel killed for the memory limit."""
        for folder in self.folders:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                with contextlib.suppress(OSError):
                    for line in (folder / name).read_text().splitlines():
                        label, _, value = line.partition(" ")
                        if label == key and value.strip().isdigit():
                            return int(value)
        return 0

    def pids_refused(self) -> int:
        for folder in self.folders:
            with contextlib.suppress(OSError):
                text = (folder / "pids.events").read_text()
                for line in text.splitlines():
                    label, _, value = line.partition(" ")
                    if label == "max" and value.strip().isdigit():
                        return int(value)
        return 0

    def remove(self, attempts: int = 50) -> None:
        """Kill what is left in the group, then remove it."""
        for folder in self.folders:
            for _ in range(attempts):
                if not folder.exists():
                    break
                with contextlib.suppress(OSError):
                    (folder / "cgroup.kill").write_text("1")
                for pid in _members(folder):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002)


def _members(folder: Path) -> list[int]:
    try:
        return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _own_paths() -> dict[str, str]:
    """controller ("" for v2) → this process's cgroup path, from /proc/self/cgroup."""
    paths = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


@functools.cache
def _bases() -> dict[str, Path]:
    """Where a run's group goes: per controller, this process's own cgroup folder."""
    own = _own_paths()
    if (ROOT / "cgroup.controllers").is_file():  # pure v2
        return {"": ROOT / own.get("", "/").lstrip("/")}
    bases: dict[str, Path] = {}
    for controller in ("pids", "memory"):
        if controller in own and (ROOT / controller).is_dir():
            bases[controller] = ROOT / controller / own[controller].lstrip("/")
    return bases


def make_group(name: str) -> RunGroup | None:
    """Make an empty group ``name`` under this process's own (None where not allowed).

    The warm parent makes the next run's group ahead of its fork, so that a run pays only
    for writing its limits and its pid, not for the ``mkdir``s."""
    made = []
    try:
        for base in _bases().values():
            folder = base / name
            folder.mkdir(exist_ok=True)
            made.append(folder)
    except OSError:
        RunGroup(tuple(made)).remove()
        return None
    return RunGroup(tuple(made)) if made else None


def join(group: RunGroup, pid: int, memory: int | None, processes: int | None) -> bool:
    """Set the run's limits on ``group`` and move ``pid`` (this process) into it."""
    try:
        for folder in group.folders:
            v2 = not folder.is_relative_to(ROOT / "pids") and not folder.is_relative_to(
                ROOT / "memory")
            if processes is not None and (v2 or folder.is_relative_to(ROOT / "pids")):
                _limit(folder, "pids.max", str(processes))
            if memory is not None and (v2 or folder.is_relative_to(ROOT / "memory")):
                _limit(folder, "memory.max" if v2 else "memory.limit_in_bytes", str(memory))
                if v2:
                    _limit(folder, "memory.swap.max", "0")
            (folder / "cgroup.procs").write_text(str(pid))
    except OSError:
        return False
    return True


def join_run_group(pid: int, memory: int | None, processes: int | None,
                   prepared: RunGroup | None = None) -> RunGroup | None:
    """Join ``prepared`` (made by the warm parent), else make ``astroflow-run-<pid>`` and
    join it; None when the kernel or its permissions do not allow it."""
    if prepared is not None and join(prepared, pid, memory, processes):
        return prepared
    group = make_group(f"{PREFIX}{pid}")
    if group is None:
        return None
    if not join(group, pid, memory, processes):
        group.remove()
        return None
    return group


def sweep_stale() -> int:
    """Remove the groups that a warm parent or a run which died without cleaning up left
    (``astroflow-run-<warm parent pid>-<n>`` or ``astroflow-run-<run pid>``: the pid in
    the name is gone), killing what is still in them; returns how many went."""
    removed = 0
    for base in _bases().values():
        with contextlib.suppress(OSError):
            for entry in os.scandir(base):
                owner = entry.name[len(PREFIX):].split("-")[0]
                if (entry.name.startswith(PREFIX) and owner.isdigit()
                        and not Path(f"/proc/{owner}").exists()):
                    RunGroup((Path(entry.path),)).remove()
                    removed += 1
    return removed


def run_group(pid: int) -> RunGroup:
    """The group a run of this pid joined (for the warm parent, once the run has ended)."""
    return RunGroup(tuple(base / f"{PREFIX}{pid}" for base in _bases().values()
                          if (base / f"{PREFIX}{pid}").is_dir()))


def _limit(folder: Path, name: str, value: str) -> None:
    with contextlib.suppress(FileNotFoundError):  # e.g. no swap accounting
        (folder / name).write_text(value)
