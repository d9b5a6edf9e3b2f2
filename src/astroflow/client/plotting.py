"""Matplotlib drawings of products, close to what the portal shows.

Light curves and spectra are drawn from the server's preview figure: the server already
knows which columns are values, errors, bins and upper limits, so the client does not guess
again. Images are drawn on their world coordinates when the header has a celestial WCS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from astroflow.client.errors import ClientError

if TYPE_CHECKING:
    from astroflow.client.products import Product

_SKY_AXES = {"RA": "Right ascension", "DEC": "Declination", "GLON": "Galactic longitude",
             "GLAT": "Galactic latitude", "ELON": "Ecliptic longitude",
             "ELAT": "Ecliptic latitude"}
_MARKERS = {"triangle-down": "v", "triangle-up": "^", "circle": "o", "square": "s"}


def plot_product(product: Product, ax: Any = None, **kwargs: Any) -> Any:
    kind = product.type
    if kind == "image":
        return plot_image(product.to_astropy("fits"), product.title, ax=ax, **kwargs)
    if kind in ("lightcurve", "spectrum"):
        preview = product.preview()
        if preview.get("kind") == "plotly":
            return plot_figure(preview["figure"], ax=ax, **kwargs)
        return plot_table(product.to_astropy(), product.title, ax=ax, **kwargs)
    if kind == "table":
        return plot_table(product.to_astropy(), product.title, ax=ax, **kwargs)
    if kind == "picture":
        image = product.to_astropy()
        if isinstance(image, bytes | str):
            raise ClientError(f"picture {product.name!r} is not a raster image; save it instead")
        ax = ax or _axes()
        ax.imshow(image, **kwargs)
        ax.set_axis_off()
        return ax
    raise ClientError(f"a {kind} product ({product.name!r}) has nothing to plot; "
                      "use to_astropy() or save()")


def _axes(projection: Any = None) -> Any:
    import matplotlib.pyplot as plt

    fig = plt.figure()
    return fig.add_subplot(projection=projection)


def plot_image(hdu: Any, title: str, ax: Any = None, **kwargs: Any) -> Any:
    """The image's first plane, 0.5–99.5 percentile stretch, world axes when it has a WCS."""
    import numpy as np

    plane = np.asarray(hdu.data, dtype=float)
    while plane.ndim > 2:
        plane = plane[0]
    wcs = _celestial_wcs(hdu.header)
    if ax is None:
        ax = _axes(projection=wcs)
    if wcs is not None and hasattr(ax, "coords"):  # WCSAxes: name the sky axes in words
        for index, ctype in enumerate(list(wcs.wcs.ctype)[:2]):
            name = _SKY_AXES.get(ctype.split("-")[0].upper())
            if name:
                ax.coords[index].set_axislabel(name)
    finite = plane[np.isfinite(plane)]
    if finite.size and "vmin" not in kwargs and "norm" not in kwargs:
        low, high = np.percentile(finite, [0.5, 99.5])
        kwargs.update(vmin=low, vmax=high if high > low else low + 1)
    kwargs.setdefault("cmap", "viridis")
    shown = ax.imshow(plane, origin="lower", **kwargs)
    colorbar = ax.figure.colorbar(shown, ax=ax)
    if hdu.header.get("BUNIT"):
        colorbar.set_label(str(hdu.header["BUNIT"]))
    ax.set_title(title)
    return ax


def _celestial_wcs(header: Any) -> Any:
    import warnings

    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wcs = WCS(header)
        except Exception:  # noqa: BLE001 - a broken WCS: plain pixel axes
            return None
    return wcs.celestial if wcs.has_celestial else None


def plot_figure(figure: dict[str, Any], ax: Any = None, **kwargs: Any) -> Any:
    """Scatter traces of a Plotly figure (with error bars) on matplotlib axes."""
    import numpy as np

    ax = ax or _axes()
    for trace in figure.get("data", []):
        x = np.array(trace.get("x") or [], dtype=float)
        y = np.array(trace.get("y") or [], dtype=float)
        if not x.size:
            continue
        marker = trace.get("marker") or {}
        style = {"fmt": _MARKERS.get(marker.get("symbol", "circle"), "o"),
                 "color": marker.get("color"), "label": trace.get("name"),
                 "markersize": 4, "elinewidth": 1, "capsize": 0, **kwargs}
        ax.errorbar(x, y, xerr=_errors(trace.get("error_x")), yerr=_errors(trace.get("error_y")),
                    **style)
    layout = figure.get("layout") or {}
    for axis, setter, scale in (("xaxis", ax.set_xlabel, ax.set_xscale),
                                ("yaxis", ax.set_ylabel, ax.set_yscale)):
        spec = layout.get(axis) or {}
        setter(((spec.get("title") or {}).get("text")) or "")
        if spec.get("type") == "log":
            scale("log")
    title = (layout.get("title") or {}).get("text")
    if title:
        ax.set_title(title)
    if layout.get("showlegend"):
        ax.legend()
    return ax


def _errors(spec: dict[str, Any] | None) -> Any:
    import numpy as np

    if not spec or "array" not in spec:
        return None
    plus = np.array(spec["array"], dtype=float)
    minus = np.array(spec.get("arrayminus", spec["array"]), dtype=float)
    return np.nan_to_num(np.vstack([minus, plus]), nan=0.0)


def plot_table(table: Any, title: str, ax: Any = None, **kwargs: Any) -> Any:
    """The first numeric column against the second, labelled with their units."""
    columns = [name for name in table.colnames if _numeric(table[name])]
    if len(columns) < 2:
        raise ClientError(f"table {title!r} has fewer than two numeric columns to plot")
    x, y = columns[:2]
    ax = ax or _axes()
    ax.plot(_values(table[x]), _values(table[y]), kwargs.pop("fmt", "o"), **kwargs)
    ax.set_xlabel(_label(table[x], x))
    ax.set_ylabel(_label(table[y], y))
    ax.set_title(title)
    return ax


def _numeric(col: Any) -> bool:
    if col.__class__.__name__ == "Time":
        return True
    dtype = getattr(col, "dtype", None)
    return dtype is not None and dtype.kind in "iuf" and len(getattr(col, "shape", ())) == 1


def _values(col: Any) -> Any:
    import numpy as np

    if col.__class__.__name__ == "Time":
        return np.asarray(col.mjd, dtype=float)
    return np.ma.filled(np.ma.asarray(getattr(col, "value", col), dtype=float), np.nan)


def _label(col: Any, name: str) -> str:
    if col.__class__.__name__ == "Time":
        return f"{name} (MJD)"
    unit = getattr(col, "unit", None)
    return f"{name} [{unit}]" if unit else name
