"""Counts, excess and significance sky maps from GADF DL3 observations with gammapy.

Each observation is reduced on its own (``MapDatasetMaker`` counts and background,
``SafeMaskMaker`` offset cut, ``FoVBackgroundMaker`` scaling the background template to the
counts outside the exclusion mask) on the analysis geometry: the requested map plus a margin
holding the ring and the correlation circle, so pixels at the map's edge see a full ring.
The reduced datasets are cached on disk (one file per observation, keyed by everything that
changes it) because the reduction is what costs time; a warm request only reads and stacks.
On the stacked image the background is either the FoV-normalised template ("fov") or a ring
around each pixel ("ring", ``RingBackgroundMaker``, the template as acceptance), and
``ExcessMapEstimator`` gives correlated counts, background, excess and Li & Ma significance.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import astropy.units as u
import gammapy
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from gammapy.data import DataStore
from gammapy.datasets import MapDataset, MapDatasetOnOff
from gammapy.estimators import ExcessMapEstimator
from gammapy.estimators.utils import find_peaks
from gammapy.makers import (
    FoVBackgroundMaker,
    MapDatasetMaker,
    RingBackgroundMaker,
    SafeMaskMaker,
)
from gammapy.maps import Map, MapAxis, WcsGeom, WcsNDMap
from regions import CircleSkyRegion

from .errors import AnalysisError
from .exclusion import exclusion_regions, known_sources
from .selection import Selection

#: Changes whenever the reduction changes what a cached dataset holds (part of the cache key).
CODE_VERSION = "skymap-2"

MAX_WIDTH = 6.0  # deg: beyond the H.E.S.S. field of view a map is mostly empty
MIN_BINSZ, MAX_BINSZ = 0.005, 0.2  # deg: below the PSF's sampling need / above its size
MAX_PIXELS = 250_000  # of the requested map: 500 x 500, a few seconds of reduction
MAX_CORRELATION_RADIUS = 1.0  # deg
ENERGY_RANGE = (0.05, 200.0)  # TeV: what the H.E.S.S. IRFs cover
BINS_PER_DECADE = 4  # reconstructed energy bins: the FoV norm and images sum over them
BACKGROUNDS = ("ring", "fov")

#: The analysis margin (deg) grows in these steps (see `MapSettings.margin_pixels`).
MARGIN_STEP = 0.25


@dataclass(frozen=True)
class MapSettings:
    """What a sky map asks for; `check` says which parameter is wrong and why."""

    position: SkyCoord
    width: float = 2.0  # deg, side of the square map
    binsz: float = 0.02  # deg, pixel size
    energy_min: float = 1.0  # TeV
    energy_max: float = 10.0  # TeV
    background: str = "ring"
    correlation_radius: float = 0.1  # deg
    ring_inner_radius: float = 0.5  # deg
    ring_width: float = 0.3  # deg
    exclusion_radius: float = 0.3  # deg, around the target
    offset_max: float = 2.5  # deg, safe mask: events beyond it sit at the camera's edge

    def check(self) -> None:
        if not 0 < self.width <= MAX_WIDTH:
            raise AnalysisError(f"map width {self.width:g} deg must be in (0, {MAX_WIDTH:g}] deg")
        if not MIN_BINSZ <= self.binsz <= MAX_BINSZ:
            raise AnalysisError(f"pixel size {self.binsz:g} deg must be in "
                                f"[{MIN_BINSZ:g}, {MAX_BINSZ:g}] deg")
        if self.npix ** 2 > MAX_PIXELS:
            raise AnalysisError(
                f"pixel size {self.binsz:g} deg is too small for a {self.width:g} deg map: "
                f"{self.npix} x {self.npix} pixels exceed the limit of {MAX_PIXELS:,}; "
                f"use a pixel size of at least {self.width / math.sqrt(MAX_PIXELS):.3f} deg")
        if self.binsz > self.width:
            raise AnalysisError(f"pixel size {self.binsz:g} deg is larger than the map width "
                                f"{self.width:g} deg")
        if not self.energy_min < self.energy_max:
            raise AnalysisError(f"E_min ({self.energy_min:g} TeV) must be below E_max "
                                f"({self.energy_max:g} TeV)")
        low, high = ENERGY_RANGE
        if self.energy_min < low or self.energy_max > high:
            raise AnalysisError(f"energy range E_min-E_max must lie within {low:g}-{high:g} TeV "
                                f"(got {self.energy_min:g}-{self.energy_max:g} TeV)")
        if self.background not in BACKGROUNDS:
            raise AnalysisError(f"background method '{self.background}' is not one of "
                                f"{', '.join(BACKGROUNDS)}")
        if not self.binsz <= self.correlation_radius <= MAX_CORRELATION_RADIUS:
            raise AnalysisError(f"correlation radius {self.correlation_radius:g} deg must be in "
                                f"[pixel size {self.binsz:g}, {MAX_CORRELATION_RADIUS:g}] deg "
                                "(a smaller circle holds no pixel)")
        if self.background == "ring":
            if not self.ring_inner_radius > self.correlation_radius:
                raise AnalysisError(
                    f"ring inner radius {self.ring_inner_radius:g} deg must exceed the "
                    f"correlation radius {self.correlation_radius:g} deg (the ring would "
                    "overlap the on-region)")
            if not self.ring_width >= self.binsz:
                raise AnalysisError(f"ring width {self.ring_width:g} deg must be at least one "
                                    f"pixel ({self.binsz:g} deg)")
            if self.ring_inner_radius + self.ring_width > 2.0:
                raise AnalysisError("ring inner radius + ring width must not exceed 2 deg "
                                    "(the ring would leave the field of view)")
        if not 0 < self.exclusion_radius <= 2.0:
            raise AnalysisError(f"exclusion radius {self.exclusion_radius:g} deg must be in "
                                "(0, 2] deg")

    @property
    def npix(self) -> int:
        return max(1, int(round(self.width / self.binsz)))

    @property
    def margin_pixels(self) -> int:
        """Pixels added on each side so the map's edge pixels see their whole ring/circle.

        The margin is rounded up to `MARGIN_STEP`: the reduced observations are cached per
        geometry, and a request that only changes the correlation radius (or the ring by a
        little) must find them, not reduce again (it did for every other radius: 2.3 s
        instead of 1.1 s warm).
        """
        margin = self.correlation_radius + self.binsz
        if self.background == "ring":
            margin += self.ring_inner_radius + self.ring_width
        margin = math.ceil(round(margin / MARGIN_STEP, 9)) * MARGIN_STEP
        return int(math.ceil(round(margin / self.binsz, 9)))

    @property
    def energy_axis(self) -> MapAxis:
        decades = math.log10(self.energy_max / self.energy_min)
        nbin = max(1, int(math.ceil(BINS_PER_DECADE * decades)))
        return MapAxis.from_energy_bounds(self.energy_min, self.energy_max, nbin, unit="TeV")

    def analysis_geom(self) -> WcsGeom:
        """The requested map grown by the margin, with the energy axis."""
        npix = self.npix + 2 * self.margin_pixels
        return WcsGeom.create(skydir=self.position.icrs, binsz=self.binsz, npix=(npix, npix),
                              frame="icrs", proj="CAR", axes=[self.energy_axis])

    def excluded(self, known: list[CircleSkyRegion]) -> list[CircleSkyRegion]:
        """The circles kept out of the background: the `known` ones reaching into the
        analysis geometry, and the target's."""
        reach = (self.npix + 2 * self.margin_pixels) * self.binsz / math.sqrt(2)
        near = [r for r in known if r.center.separation(self.position).deg
                < reach + r.radius.to_value(u.deg)]
        return near + [CircleSkyRegion(self.position.icrs, self.exclusion_radius * u.deg)]


def exclusion_mask(geom: WcsGeom, regions: list[CircleSkyRegion]) -> WcsNDMap:
    """True where a pixel may measure the background (outside every excluded circle)."""
    return geom.to_image().region_mask(regions, inside=False)


# --------------------------------------------------------------------------------------------
# The per-observation reduction and its cache


def reduce_observation(observation, geom: WcsGeom, settings: MapSettings,
                       exclusion: WcsNDMap) -> MapDataset:
    """Counts and FoV-normalised background of one observation on `geom`, safe-masked,
    summed over energy.

    The background norm is folded into the background map, so the dataset stands on its own
    (written to and read from the cache without its models). Maps need only the energy sum
    (the norm is fitted over all bins first, and the safe mask is the same in every bin):
    the sum is what is kept, a fraction of the cube's size.
    """
    reference = MapDataset(counts=Map.from_geom(geom), name=f"obs-{observation.obs_id}")
    maker = MapDatasetMaker(selection=["counts", "background"])
    safe = SafeMaskMaker(methods=["offset-max"], offset_max=settings.offset_max * u.deg)
    # The exclusion goes in as the fit mask, already on the dataset's grid: given as
    # `exclusion_mask`, the maker would interpolate it onto that same grid (a third of the
    # reduction's time) to the same values.
    fov = FoVBackgroundMaker(method="scale")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = maker.run(reference, observation)
        dataset = safe.run(dataset, observation)
        dataset.mask_fit = Map.from_geom(geom, data=np.broadcast_to(
            exclusion.data, geom.data_shape), dtype=bool)
        dataset = fov.run(dataset)
    norm = float(dataset.background_model.spectral_model.norm.value)
    reduced = MapDataset(counts=dataset.counts, background=dataset.npred_background(),
                         mask_safe=dataset.mask_safe, gti=dataset.gti,
                         name=dataset.name, meta_table=dataset.meta_table)
    image = reduced.to_image()
    image.meta_table = reduced.meta_table
    image.meta_table["BKG_NORM"] = [norm]
    return image


@lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def release_identity(store: DataStore) -> str:
    """Digest of the release's indexes: a regenerated or replaced release gets new keys."""
    parts = []
    for name in ("obs-index.fits.gz", "hdu-index.fits.gz", "obs-index.fits", "hdu-index.fits"):
        path = Path(store.hdu_table.base_dir) / name
        if path.is_file():
            stat = path.stat()
            parts.append(_file_digest(str(path), stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _events_stamp(store: DataStore, obs_id: int) -> list:
    """Size and modification time of the observation's file: a rewritten file is a new key."""
    path = store.hdu_table.hdu_location(obs_id, hdu_type="events").path()
    stat = Path(path).stat()
    return [stat.st_size, stat.st_mtime_ns]


def cache_key(release: str, store: DataStore, obs_id: int, geom: WcsGeom,
              settings: MapSettings, regions: list[CircleSkyRegion]) -> str:
    """Everything a reduced dataset depends on, hashed."""
    spec = {
        "code": CODE_VERSION, "gammapy": gammapy.__version__, "release": release,
        "obs_id": int(obs_id), "file": _events_stamp(store, obs_id),
        "wcs": {k: str(v) for k, v in geom.wcs.to_header().items()},
        "npix": [int(n) for n in np.ravel(geom.npix)],
        "energy_edges": [round(float(e), 9) for e in geom.axes["energy"].edges.to_value("TeV")],
        "offset_max": settings.offset_max,
        "exclusion": sorted([round(r.center.ra.deg, 6), round(r.center.dec.deg, 6),
                             round(r.radius.to_value(u.deg), 6)] for r in regions),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


class ReductionCache:
    """Reduced per-observation datasets on disk, one FITS file per key.

    Writes go to a temporary file in the same folder and are renamed into place, so a reader
    sees a whole file or none, and two jobs writing the same key at once both succeed.
    """

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None

    def path(self, key: str) -> Path:
        return self.root / f"{key}.fits"

    def load(self, key: str) -> MapDataset | None:
        if self.root is None or not self.path(key).is_file():
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return MapDataset.read(self.path(key), name=key[:12])
        except (OSError, ValueError, KeyError):  # an unreadable file is recomputed and replaced
            return None

    def store(self, key: str, dataset: MapDataset) -> None:
        """Keep `dataset` for the next request; a cache that cannot be written costs the next
        request its speed, never this one its answer."""
        if self.root is None:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".fits", dir=self.root)
        except OSError as exc:
            warnings.warn(f"reduced observation not cached ({exc})", stacklevel=2)
            return
        os.close(handle)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset.write(tmp, overwrite=True)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the entry from other users' jobs
            os.replace(tmp, self.path(key))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def default_cache_dir() -> Path:
    """The workflow's own cache folder when astroflow gives one (`$ASTROFLOW_CACHE_DIR`, the
    folder a sandboxed run may write), else `$ASTROFLOW_DATA_DIR/hess/cache/maps`."""
    if os.environ.get("ASTROFLOW_CACHE_DIR"):
        return Path(os.environ["ASTROFLOW_CACHE_DIR"]) / "hess-maps"
    from astroflow.datadir import default_data_dir

    return default_data_dir() / "hess" / "cache" / "maps"


# --------------------------------------------------------------------------------------------
# Maps


@dataclass
class SkyMaps:
    """The maps of one request on the requested geometry, and how they were made."""

    settings: MapSettings
    selection: Selection
    significance: WcsNDMap  # Li & Ma, signed sqrt(TS), in the correlation circle
    counts: WcsNDMap  # counts in the correlation circle
    background: WcsNDMap  # background in the correlation circle
    excess: WcsNDMap  # counts - background
    exclusion: WcsNDMap  # True where the background was measured
    regions: list[CircleSkyRegion]  # the excluded circles
    observations: Table  # per observation: obs_id, livetime, background norm, from cache
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def max_significance(self) -> float:
        values = self.significance.data[np.isfinite(self.significance.data)]
        return float(values.max()) if values.size else float("nan")

    def value_at(self, name: str, position: SkyCoord) -> float:
        return float(getattr(self, name).get_by_coord({"skycoord": position})[0])

    def hotspots(self, threshold: float = 5.0) -> Table:
        """Local maxima of the significance above `threshold`, at least a correlation
        diameter apart, with their excess and the nearest known source."""
        image = self.significance.copy(data=np.nan_to_num(self.significance.data, nan=-1e3))
        distance = max(2 * self.settings.correlation_radius, 2 * self.settings.binsz) * u.deg
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            peaks = find_peaks(image, threshold=threshold, min_distance=distance)
        table = Table(names=["ra", "dec", "significance", "excess", "counts", "background",
                             "offset", "nearest_known", "known_separation"],
                      dtype=[float, float, float, float, float, float, float, "U40", float])
        for peak in peaks:
            x, y = int(peak["x"]), int(peak["y"])
            where = SkyCoord(float(peak["ra"]), float(peak["dec"]), unit="deg")
            nearest = nearest_known(where)
            table.add_row([where.ra.deg, where.dec.deg, float(self.significance.data[y, x]),
                           float(self.excess.data[y, x]), float(self.counts.data[y, x]),
                           float(self.background.data[y, x]),
                           where.separation(self.settings.position).deg,
                           nearest[0], nearest[1]])
        for name in ("ra", "dec", "offset", "known_separation"):
            table[name].unit = u.deg
        for name in ("excess", "counts", "background"):
            table[name].unit = u.ct
        table.meta["threshold"] = threshold
        table.meta["correlation_radius_deg"] = self.settings.correlation_radius
        return table

    def to_hdulist(self, *, object_name: str = "", attribution: str = "",
                   release_title: str = "") -> fits.HDUList:
        """Significance as primary image, then COUNTS, BACKGROUND, EXCESS, SQRT_TS; each with
        the celestial WCS and BUNIT; the data's attribution in ORIGIN/COMMENT."""
        s = self.settings
        wcs_header = self.significance.geom.wcs.to_header()
        cards = {
            "OBJECT": (object_name, "requested target"),
            "RA_OBJ": (s.position.icrs.ra.deg, "[deg] map centre"),
            "DEC_OBJ": (s.position.icrs.dec.deg, "[deg] map centre"),
            "E_MIN": (s.energy_min, "[TeV] reconstructed energy, lower bound"),
            "E_MAX": (s.energy_max, "[TeV] reconstructed energy, upper bound"),
            "BKGMETH": (s.background, "background: ring or fov (FoV template)"),
            "CORRRAD": (s.correlation_radius, "[deg] correlation (on-region) radius"),
            "NOBS": (len(self.selection.obs_ids), "observations stacked"),
            "LIVETIME": (round(float(self.selection.livetime.to_value(u.h)), 4),
                         "[h] livetime of the observations"),
            "ORIGIN": ("astroflow hess sky map", "gammapy " + gammapy.__version__),
        }
        if s.background == "ring":
            cards["RING_RIN"] = (s.ring_inner_radius, "[deg] ring inner radius")
            cards["RING_WID"] = (s.ring_width, "[deg] ring width")

        def header(extname: str, bunit: str, what: str) -> fits.Header:
            h = fits.Header()
            h.update(wcs_header)
            h["BUNIT"] = (bunit, what)
            for key, value in cards.items():
                h[key] = value
            if release_title:
                h["RELEASE"] = release_title[:68]
            if attribution:
                for start in range(0, len(attribution), 68):
                    h.add_comment(attribution[start:start + 68])
            if extname:
                h["EXTNAME"] = extname
            else:  # provenance once, in the primary header
                ids = " ".join(map(str, self.selection.obs_ids))
                for start in range(0, len(ids), 60):
                    h.add_history("obs_ids: " + ids[start:start + 60])
                h.add_history("excluded from background: " + "; ".join(
                    f"({r.center.ra.deg:.3f}, {r.center.dec.deg:.3f}) r={r.radius.to_value(u.deg):.2f}"
                    for r in self.regions)[:3000])
            return h

        def data(m: WcsNDMap) -> np.ndarray:
            return np.asarray(m.data, dtype=np.float32)

        significance = "Li & Ma significance (signed sqrt TS), Gaussian sigma"
        return fits.HDUList([
            fits.PrimaryHDU(data(self.significance), header(
                "", "", significance)),
            fits.ImageHDU(data(self.counts), header("COUNTS", "count",
                                                    "counts in the correlation circle")),
            fits.ImageHDU(data(self.background), header("BACKGROUND", "count",
                                                         "background in the correlation circle")),
            fits.ImageHDU(data(self.excess), header("EXCESS", "count",
                                                    "excess counts in the correlation circle")),
            fits.ImageHDU(data(self.significance), header("SQRT_TS", "", significance)),
        ])


def nearest_known(where: SkyCoord, within: float = 1.0) -> tuple[str, float]:
    """Name and distance (deg) of the closest known source within `within` deg, or ("", nan)."""
    table = known_sources()
    separation = SkyCoord(table["ra"].quantity, table["dec"].quantity).separation(where).deg
    best = int(np.argmin(separation))
    if separation[best] > within:
        return "", float("nan")
    return str(table["name"][best]), float(separation[best])


def stacked_dataset(selection: Selection, settings: MapSettings, regions: list[CircleSkyRegion],
                    *, cache: ReductionCache, progress: Callable[[float], None] | None = None
                    ) -> tuple[MapDataset, Table]:
    """The selected observations reduced (or read from the cache) and stacked."""
    geom = settings.analysis_geom()
    exclusion = exclusion_mask(geom, regions)
    store = selection.data_store
    release = release_identity(store)
    rows: list[tuple] = []
    stacked: MapDataset | None = None  # stacked as they come: one dataset in memory
    for number, obs_id in enumerate(selection.obs_ids):
        key = cache_key(release, store, obs_id, geom, settings, regions)
        dataset = cache.load(key)
        cached = dataset is not None
        if dataset is None:
            dataset = reduce_observation(store.obs(obs_id), geom, settings, exclusion)
            cache.store(key, dataset)
        norm = float(dataset.meta_table["BKG_NORM"][0]) if dataset.meta_table is not None \
            and "BKG_NORM" in dataset.meta_table.colnames else float("nan")
        used = bool(dataset.mask_safe.data.any())
        rows.append((obs_id, float(dataset.gti.time_sum.to_value(u.s)), norm, used, cached))
        if used:
            if stacked is None:  # stack() masks only the dataset it adds: mask the first
                stacked = dataset.to_masked(name="stacked")
            else:
                stacked.stack(dataset)
        if progress is not None:
            progress((number + 1) / len(selection.obs_ids))
    table = Table(rows=rows, names=["obs_id", "gti_duration", "background_norm", "used",
                                    "from_cache"],
                  dtype=[int, float, float, bool, bool])
    table["gti_duration"].unit = u.s
    if stacked is None:
        raise AnalysisError(
            f"none of the {len(selection.obs_ids)} selected observations "
            f"({', '.join(map(str, selection.obs_ids[:10]))}) covers the map within "
            f"{settings.offset_max:g} deg of its pointing in {settings.energy_min:g}-"
            f"{settings.energy_max:g} TeV; move the position, widen the energy range or "
            "raise max offset")
    if not stacked.counts.data[stacked.mask_safe.data].any():
        raise AnalysisError(
            f"the {len(selection.obs_ids)} selected observations hold no event in "
            f"E_min-E_max {settings.energy_min:g}-{settings.energy_max:g} TeV within the "
            "map; widen the energy range or the map")
    return stacked, table


def _crop(m: WcsNDMap, margin: int, npix: int) -> WcsNDMap:
    """The central npix x npix pixels of an image, with its WCS shifted to match."""
    window = (slice(margin, margin + npix), slice(margin, margin + npix))
    wcs = m.geom.wcs[window]
    geom = WcsGeom(wcs=wcs, npix=(npix, npix))
    return WcsNDMap(geom, data=np.array(m.data[window]), unit=m.unit)


def estimate_maps(stacked: MapDataset, settings: MapSettings, regions: list[CircleSkyRegion]
                  ) -> dict[str, WcsNDMap]:
    """Correlated counts, background, excess and significance on the analysis geometry."""
    image = stacked.to_image()
    exclusion = exclusion_mask(image.counts.geom, regions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if settings.background == "ring":
            ring = RingBackgroundMaker(r_in=settings.ring_inner_radius * u.deg,
                                       width=settings.ring_width * u.deg,
                                       exclusion_mask=exclusion)
            dataset: MapDataset | MapDatasetOnOff = ring.run(image)
        else:
            dataset = image
        # The ring's OFF counts are already summed over each pixel's ring: correlating them
        # again (the estimator's default) counts every OFF event many times and inflates the
        # significance (gammapy issue #5245); alpha is then on-circle over ring acceptance.
        estimator = ExcessMapEstimator(settings.correlation_radius * u.deg,
                                       selection_optional=[], correlate_off=False)
        result = estimator.run(dataset)
    counts = result["counts"].reduce_over_axes()
    excess = result["npred_excess"].reduce_over_axes()
    background = counts.copy(data=counts.data - excess.data)
    significance = result["sqrt_ts"].reduce_over_axes()
    outside = ~image.mask_safe.reduce_over_axes(func=np.logical_or).data
    maps = {"significance": significance, "counts": counts, "background": background,
            "excess": excess}
    for m in maps.values():
        m.data = np.where(outside, np.nan, m.data.astype(float))
    maps["exclusion"] = exclusion
    return maps


def release_exclusion(selection: Selection) -> list[CircleSkyRegion]:
    """Known sources, plus a synthetic release's injected ones (hess_dl3.exclusion)."""
    return exclusion_regions(Path(selection.data_store.hdu_table.base_dir))


def sky_maps(selection: Selection, settings: MapSettings, *, cache_dir: Path | None = None,
             use_cache: bool = True,
             progress: Callable[[float], None] | None = None) -> SkyMaps:
    """The sky maps of the selected observations (reduced, cached, stacked, estimated)."""
    settings.check()
    started = time.perf_counter()
    cache = ReductionCache((cache_dir or default_cache_dir()) if use_cache else None)
    regions = settings.excluded(release_exclusion(selection))
    stacked, observations = stacked_dataset(selection, settings, regions, cache=cache,
                                            progress=progress)
    reduced = time.perf_counter()
    maps = estimate_maps(stacked, settings, regions)
    margin, npix = settings.margin_pixels, settings.npix
    cropped = {name: _crop(m, margin, npix) for name, m in maps.items()}
    if not np.isfinite(cropped["significance"].data).any():
        raise AnalysisError("the selected observations give no significance inside the map "
                            f"in {settings.energy_min:g}-{settings.energy_max:g} TeV "
                            "(no counts or background there); widen the energy range or the map")
    done = time.perf_counter()
    return SkyMaps(settings=settings, selection=selection, observations=observations,
                   regions=regions, timings={"reduce": reduced - started, "estimate": done - reduced},
                   **cropped)
