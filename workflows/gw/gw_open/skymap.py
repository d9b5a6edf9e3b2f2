"""Gravitational-wave sky maps: probability at a position, credible regions, pictures, images.

A :class:`SkyMap` wraps the multi-order (NUNIQ) table that ``ligo.skymap.io.read_sky_map(...,
moc=True)`` returns (a flat HEALPix map is converted to one). The pixels are sorted once by
descending probability density; the cumulative probability of that order gives the credible
level of every pixel (``ligo.skymap.postprocess.crossmatch``'s convention: a pixel's searched
probability includes the pixel itself), so a position's lookup is one ``searchsorted`` on the
pixels' NESTED index ranges at the finest order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from astropy.table import Table

from .errors import AnalysisError

SQDEG_PER_SR = (180.0 / math.pi) ** 2
FULL_SKY_DEG2 = 4 * math.pi * SQDEG_PER_SR


def _as_moc(table: Table) -> Table:
    """A multi-order table (UNIQ, PROBDENSITY per sr, distance layers) from either layout."""
    from ligo.skymap import moc

    if "UNIQ" in table.colnames and "PROBDENSITY" in table.colnames:
        return table
    if "PROB" not in table.colnames:
        raise AnalysisError(f"the sky map has neither PROBDENSITY nor PROB columns "
                            f"({table.colnames})")
    import astropy_healpix as ah

    npix = len(table)
    nside = ah.npix_to_nside(npix)
    order = int(round(math.log2(nside)))
    ipix = np.arange(npix)
    if not table.meta.get("nest", False):  # RING -> NESTED
        import healpy as hp

        ipix = hp.nest2ring(nside, ipix)
    out = Table(meta=dict(table.meta))
    out["UNIQ"] = moc.nest2uniq(np.int8(order), np.arange(npix, dtype=np.int64))
    out["PROBDENSITY"] = np.asarray(table["PROB"], float)[ipix] / ah.nside_to_pixel_area(
        nside).to_value("sr")
    for name in ("DISTMU", "DISTSIGMA", "DISTNORM"):
        if name in table.colnames:
            out[name] = np.asarray(table[name], float)[ipix]
    return out


@dataclass
class SkyMap:
    """A gravitational-wave sky map, multi-order (NUNIQ) table as read by ligo.skymap."""

    table: Table
    event: str
    gps: float
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from ligo.skymap import moc

        self.table = _as_moc(self.table)
        uniq = np.asarray(self.table["UNIQ"], dtype=np.int64)
        order, ipix = moc.uniq2nest(uniq)
        self.max_order = int(np.max(order))
        density = np.asarray(self.table["PROBDENSITY"], float)  # per sr
        area = moc.uniq2pixarea(uniq)  # sr
        by_density = np.argsort(-density, kind="stable")
        prob_sorted = (density * area)[by_density]
        self.total_probability = float(np.sum(prob_sorted))
        cum = np.cumsum(prob_sorted) / self.total_probability
        self._cum_area = np.cumsum(area[by_density]) * SQDEG_PER_SR
        self._cum_prob = cum
        level = np.empty_like(cum)
        level[by_density] = cum
        self._level = level               # searched probability of each pixel (row order)
        self._density_deg2 = density / SQDEG_PER_SR
        start = ipix.astype(np.int64) << (2 * (self.max_order - order)).astype(np.int64)
        by_start = np.argsort(start, kind="stable")
        self._starts = start[by_start]
        self._rows_by_start = by_start

    # -- lookups --------------------------------------------------------------------------
    def rows_at(self, ra_deg, dec_deg) -> np.ndarray:
        """Row indices of the pixels holding the positions (deg, arrays allowed)."""
        import healpy as hp

        nside = 1 << self.max_order
        pix = hp.ang2pix(nside, np.asarray(ra_deg, float), np.asarray(dec_deg, float),
                         nest=True, lonlat=True)
        k = np.searchsorted(self._starts, pix, side="right") - 1
        return self._rows_by_start[k]

    def density_at(self, ra_deg, dec_deg) -> np.ndarray:
        """Probability density per deg2 at the positions (vectorised)."""
        return self._density_deg2[self.rows_at(ra_deg, dec_deg)]

    def probability_at(self, ra_deg: float, dec_deg: float) -> tuple[float, float]:
        """(probability density per deg2 at the position, searched probability = smallest
        credible level containing it, in [0,1])."""
        if not (-90.0 <= float(dec_deg) <= 90.0):
            raise AnalysisError(f"DEC {dec_deg} is outside [-90, 90] deg")
        row = int(self.rows_at(float(ra_deg) % 360.0, float(dec_deg)))
        return float(self._density_deg2[row]), float(min(self._level[row], 1.0))

    def credible_area(self, level: float) -> float:
        """Area (deg2) of the smallest region holding `level` of the probability."""
        level = float(level)
        if not 0.0 <= level <= 1.0:
            raise AnalysisError(f"credible level {level} is outside [0, 1]")
        return float(np.interp(level, np.concatenate([[0.0], self._cum_prob]),
                               np.concatenate([[0.0], self._cum_area]),
                               right=FULL_SKY_DEG2))

    def flat(self, nside: int) -> Table:
        """The map rasterised to HEALPix NESTED at `nside` (``ligo.skymap.moc.rasterize``):
        PROB per pixel and the distance layers."""
        key = ("flat", int(nside))
        if key not in self._cache:
            import astropy_healpix as ah
            from ligo.skymap import moc

            order = int(round(math.log2(nside)))
            if 1 << order != int(nside):
                raise AnalysisError(f"nside {nside} is not a power of 2")
            flat = moc.rasterize(self.table, order=order)
            prob = np.asarray(flat["PROBDENSITY"], float) * ah.nside_to_pixel_area(
                nside).to_value("sr")
            out = Table({"PROB": prob / self.total_probability})
            names = flat.dtype.names if hasattr(flat, "dtype") else flat.colnames
            for name in ("DISTMU", "DISTSIGMA", "DISTNORM"):
                if name in names:
                    out[name] = np.asarray(flat[name], float)
            self._cache[key] = out
        return self._cache[key]

    def credible_pixels(self, level: float, nside: int) -> Table:
        """The pixels (HEALPix NESTED at `nside`) of the smallest region holding `level`
        probability: columns ipix, ra, dec (deg), prob (probability in the pixel, sums to
        ~level), and distmu, distsigma, distnorm (Mpc) when the map has distance layers;
        meta nside, order='nested', level, area_deg2."""
        import astropy_healpix as ah
        import healpy as hp

        level = float(level)
        if not 0.0 < level <= 1.0:
            raise AnalysisError(f"credible level {level} is outside (0, 1]")
        flat = self.flat(int(nside))
        prob = np.asarray(flat["PROB"])
        order = np.argsort(-prob, kind="stable")
        cum = np.cumsum(prob[order])
        n = int(min(np.searchsorted(cum, level, side="left") + 1, len(order)))
        ipix = np.sort(order[:n])
        ra, dec = hp.pix2ang(int(nside), ipix, nest=True, lonlat=True)
        out = Table({"ipix": ipix.astype(np.int64), "ra": ra, "dec": dec, "prob": prob[ipix]})
        out["ra"].unit = out["dec"].unit = "deg"
        for name in ("DISTMU", "DISTSIGMA", "DISTNORM"):
            if name in flat.colnames:
                out[name.lower()] = np.asarray(flat[name])[ipix]
        if "distmu" in out.colnames:
            out["distmu"].unit = out["distsigma"].unit = "Mpc"
            out["distnorm"].unit = "Mpc-2"
        pixel_area = ah.nside_to_pixel_area(int(nside)).to_value("deg2")
        out.meta.update({"nside": int(nside), "order": "nested", "level": level,
                         "area_deg2": float(n * pixel_area), "event": self.event})
        return out

    @property
    def distance(self) -> tuple[float, float] | None:
        """(DISTMEAN, DISTSTD) in Mpc from the header, or None."""
        mean, std = self.table.meta.get("distmean"), self.table.meta.get("diststd")
        if mean is None or std is None:
            return None
        return float(mean), float(std)

    @property
    def peak(self) -> tuple[float, float]:
        """(RA, Dec) deg of the pixel of highest density."""
        from ligo.skymap import moc

        row = int(np.argmax(self._density_deg2))
        theta, phi = moc.uniq2ang(np.asarray(self.table["UNIQ"][row:row + 1], dtype=np.int64))
        theta, phi = np.asarray(getattr(theta, "rad", theta)), np.asarray(getattr(phi, "rad", phi))
        return float(np.degrees(phi[0])) % 360.0, 90.0 - float(np.degrees(theta[0]))


def read_sky_map(path: str | Path, event: str = "", gps: float = math.nan) -> SkyMap:
    """Read a (multi-order or flat, optionally gzipped) FITS sky map."""
    from ligo.skymap.io import read_sky_map as read

    path = Path(path)
    try:
        table = read(str(path), moc=True)
    except FileNotFoundError:
        raise AnalysisError(f"sky map file {path} does not exist") from None
    except (OSError, ValueError, KeyError) as exc:
        raise AnalysisError(f"sky map file {path} is not a readable HEALPix FITS sky map "
                            f"({exc})") from exc
    event = event or str(table.meta.get("objid") or path.name.split(".")[0])
    if math.isnan(gps):
        gps = float(table.meta.get("gps_time", math.nan))
    sky = SkyMap(table, event, gps)
    sky.path = path  # type: ignore[attr-defined]
    return sky


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float, event: str, gps: float) -> SkyMap:
    return read_sky_map(path, event, gps)


def sky_map_for(event: str, archive=None) -> SkyMap:
    """The event's sky map, fetched through the archive (cached on disk and in memory)."""
    from .archive import current_archive

    archive = archive or current_archive()
    path, record = archive.sky_map_file(event)
    gps = float(record.get("gps", math.nan))
    sky = _cached(str(path), path.stat().st_mtime, str(record.get("name") or event), gps)
    return sky


# -- pictures and images ------------------------------------------------------------------

def wcs_image(sky: SkyMap, resolution: float = 0.5, source: str = ""):
    """The probability density (per deg2) on an all-sky Plate-Carree (CAR) grid in ICRS:
    a FITS ImageHDU with a celestial WCS, for image viewers."""
    from astropy.io import fits
    from astropy.wcs import WCS

    nx, ny = int(round(360.0 / resolution)), int(round(180.0 / resolution))
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---CAR", "DEC--CAR"]
    wcs.wcs.crval = [180.0, 0.0]
    wcs.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    wcs.wcs.cdelt = [-resolution, resolution]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    yy, xx = np.mgrid[0:ny, 0:nx]
    ra, dec = wcs.wcs_pix2world(xx, yy, 0)
    data = sky.density_at(np.mod(ra, 360.0).ravel(), np.clip(dec, -90, 90).ravel())
    header = wcs.to_header()
    header["BUNIT"] = ("deg-2", "probability per square degree")
    header["OBJECT"] = sky.event
    header["EXTNAME"] = "PROBDENSITY"
    if math.isfinite(sky.gps):
        header["GPSTIME"] = (sky.gps, "GPS time of the event")
    for level in (0.5, 0.9):
        header[f"AREA{int(level * 100)}"] = (round(sky.credible_area(level), 3),
                                             f"{int(level * 100)}% credible area (deg2)")
    if source:
        header["ORIGIN"] = source[:68]
    return fits.ImageHDU(data.reshape(ny, nx).astype(np.float32), header=header)


def mollweide_figure(sky: SkyMap, ra=None, dec=None, levels=(0.5, 0.9)):
    """An 'astro hours mollweide' picture of the map with its credible contours and the
    position (when given) marked."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import ligo.skymap.plot  # noqa: F401 - registers the projections
    import matplotlib.pyplot as plt
    from ligo.skymap.postprocess import find_greedy_credible_levels

    nside = 256 if sky.max_order >= 8 else max(64, 1 << sky.max_order)
    prob = np.asarray(sky.flat(nside)["PROB"])
    fig = plt.figure(figsize=(9.0, 5.4))
    ax = fig.add_subplot(projection="astro hours mollweide")
    ax.grid(True, lw=0.4, alpha=0.6)
    ax.imshow_hpx((prob, "ICRS"), nested=True, cmap="cylon")
    cls = 100.0 * find_greedy_credible_levels(prob)
    pct = sorted(100.0 * float(lv) for lv in levels)
    cs = ax.contour_hpx((cls, "ICRS"), nested=True, levels=pct, colors="k",
                        linewidths=[0.8 + 0.4 * i for i in range(len(pct))])
    labels = {lv: f"{lv:g}%" for lv in pct}
    ax.clabel(cs, fmt=labels, fontsize=7)
    text = [f"{int(p)}%: {sky.credible_area(p / 100):.0f} deg²" for p in pct]
    if ra is not None and dec is not None:
        density, searched = sky.probability_at(float(ra), float(dec))
        ax.plot(float(ra), float(dec), marker="*", ms=13, mec="k", mfc="cyan",
                transform=ax.get_transform("world"), ls="none",
                label=f"RA {float(ra):.2f}°, Dec {float(dec):.2f}°: searched prob. "
                      f"{searched:.3f}")
        ax.legend(loc="lower right", fontsize=7, bbox_to_anchor=(1.0, -0.18))
    title = f"{sky.event}: " + ", ".join(text)
    if sky.distance:
        title += f"; distance {sky.distance[0]:.0f} ± {sky.distance[1]:.0f} Mpc"
    ax.set_title(title, fontsize=9, pad=14)
    return fig
