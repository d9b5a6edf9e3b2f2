"""Unbinned point-source likelihood on a public IceCube release.

For events i in season s (N_s events in the time window), source at x_src:

    L(n_s, gamma) = prod_s prod_i [ (n_s f_s(gamma) / N_s) S_i + (1 - n_s f_s(gamma) / N_s) B_i ]

* S_i / B_i = [exp(-psi^2 / 2 sigma_i^2) / (2 pi sigma_i^2)] / [B_s(sin dec_i) / 2 pi]
  x S_E(E_i, AngErr_i | sin dec_i, gamma) / B_E,s(E_i, AngErr_i | sin dec_i), with sigma_i
  the event's AngErr widened by the PSF correction (`response.PsfCorrection`); the energy
  term is taken on groups of (log E, AngErr) bins holding enough data events
  (`background.grouped_log_ratio`), so that E_B[S/B] = 1 and the TS is regular, and its
  AngErr axis keeps the spatial PDF's conditioning on AngErr unbiased (Punzi effect),
* f_s(gamma): the share of the expected signal in season s (livetime x A_eff x E^-gamma
  at the source declination): one n_s for all seasons,
* B_s and B_E,s: histograms of the data (`background.py`); S_E: the smearing matrix folded
  with A_eff E^-gamma (`response.py`), tabulated on a gamma grid and interpolated.
  Seasons sharing irfs share one table.

TS = 2 log[L(n_s_hat, gamma_hat) / L(0)], n_s >= 0. Events whose S/B is negligible
(< 1e-4 for every gamma, or beyond `radius_deg`) enter only through the product of
(1 - n_s f_s / N_s), computed in closed form, so each fit costs O(events near the source).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .background import (
    MIN_ANGERR_COUNTS,
    MIN_GROUP_COUNTS,
    BackgroundModel,
    density_table,
    grouped_log_ratio,
    per_season,
)
from .binning import (
    GAMMA_GRID,
    GAMMA_MAX,
    GAMMA_MIN,
    LOG_ANG_ERR_EDGES,
    LOG_E_EDGES,
    SIN_DEC_EDGES,
    bin_index,
)
from .errors import AnalysisError
from .inject import SmearingSampler, place
from .release import Release
from .response import irf_products, signal_energy_angerr_pdf, yield_per_flux
from .sky import angular_distance
from .skyindex import SkyIndex
from .solvers import maximize_bounded

SECONDS_PER_DAY = 86400.0
Injector = Callable[[int, np.random.Generator], tuple[np.ndarray, ...]]
_GAMMA_STEP = float(GAMMA_GRID[1] - GAMMA_GRID[0])
_N_GAMMA = int(GAMMA_GRID.size)
PRUNE_RATIO = 1e-4
LOG_RATIO_CLIP = 30.0


@dataclass
class Selection:
    """Events that matter for one source hypothesis, plus the closed-form rest."""

    spatial_ratio: np.ndarray      # S/B spatial part
    log_energy_ratio: np.ndarray   # (n, n_gamma) rows on GAMMA_GRID
    season: np.ndarray
    n_window: np.ndarray           # N_s (events per season in the window)
    n_rest: np.ndarray             # N_s minus the selected events, per season
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class FitResult:
    ts: float
    ns: float
    gamma: float
    gamma_free: bool
    n_selected: int
    season_fraction: np.ndarray
    log_likelihood: float = 0.0


def gamma_stencil(gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of a Catmull-Rom (C1 cubic) interpolation on GAMMA_GRID.

    Linear interpolation would make the likelihood piecewise smooth in gamma with kinks at
    the nodes, where the maximum then tends to sit; the cubic keeps gamma_hat continuous.
    """
    x = (min(max(gamma, GAMMA_MIN), GAMMA_MAX) - GAMMA_MIN) / _GAMMA_STEP
    j = min(int(x), _N_GAMMA - 2)
    t = x - j
    idx = [min(max(k, 0), _N_GAMMA - 1) for k in (j - 1, j, j + 1, j + 2)]
    t2, t3 = t * t, t * t * t
    w = np.array([-t3 + 2 * t2 - t, 3 * t3 - 5 * t2 + 2, -3 * t3 + 4 * t2 + t, t3 - t2])
    return np.array(idx), 0.5 * w


def interpolate_gamma(rows: np.ndarray, gamma: float) -> np.ndarray:
    """Values at `gamma` of quantities tabulated on GAMMA_GRID along the last axis."""
    idx, w = gamma_stencil(gamma)
    return rows[..., idx] @ w


def solve_ns(a: np.ndarray, rest: np.ndarray, c: np.ndarray) -> float:
    """Maximise sum log(1 + n a_i) + sum_s rest_s log(1 - n c_s) over n >= 0 (concave)."""
    g0 = a.sum() - (rest * c).sum()
    if g0 <= 0.0:
        return 0.0
    neg = a[a < 0]
    bounds = [1.0 / c[c > 0].max()] if np.any(c > 0) else []
    if neg.size:
        bounds.append(-1.0 / neg.min())
    hi = (1.0 - 1e-9) * min(bounds) if bounds else 1e9
    lo = 0.0
    h0 = (a * a).sum() + (rest * c * c).sum()
    n = min(g0 / h0, 0.5 * hi) if h0 > 0 else 0.5 * hi
    rc, rc2 = rest * c, rest * c * c
    for _ in range(100):
        t = 1.0 / (1.0 + n * a)
        u = 1.0 / (1.0 - n * c)
        at = a * t
        g = at.sum() - (rc * u).sum()
        h = (at * at).sum() + (rc2 * u * u).sum()
        if g > 0:
            lo = n
        else:
            hi = n
        new = n + g / h if h > 0 else 0.5 * (lo + hi)
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - n) <= 1e-8 * (1.0 + n):
            return new
        n = new
    return n


def ang_err_bin(ang_err: np.ndarray) -> np.ndarray:
    """LOG_ANG_ERR_EDGES bin of each AngErr [deg] (the energy term's second axis)."""
    return bin_index(np.log10(np.maximum(np.asarray(ang_err, dtype=np.float64), 1e-3)),
                     LOG_ANG_ERR_EDGES)


def log_likelihood(n: float, a: np.ndarray, rest: np.ndarray, c: np.ndarray) -> float:
    return float(np.log1p(n * a).sum() + (rest * np.log1p(-n * c)).sum())


# Name of the precomputed energy term in a release's cache; change the suffix whenever the
# energy model changes, so that older caches recompute it.
ENERGY_TABLE_KEY = f"energy_table:{MIN_GROUP_COUNTS}:{MIN_ANGERR_COUNTS}:v1"


def energy_tables(release: Release, pooled: list[BackgroundModel], irf_names: list[str],
                  smear: dict, joint: dict, group_counts: int = MIN_GROUP_COUNTS,
                  angerr_counts: int = MIN_ANGERR_COUNTS) -> np.ndarray:
    """log(S_E/B_E) per irf set, (n_irf, n_sin_dec, n_log_e, n_ang_err, n_gamma), float32."""
    sd_centres = 0.5 * (SIN_DEC_EDGES[1:] + SIN_DEC_EDGES[:-1])
    table = np.zeros((len(irf_names), sd_centres.size, LOG_E_EDGES.size - 1,
                      LOG_ANG_ERR_EDGES.size - 1, GAMMA_GRID.size), dtype=np.float32)
    for g, irf in enumerate(irf_names):
        sig = signal_energy_angerr_pdf(release.aeff[irf], smear[irf], joint[irf], sd_centres,
                                       GAMMA_GRID)
        table[g] = grouped_log_ratio(sig, pooled[g].angerr_counts, LOG_RATIO_CLIP,
                                     group_counts, angerr_counts)
    return table


def precompute_energy_table(release: Release) -> np.ndarray:
    """The default energy term of a release, for its binary cache (`release.prepare`)."""
    irf_names = sorted({s.irf for s in release.seasons})
    group = np.array([irf_names.index(s.irf) for s in release.seasons])
    ev = release.events
    pooled = per_season(group[ev["season"]], np.sin(np.radians(ev["dec"])), ev["log_e"],
                        len(irf_names), ang_err_bin(ev["ang_err"]))
    products = {irf: irf_products(release, irf, False) for irf in irf_names}
    return energy_tables(release, pooled, irf_names, {i: p[0] for i, p in products.items()},
                         {i: p[2] for i, p in products.items()})


class PointSourceAnalysis:
    """Everything that does not depend on the source position, built once per release."""

    def __init__(self, release: Release, mjd_range: tuple[float, float] | None = None,
                 radius_deg: float = 5.0, psf_correction: bool | None = None,
                 energy: bool = True, energy_group_counts: int = MIN_GROUP_COUNTS,
                 angerr_group_counts: int = MIN_ANGERR_COUNTS) -> None:
        self.release_name = release.name
        self.seasons = release.seasons
        self.radius_deg = float(radius_deg)
        ev = release.events
        t1, t2 = mjd_range if mjd_range is not None else (-np.inf, np.inf)
        self.mjd_range = (float(t1), float(t2))
        if psf_correction is None:
            psf_correction = bool(release.meta.get("psf_correction", True))
        n_seasons = len(self.seasons)
        sin_all = np.sin(np.radians(ev["dec"]))
        sd_centres = 0.5 * (SIN_DEC_EDGES[1:] + SIN_DEC_EDGES[:-1])
        self.background: list[BackgroundModel] = []
        self.aeff = [release.aeff[s.irf] for s in self.seasons]
        products = {irf: irf_products(release, irf, psf_correction) for irf in release.smearing}
        psf = {irf: p[1] for irf, p in products.items()}
        self._smearing_tables = release.smearing
        self._samplers: dict[str, SmearingSampler] = {}
        # Seasons that share irfs (IC86_II-VII) share one detector and event selection:
        # their background PDFs are pooled, which fills the sparse high-energy bins, and
        # they share one table of log(S/B).
        irf_names = sorted({s.irf for s in self.seasons})
        group = np.array([irf_names.index(s.irf) for s in self.seasons])
        self._table_of_season = group
        # Per-event bins, computed once for the background histograms and the window.
        sd_all = bin_index(sin_all, SIN_DEC_EDGES)
        le_all = bin_index(ev["log_e"], LOG_E_EDGES)
        ae_all = ang_err_bin(ev["ang_err"])
        pooled = per_season(group[ev["season"]], sin_all, ev["log_e"], len(irf_names), ae_all,
                            sd_bin=sd_all, le_bin=le_all)
        self.background = [pooled[g] for g in group]
        if not energy:
            table = np.zeros((len(irf_names), sd_centres.size, LOG_E_EDGES.size - 1,
                              LOG_ANG_ERR_EDGES.size - 1, GAMMA_GRID.size), dtype=np.float32)
        elif (energy_group_counts, angerr_group_counts) == (MIN_GROUP_COUNTS, MIN_ANGERR_COUNTS) \
                and ENERGY_TABLE_KEY in release.derived:
            table = release.derived[ENERGY_TABLE_KEY]    # precomputed in the binary cache
        else:
            table = energy_tables(release, [pooled[g] for g in range(len(irf_names))],
                                  irf_names, {irf: p[0] for irf, p in products.items()},
                                  {irf: p[2] for irf, p in products.items()},
                                  energy_group_counts, angerr_group_counts)
        # energy=False: spatial-only likelihood (S_E / B_E = 1), for checks and comparisons.
        self.log_ratio_table = table
        self.psf = psf
        # Events of the window, sorted for cone queries.
        win = (ev["mjd"] >= t1) & (ev["mjd"] <= t2)
        if not np.any(win):
            raise AnalysisError("no events in this time range")
        every = bool(np.all(win))
        cols = {**ev, "sin_dec": sin_all, "sd_bin": sd_all, "le_bin": le_all, "ae_bin": ae_all}
        if not every:
            cols = {c: v[win] for c, v in cols.items()}
        self.index = SkyIndex(cols["ra"], cols["dec"])
        if self.index.order is not None:
            cols = {c: v[self.index.order] for c, v in cols.items()}
        self.ra, self.dec, self.mjd = cols["ra"], cols["dec"], cols["mjd"]
        self.log_e, self.ang_err, self.season = cols["log_e"], cols["ang_err"], cols["season"]
        sin_dec = cols["sin_dec"]
        self.sd_bin, self.le_bin, self.ae_bin = cols["sd_bin"], cols["le_bin"], cols["ae_bin"]
        self.sigma = self._psf_sigma(self.season, self.dec, self.log_e, self.ang_err,
                                     self.le_bin)
        grid, dens = density_table(self.background)
        step = grid[1] - grid[0]
        cell = np.clip(np.rint((sin_dec + 1.0) / step).astype(np.int64), 0, grid.size - 1)
        self.bg_density = dens[self.season, cell].astype(np.float32)
        self.n_window = np.bincount(self.season, minlength=n_seasons).astype(float)
        self.livetime_s = np.array([s.livetime_in(t1, t2) for s in self.seasons]) * SECONDS_PER_DAY
        if self.livetime_s.sum() <= 0:
            raise AnalysisError("no detector livetime in this time range")
        self._yield_cache: dict[float, np.ndarray] = {}

    def _psf_sigma(self, season: np.ndarray, dec: np.ndarray, log_e: np.ndarray,
                   ang_err: np.ndarray, le_bin: np.ndarray | None = None) -> np.ndarray:
        """Per-event PSF width [deg]: AngErr widened by its irf set's correction."""
        irfs = sorted({s.irf for s in self.seasons})
        tables = [self.psf[i] for i in irfs]
        same = all(t.extra_var.shape == tables[0].extra_var.shape
                   and np.array_equal(t.dec_edges, tables[0].dec_edges)
                   and np.array_equal(t.ang_err_edges, tables[0].ang_err_edges) for t in tables)
        if same:
            irf_of_season = np.array([irfs.index(s.irf) for s in self.seasons])
            t0 = tables[0]
            stack = np.stack([t.extra_var for t in tables])
            le = le_bin if le_bin is not None else bin_index(log_e, LOG_E_EDGES)
            var = stack[irf_of_season[season], bin_index(dec, t0.dec_edges), le,
                        bin_index(ang_err, t0.ang_err_edges)]
            return np.sqrt(ang_err.astype(np.float64) ** 2 + var).astype(np.float32)
        out = np.empty(season.size, dtype=np.float32)
        for k, s in enumerate(self.seasons):
            m = season == k
            out[m] = self.psf[s.irf].sigma(dec[m], log_e[m], ang_err[m])
        return out

    # ----- source-dependent pieces -------------------------------------------------------
    def season_yields(self, dec: float, only_season: int | None = None) -> np.ndarray:
        """Expected events per unit flux (GeV^-1 cm^-2 s^-1 at 1 TeV), (n_season, n_gamma).

        `only_season`: zero the other seasons, i.e. fit that season alone (light curves).
        """
        key = round(float(dec), 9)
        y = self._yield_cache.get(key)
        if y is None:
            if len(self._yield_cache) > 4096:
                self._yield_cache.clear()
            y = np.stack([lt * yield_per_flux(a, dec, GAMMA_GRID)
                          for lt, a in zip(self.livetime_s, self.aeff, strict=True)])
            self._yield_cache[key] = y
        y = y.copy() if only_season is not None else y
        if only_season is not None:
            keep = np.zeros(len(self.seasons), dtype=bool)
            keep[only_season] = True
            y[~keep] = 0.0
        return y

    def _fractions(self, yields: np.ndarray, gamma: float) -> tuple[np.ndarray, float]:
        y = np.exp(interpolate_gamma(np.log(np.maximum(yields, 1e-300)), gamma))
        y = np.where(yields.max(axis=1) > 0, y, 0.0)
        total = y.sum()
        return (y / total if total > 0 else y), float(total)

    def _spatial_ratio(self, psi: np.ndarray, sigma_deg: np.ndarray,
                       density: np.ndarray) -> np.ndarray:
        # 2-D Gaussian normalised on the cone psi < radius (flat-sky), so that wide-error
        # events keep a unit-integral signal PDF (else E_B[S/B] < 1 and n_s biases low).
        s2 = np.radians(sigma_deg.astype(np.float64)) ** 2
        p2 = np.radians(psi) ** 2
        inside = -np.expm1(-0.5 * np.radians(self.radius_deg) ** 2 / s2)
        return np.exp(-0.5 * p2 / s2) / (2.0 * np.pi * s2 * inside) / density

    def select(self, ra: float, dec: float) -> Selection:
        """Events within `radius_deg` whose S/B can matter for some gamma."""
        idx = self.index.cone_candidates(ra, dec, self.radius_deg)
        psi = angular_distance(self.ra[idx], self.dec[idx], ra, dec)
        keep = psi < self.radius_deg
        idx, psi = idx[keep], psi[keep]
        return self._build_selection(idx, psi, self.n_window)

    def _build_selection(self, idx: np.ndarray, psi: np.ndarray, n_window: np.ndarray,
                         extra: dict[str, np.ndarray] | None = None) -> Selection:
        sigma, dens = self.sigma[idx], self.bg_density[idx]
        season, sd, le = self.season[idx], self.sd_bin[idx], self.le_bin[idx]
        ae = self.ae_bin[idx]
        if extra is not None:
            psi = np.concatenate([psi, extra["psi"]])
            sigma = np.concatenate([sigma, extra["sigma"]])
            dens = np.concatenate([dens, extra["density"]])
            season = np.concatenate([season, extra["season"]])
            sd = np.concatenate([sd, extra["sd_bin"]])
            le = np.concatenate([le, extra["le_bin"]])
            ae = np.concatenate([ae, extra["ae_bin"]])
            idx = np.concatenate([idx, np.full(extra["psi"].size, -1)])
        r = self._spatial_ratio(psi, sigma, dens)
        rows = self.log_ratio_table[self._table_of_season[season], sd, le, ae]
        keep = r * np.exp(rows.max(axis=1)) > PRUNE_RATIO
        season = season[keep]
        rest = n_window - np.bincount(season, minlength=len(self.seasons))
        return Selection(r[keep], rows[keep], season, n_window, rest, idx[keep])

    # ----- fitting -----------------------------------------------------------------------
    def terms(self, sel: Selection, yields: np.ndarray, gamma: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-event a_i, per-season rest counts and c_s = f_s / N_s of the likelihood."""
        f, _ = self._fractions(yields, gamma)
        c = np.divide(f, sel.n_window, out=np.zeros_like(f), where=sel.n_window > 0)
        x = sel.spatial_ratio * np.exp(interpolate_gamma(sel.log_energy_ratio, gamma))
        a = c[sel.season] * (x - 1.0)
        return a, sel.n_rest, c

    def profile(self, sel: Selection, yields: np.ndarray, gamma: float) -> tuple[float, float]:
        """(n_s_hat, log L ratio) at fixed gamma."""
        a, rest, c = self.terms(sel, yields, gamma)
        n = solve_ns(a, rest, c)
        return n, log_likelihood(n, a, rest, c)

    def fit_selection(self, sel: Selection, dec: float, gamma: float | None,
                      default_gamma: float = 2.0, only_season: int | None = None
                      ) -> FitResult:
        """Fit n_s (gamma fixed) or (n_s, gamma) (gamma=None) for a prepared selection."""
        yields = self.season_yields(dec, only_season)
        if gamma is not None:
            n, llh = self.profile(sel, yields, gamma)
            f, _ = self._fractions(yields, gamma)
            return FitResult(2.0 * llh, n, gamma, False, sel.season.size, f, llh)
        coarse = np.arange(GAMMA_MIN, GAMMA_MAX + 1e-9, 0.5)
        vals = [self.profile(sel, yields, g)[1] for g in coarse]
        k = int(np.argmax(vals))
        if vals[k] <= 0.0:
            f, _ = self._fractions(yields, default_gamma)
            return FitResult(0.0, 0.0, default_gamma, True, sel.season.size, f, 0.0)
        lo, hi = coarse[max(k - 1, 0)], coarse[min(k + 1, coarse.size - 1)]
        g_opt, l_opt = maximize_bounded(lambda g: self.profile(sel, yields, g)[1], lo, hi,
                                        xtol=2e-3)
        g_best = float(g_opt) if l_opt >= vals[k] else float(coarse[k])
        n, llh = self.profile(sel, yields, g_best)
        f, _ = self._fractions(yields, g_best)
        return FitResult(2.0 * llh, n, g_best, True, sel.season.size, f, llh)

    def fit(self, ra: float, dec: float, gamma: float | None = 2.0) -> FitResult:
        """Best fit at (ra, dec): gamma fixed at `gamma`, or free when `gamma` is None."""
        return self.fit_selection(self.select(ra, dec), dec, gamma)

    # ----- flux --------------------------------------------------------------------------
    def flux_per_ns(self, dec: float, gamma: float, only_season: int | None = None) -> float:
        """Flux normalisation at 1 TeV [TeV^-1 cm^-2 s^-1, nu_mu + nubar_mu] for n_s = 1."""
        _, total = self._fractions(self.season_yields(dec, only_season), gamma)
        if total <= 0:
            raise AnalysisError("no effective area at this declination for this spectrum")
        return 1e3 / total

    # ----- trials ------------------------------------------------------------------------
    def scrambled_selection(self, ra: float, dec: float, rng: np.random.Generator,
                            inject: int = 0, gamma_inj: float = 2.0,
                            injector: Injector | None = None) -> Selection:
        """Selection for a background trial (RA scrambled) plus `inject` signal events.

        RA is uniform for background, so the events of the declination strips that fall in
        the RA window are a random subset of binomial size with fresh uniform RAs.
        """
        start, stop = self.index.strip_range(dec, self.radius_deg)
        n_pool = stop - start
        half = self.index.ra_half_width(dec, self.radius_deg)
        k = rng.binomial(n_pool, min(2.0 * half / 360.0, 1.0)) if n_pool else 0
        idx = start + rng.choice(n_pool, k, replace=False) if k else np.zeros(0, np.int64)
        new_ra = (ra + rng.uniform(-half, half, k)) % 360.0
        psi = angular_distance(new_ra, self.dec[idx], ra, dec)
        keep = psi < self.radius_deg
        if not inject:
            extra = None
        elif injector is not None:
            extra = self.derive_events(ra, dec, *injector(inject, rng))
        else:
            extra = self.signal_events(ra, dec, inject, gamma_inj, rng)
        n_window = self.n_window.copy()
        if extra is not None:
            n_window += np.bincount(extra["season"], minlength=len(self.seasons))
        return self._build_selection(idx[keep], psi[keep], n_window, extra)

    def signal_events(self, ra: float, dec: float, n: int, gamma: float,
                      rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        """`n` signal events drawn from the irfs, in the derived form the likelihood uses."""
        if n <= 0:
            return None
        f, _ = self._fractions(self.season_yields(dec), gamma)
        counts = rng.multinomial(n, f)
        parts = []
        for k, c in enumerate(counts):
            if c == 0:
                continue
            irf = self.seasons[k].irf
            if irf not in self._samplers:
                self._samplers[irf] = SmearingSampler.from_table(self._smearing_tables[irf])
            log_e, psf, ang = self._samplers[irf].draw(self.aeff[k], dec, gamma, int(c), rng)
            r, d = place(ra, dec, psf, rng)
            parts.append((np.full(c, k, np.int8), r, d, log_e, ang))
        season, r, d, log_e, ang = (np.concatenate(p) for p in zip(*parts, strict=True))
        return self.derive_events(ra, dec, season, r, d, log_e, ang)

    def derive_events(self, ra: float, dec: float, season: np.ndarray, r: np.ndarray,
                      d: np.ndarray, log_e: np.ndarray, ang: np.ndarray
                      ) -> dict[str, np.ndarray]:
        """Extra events (season, RA, Dec, log E, AngErr) in the form the likelihood uses."""
        out = {"season": season.astype(np.int8), "ra": r, "dec": d, "log_e": log_e,
               "ang_err": ang, "psi": angular_distance(r, d, ra, dec)}
        sin_dec = np.sin(np.radians(d))
        out["sd_bin"] = bin_index(sin_dec, SIN_DEC_EDGES)
        out["le_bin"] = bin_index(log_e, LOG_E_EDGES)
        out["ae_bin"] = ang_err_bin(ang)
        out["sigma"] = np.empty(season.size)
        out["density"] = np.empty(season.size)
        for k in np.unique(season):
            m = season == k
            out["sigma"][m] = self.psf[self.seasons[k].irf].sigma(d[m], log_e[m], ang[m])
            out["density"][m] = self.background[k].spatial(sin_dec[m])
        return out

    def trial(self, ra: float, dec: float, rng: np.random.Generator, gamma: float | None = 2.0,
              inject: int = 0, gamma_inj: float = 2.0,
              injector: Injector | None = None) -> FitResult:
        """One pseudo-experiment: scrambled background (+ injected signal), then the fit.

        Signal comes from the irfs, or from `injector(n, rng) -> (season, ra, dec, log_e,
        ang_err)` (e.g. `synthetic.ContinuousInjector`, the detector model itself).
        """
        sel = self.scrambled_selection(ra, dec, rng, inject, gamma_inj, injector)
        return self.fit_selection(sel, dec, gamma)
