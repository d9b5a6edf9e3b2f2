"""A run and everything it started, however it detached, and how to kill all of it.

The run makes itself a child subreaper: whatever its descendants do (``setsid``, double
forks), while the run lives they stay below it in the process tree. Killing stops the run
first, then walks ``/proc`` for its descendants, stops them, repeats until no new one
appears, and only then kills them all: nothing forks a replacement in between. What a run
leaves behind when it ends normally is reparented to the warm parent (a subreaper too),
which kills it with `kill_strays`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from astroflow.execution.sandbox.libc import libc

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Linux: orphans below this process are reparented to it, not to init."""
    return libc is not None and libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def children(pid: int) -> list[int]:
    """The direct children of ``pid``: ``/proc/PID/task/*/children`` (a read per thread,
    microseconds), else one scan of every process's parent."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as stream:
                found.extend(int(p) for p in stream.read().split())
        except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
            return [child for child, parent in parents().items() if parent == pid]
        except OSError:
            continue
    return found


def parents() -> dict[int, int]:
    """pid → parent pid of every process on the machine (one read of ``/proc``)."""
    table: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stream:
                data = stream.read()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces and parentheses.
        fields = data[data.rfind(b")") + 2:].split()
        if len(fields) > 1:
            table[int(entry.name)] = int(fields[1])
    return table


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children(stack.pop()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def kill_tree(pid: int | None) -> None:
    """SIGKILL ``pid`` and all its descendants (its process group too, for other OSes)."""
    if pid is None:
        return
    if not sys.platform.startswith("linux"):
        _signal_group(pid, signal.SIGKILL)
        return
    _signal(pid, signal.SIGSTOP)
    frozen: set[int] = set()
    for _ in range(50):  # a tree that outgrows 50 rounds of stopping is killed as it stands
        new = descendants(pid) - frozen
        if not new:
            break
        for child in new:
            _signal(child, signal.SIGSTOP)
        frozen |= new
    _signal_group(pid, signal.SIGKILL)
    for child in frozen:
        _signal(child, signal.SIGKILL)
    _signal(pid, signal.SIGKILL)


def kill_strays(known: set[int]) -> int:
    """Kill this process's children that are not in ``known`` (adopted leftovers of runs
    that ended), with their descendants. Returns how many were found."""
    strays = [pid for pid in children(os.getpid()) if pid not in known]
    for pid in strays:
        kill_tree(pid)
    return len(strays)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
