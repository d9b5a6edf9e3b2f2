"""Images: arrays, FITS HDUs, NDData and FITS files become one FITS file with WCS, plus a PNG
(drawn on first download, see :mod:`astroflow.products.stored`).

The FITS file keeps every HDU the notebook gave (masks, uncertainties, extra planes); the
manifest records which HDU is the image so readers need not guess.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astroflow.products import atomic
from astroflow.products.model import Mismatch
from astroflow.products.values import (
    describe,
    is_hdulist,
    is_header,
    is_image_hdu,
    is_ndarray,
    is_nddata,
    is_quantity,
    is_wcs,
    isa,
)

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
_WCS_KEY = re.compile(
    r"^(WCSAXES|CTYPE\d|CRVAL\d|CRPIX\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|"
    r"PS\d_\d+|CNAME\d|CRDER\d|CSYER\d|RADESYS|RADECSYS|EQUINOX|EPOCH|LONPOLE|LATPOLE|"
    r"MJDREF|DATEREF|MJD-OBS|DATE-OBS|SPECSYS|RESTFRQ|RESTWAV)[A-Z]?$")


@dataclass
class ImageData:
    """An image ready to write: an HDUList (``index`` is the image HDU) or a FITS file."""

    hdul: Any = None
    index: int = 0
    source: Path | None = None


def is_fits_path(path: Path) -> bool:
    return path.name.lower().endswith(FITS_SUFFIXES)


def _image_hdu_ok(hdu: Any) -> bool:
    if not is_image_hdu(hdu):
        return False
    naxis = hdu.header.get("ZNAXIS", hdu.header.get("NAXIS", 0))
    return naxis in (2, 3)


def image_index(hdul: Any) -> int | None:
    """Index of the first HDU holding 2-D or 3-D image data, from headers only."""
    for index, hdu in enumerate(hdul):
        if _image_hdu_ok(hdu):
            return index
    return None


def fits_layout(path: Path) -> tuple[int | None, bool]:
    """``(image HDU index or None, has a table HDU)`` for a FITS file, reading headers only."""
    from astropy.io import fits

    from astroflow.products.values import is_table_hdu

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path) as hdul:
                return image_index(hdul), any(is_table_hdu(h) for h in hdul)
    except (OSError, ValueError) as exc:
        raise Mismatch(f"{path.name} is not a readable FITS file: {exc}") from exc


def to_image(value: Any) -> ImageData:
    """An :class:`ImageData` for an image-like value; :class:`Mismatch` says why not."""
    from astropy.io import fits

    if is_hdulist(value):
        index = image_index(value)
        if index is None:
            raise Mismatch("the FITS HDUList has no 2-D or 3-D image HDU")
        return ImageData(hdul=value, index=index)
    if is_image_hdu(value):
        if not _image_hdu_ok(value):
            raise Mismatch(f"the FITS HDU holds data of shape {_shape(value.data)}, "
                           "not a 2-D or 3-D image")
        if isinstance(value, fits.PrimaryHDU):
            return ImageData(hdul=fits.HDUList([value]))
        return ImageData(hdul=fits.HDUList([fits.PrimaryHDU(), value]), index=1)
    if is_nddata(value):
        return _from_nddata(value)
    if isinstance(value, tuple) and len(value) == 2 and (is_wcs(value[1]) or is_header(value[1])):
        header = value[1].to_header() if is_wcs(value[1]) else value[1].copy()
        return ImageData(hdul=fits.HDUList([_primary(value[0], header)]))
    if is_ndarray(value) or isinstance(value, list):
        return ImageData(hdul=fits.HDUList([_primary(value)]))
    raise Mismatch(f"{describe(value)} is not an image (expected a 2-D or 3-D array, a FITS "
                   "HDU or HDUList, NDData/CCDData, (array, WCS) or a FITS file)")


def _shape(data: Any) -> tuple:
    return tuple(getattr(data, "shape", ()) or ())


def _primary(data: Any, header: Any = None) -> Any:
    """A PrimaryHDU from array-like data, with BUNIT from a Quantity."""
    import numpy as np
    from astropy.io import fits

    unit = None
    if is_quantity(data):
        unit = data.unit
        data = data.value
    if isa(data, "numpy.ma", "MaskedArray"):
        data = np.ma.filled(data.astype(np.float64 if data.dtype.kind != "f" else data.dtype),
                            np.nan)
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise Mismatch(f"the image data is not a regular array: {exc}") from exc
    if array.ndim not in (2, 3):
        raise Mismatch(f"an image needs 2-D or 3-D data, got shape {array.shape}")
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    elif array.dtype.kind not in "iuf":
        raise Mismatch(f"image pixels must be numbers, got dtype {array.dtype}")
    hdu = fits.PrimaryHDU(array, header=header)
    if unit is not None:
        hdu.header["BUNIT"] = _fits_unit(unit)
    return hdu


def _fits_unit(unit: Any) -> str:
    try:
        return unit.to_string("fits")
    except (ValueError, TypeError):
        return unit.to_string()


def _from_nddata(value: Any) -> ImageData:
    from astropy.io import fits

    if isa(value, "astropy.nddata", "CCDData"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = value.to_hdu()
        if not _image_hdu_ok(hdul[0]):
            raise Mismatch(f"CCDData holds data of shape {_shape(value.data)}, not 2-D or 3-D")
        return ImageData(hdul=hdul)
    header = fits.Header()
    if is_wcs(value.wcs):
        header.update(value.wcs.to_header())
    hdu = _primary(value.data, header)
    if value.unit is not None:
        hdu.header["BUNIT"] = _fits_unit(value.unit)
    return ImageData(hdul=fits.HDUList([hdu]))


def wcs_cards(header: Any) -> dict[str, str]:
    """The WCS keywords of a header as strings (the manifest shows them without FITS)."""
    return {key: str(header[key]) for key in header if _WCS_KEY.match(key)}


def write_image(image: ImageData, fits_name: str, png_name: str, outdir: Path,
                title: str, *, lazy: bool = False
                ) -> tuple[dict[str, str], dict[str, Any], str | None]:
    """Write the FITS file and its PNG preview; returns ``(files, meta, unit)``.

    ``lazy``: the PNG is only named, and drawn from the FITS file on first download
    (:func:`image_png`, the same drawing).
    """
    from astroflow.products.preview import render_image

    fits_path = outdir / fits_name
    if image.source is not None:
        if image.source.resolve() != fits_path.resolve():
            atomic.copy_file(image.source, fits_path)
    else:
        def writer(tmp: Path) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image.hdul.writeto(tmp, output_verify="silentfix")

        atomic.write_with(fits_path, writer)

    files = {"fits": fits_name}
    with _opened(fits_path) as hdul:
        index = image.index if image.source is None else image_index(hdul)
        if index is None:
            raise Mismatch(f"{fits_name} has no 2-D or 3-D image HDU")
        hdu = hdul[index]
        header = hdu.header
        meta: dict[str, Any] = {"hdu": index, "shape": list(hdu.shape)}
        if len(hdul) > 1:
            meta["hdus"] = [h.name or str(i) for i, h in enumerate(hdul)]
        cards = wcs_cards(header)
        if cards:
            meta["wcs"] = cards
        unit = str(header["BUNIT"]).strip() if header.get("BUNIT") else None
        if unit:
            meta["unit"] = unit
        if lazy:
            files["png"] = png_name
            return files, meta, unit
        try:
            png = render_image(hdu.data, header if cards else None, unit, title)
        except Exception as exc:  # noqa: BLE001 - a preview is a convenience, not the product
            meta["preview_error"] = f"{type(exc).__name__}: {exc}"
        else:
            atomic.write_bytes(outdir / png_name, png)
            files["png"] = png_name
    return files, meta, unit


def image_png(path: Path, index: int, title: str) -> bytes:
    """The PNG picture of the image HDU ``index`` of a FITS file, as `write_image` draws it."""
    from astroflow.products.preview import render_image

    with _opened(path) as hdul:
        hdu = hdul[index]
        header = hdu.header
        unit = str(header["BUNIT"]).strip() if header.get("BUNIT") else None
        return render_image(hdu.data, header if wcs_cards(header) else None, unit, title)


@contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """The FITS file open, its warnings (non-standard cards) silenced."""
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdul:
            yield hdul


def load_image_hdu(path: Path, index: int) -> Any:
    """The image HDU of a written product, fully in memory (the file is closed)."""
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path, memmap=False) as hdul:
            hdu = hdul[index]
            _ = hdu.data  # load before the file closes
            return hdu
