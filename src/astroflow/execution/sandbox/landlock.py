"""Landlock (Linux ≥ 5.13): an unprivileged process limits what it and its children reach.

Rules allow; everything a ruleset handles and no rule allows is refused with EACCES. A run
gets read access to the system, the Python installation and its workflow, and write access
to its own job folder; ABI 4 adds TCP connect rules (the job database's port stays shut),
ABI 6 scopes signals and abstract Unix sockets to the run's own domain (it cannot signal
the server or talk to another run). Called through ``syscall(2)`` with ctypes: the calls
are three and stable, and no maintained binding ships as a wheel for every platform.
"""

from __future__ import annotations

import ctypes
import os
import platform
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from astroflow.execution.sandbox.libc import check, libc

_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38

# Access rights (linux/landlock.h).
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a file rule may hold
_ABI_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}


class LandlockUnavailable(OSError):
    """The kernel (or a seccomp filter in front of it) does not offer Landlock."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


_NUMBERS = _SYSCALLS.get(platform.machine())


def _syscall(index: int, *args: object) -> int:
    if _NUMBERS is None or libc is None:
        raise LandlockUnavailable(f"Landlock system calls unknown on {platform.machine()}")
    return check(libc.syscall(_NUMBERS[index], *args), "landlock")


def abi_version() -> int:
    """The kernel's Landlock ABI (0 when there is none)."""
    try:
        return _syscall(0, None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def _fs_rights(abi: int) -> int:
    best = max(v for v in _ABI_RIGHTS if v <= max(abi, 1))
    return _ABI_RIGHTS[best]


def _ruleset(fs: int, net: int, scoped: int) -> int:
    attr = _RulesetAttr(fs, net, scoped)
    size = ctypes.sizeof(_RulesetAttr) if (net or scoped) else 8
    return _syscall(0, ctypes.byref(attr), size, 0)


def _enforce(ruleset: int) -> None:
    try:
        if libc is None:
            raise OSError("landlock: no C library to call prctl through")
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        _syscall(2, ruleset, 0)
    finally:
        os.close(ruleset)


def restrict_filesystem(read: Iterable[Path], write: Iterable[Path],
                        opened: Mapping[str, tuple[int, bool]] | None = None) -> int:
    """Confine this process (and what it starts) to ``read`` and ``write``; returns the ABI.

    Paths that do not exist are skipped; ``opened`` maps paths to ``O_PATH`` descriptors
    opened beforehand (by the warm parent, once for all its runs). Signals and abstract Unix
    sockets are scoped to the run where the kernel can (ABI ≥ 6).
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockUnavailable("this kernel has no Landlock (Linux ≥ 5.13 with "
                                  "CONFIG_SECURITY_LANDLOCK and landlock in lsm=)")
    handled = _fs_rights(abi)
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0
    ruleset = _ruleset(handled, 0, scoped)
    rule = _PathBeneath(0, -1)  # one structure for every rule: ctypes objects cost
    try:
        for paths, rights in ((read, READ), (write, handled)):
            for path in paths:
                _allow_path(ruleset, rule, os.fspath(path), rights & handled, opened or {})
    except BaseException:
        os.close(ruleset)
        raise
    _enforce(ruleset)
    return abi


def open_paths(paths: Iterable[Path]) -> dict[str, tuple[int, bool]]:
    """``O_PATH`` descriptors of the paths that exist, with whether each is a folder."""
    opened = {}
    for path in paths:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        opened[str(path)] = (fd, stat.S_ISDIR(os.fstat(fd).st_mode))
    return opened


def _allow_path(ruleset: int, rule: _PathBeneath, path: str, rights: int,
                opened: Mapping[str, tuple[int, bool]]) -> None:
    known = opened.get(path)
    if known is None:
        fresh = open_paths([Path(path)])
        if not fresh:
            return
        known = fresh[path]
    fd, folder = known
    try:
        rule.allowed_access = rights if folder else rights & FILE_RIGHTS
        rule.parent_fd = fd
        _syscall(1, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        if path not in opened:
            os.close(fd)


def block_tcp_ports(ports: Iterable[int]) -> bool:
    """Forbid TCP connections to ``ports`` for this process and its children (ABI ≥ 4).

    Landlock rules only allow, so every other port gets a rule: 65 k system calls, about
    50 ms, paid once by the warm parent, never per run. False when the kernel cannot.
    """
    blocked = {int(p) for p in ports}
    if not blocked or abi_version() < 4:
        return False
    ruleset = _ruleset(0, NET_CONNECT_TCP, 0)
    try:
        rule = _NetPort(NET_CONNECT_TCP, 0)
        for port in range(65536):
            if port not in blocked:
                rule.port = port
                _syscall(1, ruleset, _RULE_NET_PORT, ctypes.byref(rule), 0)
    except BaseException:
        os.close(ruleset)
        raise
    _enforce(ruleset)
    return True
