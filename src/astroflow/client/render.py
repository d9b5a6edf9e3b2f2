"""Plain-text tables and numbers for terminals, shared by ``help()`` and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_CELL = 48


def table(rows: Sequence[Sequence[Any]], max_cell: int = MAX_CELL) -> list[str]:
    """Rows as aligned columns under a dashed rule; the first row is the header."""
    cells = [[_cell(c, max_cell) for c in row] for row in rows]
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _cell(value: Any, limit: int) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: float | int | None) -> str:
    return "" if value is None else f"{value:g}"


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.2f} s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def scalar_value(product: Any) -> str:
    """A scalar product's value for a listing (``0.412``, ``true``, a time), fetched from its
    JSON file; "" for other products or when it cannot be had. Its unit has its own column."""
    if getattr(product, "type", None) != "scalar" or "json" not in product.formats:
        return ""
    import json

    try:
        value = json.loads(product.download("json")).get("value")
    except Exception:  # noqa: BLE001 - a listing shows what it can; the file stays downloadable
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):  # a complex number: [re, im]
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)
