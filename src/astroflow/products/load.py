"""Read a product back from its files as astropy/Python objects (tests, client, previews)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from astroflow.products import images, scalars, tables
from astroflow.products.model import TABLE_LIKE, Product, ProductError
from astroflow.products.stored import inline_text, product_path

_TABLE_PREFERENCE = ("ecsv", "fits", "vot", "csv")
_PICTURE_PREFERENCE = ("png", "jpeg", "gif", "svg")


def load_product(product: Product, outdir: Path) -> Any:
    """The product's content: Table (table-like), image HDU, str, bytes or a scalar.

    Scalars come back as Python values, as an astropy Quantity when they have a unit and as
    an astropy Time for times. Pictures, binaries and files come back as bytes.
    """
    outdir = Path(outdir)
    if not product.files:
        raise ProductError(f"product {product.name!r} lists no files")
    ptype = product.type
    if ptype == "scalar":
        if "json" in product.derived:  # stored in the record: no file needed
            return scalars.scalar_value(product.meta)
        return scalars.load_scalar(_file(product, outdir, "json"))
    if ptype == "text":
        if "txt" in product.derived:  # short: kept in the record
            return inline_text(product)
        return _file(product, outdir, "txt").read_text("utf-8")
    if ptype in TABLE_LIKE:
        return tables.read_table_file(table_file(product, outdir))
    if ptype == "image":
        return images.load_image_hdu(_file(product, outdir, "fits"),
                                     int(product.meta.get("hdu", 0)))
    if ptype == "picture":
        return _file(product, outdir, *_PICTURE_PREFERENCE).read_bytes()
    return _file(product, outdir).read_bytes()


def table_file(product: Product, outdir: Path) -> Path:
    """The file a table-like product is read from (ECSV first: it keeps units and types)."""
    return _file(product, Path(outdir), *_TABLE_PREFERENCE)


def _file(product: Product, outdir: Path, *preferred: str) -> Path:
    """The first listed file among the preferred formats (any listed file if none given),
    stored ones first: a derived format is made only when nothing stored will do."""
    listed = sorted(product.files, key=lambda k: k in product.derived)
    keys = [k for k in preferred if k in product.files]
    keys.sort(key=lambda k: k in product.derived)
    if not keys and not preferred:
        keys = listed
    if not keys:
        keys = [k for k in listed if k not in ("png",)] or listed
    return product_path(product, outdir, keys[0])
