"""The product record: what one notebook output became, as the manifest tells it.

Everything downstream of the job process (server, portal, client) sees products only through
this record and the files it names, never through pickles, so every field is plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

from astroflow.errors import AstroflowError
from astroflow.ontology.model import ProductType

PRODUCT_TYPES: tuple[str, ...] = get_args(ProductType)
TABLE_LIKE: frozenset[str] = frozenset({"table", "lightcurve", "spectrum"})


class ProductError(AstroflowError):
    """A notebook output that cannot become the product it was annotated as (or any product)."""


class Mismatch(Exception):  # noqa: N818 - internal signal, carries a reason, never escapes
    """A value cannot become one particular product type; ``str()`` is the reason."""


@dataclass
class Product:
    """One typed output of a job, written as files in the job's output directory.

    ``files`` maps a format (``"fits"``, ``"ecsv"``, ``"png"`` …) to a file name relative to
    that directory. Table-like products always carry ``ecsv``; images carry ``fits`` and a
    ``png`` preview; scalars carry ``json``; texts carry ``txt``. Formats in ``derived`` are
    not stored: they are made from the stored one (or this record) on first download, into the
    job's evictable ``derived/`` folder (see :mod:`astroflow.products.stored`).
    """

    name: str
    type: ProductType
    title: str
    files: dict[str, str]
    unit: str | None = None
    description: str | None = None
    ontology: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry (plain JSON types only); ``derived`` only when some format is."""
        entry: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "title": self.title,
            "files": dict(self.files),
            "unit": self.unit,
            "description": self.description,
            "ontology": self.ontology,
            "meta": self.meta,
        }
        if self.derived:
            entry["derived"] = list(self.derived)
        return entry

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Product:
        """Rebuild a product from a manifest entry; unknown keys are ignored (newer writers)."""
        try:
            name = d["name"]
            ptype = d["type"]
            files = d.get("files") or {}
        except (KeyError, TypeError) as exc:
            raise ProductError(f"malformed product entry {d!r}: missing {exc}") from exc
        if ptype not in PRODUCT_TYPES:
            raise ProductError(f"product {name!r} has unknown type {ptype!r}; "
                               f"known types are {', '.join(PRODUCT_TYPES)}")
        if not isinstance(files, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ProductError(f"product {name!r}: 'files' must map formats to file names")
        derived = d.get("derived") or []
        if not isinstance(derived, list) or not all(k in files for k in derived):
            raise ProductError(f"product {name!r}: 'derived' must list formats of 'files'")
        return cls(
            name=str(name),
            type=ptype,
            title=d.get("title") or default_title(str(name)),
            files=dict(files),
            unit=d.get("unit"),
            description=d.get("description"),
            ontology=d.get("ontology"),
            meta=dict(d.get("meta") or {}),
            derived=list(derived),
        )


def default_title(name: str) -> str:
    """Variable names read as titles once underscores become spaces."""
    return name.replace("_", " ").strip() or name
