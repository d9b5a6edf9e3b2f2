"""File names inside a job's output directory.

Output names come from notebooks and copied files from anywhere, so every name is reduced to a
plain ASCII base name before it touches the disk: no separators, no leading dots, no ``..``.
"""

from __future__ import annotations

import re
from pathlib import Path

from astroflow.products.model import ProductError

MANIFEST_NAME = "products.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_STEM = 100


def safe_stem(name: str, fallback: str = "product") -> str:
    """A file stem from an output name: ``"../a b/c"`` → ``"a_b_c"``."""
    stem = _UNSAFE.sub("_", name).strip("_-")
    return stem[:_MAX_STEM] or fallback


def safe_filename(filename: str, fallback: str = "file") -> str:
    """A base name for a copied file, keeping its (sanitised) extensions: ``"l c.fits.gz"``."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    parts = [p for p in base.split(".") if p]
    if not parts:
        return fallback
    stem = safe_stem(parts[0], fallback)
    suffixes = [s for s in (_UNSAFE.sub("", p)[:16] for p in parts[1:]) if s]
    return ".".join([stem, *suffixes])


def claim(outdir: Path, filename: str, taken: set[str] | None = None) -> str:
    """A name in ``outdir`` that no existing file (nor ``taken``) uses: ``lc.fits``, ``lc-2.fits``.

    Existing files are kept because the notebook may have written them on purpose, and two
    outputs may share a base name.
    """
    taken = taken or set()
    stem, dot, ext = filename.partition(".")
    candidate = filename
    n = 1
    while (candidate in taken or candidate == MANIFEST_NAME
           or (outdir / candidate).exists() or (outdir / candidate).is_symlink()):
        n += 1
        candidate = f"{stem}-{n}{dot}{ext}"
    return candidate


def resolve_in(outdir: Path, filename: str) -> Path:
    """The path of a manifest-listed file, refusing anything that would leave ``outdir``."""
    if (not filename or filename != Path(filename).name or filename in (".", "..")
            or "/" in filename or "\\" in filename):
        raise ProductError(f"file name {filename!r} in the manifest is not a plain base name")
    return outdir / filename
