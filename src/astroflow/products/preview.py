"""PNG previews of images, drawn without pyplot so no global figure state or GUI is touched."""

from __future__ import annotations

import io
import warnings
from typing import Any

_MAX_PIXELS = 1024  # larger planes are decimated: the preview is 600 px wide anyway


def render_image(data: Any, header: Any | None, unit: str | None, title: str) -> bytes:
    """A PNG of a 2-D image (first plane of a cube), on WCS axes when ``header`` has a WCS."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    plane = data
    while plane.ndim > 2:
        plane = plane[0]
    step = max(1, -(-max(plane.shape) // _MAX_PIXELS))  # ceil: at most _MAX_PIXELS per axis
    plane = np.asarray(plane[::step, ::step], dtype=float)
    finite = plane[np.isfinite(plane)]
    vmin, vmax = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5

    fig = Figure(figsize=(6, 5), dpi=100)
    FigureCanvasAgg(fig)
    wcs = _celestial_plane_wcs(header, step) if header is not None else None
    ax: Any = fig.add_subplot(projection=wcs) if wcs is not None else fig.add_subplot()
    im = ax.imshow(plane, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
                   interpolation="nearest")
    if wcs is not None:
        ax.coords[0].set_axislabel(_axis_label(wcs.wcs.ctype[0], "x"))
        ax.coords[1].set_axislabel(_axis_label(wcs.wcs.ctype[1], "y"))
    else:
        ax.set_xlabel("x [pixel]")
        ax.set_ylabel("y [pixel]")
    ax.set_title(title)
    bar = fig.colorbar(im, ax=ax)
    if unit:
        bar.set_label(unit)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # no bbox_inches="tight": that draws the figure twice
    return buf.getvalue()


_AXIS_NAMES = {"RA": "Right ascension", "DEC": "Declination", "GLON": "Galactic longitude",
               "GLAT": "Galactic latitude", "ELON": "Ecliptic longitude",
               "ELAT": "Ecliptic latitude"}


def _axis_label(ctype: str, fallback: str) -> str:
    """``RA---TAN`` → ``Right ascension``; unknown types keep their name without projection."""
    name = ctype.split("-", 1)[0].strip()
    return _AXIS_NAMES.get(name.upper(), name or fallback)


def _celestial_plane_wcs(header: Any, step: int) -> Any | None:
    """The WCS of the first two axes (every ``step``-th pixel), ``None`` when it is unusable."""
    from astropy.wcs import WCS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header)
            wcs = wcs.sub([1, 2]) if wcs.naxis > 2 else wcs
            return wcs.slice((slice(None, None, step),) * 2) if step > 1 else wcs
    except Exception:  # noqa: BLE001 - broken WCS keywords: fall back to pixel axes
        return None
