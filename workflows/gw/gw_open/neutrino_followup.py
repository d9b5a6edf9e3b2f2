"""Neutrino follow-up of a GW event: IceCube limits over the event's credible region.

The region (HEALPix NESTED pixels at `nside` holding `level` of the sky-map probability) is
cut into chunks of contiguous pixel ranges; each chunk is one `icecube-region` sub-job on the
platform's job system (cached, run in parallel by the workers, visible and cancellable by
its id), never an import of the IceCube package: services combine through jobs. The chunks'
tables are joined with the sky map's per-pixel probability and distance, giving per pixel the
flux limit and, for a time window around the merger, the limit on the isotropic-equivalent
energy E_iso = 4 pi <D_L^2> x (energy-fluence limit), with <D_L^2> from the pixel's
conditional distance distribution (mean^2 + std^2, ligo.skymap.distance). The sky-map-
weighted limit is sum(p_i UL_i) / sum(p_i) over the region.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy import units as u
from astropy.table import Table, join
from astropy.time import Time

from .errors import AnalysisError

SERVICE = "icecube-region"
LIMITS_OUTPUT = "pixel_limits"
ENDED = ("done", "failed", "cancelled")
MPC_CM = float((1 * u.Mpc).to_value(u.cm))
#: The time-integrated follow-up spans every season a release may hold (clamped to it).
RELEASE_SPAN = ("2008-04-06T00:00:00", "2018-07-10T00:00:00")
Progress = Callable[..., None]


def pixel_ranges(ipix: np.ndarray) -> str:
    """Sorted NESTED indices as inclusive ranges ("12-40,52"), the form icecube-region reads."""
    ipix = np.unique(np.asarray(ipix, dtype=np.int64))
    if ipix.size == 0:
        return ""
    cut = np.flatnonzero(np.diff(ipix) > 1)
    starts = np.concatenate([[ipix[0]], ipix[cut + 1]])
    stops = np.concatenate([ipix[cut], [ipix[-1]]])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts, stops, strict=True))


def chunks(ipix: np.ndarray, n_chunks: int) -> list[np.ndarray]:
    """`n_chunks` runs of consecutive sorted indices (NESTED neighbours stay together)."""
    ipix = np.sort(np.asarray(ipix, dtype=np.int64))
    return [c for c in np.array_split(ipix, max(1, min(n_chunks, ipix.size))) if c.size]


def time_window(gps: float, half_width_s: float) -> tuple[str, str, str]:
    """(T1, T2, likelihood) of the follow-up: ±half_width around the merger with the
    transient likelihood, or (half_width 0) the whole release, time-integrated."""
    if half_width_s < 0:
        raise AnalysisError(f"time_window {half_width_s} s is negative")
    if half_width_s == 0:
        return RELEASE_SPAN[0], RELEASE_SPAN[1], "time-integrated"
    if not np.isfinite(gps):
        raise AnalysisError("the event has no merger time: use time_window 0 (whole release)")
    t0 = Time(gps, format="gps")
    t1 = (t0 - half_width_s * u.s).utc.isot[:19]
    t2 = (t0 + half_width_s * u.s).utc.isot[:19]
    return t1, t2, "transient"


@dataclass
class SubJob:
    pixels: str
    n_pixels: int
    job: Any = None
    state: str = "skipped"
    message: str = ""
    table: Table | None = None

    @property
    def job_id(self) -> str:
        return self.job.id if self.job is not None else ""


def submit(client: Any, nside: int, parts: list[np.ndarray], common: Mapping[str, Any]
           ) -> list[SubJob]:
    """One `icecube-region` sub-job per chunk, all submitted before any is waited for."""
    from astroflow.client.errors import ClientError, NotFound

    try:
        client.service(SERVICE)
    except NotFound as exc:
        raise AnalysisError(f"this server has no {SERVICE} service (the IceCube repository "
                            "provides it): the follow-up cannot run") from exc
    subs = []
    for part in parts:
        sub = SubJob(pixel_ranges(part), int(part.size))
        try:
            sub.job = client.submit(SERVICE, {**common, "nside": int(nside),
                                              "pixels": sub.pixels})
        except ClientError as exc:
            sub.state, sub.message = "refused", str(exc)
        else:
            sub.state = sub.job.state
            sub.message = "joined an identical request" if sub.job.cached else ""
        subs.append(sub)
    return subs


def wait(subs: list[SubJob], timeout: float, progress: Progress, poll: float = 1.0) -> None:
    """Wait for the sub-jobs (long-polling the first pending one), reporting their mean
    progress; cancel the rest at `timeout`."""
    deadline = time.monotonic() + timeout
    live = [s for s in subs if s.job is not None]
    while True:
        first = True
        for sub in live:
            if sub.state not in ENDED:
                sub.job.refresh(wait=poll if first else 0)
                sub.state, first = sub.job.state, False
        done = [1.0 if s.state in ENDED else (s.job.progress.fraction or 0.0) for s in live]
        progress(stage="icecube", fraction=0.1 + 0.75 * (float(np.mean(done)) if done else 1),
                 message=f"{sum(s.state == 'done' for s in live)}/{len(live)} IceCube "
                         "sub-jobs done")
        pending = [s for s in live if s.state not in ENDED]
        if not pending:
            break
        if time.monotonic() > deadline:
            for sub in pending:
                sub.job.cancel()
                sub.state, sub.message = "timeout", f"not done after {timeout:.0f} s: cancelled"
            break
    for sub in live:
        if sub.state == "done":
            sub.table = sub.job.products[LIMITS_OUTPUT].to_astropy(format="ecsv")
            sub.message = sub.message or f"{len(sub.table)} pixels"
        elif sub.state in ("failed", "cancelled"):
            error = sub.job.error
            sub.message = error.message if error is not None else sub.state


def status_table(subs: list[SubJob], api_url: str) -> Table:
    return Table({
        "service": [SERVICE] * len(subs), "job_id": [s.job_id for s in subs],
        "state": [s.state for s in subs], "pixels": [s.n_pixels for s in subs],
        "message": [s.message for s in subs],
        "url": [f"{api_url}/api/v1/jobs/{s.job_id}" if s.job_id else "" for s in subs]})


def combine(region: Table, subs: list[SubJob]) -> Table:
    """The sky-map pixels joined with the IceCube limits; E_iso limits where a window was
    given (the fluence is meaningful only for a transient window)."""
    tables = [s.table for s in subs if s.table is not None]
    failed = [s for s in subs if s.table is None]
    if failed:
        raise AnalysisError("IceCube sub-jobs did not all give limits: " + "; ".join(
            f"{s.job_id or s.pixels}: {s.state} {s.message}".strip() for s in failed))
    limits = Table(np.concatenate([t.as_array() for t in tables])) if len(tables) > 1 \
        else tables[0].copy()
    for c in tables[0].colnames:
        limits[c].unit = tables[0][c].unit
    limits.meta = dict(tables[0].meta)
    keep = [c for c in region.colnames if c not in ("ra", "dec")]
    table = join(region[keep], limits, keys="ipix")
    table.meta = {**limits.meta, **{k: v for k, v in region.meta.items()}}
    if "distmu" in table.colnames and table.meta.get("LIKELIHOOD") == "transient":
        from ligo.skymap.distance import parameters_to_moments

        mean, std, _ = parameters_to_moments(np.asarray(table["distmu"], float),
                                             np.asarray(table["distsigma"], float))
        d2 = (mean**2 + std**2) * MPC_CM**2
        table["e_iso_ul"] = 4.0 * np.pi * d2 * np.asarray(table["fluence_ul"], float)
        table["e_iso_ul"].unit = u.erg
    return table


def summary(table: Table, event: str, level: float, t1: str, t2: str) -> Table:
    """Sky-map-weighted limits and the most significant pixel."""
    p = np.asarray(table["prob"], float)
    w = p / p.sum()
    best = table[int(np.argmax(table["ts"]))]
    ts_best = max(float(best["ts"]), 0.0)
    from scipy.stats import chi2

    row = {
        "event": event, "credible_level": level, "n_pixels": len(table),
        "area_deg2": float(table.meta.get("area_deg2", np.nan)),
        "prob_covered": float(p.sum()), "t_start": t1, "t_stop": t2,
        "likelihood": str(table.meta.get("LIKELIHOOD", "")),
        "release": str(table.meta.get("RELEASE", "")),
        "livetime_s": float(table.meta.get("LIVETIME", np.nan)),
        "flux_ul_weighted": float(np.sum(w * table["flux_ul"])),
        "flux_ul_min": float(np.min(table["flux_ul"])),
        "flux_ul_max": float(np.max(table["flux_ul"])),
        "e_iso_ul_weighted": (float(np.sum(w * table["e_iso_ul"]))
                              if "e_iso_ul" in table.colnames else np.nan),
        "best_ipix": int(best["ipix"]), "best_ra": float(best["ra"]),
        "best_dec": float(best["dec"]), "best_ts": float(best["ts"]),
        "best_ns": float(best["ns"]),
        "best_p_local": float(0.5 * chi2.sf(ts_best, 1)) if ts_best > 0 else 1.0,
    }
    out = Table(rows=[row])
    out["flux_ul_weighted"].unit = out["flux_ul_min"].unit = out["flux_ul_max"].unit = \
        table["flux_ul"].unit
    out["e_iso_ul_weighted"].unit = u.erg
    out["area_deg2"].unit = u.deg**2
    out["best_ra"].unit = out["best_dec"].unit = u.deg
    out.meta["NOTE"] = ("best_p_local: asymptotic (1/2 chi2_1), one pixel, before the "
                        f"trials factor of {len(table)} pixels")
    return out


def figure(table: Table, grid: tuple[np.ndarray, np.ndarray, np.ndarray], event: str,
           quantity: str = "flux_ul") -> Any:
    """The region's pixels coloured by the limit, the sky map's 50% and 90% contours (on a
    regular grid: no triangulation), the most significant pixel marked (RA to the left)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(7.2, 5.0))
    grid_ra, grid_dec, level = grid
    centre = _circular_mean(grid_ra[0])
    ra = _unwrapped(np.asarray(table["ra"], float), centre)
    values = np.asarray(table[quantity], float)
    image = _pixel_image(table, values, grid_ra, grid_dec)
    sc = ax.pcolormesh(_unwrapped(grid_ra, centre), grid_dec, image, shading="nearest",
                       cmap="viridis", norm=LogNorm(vmin=values.min(),
                                                    vmax=max(values.max(), 1.0001 * values.min())))
    unit = table[quantity].unit
    label = {"flux_ul": "flux limit at 1 TeV", "e_iso_ul": "E_iso limit"}.get(quantity, quantity)
    fig.colorbar(sc, ax=ax, label=f"{label} [{unit.to_string() if unit else ''}]")
    ax.contour(_unwrapped(grid_ra, centre), grid_dec, level, levels=[0.5, 0.9],
               colors=["white", "black"], linewidths=1.2)
    best = int(np.argmax(table["ts"]))
    ax.plot(ra[best], table["dec"][best], marker="*", ms=14, color="red", linestyle="none")
    ax.legend(handles=[Line2D([], [], color="white", label="50% credible"),
                       Line2D([], [], color="black", label="90% credible"),
                       Line2D([], [], marker="*", ms=10, color="red", linestyle="none",
                              label=f"max TS {float(table['ts'][best]):.1f}")],
              loc="best", fontsize=8, facecolor="0.85")
    ax.invert_xaxis()
    ax.grid(False)
    ax.set_xlabel("RA [deg]")
    ax.set_ylabel("Dec [deg]")
    ax.set_title(f"{event}: IceCube limits over the credible region")
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.92)
    return fig


def _pixel_image(table: Table, values: np.ndarray, grid_ra: np.ndarray,
                 grid_dec: np.ndarray) -> np.ndarray:
    """`values` of the region's pixels on the grid (NaN outside the region)."""
    import healpy as hp

    nside = int(table.meta.get("nside") or table.meta.get("NSIDE"))
    ipix = np.asarray(table["ipix"], dtype=np.int64)
    order = np.argsort(ipix)
    at = hp.ang2pix(nside, grid_ra.ravel(), grid_dec.ravel(), nest=True, lonlat=True)
    k = np.clip(np.searchsorted(ipix[order], at), 0, ipix.size - 1)
    inside = ipix[order][k] == at
    image = np.where(inside, values[order][k], np.nan)
    return image.reshape(grid_ra.shape)


def _circular_mean(ra: np.ndarray) -> float:
    r = np.radians(np.asarray(ra, float))
    return float(np.degrees(np.arctan2(np.sin(r).mean(), np.cos(r).mean())))


def _unwrapped(ra: np.ndarray, centre: float) -> np.ndarray:
    """RA continuous across 0/360 around `centre`."""
    return centre + (np.asarray(ra, float) - centre + 180.0) % 360.0 - 180.0


def contour_grid(sky: Any, region: Table, margin: float = 5.0, n: int = 160
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RA, Dec and searched probability on a regular grid around the region (for contours)."""
    centre = _circular_mean(region["ra"])
    ra = _unwrapped(region["ra"], centre)
    dec = np.asarray(region["dec"], float)
    ra_axis = np.linspace(ra.min() - margin, ra.max() + margin, n)
    dec_axis = np.linspace(max(dec.min() - margin, -90.0), min(dec.max() + margin, 90.0), n)
    grid_ra, grid_dec = np.meshgrid(ra_axis % 360.0, dec_axis)
    level = sky._level[sky.rows_at(grid_ra.ravel(), grid_dec.ravel())].reshape(grid_ra.shape)
    return grid_ra, grid_dec, level
