"""Outputs that name a file: resolve them against the notebook's working directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from astroflow.products.model import Mismatch

_MAX_PATH = 4096
TEXT_SUFFIXES = (".txt", ".md", ".log", ".rst", ".text")
MAX_TEXT_BYTES = 64 * 1024 * 1024


def resolve(value: str | os.PathLike, cwd: Path | None) -> Path:
    """The path ``value`` names, relative to ``cwd`` when given and not absolute."""
    path = Path(os.fspath(value))
    if not path.is_absolute() and cwd is not None:
        path = Path(cwd) / path
    return path


def existing_file(value: Any, cwd: Path | None) -> Path | None:
    """The file a str or path-like value names, ``None`` when it names no regular file."""
    if not isinstance(value, str | os.PathLike):
        return None
    raw = os.fspath(value)
    if isinstance(raw, bytes) or not raw or len(raw) > _MAX_PATH or "\n" in raw or "\0" in raw:
        return None
    try:
        path = resolve(raw, cwd)
        return path if path.is_file() else None
    except (OSError, ValueError):
        return None


def missing_file(value: os.PathLike, cwd: Path | None) -> Mismatch:
    """The error for a path object that names no file."""
    path = resolve(value, cwd)
    what = "is a directory, not a file" if path.is_dir() else "does not exist"
    where = f" (relative to {cwd})" if cwd is not None and not Path(value).is_absolute() else ""
    return Mismatch(f"file {os.fspath(value)!r}{where} {what}")


def read_text_file(path: Path) -> str:
    """The UTF-8 content of a text file; :class:`Mismatch` when it is binary or huge."""
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise Mismatch(f"{path.name} is {size} bytes, too large for a text product")
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise Mismatch(f"{path.name} is not UTF-8 text: {exc.reason}") from exc


def suffix_key(path: Path, default: str) -> str:
    """A format key from a file's last suffix: ``data.h5`` → ``h5``."""
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix.isalnum() and suffix else default
