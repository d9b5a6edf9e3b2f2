"""The `icecube` service: one call from parameters to the six products of the notebook."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from . import limits
from .dataset import Release
from .errors import AnalysisError
from .likelihood import PointSourceAnalysis, Selection, interpolate_gamma
from .sky import angular_distance

FLUX_UNIT = u.Unit("TeV-1 cm-2 s-1")
Progress = Callable[..., None]
_ANALYSES: dict[tuple, PointSourceAnalysis] = {}


@dataclass
class Products:
    summary: Table
    figure: object
    ts_map: fits.PrimaryHDU
    light_curve: Table
    events: Table
    sed: Table


SED_SIGNIFICANCE = 3.0  # sigma: from here on the SED shows the measured flux, not the limit
SED_POINTS = 5          # rows along the 90% signal energy range


def sed_table(summary: Table, e_range_fit: tuple[float, float] | None = None) -> Table:
    """IceCube's contribution to the multi-messenger SED (convention ``astroflow-sed/1``).

    Below `SED_SIGNIFICANCE`: the upper limit on E^2 dN/dE for the assumed index over the
    energy range holding 90% of its expected signal (``kind`` "limit", `SED_POINTS` rows
    along the range, each with the whole range as its band). Above it: the best-fit power
    law over its own 90% range (``kind`` "model") with the 68% n_s interval as the errors
    (the butterfly). Every value is the summary's own number, carried to E^2 dN/dE.
    """
    from astroflow.products.sed import sed_table as build

    row = summary[0]
    all_flavour = str(row["flavours"]) == "all flavours"
    flavour = ("all-flavour flux (3x the per-flavour nu_mu + anti-nu_mu at 1:1:1)"
               if all_flavour else "per-flavour flux, nu_mu + anti-nu_mu (all flavours at "
               "1:1:1: 3x)")
    e_range = (float(row["e_min"]), float(row["e_max"]))
    if float(row["significance"]) >= SED_SIGNIFICANCE and float(row["flux_norm"]) > 0:
        gamma = float(row["gamma"])
        lo, hi = e_range_fit or e_range
        energy = np.geomspace(lo, hi, SED_POINTS)
        best = limits.e2_flux(float(row["flux_norm"]), gamma, energy)
        low = limits.e2_flux(float(row["flux_norm_lo"]), gamma, energy)
        high = limits.e2_flux(float(row["flux_norm_hi"]), gamma, energy)
        note = (f"{flavour}; best fit, gamma = {gamma:.2f}, 68% band, over the "
                "90% signal energy range")
        return build(energy=energy * u.GeV, energy_min=np.full(SED_POINTS, lo) * u.GeV,
                     energy_max=np.full(SED_POINTS, hi) * u.GeV,
                     e2dnde=best * u.Unit("TeV cm-2 s-1"),
                     e2dnde_errn=(best - low) * u.Unit("TeV cm-2 s-1"),
                     e2dnde_errp=(high - best) * u.Unit("TeV cm-2 s-1"), kind="model",
                     messenger="neutrinos", instrument="IceCube", note=note)
    gamma = float(row["gamma_assumed"])
    energy = np.geomspace(*e_range, SED_POINTS)
    ul = limits.e2_flux(float(row["flux_upper_limit"]), gamma, energy)
    note = (f"{flavour}; {100 * float(row['confidence_level']):g}% CL upper limit, "
            f"E^-{gamma:g}, over the 90% signal energy range")
    return build(energy=energy * u.GeV, energy_min=np.full(SED_POINTS, e_range[0]) * u.GeV,
                 energy_max=np.full(SED_POINTS, e_range[1]) * u.GeV,
                 e2dnde=ul * u.Unit("TeV cm-2 s-1"), is_ul=True, kind="limit",
                 messenger="neutrinos", instrument="IceCube", note=note)


def analysis_for(release: Release, mjd_range: tuple[float, float],
                 allow_empty: bool = False) -> PointSourceAnalysis:
    """Reuse the position-independent part across requests in a warm process."""
    key = (id(release), release.name, release.n_events, mjd_range, allow_empty)
    if key not in _ANALYSES:
        if len(_ANALYSES) > 4:
            _ANALYSES.clear()
        _ANALYSES[key] = PointSourceAnalysis(release, mjd_range, allow_empty=allow_empty)
    return _ANALYSES[key]


def mjd_window(t1: str, t2: str) -> tuple[float, float]:
    try:
        m1, m2 = Time(t1, format="isot", scale="utc").mjd, Time(t2, format="isot", scale="utc").mjd
    except ValueError as exc:
        raise AnalysisError(f"cannot read the time range: {exc}") from exc
    if m2 <= m1:
        raise AnalysisError(f"the end time {t2} is not after the start time {t1}")
    return float(m1), float(m2)


def isot(mjd: float) -> str:
    """An MJD (UTC) as ISO time to the second."""
    return Time(mjd, format="mjd", scale="utc", precision=0).isot


def release_span(release: Release) -> tuple[float, float, str, str]:
    """The MJD span of the release's seasons (their uptime) and its first and last season."""
    spans = sorted((float(s.uptime[:, 0].min()), float(s.uptime[:, 1].max()), s.name)
                   for s in release.seasons if s.uptime.size)
    if not spans:
        raise AnalysisError(f"the {release.name} release has no uptime")
    last = max(spans, key=lambda x: x[1])
    return spans[0][0], last[1], spans[0][2], last[2]


def clamp_to_release(release: Release, t1: str, t2: str) -> tuple[tuple[float, float], str]:
    """The MJD window of T1..T2 within the span of the release's seasons (their uptime), and
    a note saying what was used. A window that misses every season is an `AnalysisError`
    naming the span the release covers, so the user knows what to ask for."""
    m1, m2 = mjd_window(t1, t2)
    lo, hi, first, last = release_span(release)
    seasons = f"the {release.name} release's seasons ({first} to {last}"
    if m2 <= lo or m1 >= hi:
        raise AnalysisError(
            f"no events in this time range: the {release.name} release ({first} to {last}) "
            f"covers {isot(lo)[:10]} – {isot(hi)[:10]} (MJD {lo:.2f} – {hi:.2f}); your range "
            f"{t1} – {t2} (MJD {m1:.2f} – {m2:.2f}) lies outside it. Choose T1 and T2 "
            "within that span")
    if lo <= m1 and m2 <= hi:
        return (m1, m2), f"T1 and T2 within {seasons}: {isot(lo)} to {isot(hi)})"
    window = (max(m1, lo), min(m2, hi))
    beyond = " and ".join(x for x, out in (("T1", m1 < lo), ("T2", m2 > hi)) if out)
    return window, (f"{beyond} beyond {seasons}): time range used "
                    f"{isot(window[0])} to {isot(window[1])}")


def signal_energy_range(ana: PointSourceAnalysis, dec: float, gamma: float,
                        containment: float = 0.9) -> tuple[float, float]:
    """Central E_nu range [GeV] holding `containment` of the expected signal (all seasons)."""
    grid = np.linspace(1.0, 10.0, 901)
    w = np.zeros(grid.size - 1)
    mid = 0.5 * (grid[1:] + grid[:-1])
    for lt, a in zip(ana.livetime_s, ana.aeff, strict=True):
        row = a.row(dec)
        i = np.searchsorted(a.log_e_edges, mid, side="right") - 1
        inside = (i >= 0) & (i < row.size)
        w[inside] += lt * row[i[inside]] * 10.0 ** ((1.0 - gamma) * mid[inside])
    cdf = np.concatenate([[0.0], np.cumsum(w)])
    if cdf[-1] <= 0:
        raise AnalysisError("no effective area at this declination")
    tail = 0.5 * (1.0 - containment)
    lo, hi = np.interp([tail, 1.0 - tail], cdf / cdf[-1], grid)
    return float(10**lo), float(10**hi)


def ts_map(ana: PointSourceAnalysis, ra: float, dec: float, radius: float, gamma: float,
           n_pix: int = 41, progress: Progress | None = None,
           span: tuple[float, float] = (0.0, 1.0)) -> fits.PrimaryHDU:
    """TS map (gamma fixed) on a TAN grid centred on the source, as a FITS image with WCS.
    Progress goes from ``span[0]`` to ``span[1]`` of the whole request, row by row."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(n_pix + 1) / 2, (n_pix + 1) / 2]
    step = 2.0 * radius / (n_pix - 1)
    w.wcs.cdelt = [-step, step]
    yy, xx = np.mgrid[0:n_pix, 0:n_pix]
    pra, pdec = w.wcs_pix2world(xx, yy, 0)
    image = np.zeros((n_pix, n_pix), dtype=np.float32)
    for j in range(n_pix):
        for i in range(n_pix):
            image[j, i] = ana.fit(float(pra[j, i]) % 360.0, float(pdec[j, i]), gamma).ts
        if progress is not None and j % 5 == 0:
            progress(stage="ts_map", fraction=span[0] + (span[1] - span[0]) * (j + 1) / n_pix,
                     message=f"TS map row {j + 1}/{n_pix}")
    header = w.to_header()
    header["BUNIT"] = ("", "test statistic")
    header["GAMMA"] = (gamma, "spectral index of the TS map fits")
    return fits.PrimaryHDU(image, header=header)


def season_light_curve(ana: PointSourceAnalysis, ra: float, dec: float, gamma: float,
                       cl: float, flavour_factor: float) -> Table:
    sel = ana.select(ra, dec)
    rows = []
    for k, s in enumerate(ana.seasons):
        if ana.livetime_s[k] <= 0 or ana.n_window[k] == 0:
            continue
        t_lo = max(float(s.uptime[0, 0]), ana.mjd_range[0])
        t_hi = min(float(s.uptime[-1, 1]), ana.mjd_range[1])
        res = ana.fit_selection(sel, dec, gamma, only_season=k)
        per_ns = ana.flux_per_ns(dec, gamma, only_season=k) * flavour_factor
        ul = limits.ns_upper_limit(ana, sel, dec, gamma, cl, only_season=k)
        iv = limits.ns_interval(ana, sel, dec, gamma, only_season=k)
        rows.append((s.name, 0.5 * (t_lo + t_hi), t_lo, t_hi, ana.livetime_s[k] / 86400.0,
                     res.ts, res.ns, res.ns * per_ns, 0.5 * (iv.upper - iv.lower) * per_ns,
                     ul * per_ns))
    names = ("season", "time", "time_min", "time_max", "livetime", "ts", "ns", "flux",
             "flux_err", "flux_ul")
    t = Table(rows=rows, names=names) if rows else Table(names=names)
    for c in ("time", "time_min", "time_max"):
        t[c].unit = u.d
    t["livetime"].unit = u.d
    for c in ("flux", "flux_err", "flux_ul"):
        t[c].unit = FLUX_UNIT
    t.meta["TIMESYS"] = "MJD (UTC)"
    t.meta["GAMMA"] = gamma
    return t


def near_events(ana: PointSourceAnalysis, ra: float, dec: float, gamma: float,
                max_rows: int = 500) -> Table:
    sel = ana.select(ra, dec)
    idx = sel.index[sel.index >= 0]
    keep = sel.index >= 0
    log_r = interpolate_gamma(sel.log_energy_ratio[keep], gamma)
    sob = sel.spatial_ratio[keep] * np.exp(log_r)
    order = np.argsort(-sob)[:max_rows]
    idx, sob = idx[order], sob[order]
    t = Table({
        "mjd": ana.mjd[idx], "ra": ana.ra[idx], "dec": ana.dec[idx],
        "distance": angular_distance(ana.ra[idx], ana.dec[idx], ra, dec),
        "ang_err": ana.ang_err[idx].astype(float), "sigma_psf": ana.sigma[idx].astype(float),
        "log10_energy": ana.log_e[idx].astype(float),
        "season": [ana.seasons[k].name for k in ana.season[idx]],
        "signal_over_background": sob})
    for c in ("ra", "dec", "distance", "ang_err", "sigma_psf"):
        t[c].unit = u.deg
    t["mjd"].unit = u.d
    return t


def spectrum_figure(src_name: str, gamma: float, e_range: tuple[float, float],
                    flux_ul: float, flux: float, flux_band: tuple[float, float] | None,
                    cl: float, all_flavour: bool, gamma_fit: float | None = None,
                    e_range_fit: tuple[float, float] | None = None):
    """E^2 dN/dE: the upper limit (index `gamma`) and, if given, the best-fit butterfly,
    each over the energy range holding 90% of its expected signal."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = np.geomspace(e_range[0], e_range[1], 50)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    label = "all flavours" if all_flavour else r"$\nu_\mu+\bar\nu_\mu$"
    g_fit = gamma if gamma_fit is None else gamma_fit
    if flux_band is not None and flux > 0:
        ef = np.geomspace(*(e_range_fit or e_range), 50)
        lo, hi = (limits.e2_flux(f, g_fit, ef) for f in flux_band)
        ax.fill_between(ef / 1e3, lo, hi, alpha=0.35, color="C0", label="68% interval (n_s)")
        ax.plot(ef / 1e3, limits.e2_flux(flux, g_fit, ef), color="C0",
                label=f"best fit, $\\gamma$ = {g_fit:.2f}")
    ul = limits.e2_flux(flux_ul, gamma, e)
    ax.plot(e / 1e3, ul, color="C3", label=f"{100 * cl:g}% upper limit, $\\gamma$ = {gamma:.2f}")
    for x in np.geomspace(e[0], e[-1], 5):
        y = limits.e2_flux(flux_ul, gamma, x)
        ax.annotate("", (x / 1e3, 0.6 * y), (x / 1e3, y),
                    arrowprops={"arrowstyle": "->", "color": "C3"})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("E [TeV]")
    ax.set_ylabel(r"$E^2\,dN/dE$ [TeV cm$^{-2}$ s$^{-1}$]")
    ax.set_title(f"{src_name}: IceCube {label} (90% signal energy range)")
    ax.legend(loc="best", fontsize=8)
    # Fixed margins: tight_layout measured every tick label and took a quarter of a request.
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.92)
    return fig


def choose_p_value(calibrated: limits.TrialPValue, p_asymptotic: float) -> tuple[float, str]:
    """The p-value to report and how it was had.

    Trials when they ran; but when none of them reached the observed TS they only bound p
    from above by 1 / (n + 1), and a smaller asymptotic value is the better estimate.
    """
    if calibrated.trials == 0:
        return p_asymptotic, "asymptotic" if p_asymptotic < 1.0 else "TS = 0"
    if calibrated.exceeding == 0 and p_asymptotic < calibrated.p:
        return p_asymptotic, f"asymptotic (below the reach of {calibrated.trials} trials)"
    return calibrated.p, f"{calibrated.trials} background trials"


def background_trials_note(calibrated: limits.TrialPValue, asked: int, ts: float) -> str:
    """How many background trials ran, of the most asked for, and why they stopped."""
    if asked == 0:
        return "none asked for (background_trials = 0): asymptotic p-value"
    if calibrated.trials == 0:
        return f"none needed: TS = {ts:.2g}, p = 1"
    if calibrated.trials < asked:
        return (f"{calibrated.trials} of at most {asked} ran: stopped once {calibrated.exceeding} "
                "reached the observed TS, enough for the p-value (sequential test)")
    bound = f" (fewer than {MIN_EXCEEDING}: p is bounded by the trials)" \
        if calibrated.exceeding < MIN_EXCEEDING else ""
    return f"all {asked} ran; {calibrated.exceeding} reached the observed TS{bound}"


MIN_EXCEEDING = 20   # background trials at or above the observed TS that end the p-value run
UPPER_LIMIT_METHODS = ("calibrated", "profile", "neyman")
NEYMAN_TRIALS, NEYMAN_GRID = 200, 12    # per true n_s, and true n_s values: 2,600 fits
CALIBRATION_TRIALS = 300                # signal trials per round of the calibrated limit


def upper_limit(ana: PointSourceAnalysis, sel: Selection, ra: float, dec: float,
                gamma: float, ts: float, confidence_level: float, method: str,
                report: Callable[[str, float, str], None]) -> tuple[float, str]:
    """The n_s upper limit at fixed index by `method`, and what it cost."""
    t0 = time.perf_counter()
    if method == "profile":
        ul = limits.ns_upper_limit(ana, sel, dec, gamma, confidence_level)
        return ul, f"profile likelihood, {1e3 * (time.perf_counter() - t0):.1f} ms"
    if method == "calibrated":
        report("upper_limit", 0.2, f"likelihood-ratio threshold from {2 * CALIBRATION_TRIALS} "
               "signal trials")
        lim = limits.ns_upper_limit_calibrated(ana, sel, ra, dec, gamma, confidence_level,
                                               CALIBRATION_TRIALS)
        return lim.ns, (f"profile likelihood, threshold {lim.threshold:.2f} from {lim.trials} "
                        f"signal trials, {lim.seconds:.1f} s")
    report("upper_limit", 0.2, f"Neyman belt: {NEYMAN_GRID + 1} x {NEYMAN_TRIALS} trials")
    ul, cost = limits.ns_upper_limit_neyman(
        ana, ra, dec, gamma, ts, confidence_level, NEYMAN_TRIALS, NEYMAN_GRID,
        np.random.default_rng(1),
        lambda f: report("upper_limit", 0.2 + 0.05 * f, f"Neyman belt {100 * f:.0f}%"))
    return ul, f"Neyman belt, {cost['fits']} fits, {cost['seconds']:.1f} s"


def run(release: Release, src_name: str, ra: float, dec: float, t1: str, t2: str,
        index: float = 2.0, fit_index: bool = False, confidence_level: float = 0.9,
        ts_map_radius: float = 2.0, all_flavour: bool = False, ts_map_pixels: int = 41,
        background_trials: int = 1000, upper_limit_method: str = "calibrated",
        progress: Progress | None = None) -> Products:
    """Fit, limit, TS map, per-season light curve and nearby events for one source.

    `background_trials`: at most this many RA-scrambled trials calibrate the p-value
    (`limits.trial_p_value`; 0: the asymptotic one only). `upper_limit_method`:
    "calibrated" (the profile likelihood with its threshold from signal trials at the
    source, ~0.5 s: 90% coverage where a fixed threshold over- or under-covers), "profile"
    (milliseconds) or "neyman" (signal trials on a grid, seconds); the cost is in the
    summary. Per-season limits (`season_lc`) are profile limits.
    """
    def report(stage: str, fraction: float, message: str) -> None:
        if progress is not None:
            progress(stage=stage, fraction=fraction, message=message)

    if not -90.0 <= dec <= 90.0:
        raise AnalysisError(f"declination {dec} is outside [-90, 90]")
    if background_trials < 0:
        raise AnalysisError(f"background_trials {background_trials} is negative")
    if upper_limit_method not in UPPER_LIMIT_METHODS:
        raise AnalysisError(f"upper_limit_method {upper_limit_method!r} is not one of "
                            f"{', '.join(UPPER_LIMIT_METHODS)}")
    ra = ra % 360.0
    report("prepare", 0.05, f"{release.name} release: building the analysis")
    window, window_note = clamp_to_release(release, t1, t2)
    if window != mjd_window(t1, t2):
        report("prepare", 0.05, window_note)
    ana = analysis_for(release, window)
    if ana.livetime_s.sum() <= 0 or ana.n_window.sum() == 0:
        raise AnalysisError("no events in this time range")
    report("fit", 0.2, "fitting the source")
    flavour = limits.FLAVOURS_ALL if all_flavour else 1.0
    sel = ana.select(ra, dec)
    fixed = ana.fit_selection(sel, dec, index)
    best = ana.fit_selection(sel, dec, None, default_gamma=index) if fit_index else fixed
    per_ns = ana.flux_per_ns(dec, index) * flavour
    ns_ul, ul_cost = upper_limit(ana, sel, ra, dec, index, fixed.ts, confidence_level,
                                 upper_limit_method, report)
    iv = limits.ns_interval(ana, sel, dec, best.gamma)
    per_ns_best = ana.flux_per_ns(dec, best.gamma) * flavour
    p_asymptotic = limits.p_value(best.ts, best.gamma_free)
    report("p_value", 0.25, f"background trials for the p-value (at most {background_trials})")
    calibrated = limits.trial_p_value(
        ana, ra, dec, best.ts, None if fit_index else index, background_trials,
        min_exceeding=MIN_EXCEEDING,
        progress=lambda n: report("p_value", 0.25 + 0.1 * n / background_trials,
                                  f"{n} of at most {background_trials} background trials"))
    p, p_method = choose_p_value(calibrated, p_asymptotic)
    trials_note = background_trials_note(calibrated, background_trials, best.ts)
    e_range = signal_energy_range(ana, dec, index)
    lo, hi, _, _ = release_span(release)
    summary = Table(rows=[(
        src_name, ra, dec, isot(window[0]), isot(window[1]), t1, t2, release.name,
        f"{isot(lo)}/{isot(hi)}", float(ana.livetime_s.sum() / 86400.0),
        int(ana.n_window.sum()), best.n_selected, index, bool(fit_index), best.ts, best.ns,
        best.gamma, p, limits.significance(p), p_method, p_asymptotic, calibrated.trials,
        background_trials, trials_note, best.ns * per_ns_best,
        iv.lower * per_ns_best, iv.upper * per_ns_best, ns_ul, ns_ul * per_ns,
        upper_limit_method, ul_cost, confidence_level, e_range[0], e_range[1],
        "all flavours" if all_flavour else "numu+numubar")],
        names=("source", "ra", "dec", "t_start", "t_stop", "t_start_requested",
               "t_stop_requested", "data_release", "data_span", "livetime",
               "n_events", "n_events_near", "gamma_assumed", "gamma_free", "ts", "ns",
               "gamma", "p_value", "significance", "p_value_method", "p_value_asymptotic",
               "background_trials", "background_trials_max", "background_trials_note",
               "flux_norm", "flux_norm_lo",
               "flux_norm_hi", "ns_upper_limit", "flux_upper_limit", "upper_limit_method",
               "upper_limit_cost", "confidence_level",
               "e_min", "e_max", "flavours"))
    summary.add_columns([[f"{isot(window[0])}/{isot(window[1])}"], [window_note]],
                        indexes=[7, 7], names=["time_range_used", "time_range_note"])
    for c in ("ra", "dec"):
        summary[c].unit = u.deg
    summary["livetime"].unit = u.d
    for c in ("flux_norm", "flux_norm_lo", "flux_norm_hi", "flux_upper_limit"):
        summary[c].unit = FLUX_UNIT
    for c in ("e_min", "e_max"):
        summary[c].unit = u.GeV
    summary.meta["E_PIVOT"] = "1 TeV"
    summary.meta["FLUX"] = "dN/dE = flux_norm (E / 1 TeV)^-gamma"
    summary.meta["TIMESPAN"] = ("t_start/t_stop: the span analysed, the overlap of the "
                                "request (t_*_requested) and the release's data (data_span); "
                                "livetime: the detector uptime within it")
    report("spectrum", 0.35, "spectrum plot")
    band = (iv.lower * per_ns_best, iv.upper * per_ns_best) if best.ts >= 1.0 else None
    e_range_fit = signal_energy_range(ana, dec, best.gamma)
    fig = spectrum_figure(src_name, index, e_range, ns_ul * per_ns, best.ns * per_ns_best,
                          band, confidence_level, all_flavour, gamma_fit=best.gamma,
                          e_range_fit=e_range_fit)
    sed = sed_table(summary, e_range_fit)
    report("ts_map", 0.4, "TS map")
    hdu = ts_map(ana, ra, dec, ts_map_radius, index, ts_map_pixels, progress, span=(0.4, 0.9))
    report("light_curve", 0.9, "per-season fits")
    lc = season_light_curve(ana, ra, dec, index, confidence_level, flavour)
    events = near_events(ana, ra, dec, index)
    report("done", 1.0, "done")
    return Products(summary, fig, hdu, lc, events, sed)
