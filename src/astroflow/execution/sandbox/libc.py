"""The C library, loaded once at import, in the warm parent: each run then pays a call,
not a ``dlopen`` and ctypes' first look-up of each function (and their page faults)."""

from __future__ import annotations

import ctypes
import os
import sys

libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
if libc is not None:
    for _name in ("prctl", "unshare", "mount", "syscall"):
        getattr(libc, _name)  # resolve now, in the parent


def check(result: int, what: str) -> int:
    """``result`` of a libc call, or OSError with errno's message."""
    if result < 0 or (result != 0 and what in ("unshare", "mount")):
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result
