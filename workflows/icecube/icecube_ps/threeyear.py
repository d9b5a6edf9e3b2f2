"""Reader for IceCube's 3-year all-sky point-source release (IC79-2010, IC86-2011, IC86-2012).

That release ships events, an effective area tabulated in (E_nu, cos zenith) and the median
angular resolution versus E_nu, but no smearing matrix and no uptime. We complete it so the
same likelihood applies (see README, "energy treatment of the 3-year release"):

* energy proxy: log10 E_reco = 3.5 + a (log10 E_nu - 4) + N(0, 0.45 dex) (a 10 TeV
  neutrino gives a ~3 TeV muon), times a selection efficiency in E_reco. Per season, the
  slope a is fitted to the northern-sky events (sin dec > 0.1, atmospheric nu_mu E^-3.7
  folded with the season's A_eff) above the mode of their log E histogram; the
  efficiency is data / model below the mode. The relation is used at all
  declinations to build a smearing table in the 10-year format (the southern sample is
  muon dominated, so there it is an extrapolation; A_eff itself is the published one);
* PSF: Rayleigh with the published median versus E_nu; AngErr drawn around the same width,
  so the PSF correction is zero and events keep their reported AngErr;
* uptime: runs rebuilt from the event times, split wherever the gap between consecutive
  events is so long (> ln(N) + 8 mean intervals) that background alone would
  practically never produce it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from .errors import AnalysisError
from .release import EVENT_COLUMNS, EffectiveArea, Release, Season, _typed

SEASONS = ("IC79-2010", "IC86-2011", "IC86-2012")
INNER_ZIP = "flarestack/data/public/icecube/all_sky_point_source/raw_data/3year-data-release.zip"
PSF_EDGES = np.array([0.0, 0.2, 0.4, 0.7, 1.0, 1.5, 2.5, 5.0, 180.0])
ANGERR_EDGES = np.array([0.0, 0.3, 0.6, 1.0, 2.0, 90.0])
PROXY_LOG_E = np.round(np.arange(0.5, 10.001, 0.25), 2)
DEC_BANDS = np.array([-90.0, -10.0, 10.0, 90.0])
ATMOSPHERIC_GAMMA = 3.7


def _open_files(source: Path) -> dict[str, bytes]:
    """{'IC79-2010-events.txt': bytes, ...} from a directory, the release zip or the wheel."""
    source = Path(source)
    if source.is_dir():
        files = {p.name: p.read_bytes() for p in source.rglob("*.txt")
                 if "__MACOSX" not in p.parts}
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            if INNER_ZIP in z.namelist():
                return _open_files_zip(io.BytesIO(z.read(INNER_ZIP)))
        files = _open_files_zip(source)
    else:
        raise AnalysisError(f"{source}: not a directory or a zip of the 3-year release")
    return files


def _open_files_zip(z_source) -> dict[str, bytes]:
    with zipfile.ZipFile(z_source) as z:
        return {Path(n).name: z.read(n) for n in z.namelist()
                if n.endswith(".txt") and "__MACOSX" not in n}


def _table(files: dict[str, bytes], name: str, n_cols: int) -> np.ndarray:
    if name not in files:
        raise AnalysisError(f"3-year release: {name} is missing")
    t = np.loadtxt(io.BytesIO(files[name]), comments="#", ndmin=2)
    if t.shape[1] != n_cols:
        raise AnalysisError(f"3-year release: {name} has {t.shape[1]} columns, not {n_cols}")
    return t


def effective_area(rows: np.ndarray) -> EffectiveArea:
    """(E_min, E_max [GeV], cos zen_min, cos zen_max, A [m^2]) -> our grid in Dec, cm^2.

    At the South Pole dec = zenith - 90 deg, so sin(dec) = -cos(zenith).
    """
    e_edges = np.unique(np.round(np.log10(np.concatenate([rows[:, 0], rows[:, 1]])), 4))
    cz_edges = np.unique(np.round(np.concatenate([rows[:, 2], rows[:, 3]]), 6))
    dec_edges = np.degrees(np.arcsin(-cz_edges[::-1]))
    ie = np.searchsorted(e_edges, np.round(np.log10(rows[:, 0]), 4))
    icz = np.searchsorted(cz_edges, np.round(rows[:, 2], 6))
    idec = (cz_edges.size - 2) - icz
    values = np.zeros((dec_edges.size - 1, e_edges.size - 1))
    values[idec, ie] = rows[:, 4] * 1e4
    return EffectiveArea(e_edges, dec_edges, values)


def uptime_from_events(mjd: np.ndarray) -> np.ndarray:
    """Live intervals rebuilt from event times (see module docstring)."""
    t = np.sort(mjd)
    gaps = np.diff(t)
    tau = np.median(gaps) / np.log(2.0)   # mean interval of a Poisson process
    cut = tau * (np.log(t.size) + 8.0)
    breaks = np.flatnonzero(gaps > cut)
    starts = np.concatenate([[t[0]], t[breaks + 1]]) - 0.5 * tau
    stops = np.concatenate([t[breaks], [t[-1]]]) + 0.5 * tau
    return np.column_stack([starts, stops])


PROXY_PIVOT = 4.0        # log10(E_nu/GeV) = 10 TeV ...
PROXY_AT_PIVOT = 3.5     # ... gives a muon of ~E_nu / 3, which the proxy estimates
PROXY_WIDTH = 0.45       # dex: muon energy fraction and stochastic losses (not identifiable
                         # from a power-law tail, so fixed rather than fitted)


def _proxy_pdf(centre: np.ndarray, slope: float) -> np.ndarray:
    """P(log E_reco bin | log E_nu) on PROXY_LOG_E, shape (n_e_nu, n_bins)."""
    mean = PROXY_AT_PIVOT + slope * (centre[:, None] - PROXY_PIVOT)
    return np.diff(stats.norm.cdf((PROXY_LOG_E[None, :] - mean) / PROXY_WIDTH), axis=1)


def fit_energy_proxy(aeff: EffectiveArea, sin_dec: np.ndarray, log_e: np.ndarray
                     ) -> tuple[float, np.ndarray]:
    """Slope of log E_reco versus log E_nu and the selection efficiency per log E bin.

    Slope: Poisson fit of the northern (sin dec > 0.1, atmospheric E^-3.7) log E histogram
    above its mode, where the event selection no longer shapes it (the tail slope fixes
    it; the offset is degenerate with a power-law tail, hence the physical pivot).
    Efficiency: data over model below the mode (1 above): the selection threshold.
    """
    north = sin_dec > 0.1
    counts, _ = np.histogram(log_e[north], PROXY_LOG_E)
    dec_c = 0.5 * (aeff.dec_edges[1:] + aeff.dec_edges[:-1])
    rows = aeff.values[np.sin(np.radians(dec_c)) > 0.1].sum(axis=0)
    lo, hi = aeff.log_e_edges[:-1], aeff.log_e_edges[1:]
    centre = 0.5 * (lo + hi)
    g = 1.0 - ATMOSPHERIC_GAMMA
    w = rows * np.abs(10.0 ** (hi * g) - 10.0 ** (lo * g))
    tail = np.arange(counts.size) > np.argmax(counts)

    def model(slope: float) -> np.ndarray:
        return w @ _proxy_pdf(centre, slope)

    def nll(slope: float) -> float:
        mu = model(slope)[tail]
        mu = mu / mu.sum() * counts[tail].sum() + 1e-12
        return float(np.sum(mu - counts[tail] * np.log(mu)))

    slope = float(optimize.minimize_scalar(nll, bounds=(0.4, 1.3), method="bounded").x)
    mu = model(slope)
    mu = mu / mu[tail].sum() * counts[tail].sum()
    eff = np.ones(counts.size)
    low = ~tail
    eff[low] = np.clip(np.divide(counts[low], mu[low], out=np.zeros(low.sum()),
                                 where=mu[low] > 0), 0.0, 1.0)
    return slope, eff


def smearing_table(aeff: EffectiveArea, slope: float, efficiency: np.ndarray,
                   ang_res: np.ndarray) -> np.ndarray:
    """Smearing table in the 10-year format from the proxy model and the median resolution."""
    lo, hi = aeff.log_e_edges[:-1], aeff.log_e_edges[1:]
    centre = 0.5 * (lo + hi)
    p_le = _proxy_pdf(centre, slope) * efficiency[None, :]              # (n_e, n_le)
    med = np.interp(centre, np.log10(np.sqrt(ang_res[:, 0] * ang_res[:, 1])), ang_res[:, 2])
    sigma = med / np.sqrt(2.0 * np.log(2.0))
    p_psf = np.diff(1.0 - np.exp(-0.5 * (PSF_EDGES[None, :] / sigma[:, None]) ** 2), axis=1)
    z = (np.log(np.maximum(ANGERR_EDGES[None, :], 1e-6)) - np.log(sigma[:, None])) / 0.3
    p_ae = np.diff(stats.norm.cdf(z), axis=1)
    joint = p_le[:, :, None, None] * p_psf[:, None, :, None] * p_ae[:, None, None, :]
    norm = joint.sum(axis=(1, 2, 3), keepdims=True)
    joint = np.divide(joint, norm, out=np.zeros_like(joint), where=norm > 0)
    ie, ile, ip, ia = np.nonzero(joint > 1e-7)
    frac = joint[ie, ile, ip, ia]
    blocks = []
    for d_lo, d_hi in zip(DEC_BANDS[:-1], DEC_BANDS[1:], strict=True):
        blocks.append(np.column_stack([
            lo[ie], hi[ie], np.full(ie.size, d_lo), np.full(ie.size, d_hi),
            PROXY_LOG_E[ile], PROXY_LOG_E[ile + 1], PSF_EDGES[ip], PSF_EDGES[ip + 1],
            ANGERR_EDGES[ia], ANGERR_EDGES[ia + 1], frac]))
    return np.concatenate(blocks)


def read_3year(source: Path) -> Release:
    """The 3-year release from a directory, `3year-data-release.zip` or the flarestack wheel."""
    files = _open_files(source)
    cols: dict[str, list[np.ndarray]] = {c: [] for c in (*EVENT_COLUMNS, "season")}
    seasons, aeffs, smear, proxies = [], {}, {}, {}
    for k, name in enumerate(SEASONS):
        ev = _table(files, f"{name}-events.txt", 7)
        for j, c in enumerate(EVENT_COLUMNS):
            cols[c].append(ev[:, j])
        cols["season"].append(np.full(len(ev), k, dtype=np.int8))
        aeff = effective_area(_table(files, f"{name}-TabulatedAeff.txt", 5))
        ang_res = _table(files, f"{name}-AngRes.txt", 3)
        slope, eff = fit_energy_proxy(aeff, np.sin(np.radians(ev[:, 4])), ev[:, 1])
        aeffs[name] = aeff
        smear[name] = smearing_table(aeff, slope, eff, ang_res)
        proxies[name] = {"slope": slope, "pivot": [PROXY_PIVOT, PROXY_AT_PIVOT],
                         "width": PROXY_WIDTH,
                         "efficiency": [round(float(e), 4) for e in eff]}
        seasons.append(Season(name, name, uptime_from_events(ev[:, 0])))
    events = _typed({c: np.concatenate(v) for c, v in cols.items()})
    meta = {"psf_correction": False, "energy_proxy": proxies,
            "livetime_days": {s.name: s.livetime_days for s in seasons}}
    return Release("3year", seasons, events, aeffs, smear, meta)
