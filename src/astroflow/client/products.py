"""A done job's products: download, save, read as astropy objects, plot."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from astroflow.client.decode import TABLE_LIKE, best_format, decode
from astroflow.client.errors import ClientError, ServerUnavailable

if TYPE_CHECKING:
    from astroflow.client.http import Http
    from astroflow.client.job import Job

_FILENAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)
_CHUNK = 1 << 16


class Product:
    """One product of a done job (``job.products["name"]``)."""

    def __init__(self, job: Job, record: dict[str, Any]) -> None:
        self.job = job
        self.record = record

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def type(self) -> str:
        """``scalar``, ``text``, ``table``, ``image``, ``lightcurve``, ``spectrum``,
        ``picture``, ``binary`` or ``file``."""
        return self.record.get("type", "file")

    @property
    def title(self) -> str:
        return self.record.get("title") or self.name

    @property
    def unit(self) -> str | None:
        return self.record.get("unit")

    @property
    def description(self) -> str | None:
        return self.record.get("description")

    @property
    def formats(self) -> list[str]:
        """Formats the server offers, the stored (primary) one first."""
        return list(self.record.get("formats") or [])

    @property
    def url(self) -> str:
        return self.record.get("url") or f"/api/v1/jobs/{self.job.id}/products/{self.name}"

    # -- bytes and files --------------------------------------------------------------------

    def download(self, format: str | None = None) -> bytes:
        """The product's file in ``format`` (default: its primary format) as bytes."""
        params = {"format": format} if format else None
        return self.job.client.http.request("GET", self.url, params=params).content

    def save(self, directory: str | Path = ".", format: str | None = None) -> Path:
        """Write the product into ``directory`` (created if needed); returns the file's path,
        named by the server (``table.fits``, ``image.png`` …)."""
        params = {"format": format} if format else None
        fallback = f"{self.name}.{format or (self.formats or ['bin'])[0]}"
        return save_download(self.job.client.http, self.url, params, directory, fallback)

    # -- Python objects ---------------------------------------------------------------------

    def to_astropy(self, format: str | None = None) -> Any:
        """The product as a Python object.

        Tables, light curves and spectra: ``astropy.table.Table`` with units (and ``Time``
        columns); images: the ``astropy.io.fits`` image HDU, its header carrying the WCS;
        scalars: a number, string or bool, a ``Quantity`` when it has a unit, a ``Time`` for
        times; text: ``str``; pictures: an RGB(A) array; binaries and files: ``bytes``.
        """
        fmt = format or best_format(self.type, self.formats)
        if fmt is None:
            raise ClientError(f"product {self.name!r} has no downloadable format")
        return decode(self.type, fmt, self.download(fmt))

    def to_ccddata(self) -> Any:
        """An image as ``astropy.nddata.CCDData`` with its WCS and unit (``BUNIT``)."""
        if self.type != "image":
            raise ClientError(f"product {self.name!r} is a {self.type}, not an image")
        import astropy.units as u
        from astropy.nddata import CCDData
        from astropy.wcs import WCS

        hdu = self.to_astropy("fits")
        unit = hdu.header.get("BUNIT") or self.unit or u.dimensionless_unscaled
        return CCDData(hdu.data, unit=unit, wcs=WCS(hdu.header), meta=hdu.header)

    def preview(self, **params: Any) -> dict[str, Any]:
        """What the portal draws for this product (Plotly figure, table page, …)."""
        return self.job.client.http.get_json(f"{self.url}/preview", params=params or None)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the product with matplotlib; returns the Axes.

        Images use their WCS for the axes; light curves and spectra show error bars and
        upper limits as the portal does; tables plot their first two numeric columns.
        """
        from astroflow.client.plotting import plot_product

        return plot_product(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        return f"<Product {self.name}: {self.type}{unit} ({', '.join(self.formats)})>"


def save_download(http: Http, url: str, params: dict[str, Any] | None, directory: str | Path,
                  fallback: str) -> Path:
    """Stream a file into ``directory`` under the server's name (``fallback`` without one).

    It is written under a temporary name and renamed, so a broken download never leaves
    half a file; a body that breaks off is fetched again, at most ``retry.attempts`` times.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    problem: Exception | None = None
    for _ in range(max(1, http.retry.attempts)):
        try:
            with http.stream("GET", url, params=params) as response:
                target = directory / _filename(response, fallback)
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
                try:
                    with os.fdopen(fd, "wb") as out:
                        for chunk in response.iter_bytes(_CHUNK):
                            out.write(chunk)
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                return target
        except (httpx.TransportError, httpx.StreamError) as exc:
            problem = exc
    raise ServerUnavailable(f"download of {url} kept breaking off: {problem}")


def _filename(response: httpx.Response, fallback: str) -> str:
    match = _FILENAME.search(response.headers.get("content-disposition", ""))
    name = Path(match.group(1).strip()).name if match else ""
    return name if name and not name.startswith(".") else fallback


class Products(Mapping[str, Product]):
    """A done job's products by name, in the order the notebook declares them."""

    def __init__(self, job: Job, records: list[dict[str, Any]]) -> None:
        self.job = job
        self._items = {r["name"]: Product(job, r) for r in records}

    def __getitem__(self, name: str) -> Product:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise KeyError(f"job {self.job.id} has no product {name!r} (it has: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def save_all(self, directory: str | Path = ".", format: str | None = None) -> list[Path]:
        """Save each product; ``format`` picks that format where a product offers it,
        ``"all"`` saves every format; by default each product's primary format."""
        paths = []
        for product in self._items.values():
            wanted: list[str | None]
            if format == "all":
                wanted = list(product.formats) or [None]
            elif format and format in product.formats:
                wanted = [format]
            else:
                wanted = [None]
            paths += [product.save(directory, f) for f in wanted]
        return paths

    def tables(self) -> dict[str, Any]:
        """Every table-like product read as an astropy Table."""
        return {n: p.to_astropy() for n, p in self._items.items() if p.type in TABLE_LIKE}

    def __repr__(self) -> str:
        return f"<Products of job {self.job.id[:8]}: {', '.join(self._items) or 'none'}>"
