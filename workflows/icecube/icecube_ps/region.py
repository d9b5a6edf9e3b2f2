"""Limits over many positions at once: the pixels of a sky region (e.g. a GW credible region).

A follow-up of an extended localisation asks the point-source question at every HEALPix pixel
of the region. Each pixel gets exactly what a direct `icecube` request at its centre gives with
``upper_limit_method="profile"`` and no background trials (TS, n_s, the profile-likelihood
upper limit and its flux), plus the time-integrated energy fluence of that limit over the 90%
signal energy range, which a transient follow-up turns into an isotropic-equivalent energy.
The analysis of the time window is built once; declination-only quantities (flux per n_s,
energy range) once per HEALPix ring.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from astropy import units as u
from astropy.table import Table

from . import limits, transient
from .dataset import Release
from .errors import AnalysisError
from .service import FLUX_UNIT, analysis_for, clamp_to_release, isot, signal_energy_range

MAX_PIXELS = 50_000
LIKELIHOODS = ("time-integrated", "transient")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
TEV_TO_ERG = float((1 * u.TeV).to_value(u.erg))
Progress = Callable[..., None]


def parse_pixels(text: str, nside: int) -> np.ndarray:
    """Pixel indices from "12-40, 52, 60-64" (inclusive ranges), checked against `nside`."""
    if nside < 1 or nside & (nside - 1):
        raise AnalysisError(f"nside {nside} is not a power of 2")
    npix = 12 * nside * nside
    parts = [p for p in str(text).replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise AnalysisError("pixels: no pixel given (expected e.g. \"12-40, 52\")")
    chunks = []
    for part in parts:
        m = _RANGE.match(part)
        if m is None:
            raise AnalysisError(f"pixels: cannot read {part.strip()!r} (expected an index "
                                "or a range such as 12-40)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo or hi >= npix:
            raise AnalysisError(f"pixels: {part.strip()!r} is not a range within 0-{npix - 1} "
                                f"(nside {nside})")
        chunks.append(np.arange(lo, hi + 1))
    ipix = np.unique(np.concatenate(chunks))
    if ipix.size > MAX_PIXELS:
        raise AnalysisError(f"pixels: {ipix.size} pixels, at most {MAX_PIXELS} per request")
    return ipix


def format_pixels(ipix: np.ndarray) -> str:
    """The inverse of `parse_pixels`: sorted indices as inclusive ranges."""
    ipix = np.unique(np.asarray(ipix, dtype=np.int64))
    if ipix.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(ipix) > 1)
    starts = np.concatenate([[ipix[0]], ipix[breaks + 1]])
    stops = np.concatenate([ipix[breaks], [ipix[-1]]])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts, stops, strict=True))


def pixel_centres(nside: int, ipix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec [deg] of NESTED pixel centres."""
    from astropy_healpix import HEALPix

    lon, lat = HEALPix(nside=nside, order="nested").healpix_to_lonlat(ipix)
    return lon.to_value(u.deg), lat.to_value(u.deg)


def energy_integral(gamma: float, e_min_gev: float, e_max_gev: float) -> float:
    """Integral of E (E / 1 TeV)^-gamma dE over [e_min, e_max], in TeV^2."""
    a, b = e_min_gev / 1e3, e_max_gev / 1e3
    if abs(gamma - 2.0) < 1e-9:
        return float(np.log(b / a))
    k = 2.0 - gamma
    return float((b**k - a**k) / k)


def pixel_limits(release: Release, nside: int, ipix: np.ndarray, t1: str, t2: str,
                 index: float = 2.0, confidence_level: float = 0.9,
                 likelihood: str = "time-integrated",
                 progress: Progress | None = None) -> Table:
    """Per pixel: TS, n_s, the n_s and flux upper limits and the energy-fluence limit.

    `likelihood`: "time-integrated" (the `icecube` service's, n_s over the N events of the
    window) or "transient" (`transient`: against the expected background, for windows
    holding a handful of events, where the former caps the limit near N)."""
    if not 1.0 <= index <= 4.0:
        raise AnalysisError(f"index {index} is outside the tabulated range [1, 4]")
    if likelihood not in LIKELIHOODS:
        raise AnalysisError(f"likelihood {likelihood!r} is not one of {', '.join(LIKELIHOODS)}")
    window, note = clamp_to_release(release, t1, t2)
    extended = likelihood == "transient"
    ana = analysis_for(release, window, allow_empty=extended)
    if not extended and ana.n_window.sum() == 0:
        raise AnalysisError(f"no events in this time range ({t1} to {t2}): the transient "
                            "likelihood answers such windows")
    mu = transient.expected_background(release, ana) if extended else None
    ra, dec = pixel_centres(nside, ipix)
    livetime = float(ana.livetime_s.sum())
    per_ring: dict[float, tuple[float, float, float]] = {}
    columns = {k: np.zeros(ipix.size) for k in ("ts", "ns", "ns_ul", "flux_ul", "e_min",
                                                  "e_max", "fluence_ul")}
    n_near = np.zeros(ipix.size, dtype=np.int64)
    step = max(1, ipix.size // 20)
    for k in range(ipix.size):
        d = float(dec[k])
        if d not in per_ring:
            e_lo, e_hi = signal_energy_range(ana, d, index)
            per_ring[d] = (ana.flux_per_ns(d, index), e_lo, e_hi)
        per_ns, e_lo, e_hi = per_ring[d]
        sel = ana.select(float(ra[k]), d)
        if extended:
            fit = transient.fit_and_limit(transient.event_terms(ana, sel, d, index, mu),
                                          confidence_level)
            ts, ns, ns_ul = fit.ts, fit.ns, fit.ns_upper_limit
        else:
            fit = ana.fit_selection(sel, d, index)
            ts, ns = fit.ts, fit.ns
            ns_ul = limits.ns_upper_limit(ana, sel, d, index, confidence_level)
        flux_ul = ns_ul * per_ns
        columns["ts"][k], columns["ns"][k], columns["ns_ul"][k] = ts, ns, ns_ul
        columns["flux_ul"][k], columns["e_min"][k], columns["e_max"][k] = flux_ul, e_lo, e_hi
        columns["fluence_ul"][k] = (flux_ul * livetime * energy_integral(index, e_lo, e_hi)
                                    * TEV_TO_ERG)
        n_near[k] = sel.season.size
        if progress is not None and k % step == 0:
            progress(stage="pixels", fraction=0.1 + 0.85 * k / ipix.size,
                     message=f"pixel {k + 1}/{ipix.size}")
    table = Table({"ipix": ipix.astype(np.int64), "ra": ra, "dec": dec, "n_near": n_near,
                   **columns})
    for c in ("ra", "dec"):
        table[c].unit = u.deg
    table["flux_ul"].unit = FLUX_UNIT
    table["e_min"].unit = table["e_max"].unit = u.GeV
    table["fluence_ul"].unit = u.Unit("erg cm-2")
    table.meta.update({
        "NSIDE": nside, "ORDERING": "NESTED", "GAMMA": index, "CL": confidence_level,
        "RELEASE": release.name, "T_START": isot(window[0]), "T_STOP": isot(window[1]),
        "LIVETIME": livetime, "N_EVENTS": int(ana.n_window.sum()), "TIME_NOTE": note,
        "FLUX": "dN/dE = flux_ul (E / 1 TeV)^-gamma, nu_mu + nubar_mu, per flavour",
        "FLUENCE": "energy fluence of the limit over e_min..e_max (90% signal range) "
                   "during the livetime",
        "LIKELIHOOD": likelihood,
        "MU_BKG": float(mu.sum()) if extended else float(ana.n_window.sum()),
        "METHOD": ("extended likelihood against the expected background, profile limit"
                   if extended else
                   "profile likelihood (as icecube with upper_limit_method=profile)")})
    return table
