"""Atomic file creation: readers of an output directory never see a half-written file.

Each file is written under a hidden temporary name in the same directory and then renamed with
``os.replace``, which is atomic on POSIX file systems; failures remove the temporary.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path


def temp_path(final: Path) -> Path:
    """A hidden sibling of ``final`` that no product name can collide with."""
    return final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def write_with(final: Path, writer: Callable[[Path], object]) -> Path:
    """Let ``writer`` fill a temporary path, then move it onto ``final``."""
    tmp = temp_path(final)
    try:
        writer(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def write_bytes(final: Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``final``."""
    return write_with(final, lambda tmp: tmp.write_bytes(data))


def write_text(final: Path, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``final``."""
    return write_bytes(final, text.encode("utf-8"))


def copy_file(src: Path, final: Path) -> Path:
    """Atomically copy ``src`` to ``final`` (contents only, not permissions or times)."""
    return write_with(final, lambda tmp: shutil.copyfile(src, tmp))
