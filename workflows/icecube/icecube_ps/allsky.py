"""Full-sky scan: IceCube's all-sky search on a HEALPix grid.

1. **Map.** n_s and gamma are fitted (`PointSourceAnalysis.fit(ra, dec, gamma=None)`) at
   the centre of every pixel of a HEALPix grid (RING ordering, ICRS), nside 64 by default
   (49,152 pixels, 0.92 deg apart). The pixels are cut into independent chunks,
   `scan_chunk(analysis, pixels, nside)`, run over processes forked after the analysis was
   built (its arrays are shared copy-on-write), or by any executor with ``submit`` (e.g. a
   Dask client: `Pool(executor=...)`). A pixel where the score at n_s = 0 is <= 0 for every
   index costs one node scan (the fit's own early exit, TS = 0).
2. **Hotspots.** Local maxima of the map (TS >= that of the 8 neighbouring pixels and >=
   `HotspotSearch.ts_threshold`), taken per declination band (north / south of the
   release's selection boundary, delta = -5 deg, searched separately as IceCube does),
   hottest first, at least `min_separation_deg` apart, at most `max_per_band` per band.
   Each is refined: fits at the centres of the nside x `refine_factor` pixels (256 for a
   64 map) within one coarse pixel size of it, then a Nelder-Mead climb from the best one
   (steps down to 0.005 deg). Refined spots closer than the separation are merged.
3. **p-values.** Local (pre-trial): asymptotic, 1/2 chi2_1 + 1/2 chi2_2 (n_s and gamma
   free), or, with `local_trials`, from RA-scrambled trials at the spot
   (`limits.trial_p_value`), each labelled. Post-trial: `post_trials` RA-scrambled copies
   of the whole release (every event a new uniform RA; the background PDFs depend on
   declination only, so they stay the same) are scanned by exactly the same procedure
   (same nside, same hotspot search and refinement, same bands) and give the hottest TS
   per band of each background sky. Two estimates per spot, both in the table:
   ``p_post`` = 1 - (1 - p_asym)^N_eff, the effective-trials method, N_eff fitted by
   maximum likelihood to the asymptotic local p-values of the scans' hottest spots
   (N_eff = n / sum(-ln(1 - p_j)), error N_eff / sqrt(n)); and ``p_post_scans`` = (k + 1)
   / (n + 1), the plain fraction of scans whose hottest spot in the band reaches the
   observed TS (exact, but never below 1 / (n + 1)). Because p_asym is a monotonic
   function of TS, the effective-trials form only interpolates / extrapolates the measured
   distribution of the hottest TS; its miscalibration as a local p-value is absorbed into
   N_eff. Without scans (post_trials = 0) p_post is NaN.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import limits
from .binning import SELECTION_BOUNDARY_DEG
from .errors import AnalysisError
from .likelihood import PointSourceAnalysis
from .release import Release, prepare
from .sky import angular_distance, offset

DEFAULT_NSIDE = 64
ORDERING = "RING"
# Declination bands searched (and trial-corrected) separately: (name, lower, upper) [deg],
# lower <= dec < upper. Split at the release's selection boundary (up-going tracks north of
# it, bright down-going ones south of it); the polar caps, where the background PDFs rest
# on few events and an RA scramble hardly changes the sky, are mapped but not searched.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("north", SELECTION_BOUNDARY_DEG, 85.0), ("south", -85.0, SELECTION_BOUNDARY_DEG))
P_LOCAL_ASYMPTOTIC = "asymptotic (1/2 chi2_1 + 1/2 chi2_2)"
Progress = Callable[..., None]


# ----- HEALPix grid -------------------------------------------------------------------------
def _healpix(nside: int):
    from astropy_healpix import HEALPix

    if nside < 1 or nside & (nside - 1):
        raise AnalysisError(f"nside {nside} is not a power of two")
    return HEALPix(nside=nside, order=ORDERING.lower())


def n_pixels(nside: int) -> int:
    return 12 * nside * nside


def resolution_deg(nside: int) -> float:
    """Square root of a pixel's area [deg] (0.92 deg at nside 64)."""
    return math.degrees(math.sqrt(4.0 * math.pi / n_pixels(nside)))


def pixel_centres(nside: int, pixels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(RA, Dec) [deg, ICRS] of pixel centres (all of them when `pixels` is None)."""
    from astropy import units as u

    hp = _healpix(nside)
    idx = np.arange(hp.npix) if pixels is None else np.asarray(pixels, dtype=np.int64)
    lon, lat = hp.healpix_to_lonlat(idx)
    return lon.to_value(u.deg), lat.to_value(u.deg)


def pixel_chunks(npix: int, chunk_size: int) -> list[np.ndarray]:
    """Consecutive pixel ranges (iso-latitude rings: neighbouring events in memory)."""
    n = max(1, math.ceil(npix / max(int(chunk_size), 1)))
    return np.array_split(np.arange(npix, dtype=np.int64), n)


# ----- the unit of work ---------------------------------------------------------------------
def fit_positions(analysis: PointSourceAnalysis, ra: np.ndarray, dec: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TS, n_s, gamma) of the (n_s, gamma) fit at each position; gamma is NaN where
    n_s = 0 (undefined)."""
    ts = np.zeros(len(ra))
    ns = np.zeros(len(ra))
    gamma = np.full(len(ra), np.nan)
    for k, (r, d) in enumerate(zip(ra, dec, strict=True)):
        res = analysis.fit(float(r), float(d), None)
        ts[k] = res.ts
        ns[k] = res.ns
        if res.ns > 0.0:
            gamma[k] = res.gamma
    return ts, ns, gamma


def scan_chunk(analysis: PointSourceAnalysis, pixel_indices: np.ndarray,
               nside: int = DEFAULT_NSIDE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TS, n_s, gamma) at the centres of these pixels: one independent piece of a map."""
    ra, dec = pixel_centres(nside, pixel_indices)
    return fit_positions(analysis, ra, dec)


# ----- processes ----------------------------------------------------------------------------
_SHARED: dict[int, Any] = {}


def available_cores() -> int:
    with contextlib.suppress(AttributeError, OSError):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def peak_rss_mb() -> float:
    """Peak resident memory of this process [MB] (VmHWM; ru_maxrss where /proc is absent)."""
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def warm_up(analysis: PointSourceAnalysis, n: int = 120) -> None:
    """Fit once at `n` declinations evenly spaced in sin(dec): what the analysis builds
    lazily per declination band on first use (signal yields, PSF containment, ...) is then
    built here, once, and shared by the workers forked afterwards instead of rebuilt in
    each (~4 s per worker with the tabulated PSF). ~0.15 s when already warm."""
    for d in np.degrees(np.arcsin(np.linspace(-1.0, 1.0, n + 2)[1:-1])):
        analysis.fit(0.0, float(d), None)


def _call_shared(key: int, fn: Callable, args: tuple) -> tuple[Any, float]:
    """In a forked worker: fn(the analysis the parent held when it forked, *args)."""
    return fn(_SHARED[key], *args), peak_rss_mb()


class Pool:
    """Runs tasks fn(analysis, *args) on `workers` processes forked once the analysis exists.

    The parent builds the analysis (arrays of ~1 M events) and warms it up (`warm_up`)
    before the fork; the children read it copy-on-write and receive only a task's
    arguments (a few pixel indices). One
    worker: in this process, no fork. `executor`: any object with ``submit(fn, *args)``
    returning futures (a Dask client, a ThreadPoolExecutor); each task then gets
    `analysis` as its first argument (with Dask, pass a scattered future of it).
    """

    def __init__(self, analysis: Any, workers: int | None = None,
                 executor: Executor | Any | None = None) -> None:
        self.analysis = analysis
        self.executor = executor
        self.workers = available_cores() if workers is None else max(int(workers), 1)
        self.worker_peak_mb = 0.0
        self._pool: ProcessPoolExecutor | None = None
        self._key = id(self)
        self._shared: Any = analysis  # what tasks get: on Dask, a scattered future of it
        self._fan_out = workers is None or workers > 1

    def __enter__(self) -> Pool:
        client = _cluster_client() if self.executor is None and self._fan_out else None
        if client is not None:  # a job on a Dask cluster: fan out over the cluster
            warm_up(self.analysis)
            self.executor = client
            self.workers = _cluster_threads(client)
            _make_importable(client, self.analysis)
            self._shared = client.scatter(self.analysis, broadcast=True, hash=False)
        if self.executor is None and self.workers > 1:
            warm_up(self.analysis)
            _SHARED[self._key] = self.analysis
            self._pool = ProcessPoolExecutor(self.workers,
                                             mp_context=multiprocessing.get_context("fork"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        _SHARED.pop(self._key, None)

    @property
    def parallel(self) -> int:
        return self.workers if (self._pool is not None or self.executor is not None) else 1

    def run(self, fn: Callable, arg_list: Sequence[tuple],
            done: Callable[[int, int], None] | None = None) -> list:
        """[fn(analysis, *args) for args in arg_list], in order, in parallel if it can."""
        n = len(arg_list)
        if self._pool is None and self.executor is None:
            out = []
            for i, args in enumerate(arg_list):
                out.append(fn(self.analysis, *args))
                if done is not None:
                    done(i + 1, n)
            return out
        if self._pool is not None:
            futures = {self._pool.submit(_call_shared, self._key, fn, tuple(args)): i
                       for i, args in enumerate(arg_list)}
        else:
            _make_importable(self.executor, fn)
            # A Dask client would hand back a held result for a task it has seen: compute.
            extra = {"pure": False} if _is_dask(self.executor) else {}
            futures = {self.executor.submit(fn, self._shared, *args, **extra): i
                       for i, args in enumerate(arg_list)}
        results: list = [None] * n
        for count, fut in enumerate(_completed(self.executor, futures), 1):
            value = fut.result()
            if self._pool is not None:
                value, peak = value
                self.worker_peak_mb = max(self.worker_peak_mb, peak)
            results[futures[fut]] = value
            if done is not None:
                done(count, n)
        return results


def _cluster_client() -> Any:
    """The Dask cluster this job runs on (astroflow's ``dask`` executor), or None."""
    try:
        from astroflow.parallel import cluster_client
    except ImportError:  # used outside astroflow: local processes
        return None
    return cluster_client()


def _cluster_threads(client: Any) -> int:
    from astroflow.parallel import cluster_threads

    return cluster_threads(client)


def _is_dask(executor: Any) -> bool:
    return executor is not None and hasattr(executor, "scatter") and hasattr(executor, "loop")


def _completed(executor: Any, futures: dict) -> Any:
    """The futures as they end: Dask's own `as_completed` for a Dask client's."""
    if _is_dask(executor):
        from distributed import as_completed as dask_completed

        return dask_completed(list(futures), loop=executor.loop)
    return as_completed(futures)


def _make_importable(client: Any, value: Any) -> None:
    """Dask workers do not have this package on their path: give it to them (a Dask client
    only; another executor runs where this package is importable)."""
    if not _is_dask(client):
        return
    with contextlib.suppress(ImportError):
        from astroflow.parallel import make_importable

        make_importable(client, value)


# ----- the map ------------------------------------------------------------------------------
@dataclass
class SkyMap:
    """TS, n_s and gamma at the centre of every pixel of a HEALPix grid (RING, ICRS)."""

    nside: int
    ts: np.ndarray
    ns: np.ndarray
    gamma: np.ndarray
    seconds: float = 0.0
    workers: int = 1

    @property
    def npix(self) -> int:
        return n_pixels(self.nside)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        return pixel_centres(self.nside)


def scan_sky(analysis: PointSourceAnalysis | None = None, nside: int = DEFAULT_NSIDE,
             workers: int | None = None, chunk_size: int | None = None,
             pool: Pool | None = None, progress: Progress | None = None) -> SkyMap:
    """The whole-sky map, chunk by chunk (`pool`: an open `Pool`; else one is opened)."""
    if pool is None:
        if analysis is None:
            raise AnalysisError("scan_sky needs an analysis or a pool")
        with Pool(analysis, workers) as own:
            return scan_sky(nside=nside, chunk_size=chunk_size, pool=own, progress=progress)
    npix = n_pixels(nside)
    _healpix(nside)                                   # checks nside
    if chunk_size is None:                            # ~16 chunks per worker: load balance
        chunk_size = int(np.clip(npix // (16 * pool.parallel), 64, 2048))
    chunks = pixel_chunks(npix, chunk_size)

    def done(k: int, n: int) -> None:
        if progress is not None and (k == n or k % max(n // 20, 1) == 0):
            progress(k / n)

    t0 = time.perf_counter()
    parts = pool.run(scan_chunk, [(c, nside) for c in chunks], done)
    ts, ns, gamma = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return SkyMap(nside, ts, ns, gamma, time.perf_counter() - t0, pool.parallel)


# ----- hotspots -----------------------------------------------------------------------------
@dataclass(frozen=True)
class HotspotSearch:
    """How hotspots are found and refined (the same for the data and the scrambled skies)."""

    ts_threshold: float = 4.0         # local maxima listed from this TS on
    min_separation_deg: float = 3.0   # between listed spots
    max_per_band: int = 10            # spots refined and listed per band
    refine_factor: int = 4            # refinement grid: nside x this (256 for a 64 map)
    polish: bool = True               # Nelder-Mead climb from the best refinement pixel
    bands: tuple[tuple[str, float, float], ...] = BANDS


@dataclass
class Hotspot:
    band: str
    ra: float
    dec: float
    ts: float
    ns: float
    gamma: float
    ts_coarse: float                  # TS of the map pixel it was refined from


def band_of(dec: float, bands: Sequence[tuple[str, float, float]]) -> str | None:
    for name, lo, hi in bands:
        if lo <= dec < hi:
            return name
    return None


def local_maxima(ts: np.ndarray, nside: int) -> np.ndarray:
    """Pixels whose TS is > 0 and >= that of each of their (up to 8) neighbours."""
    hp = _healpix(nside)
    with np.errstate(invalid="ignore"):          # (astropy-healpix marks missing ones -1)
        nb = hp.neighbours(np.arange(hp.npix))
    around = np.where(nb >= 0, ts[np.maximum(nb, 0)], -np.inf).max(axis=0)
    return np.flatnonzero((ts > 0.0) & (ts >= around))


def _separated(order: Sequence[tuple[float, float]], min_sep: float, limit: int) -> list[int]:
    """Indices into `order` (positions, hottest first) kept greedily `min_sep` apart."""
    kept: list[int] = []
    for i, (r, d) in enumerate(order):
        if len(kept) >= limit:
            break
        if all(angular_distance(r, d, order[j][0], order[j][1]) >= min_sep for j in kept):
            kept.append(i)
    return kept


def candidates(sky: SkyMap, search: HotspotSearch) -> list[tuple[str, int]]:
    """(band, pixel) of the local maxima to refine: per band, hottest first, separated.

    A band without a maximum above the threshold still yields its hottest one (if TS > 0),
    so that every scan has a hottest spot per band for the post-trial distribution.
    """
    peaks = local_maxima(sky.ts, sky.nside)
    ra, dec = pixel_centres(sky.nside, peaks)
    out = []
    for name, lo, hi in search.bands:
        inside = (dec >= lo) & (dec < hi)
        if not inside.any():
            continue
        pix, r, d = peaks[inside], ra[inside], dec[inside]
        order = np.argsort(-sky.ts[pix], kind="stable")
        above = order[sky.ts[pix[order]] >= search.ts_threshold]
        order = above if above.size else order[:1]
        kept = _separated([(r[i], d[i]) for i in order], search.min_separation_deg,
                          search.max_per_band)
        out += [(name, int(pix[order[k]])) for k in kept]
    return out


def refine_position(analysis: PointSourceAnalysis, ra: float, dec: float, nside: int,
                    refine_factor: int = 4, polish: bool = True
                    ) -> tuple[float, float, float, float, float]:
    """(RA, Dec, TS, n_s, gamma) of the best fit near a map pixel centre.

    Fits at the centres of the nside x refine_factor pixels within one coarse pixel size
    (and at the centre itself, so the refined TS is never lower), then, from the best,
    Nelder-Mead on the offsets (gnomonic-like, via `sky.offset`), simplex 1/2 fine pixel,
    stopping at 0.005 deg / 0.001 in TS.
    """
    from astropy import units as u

    radius = resolution_deg(nside)
    fine = nside * max(int(refine_factor), 1)
    pix = _healpix(fine).cone_search_lonlat(ra * u.deg, dec * u.deg, radius * u.deg)
    r, d = pixel_centres(fine, np.sort(pix))
    r, d = np.concatenate([[ra], r]), np.concatenate([[dec], d])
    ts, ns, gamma = fit_positions(analysis, r, d)
    k = int(np.argmax(ts))
    best = [float(r[k]), float(d[k]), float(ts[k]), float(ns[k]), float(gamma[k])]
    if not polish or best[2] <= 0.0:
        return tuple(best)
    from scipy.optimize import minimize

    r0, d0 = best[0], best[1]

    def position(x: np.ndarray) -> tuple[float, float]:
        rho = float(np.hypot(x[0], x[1]))
        if rho == 0.0:
            return r0, d0
        pr, pd = offset(r0, d0, rho, float(np.degrees(np.arctan2(x[0], x[1]))))
        return float(pr), float(pd)

    def negative_ts(x: np.ndarray) -> float:
        if np.hypot(x[0], x[1]) > radius:        # stay near the spot
            return 0.0
        pr, pd = position(x)
        res = analysis.fit(pr, pd, None)
        if res.ts > best[2]:
            best[:] = [pr, pd, float(res.ts), float(res.ns),
                       float(res.gamma) if res.ns > 0 else float("nan")]
        return -float(res.ts)

    step = 0.5 * resolution_deg(fine)
    minimize(negative_ts, np.zeros(2), method="Nelder-Mead",
             options={"initial_simplex": [[0.0, 0.0], [step, 0.0], [0.0, step]],
                      "xatol": 0.005, "fatol": 1e-3, "maxfev": 80})
    return tuple(best)


def find_hotspots(pool: Pool, sky: SkyMap, search: HotspotSearch) -> list[Hotspot]:
    """Refined hotspots, hottest first (refinement of the candidates spread over `pool`)."""
    cands = candidates(sky, search)
    if not cands:
        return []
    ra, dec = pixel_centres(sky.nside, np.array([p for _, p in cands]))
    args = [(float(r), float(d), sky.nside, search.refine_factor, search.polish)
            for r, d in zip(ra, dec, strict=True)]
    refined = pool.run(refine_position, args)
    spots = []
    for (_, pix), (r, d, ts, ns, g) in zip(cands, refined, strict=True):
        band = band_of(d, search.bands)
        if band is not None:
            spots.append(Hotspot(band, r % 360.0, d, ts, ns, g, float(sky.ts[pix])))
    spots.sort(key=lambda s: -s.ts)
    # Two candidates can climb onto one spot: keep the hotter, then cap each band.
    kept = [spots[i] for i in _separated([(s.ra, s.dec) for s in spots],
                                         search.min_separation_deg, len(spots))]
    out, per_band = [], dict.fromkeys((b[0] for b in search.bands), 0)
    for s in kept:
        if per_band[s.band] < search.max_per_band:
            per_band[s.band] += 1
            out.append(s)
    return out


def hottest_per_band(spots: Sequence[Hotspot], bands: Sequence[tuple[str, float, float]]
                     ) -> dict[str, float]:
    """TS of the hottest spot of each band (0 where a band has none)."""
    out = {name: 0.0 for name, _, _ in bands}
    for s in spots:
        out[s.band] = max(out[s.band], s.ts)
    return out


# ----- post-trial correction ----------------------------------------------------------------
def p_local_asymptotic(ts: float) -> float:
    return limits.p_value(float(ts), True)


def scrambled_release(release: Release, rng: np.random.Generator) -> Release:
    """The release with every event at a new uniform RA: a background sky.

    Declinations, energies, errors and times are kept, and so are the event order and every
    derived product (bins, PSF widths, background PDFs: functions of declination, energy
    and error, not of RA) but the sky-index key, which is recomputed from the new RAs and
    marked unsorted (the analysis then sorts the events once, ~0.2 s for 1.1 M events).
    A release without that key in `derived` is prepared anew (seconds: irf products too).
    """
    from .likelihood import event_product_key
    from .skyindex import sort_key

    events = dict(release.events)
    ra = events["ra"]
    events["ra"] = rng.uniform(0.0, 360.0, ra.size).astype(ra.dtype)
    key, flag = event_product_key("sky_key"), event_product_key("sky_key_sorted")
    derived = dict(release.derived)
    if key not in derived or flag not in derived:
        return prepare(dataclasses.replace(release, events=events, derived={}))
    derived[key] = sort_key(events["ra"], events["dec"])
    derived[flag] = np.array([False])
    return dataclasses.replace(release, events=events, derived=derived)


@dataclass
class BackgroundScans:
    """The hottest TS per band of each RA-scrambled full-sky scan."""

    nside: int
    hottest: dict[str, np.ndarray]
    seconds: float = 0.0
    scan_seconds: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(next(iter(self.hottest.values()))) if self.hottest else 0

    def n_eff(self, band: str) -> tuple[float, float]:
        """(N_eff, its error): maximum-likelihood fit of P(min p_local <= x) = 1 - (1 -
        x)^N_eff to the asymptotic local p-values of the scans' hottest spots."""
        t = self.hottest.get(band, np.zeros(0))
        if t.size == 0:
            return float("nan"), float("nan")
        p = np.array([min(p_local_asymptotic(x), 1.0 - 1e-15) for x in t])
        total = float(np.sum(-np.log1p(-p)))
        n_eff = max(t.size / total, 1.0) if total > 0 else 1.0
        return n_eff, n_eff / math.sqrt(t.size)

    def p_post(self, band: str, ts: float) -> tuple[float, float]:
        """(effective-trials p_post, fraction p_post (k + 1) / (n + 1)) of a spot's TS."""
        t = self.hottest.get(band, np.zeros(0))
        if t.size == 0:
            return float("nan"), float("nan")
        n_eff, _ = self.n_eff(band)
        p = p_local_asymptotic(ts)
        p_et = float(-np.expm1(n_eff * np.log1p(-min(p, 1.0))))
        k = int(np.sum(t >= ts))
        return min(max(p_et, p), 1.0), (k + 1) / (t.size + 1)


def _background_scan(release: Release, args: tuple) -> tuple[dict[str, float], float]:
    """One RA-scrambled sky, scanned and searched in this process: a task of
    `background_scans` on a cluster (the same seeds, so the same numbers, as the loop)."""
    mjd_range, nside, search, child = args
    t = time.perf_counter()
    ana = PointSourceAnalysis(scrambled_release(release, np.random.default_rng(child)),
                              mjd_range)
    with Pool(ana, 1) as pool:
        spots = find_hotspots(pool, scan_sky(nside=nside, pool=pool), search)
    return hottest_per_band(spots, search.bands), time.perf_counter() - t


def background_scans(release: Release, mjd_range: tuple[float, float] | None, n: int,
                     nside: int, search: HotspotSearch, workers: int | None = None,
                     seed: int = 1, progress: Progress | None = None) -> BackgroundScans:
    """`n` RA-scrambled skies, each scanned and searched exactly like the data."""
    hottest: dict[str, list[float]] = {name: [] for name, _, _ in search.bands}
    t0 = time.perf_counter()
    per_scan = []
    children = np.random.SeedSequence(seed).spawn(n)
    client = _cluster_client() if workers != 1 and n > 1 else None
    if client is not None:  # a job on a Dask cluster: one scan per task, scans in parallel
        from astroflow.parallel import map as parallel_map

        scans = parallel_map(_background_scan, [(mjd_range, nside, search, c) for c in children],
                             shared=release, client=client,
                             done=None if progress is None else lambda k, total: progress(k / total))
        for spots_ts, seconds in scans:
            for band, ts in spots_ts.items():
                hottest[band].append(ts)
            per_scan.append(seconds)
        return BackgroundScans(nside, {b: np.array(v) for b, v in hottest.items()},
                               time.perf_counter() - t0, per_scan)
    for j, child in enumerate(children):
        t = time.perf_counter()
        ana = PointSourceAnalysis(scrambled_release(release, np.random.default_rng(child)),
                                  mjd_range)
        with Pool(ana, workers) as pool:
            sky = scan_sky(nside=nside, pool=pool,
                           progress=None if progress is None
                           else lambda f, j=j: progress((j + 0.9 * f) / n))
            spots = find_hotspots(pool, sky, search)
        for band, ts in hottest_per_band(spots, search.bands).items():
            hottest[band].append(ts)
        per_scan.append(time.perf_counter() - t)
        del ana, sky
        if progress is not None:
            progress((j + 1) / n)
    return BackgroundScans(nside, {b: np.array(v) for b, v in hottest.items()},
                           time.perf_counter() - t0, per_scan)


# ----- local p-values from trials (optional) ------------------------------------------------
def _trial_p_local(analysis: PointSourceAnalysis, ra: float, dec: float, ts: float,
                   max_trials: int, seed: int) -> tuple[float, str]:
    cal = limits.trial_p_value(analysis, ra, dec, ts, None, max_trials,
                               rng=np.random.default_rng(seed))
    asym = p_local_asymptotic(ts)
    if cal.trials == 0:
        return asym, P_LOCAL_ASYMPTOTIC
    if cal.exceeding == 0 and asym < cal.p:
        return asym, f"{P_LOCAL_ASYMPTOTIC}, below the reach of {cal.trials} trials"
    return cal.p, f"{cal.trials} RA-scrambled trials at the spot"


# ----- the whole product --------------------------------------------------------------------
@dataclass
class AllSkyResult:
    sky: SkyMap
    hotspots: Any                     # astropy Table
    background: BackgroundScans | None
    timings: dict[str, float]
    peak_rss_mb: dict[str, float]
    meta: dict[str, Any]


def _band_method(background: BackgroundScans | None, band: str) -> str:
    if background is None or background.n == 0:
        return "p_post: none (no scrambled scans)"
    n_eff, err = background.n_eff(band)
    return (f"p_post: effective trials 1-(1-p_asym)^N_eff, N_eff = {n_eff:.0f} +- {err:.0f} "
            f"from {background.n} RA-scrambled nside-{background.nside} scans ({band}); "
            f"p_post_scans = (k+1)/(n+1) of those scans")


def hotspot_table(spots: Sequence[Hotspot], background: BackgroundScans | None,
                  p_local: Sequence[tuple[float, str]] | None = None, meta: dict | None = None):
    """The hotspot table: ra, dec, TS, n_s, gamma, p_local, p_post, method (and the band,
    the scans' fraction p_post_scans, the TS of the unrefined map pixel)."""
    from astropy import units as u
    from astropy.table import Table

    rows = []
    for i, s in enumerate(spots):
        p_loc, how = p_local[i] if p_local is not None else (p_local_asymptotic(s.ts),
                                                              P_LOCAL_ASYMPTOTIC)
        if background is not None and background.n:
            p_post, p_scans = background.p_post(s.band, s.ts)
        else:
            p_post = p_scans = float("nan")
        rows.append((s.band, s.ra, s.dec, s.ts, s.ns, s.gamma, p_loc, p_post, p_scans,
                     s.ts_coarse, f"p_local: {how}; {_band_method(background, s.band)}"))
    names = ("band", "ra", "dec", "TS", "n_s", "gamma", "p_local", "p_post", "p_post_scans",
             "TS_map_pixel", "method")
    width = max([len(r[-1]) for r in rows], default=1)
    dtypes = ("U8", "f8", "f8", "f8", "f8", "f8", "f8", "f8", "f8", "f8", f"U{width}")
    t = Table(rows=rows, names=names, dtype=dtypes) if rows else Table(names=names,
                                                                      dtype=dtypes)
    t["ra"].unit = t["dec"].unit = u.deg
    t.meta.update(meta or {})
    return t


def run(release: Release, mjd_range: tuple[float, float] | None = None,
        nside: int = DEFAULT_NSIDE, post_trials: int = 0, search: HotspotSearch | None = None,
        workers: int | None = None, seed: int = 1, local_trials: int = 0,
        analysis: PointSourceAnalysis | None = None,
        progress: Progress | None = None) -> AllSkyResult:
    """Map, hotspots and their p-values for one release and time window.

    `post_trials`: RA-scrambled full-sky scans for the post-trial p-values (each costs about
    as much as the map). `local_trials`: at most this many scrambled trials per hotspot for
    its local p-value (0: asymptotic). `workers`: processes (default: all cores).
    """
    search = search or HotspotSearch()
    if post_trials < 0 or local_trials < 0:
        raise AnalysisError("post_trials and local_trials must be >= 0")

    def report(stage: str, fraction: float, message: str) -> None:
        if progress is not None:
            progress(stage=stage, fraction=fraction, message=message)

    # Progress: the map and the scans in proportion to their pixels.
    weight = 1.0 + post_trials
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ana = analysis if analysis is not None else PointSourceAnalysis(release, mjd_range)
    timings["build"] = time.perf_counter() - t0
    report("scan", 0.0, f"scanning {n_pixels(nside)} pixels (nside {nside})")
    with Pool(ana, workers) as pool:
        sky = scan_sky(nside=nside, pool=pool, progress=lambda f: report(
            "scan", 0.9 * f / weight, f"map {100 * f:.0f}%"))
        timings["scan"] = sky.seconds
        t = time.perf_counter()
        report("hotspots", 0.9 / weight, "refining the hotspots")
        spots = find_hotspots(pool, sky, search)
        timings["refine"] = time.perf_counter() - t
        p_local = None
        if local_trials > 0 and spots:
            t = time.perf_counter()
            p_local = pool.run(_trial_p_local, [(s.ra, s.dec, s.ts, local_trials, seed + i)
                                                for i, s in enumerate(spots)])
            timings["local_trials"] = time.perf_counter() - t
        worker_peak = pool.worker_peak_mb
    timings["map_total"] = time.perf_counter() - t0
    background = None
    if post_trials > 0:
        report("post_trials", 1.0 / weight, f"{post_trials} RA-scrambled full-sky scans")
        background = background_scans(
            release, mjd_range, post_trials, nside, search, workers, seed,
            lambda f: report("post_trials", (1.0 + f * post_trials) / weight,
                             f"scrambled scans {100 * f:.0f}%"))
        timings["post_trials"] = background.seconds
    timings["total"] = time.perf_counter() - t0
    peaks = {"parent": peak_rss_mb(), "worker": worker_peak}
    meta = _meta(release, ana, nside, search, post_trials, seed, local_trials, background)
    listed = [i for i, s in enumerate(spots) if s.ts >= search.ts_threshold]
    table = hotspot_table([spots[i] for i in listed], background,
                          None if p_local is None else [p_local[i] for i in listed], meta)
    report("done", 1.0, f"{len(listed)} hotspots")
    return AllSkyResult(sky, table, background, timings, peaks, meta)


def _meta(release: Release, ana: PointSourceAnalysis, nside: int, search: HotspotSearch,
          post_trials: int, seed: int, local_trials: int,
          background: BackgroundScans | None) -> dict[str, Any]:
    """What the products say about how they were made (plain scalars and strings, so that
    FITS headers and ECSV hold them alike)."""
    meta: dict[str, Any] = {
        "NSIDE": nside, "ORDERING": ORDERING, "COORDSYS": "ICRS",
        "RELEASE": str(getattr(release, "name", "")), "N_EVENTS": int(np.sum(ana.n_window))}
    lo, hi = ana.mjd_range
    if np.isfinite(lo):
        meta["MJD_MIN"] = float(lo)
    if np.isfinite(hi):
        meta["MJD_MAX"] = float(hi)
    meta.update({
        "BANDS": "; ".join(f"{n}: {a:g} <= dec < {b:g}" for n, a, b in search.bands),
        "TS_THRESHOLD": search.ts_threshold, "MIN_SEPARATION": search.min_separation_deg,
        "REFINE_NSIDE": nside * search.refine_factor, "POST_TRIALS": post_trials,
        "SEED": seed,
        "P_LOCAL": (P_LOCAL_ASYMPTOTIC if local_trials == 0
                    else f"<= {local_trials} RA-scrambled trials per spot"),
        "P_POST": ("effective trials 1-(1-p_asym)^N_eff, N_eff from the hottest spot of each "
                   "RA-scrambled full-sky scan (same nside, search and refinement), per band; "
                   "p_post_scans: fraction of those scans (k+1)/(n+1)") if post_trials
                  else "none (post_trials = 0)"})
    if background is not None:
        for name, _, _ in search.bands:
            n_eff, err = background.n_eff(name)
            meta[f"N_EFF_{name.upper()}"] = n_eff
            meta[f"N_EFF_{name.upper()}_ERR"] = err
            meta[f"SCAN_MAX_{name.upper()}"] = ", ".join(
                f"{x:.3f}" for x in background.hottest[name])
    return meta


# ----- products -----------------------------------------------------------------------------
def healpix_hdulist(sky: SkyMap, meta: dict | None = None):
    """The map as a HEALPix FITS file: a binary table of TS, NS, GAMMA, one row per pixel,
    with the standard keywords (PIXTYPE, ORDERING, NSIDE, COORDSYS, INDXSCHM)."""
    from astropy.io import fits

    cols = [fits.Column(name="TS", format="E", array=sky.ts.astype(np.float32)),
            fits.Column(name="NS", format="E", array=sky.ns.astype(np.float32)),
            fits.Column(name="GAMMA", format="E", array=sky.gamma.astype(np.float32))]
    hdu = fits.BinTableHDU.from_columns(cols, name="ALLSKY")
    h = hdu.header
    h["PIXTYPE"] = ("HEALPIX", "HEALPIX pixelisation")
    h["ORDERING"] = (ORDERING, "pixel ordering scheme")
    h["NSIDE"] = (sky.nside, "resolution parameter")
    h["COORDSYS"] = ("C", "celestial (equatorial), ICRS")
    h["RADESYS"] = ("ICRS", "reference frame of the pixel centres")
    h["INDXSCHM"] = ("IMPLICIT", "pixel index is the row number")
    h["OBJECT"] = ("FULLSKY", "the whole sky is mapped")
    h["FIRSTPIX"] = (0, "first pixel")
    h["LASTPIX"] = (sky.npix - 1, "last pixel")
    h["TTYPE1"], h["TTYPE2"], h["TTYPE3"] = "TS", "NS", "GAMMA"
    h.comments["TTYPE1"] = "test statistic, n_s and gamma free"
    h.comments["TTYPE2"] = "fitted number of signal events"
    h.comments["TTYPE3"] = "fitted spectral index (NaN where n_s = 0)"
    meta = meta or {}
    if "RELEASE" in meta:
        h["RELEASE"] = (str(meta["RELEASE"]), "IceCube data release")
    if "MJD_MIN" in meta:
        h["TSTART"] = (meta["MJD_MIN"], "start of the time window [MJD]")
    if "MJD_MAX" in meta:
        h["TSTOP"] = (meta["MJD_MAX"], "end of the time window [MJD]")
    if "N_EVENTS" in meta:
        h["NEVENTS"] = (int(meta["N_EVENTS"]), "events in the time window")
    return fits.HDUList([fits.PrimaryHDU(), hdu])


def sky_figure(sky: SkyMap, hotspots: Any = None, title: str | None = None,
               bands: Sequence[tuple[str, float, float]] = BANDS):
    """Mollweide map of TS at the pixel centres (RA increasing to the left, 0 h on the
    right edge), hotspots circled and numbered, band edges dashed, the Galactic plane
    dotted."""
    from matplotlib.figure import Figure

    ra, dec = sky.centres()
    x = np.radians(180.0 - ra)              # RA 360 .. 0 from left to right
    fig = Figure(figsize=(10.0, 5.6))
    ax = fig.add_subplot(projection="mollweide")
    size = (2.0 * resolution_deg(sky.nside) * 1.5) ** 2    # points^2: pixels overlap
    vmax = max(float(np.nanmax(sky.ts)), 1.0)
    order = np.argsort(sky.ts)              # hottest drawn last
    import matplotlib

    ax.set_facecolor(matplotlib.colormaps["magma"](0.0))   # any gap reads as TS = 0
    sc = ax.scatter(x[order], np.radians(dec[order]), c=sky.ts[order], s=size, marker="s",
                    cmap="magma", vmin=0.0, vmax=vmax, linewidths=0, rasterized=True)
    fig.colorbar(sc, ax=ax, orientation="horizontal", fraction=0.05, pad=0.06,
                 label="TS ($n_s$ and $\\gamma$ free)")
    line = np.linspace(-np.pi, np.pi, 200)
    for edge in sorted({v for _, lo, hi in bands for v in (lo, hi)}):
        if -90.0 < edge < 90.0:
            ax.plot(line, np.full(line.size, np.radians(edge)), "--", color="0.7", lw=0.7)
    with contextlib.suppress(Exception):    # the Galactic plane (cosmetic)
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        g = SkyCoord(l=np.linspace(0, 360, 721) * u.deg, b=np.zeros(721) * u.deg,
                     frame="galactic").icrs
        gx = np.radians(180.0 - g.ra.deg)
        cut = np.flatnonzero(np.abs(np.diff(gx)) > np.pi) + 1
        for seg_x, seg_y in zip(np.split(gx, cut), np.split(np.radians(g.dec.deg), cut),
                                strict=True):
            ax.plot(seg_x, seg_y, ":", color="0.85", lw=0.8)
    if hotspots is not None and len(hotspots):
        hx = np.radians(180.0 - np.asarray(hotspots["ra"], dtype=float))
        hy = np.radians(np.asarray(hotspots["dec"], dtype=float))
        ax.scatter(hx, hy, s=120, facecolors="none", edgecolors="cyan", linewidths=1.2)
        for i, (a, b) in enumerate(zip(hx, hy, strict=True)):
            ax.annotate(str(i + 1), (a, b), xytext=(6, 6), textcoords="offset points",
                        color="cyan", fontsize=8)
    ticks = np.arange(-150, 151, 30)
    ax.set_xticks(np.radians(ticks))
    ax.set_xticklabels([f"{(180 - t) % 360:d}°" for t in ticks], fontsize=7, color="0.4")
    ax.grid(True, color="0.6", lw=0.3, alpha=0.6)
    ax.set_title(title or f"IceCube all-sky scan, HEALPix nside {sky.nside}", pad=12)
    return fig
