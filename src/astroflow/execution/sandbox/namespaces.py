"""A user namespace and a mount namespace of the run's own (no root needed).

In its own user namespace the run holds no capability over anything outside it: a server
started as root forks runs that cannot read other processes' memory or environment, nor
override file permissions. In its own mount namespace it gets an empty, private ``/run``
(the Unix sockets of databases and daemons are gone), ``/dev/shm`` and, when nothing the
run needs lives there, ``/tmp``: what one run leaves there no other run sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from astroflow.execution.sandbox.libc import check, libc

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV = 0x2, 0x4
PRIVATE_MOUNTS = ("/run", "/dev/shm", "/tmp")

def _call(name: str, *args: object) -> None:
    if libc is None:
        raise OSError(38, "namespaces need Linux")
    check(getattr(libc, name)(*args), name)


def enter_namespaces(needed: Iterable[Path], tmp_size: int | None = None) -> list[str]:
    """Unshare user and mount namespaces, keep the same uid and gid, mount private tmpfs
    over the `PRIVATE_MOUNTS` that hold none of ``needed``. Returns the mounts made."""
    uid, gid = os.getuid(), os.getgid()
    _call("unshare", CLONE_NEWUSER | CLONE_NEWNS)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    needed = [Path(p).resolve() for p in needed]
    made = []
    for mount in PRIVATE_MOUNTS:
        point = Path(mount)
        if not point.is_dir() or any(_under(p, point) for p in needed):
            continue
        options = f"mode=1777,size={tmp_size}" if tmp_size else "mode=1777"
        _call("mount", b"tmpfs", str(point).encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
              options.encode())
        made.append(mount)
    return made


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
