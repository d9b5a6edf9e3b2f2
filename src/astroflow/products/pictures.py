"""Pictures: matplotlib figures and image bytes or files (PNG, JPEG, GIF, SVG).

Sizes are read from the file headers, not by decoding the image, so they cost microseconds.
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
from pathlib import Path
from typing import Any

# ".jfif": oda_api's PictureProduct names a JPEG so (suggest_fn_extension, from puremagic).
PICTURE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg",
                    ".jfif": "jpeg", ".gif": "gif", ".svg": "svg"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "gif": "gif", "svg": "svg"}
_PNG = b"\x89PNG\r\n\x1a\n"
_SVG = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]",
                  re.DOTALL)


def sniff(head: bytes) -> str | None:
    """The picture format from the first bytes, ``None`` when it is not a known picture."""
    if head.startswith(_PNG):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if _SVG.match(head[:4096]):
        return "svg"
    return None


def picture_format(path: Path) -> str | None:
    """The picture format of a file from its suffix."""
    return PICTURE_SUFFIXES.get(path.suffix.lower())


# Where a figure keeps the PNG it was last rendered to (see `figure_png`).
_RENDERED = "_astroflow_png"


def figure_png(figure: Any) -> bytes:
    """A matplotlib figure as PNG bytes (dpi 100, tight bounding box), drawn once.

    A run shows its figures inline in the notebook and then stores them as products: the
    same picture, drawn twice (each tight-box save draws the figure twice again, a third of
    a second for a two-panel log plot). The bytes are kept on the figure and the figure
    marked not stale; matplotlib marks it stale again on any change to it or its artists, so
    a figure changed after it was shown is drawn anew.
    """
    rendered = getattr(figure, _RENDERED, None)
    if rendered is not None and getattr(figure, "stale", True) is False:
        return rendered
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    png = buf.getvalue()
    with contextlib.suppress(AttributeError, TypeError):  # a figure-like object may refuse
        setattr(figure, _RENDERED, png)
        figure.stale = False
    return png


def dimensions(head: bytes, fmt: str) -> tuple[int, int] | None:
    """``(width, height)`` in pixels from a picture's header bytes, when cheap to know."""
    try:
        if fmt == "png" and len(head) >= 24 and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if fmt == "gif" and len(head) >= 10:
            return struct.unpack("<HH", head[6:10])
        if fmt == "jpeg":
            return _jpeg_dimensions(head)
    except struct.error:
        return None
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """Walk JPEG segments up to the first start-of-frame marker, which holds the size."""
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def picture_meta(head: bytes, fmt: str, size: int) -> dict[str, Any]:
    """``{format, bytes, width, height}`` (size only when it can be read cheaply)."""
    meta: dict[str, Any] = {"format": fmt, "bytes": size}
    dims = dimensions(head, fmt)
    if dims:
        meta["width"], meta["height"] = int(dims[0]), int(dims[1])
    return meta


def read_head(path: Path, size: int = 65536) -> bytes:
    """The first bytes of a file, enough for :func:`sniff` and :func:`dimensions`."""
    with path.open("rb") as fh:
        return fh.read(size)
