"""The products manifest: the list of product records, strict JSON, as ``result.json`` holds it
(or ``products.json`` in a folder of products that must describe itself)."""

from __future__ import annotations

import json
from pathlib import Path

from astroflow.products import atomic
from astroflow.products.jsonsafe import jsonable
from astroflow.products.model import Product, ProductError
from astroflow.products.naming import MANIFEST_NAME

MANIFEST_VERSION = 1


def manifest_entries(products: list[Product]) -> list[dict]:
    """The manifest's ``products`` list: each record as strict JSON, names unique."""
    names = [p.name for p in products]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ProductError(f"two products share the name(s) {', '.join(duplicates)}")
    entries = [jsonable(p.to_dict()) for p in products]
    json.dumps(entries, allow_nan=False)  # strict JSON, or a ValueError naming the value
    return entries


def write_manifest(products: list[Product], outdir: Path) -> Path:
    """Atomically write ``outdir/products.json`` listing ``products`` in order.

    The executor keeps the same list in the run's ``result.json`` instead (one file fewer a
    job); this is for folders of products that must describe themselves.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    doc = {"version": MANIFEST_VERSION, "products": manifest_entries(products)}
    text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    return atomic.write_text(outdir / MANIFEST_NAME, text)


def read_manifest(outdir: Path) -> list[Product]:
    """The products listed in ``outdir/products.json``.

    Raises ``FileNotFoundError`` when the job wrote no manifest and :class:`ProductError`
    when the manifest is not one astroflow can read.
    """
    path = Path(outdir) / MANIFEST_NAME
    try:
        doc = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ProductError(f"{path} is not valid JSON: {exc}") from exc
    entries = doc.get("products") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise ProductError(f"{path} has no 'products' list")
    version = doc.get("version", MANIFEST_VERSION) if isinstance(doc, dict) else MANIFEST_VERSION
    if not isinstance(version, int) or version > MANIFEST_VERSION:
        raise ProductError(f"{path} has manifest version {version!r}; this astroflow reads "
                           f"up to {MANIFEST_VERSION}")
    return [Product.from_dict(entry) for entry in entries]
