"""Unbinned point-source likelihood on a public IceCube release.

For events i in season s (N_s events in the time window), source at x_src:

    L(n_s, gamma) = prod_s prod_i [ (n_s f_s(gamma) / N_s) S_i + (1 - n_s f_s(gamma) / N_s) B_i ]

* S_i = S_psi(psi_i | log E_i, AngErr_i, gamma) x S_E(log E_i, AngErr_i | gamma), both for
  the SOURCE's declination: the PSF tabulated from the smearing table per gamma
  (`psf.PsfTable`; "gaussian" / "angerr": a Gaussian of AngErr, for the 3-year release),
  and the energy PDF from the smearing table folded with A_eff E^-gamma, AngErr given
  log E as the background's (`signal_energy_table`).
* B_i = B_s(sin dec_i) / 2 pi x B_E,s(log E_i, AngErr_i | sin dec_i): the data's own
  histograms (`background.py`), the sparse top of each row's spectrum modelled
  (`background.energy_density`), every event with its own (log E, AngErr) cell.
* f_s(gamma): the share of the expected signal in season s (livetime x A_eff x E^-gamma
  at the source declination): one n_s for all seasons. Seasons sharing irfs share tables.

TS = 2 log[L(n_s_hat, gamma_hat) / L(0)], n_s >= 0. Events beyond `radius_deg` (or with
S/B < 1e-4 for every gamma) enter only through a closed form, rest_s log(1 - n c_s
kappa_s), where 1 - kappa_s is their mean S/B: they hold the share of the signal the PSF
puts beyond the radius (`PointSourceAnalysis.kappa_rows`). So each fit costs O(events
near the source) and n_s counts all of a source's events, not only those in the cone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .background import (
    BackgroundModel,
    density_table,
    energy_density,
    fine_energy_counts,
    histograms,
    interpolated_log_pdf,
    models_from_histograms,
)
from .binning import (
    GAMMA_GRID,
    GAMMA_MAX,
    GAMMA_MIN,
    LOG_ANG_ERR_EDGES,
    LOG_E_EDGES,
    SIN_DEC_EDGES,
    background_row_edges,
    bin_index,
)
from .dataset import Release, Season
from .errors import AnalysisError
from .psf import PSF_GAMMAS, gamma_weights, psf_tables, psi_position
from .psf import containment as psf_containment
from .response import (
    PsfCorrection,
    irf_products,
    signal_energy_pdf,
    signal_energy_pdf_at,
    yield_per_flux,
)
from .sky import angular_distance
from .skyindex import SkyIndex, sort_key

if TYPE_CHECKING:    # signal events are drawn in trials, not on a request's cold path
    from .inject import SmearingSampler

SECONDS_PER_DAY = 86400.0
# (a string: numpy.random is imported on first use, not by a cold request)
Injector = Callable[[int, "np.random.Generator"], tuple[np.ndarray, ...]]
_GAMMA_STEP = float(GAMMA_GRID[1] - GAMMA_GRID[0])
_N_GAMMA = int(GAMMA_GRID.size)
PRUNE_RATIO = 1e-4
PSF_MODELS = ("table", "gaussian", "angerr")
LOG_RATIO_CLIP = 30.0
# Energy terms kept per source declination key (`energy_slice`; 0.3 MB each): a TS map's
# pixels share a few dozen.
_ENERGY_SLICES_KEPT = 256
# gamma fit: coarse scan on every 10th node of GAMMA_GRID (step 0.5), then Newton steps on
# the profile until one is shorter than _NEWTON_LAST_STEP (the golden section had 2e-3).
_COARSE_NODES = np.arange(0, _N_GAMMA, int(round(0.5 / _GAMMA_STEP)))
_NEWTON_LAST_STEP = 1e-3
# log L within which a neighbouring node counts as on a flat profile (`_fit_gamma_free`).
_FLAT_PROFILE = 1e-3


@dataclass
class Selection:
    """Events that matter for one source hypothesis, plus the closed-form rest."""

    spatial_ratio: np.ndarray      # S/B spatial part
    log_energy_ratio: np.ndarray   # (n, n_gamma) rows on GAMMA_GRID
    season: np.ndarray
    n_window: np.ndarray           # N_s (events per season in the window)
    n_rest: np.ndarray             # N_s minus the selected events, per season
    index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # kappa_s(gamma) on GAMMA_GRID, (n_seasons, n_gamma): the rest term is
    # rest_s log(1 - n c_s kappa_s). 1 - kappa_s is the mean S/B of the events left out,
    # which carry the signal beyond the selection radius (`PointSourceAnalysis.kappa_rows`).
    kappa: np.ndarray | None = None

    def rest_coefficients(self, c: np.ndarray, gamma: float) -> np.ndarray:
        """c_s kappa_s(gamma): the rest term's coefficient at one gamma."""
        return c if self.kappa is None else c * interpolate_gamma(self.kappa, gamma)


@dataclass
class FitResult:
    ts: float
    ns: float
    gamma: float
    gamma_free: bool
    n_selected: int
    season_fraction: np.ndarray
    log_likelihood: float = 0.0


# GAMMA_GRID indices of the four nodes of each cell's cubic (clamped at the ends).
_STENCIL_INDEX = [np.clip(np.arange(j - 1, j + 3), 0, _N_GAMMA - 1) for j in range(_N_GAMMA - 1)]


def _stencil_cell(gamma: float, side: int = 0) -> tuple[int, float]:
    """Cell j of GAMMA_GRID holding `gamma` and the position t in [0, 1] within it.

    `side` (+1 / -1): at a node, take the cell above / below it (the cubic is C1, so
    only its second derivative depends on the choice).
    """
    x = (min(max(gamma, GAMMA_MIN), GAMMA_MAX) - GAMMA_MIN) / _GAMMA_STEP
    j = min(int(x), _N_GAMMA - 2)
    if side:
        node = round(x)
        if abs(x - node) < 1e-9:
            j = min(max(node if side > 0 else node - 1, 0), _N_GAMMA - 2)
    return j, x - j


def gamma_stencil(gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of a Catmull-Rom (C1 cubic) interpolation on GAMMA_GRID.

    Linear interpolation would make the likelihood piecewise smooth in gamma with kinks at
    the nodes, where the maximum then tends to sit; the cubic keeps gamma_hat continuous.
    """
    j, t = _stencil_cell(gamma)
    t2, t3 = t * t, t * t * t
    w = np.array([-t3 + 2 * t2 - t, 3 * t3 - 5 * t2 + 2, -3 * t3 + 4 * t2 + t, t3 - t2])
    return _STENCIL_INDEX[j], 0.5 * w


def _derivative_weights(t: float) -> np.ndarray:
    """(3, 4) weights of the cubic, its first and its second gamma-derivative at t.

    The analytic derivatives let the gamma fit take Newton steps on the profile
    likelihood instead of bracketing it by function values alone.
    """
    t2, t3, h = t * t, t * t * t, _GAMMA_STEP
    return np.array([[-0.5 * t3 + t2 - 0.5 * t, 1.5 * t3 - 2.5 * t2 + 1.0,
                      -1.5 * t3 + 2.0 * t2 + 0.5 * t, 0.5 * t3 - 0.5 * t2],
                     [(-1.5 * t2 + 2.0 * t - 0.5) / h, (4.5 * t2 - 5.0 * t) / h,
                      (-4.5 * t2 + 4.0 * t + 0.5) / h, (1.5 * t2 - t) / h],
                     [(-3.0 * t + 2.0) / h**2, (9.0 * t - 5.0) / h**2,
                      (-9.0 * t + 4.0) / h**2, (3.0 * t - 1.0) / h**2]])


def interpolate_gamma(rows: np.ndarray, gamma: float) -> np.ndarray:
    """Values at `gamma` of quantities tabulated on GAMMA_GRID along the last axis."""
    idx, w = gamma_stencil(gamma)
    return rows[..., idx] @ w


def solve_ns(a: np.ndarray, rest: np.ndarray, c: np.ndarray, start: float | None = None,
             rtol: float = 1e-8) -> float:
    """Maximise sum log(1 + n a_i) + sum_s rest_s log(1 - n c_s) over n >= 0 (concave).

    `start`: a first guess (e.g. the solution at a nearby gamma), used if inside the bracket.
    Returns the point after the last step once it is within ~rtol n: a step below
    rtol (1 + n), or a Newton step below sqrt(rtol) n (its error is ~ step^2 / n, the
    curvature of log(1 + n a) varying on the scale n).
    """
    g0 = a.sum() - (rest * c).sum()
    if g0 <= 0.0:
        return 0.0
    a_min, c_max = a.min(), c.max()          # c >= 0: season shares over counts
    bounds = [1.0 / c_max] if c_max > 0 else []
    if a_min < 0:
        bounds.append(-1.0 / a_min)
    hi = (1.0 - 1e-9) * min(bounds) if bounds else 1e9
    lo = 0.0
    rc, rc2 = rest * c, rest * c * c
    if start is not None and 0.0 < start < hi:
        n = start
    else:
        h0 = (a * a).sum() + rc2.sum()
        n = min(g0 / h0, 0.5 * hi) if h0 > 0 else 0.5 * hi
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
        took = lo < new < hi
        if not took:
            new = 0.5 * (lo + hi)
        step = abs(new - n)
        if step <= rtol * (1.0 + n) or (took and step <= np.sqrt(rtol) * n):
            return new
        n = new
    return n


def solve_ns_rows(a: np.ndarray, rest: np.ndarray, c: np.ndarray, rtol: float = 1e-6,
                  start: np.ndarray | None = None) -> np.ndarray:
    """`solve_ns` for every row of a (m, n_events) and c (m, n_seasons) at once.

    The gamma scans solve independent problems on the same events: one Newton iteration
    over a (m, n) array costs far less than m over n events, where a Python loop would pay
    numpy's per-call overhead m times. `start`: first guesses per row (used if inside the
    bracket).
    """
    out = np.zeros(a.shape[0])
    rc = c * rest
    g0 = a.sum(axis=1) - rc.sum(axis=1)
    act = np.flatnonzero(g0 > 0.0)
    if act.size == 0:
        return out
    a, c, rc, g0 = a[act], c[act], rc[act], g0[act]
    rc2 = rc * c
    cmax, amin = c.max(axis=1), a.min(axis=1)
    with np.errstate(divide="ignore"):
        hi = np.minimum(np.where(cmax > 0, 1.0 / cmax, np.inf),
                        np.where(amin < 0, -1.0 / amin, np.inf))
    hi = np.where(np.isfinite(hi), (1.0 - 1e-9) * hi, 1e9)
    lo = np.zeros(act.size)
    h0 = np.einsum("ij,ij->i", a, a) + rc2.sum(axis=1)
    n = np.where(h0 > 0, np.minimum(g0 / np.where(h0 > 0, h0, 1.0), 0.5 * hi), 0.5 * hi)
    if start is not None:
        guess = start[act]
        n = np.where((guess > 0) & (guess < hi), guess, n)
    buf = np.empty_like(a)
    for _ in range(100):
        # at = a / (1 + n a), in place; rows drop out of the arrays once converged.
        np.multiply(n[:, None], a, out=buf)
        buf += 1.0
        np.divide(a, buf, out=buf)
        u = 1.0 / (1.0 - n[:, None] * c)
        g = buf.sum(axis=1) - (rc * u).sum(axis=1)
        h = np.einsum("ij,ij->i", buf, buf) + (rc2 * u * u).sum(axis=1)
        up = g > 0
        lo = np.where(up, n, lo)
        hi = np.where(up, hi, n)
        newton = np.where(h > 0, n + g / np.where(h > 0, h, 1.0), np.inf)
        took = (lo < newton) & (newton < hi)
        new = np.where(took, newton, 0.5 * (lo + hi))
        # Convergence as in `solve_ns`.
        step = np.abs(new - n)
        converged = (step <= rtol * (1.0 + n)) | (took & (step <= np.sqrt(rtol) * n))
        n = new
        if converged.any():
            out[act[converged]] = n[converged]
            if converged.all():
                return out
            keep = ~converged
            act, a, c, rc, rc2 = act[keep], a[keep], c[keep], rc[keep], rc2[keep]
            n, lo, hi, buf = n[keep], lo[keep], hi[keep], buf[keep]
    out[act] = n
    return out


def bernoulli_subset(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of 0 .. n-1, each kept independently with probability p (sorted).

    Drawn as geometric gaps between kept indices, floor(E / -ln(1 - p)) + 1 with E
    standard exponential: O(kept) where a uniform subset of binomial size
    (`Generator.choice` without replacement) permutes all n once the subset exceeds n / 50,
    e.g. 2,800 of 104,000 events for a 5 deg cone: 0.15 ms per trial.
    """
    if n <= 0 or p <= 0.0:
        return np.zeros(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(n)
    scale = -1.0 / np.log1p(-p)
    mean = n * p
    chunks = []
    last = -1
    while last < n - 1:
        size = int(mean + 6.0 * np.sqrt(mean) + 16) if not chunks else int(mean / 4 + 16)
        gaps = np.floor(rng.standard_exponential(size) * scale).astype(np.int64) + 1
        pos = last + np.cumsum(gaps)
        chunks.append(pos)
        last = int(pos[-1])
    pos = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    return pos[:np.searchsorted(pos, n)]


def sin_dec_row(dec_deg: float) -> int:
    """The SIN_DEC_EDGES row holding a declination (a source's: one value, no array
    overhead)."""
    s = float(np.sin(np.radians(dec_deg)))
    return min(max(int(np.searchsorted(SIN_DEC_EDGES, s, "right")) - 1, 0),
               SIN_DEC_EDGES.size - 2)


def ang_err_bin(ang_err: np.ndarray) -> np.ndarray:
    """LOG_ANG_ERR_EDGES bin of each AngErr [deg] (the energy term's second axis)."""
    return bin_index(np.log10(np.maximum(np.asarray(ang_err, dtype=np.float64), 1e-3)),
                     LOG_ANG_ERR_EDGES)


def log_likelihood(n: float, a: np.ndarray, rest: np.ndarray, c: np.ndarray) -> float:
    return float(np.log1p(n * a).sum() + (rest * np.log1p(-n * c)).sum())


# Name of the precomputed signal energy term in a release's cache; change the suffix
# whenever the energy model changes, so that older caches recompute it.
ENERGY_TABLE_KEY = "energy_signal:v6"
LOG_SIGNAL_FLOOR = -30.0    # log S_E of cells the signal cannot reach


def energy_row_max(table: np.ndarray) -> np.ndarray:
    """exp(max over gamma) of log S_E per cell (the max taken in float32 like the cells):
    with the event's B_E, the bound by which a selection prunes events before gathering
    their rows."""
    return np.exp(table.reshape(-1, table.shape[-1]).max(axis=1)).astype(np.float64)


def signal_energy_table(release: Release, irf_names: list[str]) -> np.ndarray:
    """log S_E(log E, AngErr | source row, gamma) per irf set, float32,
    (n_irf, n_sin_dec, n_log_e, n_ang_err, n_gamma).

    * log E: the smearing table's E_reco distribution (`response.reco_energy_tails`)
      folded with A_eff E^-gamma at each row's declination;
    * AngErr given log E: the background's own, P_B(AngErr | log E, row), from the data
      (`background.energy_density`). The PSF term is conditioned on AngErr
      (`psf.PsfTable`), so the energy term must carry P(AngErr | S) / P(AngErr | B), else
      n_s is biased (Punzi effect); at a given reconstructed energy a track's AngErr
      depends on the track, not on the source of the neutrino, so the two are taken
      equal and the ratio is 1. Why not the table's joint (E_reco, AngErr): its AngErr
      bins are as wide as 0.2-2.3 deg, and the cell masses built from them were 10-25%
      off in the cells where a soft source's events fall (gamma = 3.5 recovered 60% of
      its events, drawn from the detector).

    Folded at each row's centre: the fits use `PointSourceAnalysis.energy_slice`, the
    same cells folded at the source's own declination; this table serves the rows'
    E_B[S_E/B_E] checks and gives the cells' shape. A source's term is that of its
    declination wherever its events are reconstructed (the background's, B_E, is that of
    each event's row). With both taken in the event's row, a cone across two rows saw
    the neighbouring row's signal model: E_B[sum S/B] missed the containment by 5% at
    dec 0 and the score at n_s = 0 was off by -0.45 sd.
    """
    sd_centres = 0.5 * (SIN_DEC_EDGES[1:] + SIN_DEC_EDGES[:-1])
    table = np.zeros((len(irf_names), sd_centres.size, LOG_E_EDGES.size - 1,
                      LOG_ANG_ERR_EDGES.size - 1, GAMMA_GRID.size), dtype=np.float32)
    angerr = angerr_given_energy(event_products(release)["bg_angerr"])
    for g, irf in enumerate(irf_names):
        smear, _ = irf_products(release, irf, False)
        sig = signal_energy_pdf(release.aeff[irf], smear, sd_centres, GAMMA_GRID)
        table[g] = energy_cells(sig, angerr[g])
    return table


def angerr_given_energy(bg_angerr: np.ndarray) -> np.ndarray:
    """P_B(AngErr | log E, row) per irf set from the background counts (uniform where a
    log E bin has none), (n_irf, n_sin_dec, n_log_e, n_ang_err)."""
    bg = np.stack([energy_density(j) for j in bg_angerr])
    norm = bg.sum(axis=3, keepdims=True)
    return np.divide(bg, norm, out=np.full_like(bg, 1.0 / bg.shape[-1]), where=norm > 0)


def energy_cells(sig: np.ndarray, angerr: np.ndarray) -> np.ndarray:
    """log S_E per (..., log E, AngErr, gamma) cell, float32, floored: P(log E | gamma)
    `sig` (..., n_log_e, n_gamma) times P(AngErr | log E) `angerr` (..., n_log_e, n_ang_err)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(sig[..., :, None, :] * angerr[..., None]),
                          LOG_SIGNAL_FLOOR).astype(np.float32)


def precompute_energy_table(release: Release) -> np.ndarray:
    """The signal energy term of a release, for its binary cache (`release.prepare`)."""
    return signal_energy_table(release, sorted({s.irf for s in release.seasons}))


def background_energy_log_pdf(joint: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """log B_E per (irf set, row of `edges`, log E, AngErr) from the pooled counts
    (`energy_density`); cells of empty rows get 0 (no event can fall there)."""
    with np.errstate(divide="ignore"):
        logb = np.log(np.stack([energy_density(j, edges) for j in joint]))
    return np.where(np.isfinite(logb), logb, 0.0).astype(np.float32)


# What the analysis derives from every event of a release, whatever the time window and
# the source: the events' bins, PSF widths, background densities and sky-index key, the
# background histograms (per irf set), the counts per season and the time span. Computed
# once when a release is converted (`release.prepare`) and stored in its binary cache, so a
# cold start passes over none of the 1.1 M events. Bump the version whenever a binning,
# the PSF correction or the background model changes: caches then recompute them.
EVENT_PRODUCTS_VERSION = "v10"
_EVENT_PRODUCTS = ("sd_bin", "le_bin", "ae_bin", "bg_density", "bg_log_energy", "sky_key",
                   "sky_key_sorted", "bg_spatial", "bg_energy", "bg_angerr",
                   "bg_log_energy_pdf", "bg_row_edges", "season_counts", "mjd_span")


def event_product_key(name: str) -> str:
    """Key of a per-event product in `Release.derived` (and the binary cache)."""
    return f"events:{name}:{EVENT_PRODUCTS_VERSION}"


def _sigma_name(psf_correction: bool) -> str:
    return f"sigma_psf{int(psf_correction)}"


def event_products(release: Release, psf_correction: bool | None = None
                   ) -> dict[str, np.ndarray]:
    """The per-event products of `release`, from `release.derived` when there, else
    computed and kept there. The PSF widths (`sigma`) kept are those of the release's own
    setting (`meta["psf_correction"]`, else on); another `psf_correction` computes them."""
    own = bool(release.meta.get("psf_correction", True))
    names = (*_EVENT_PRODUCTS, _sigma_name(own))
    d = release.derived
    if not (all(event_product_key(n) in d for n in names)
            and d[event_product_key("sd_bin")].size == release.n_events):
        d.update({event_product_key(n): v for n, v in _compute_event_products(release).items()})
    out = {n: d[event_product_key(n)] for n in _EVENT_PRODUCTS}
    if psf_correction is None or psf_correction == own:
        out["sigma"] = d[event_product_key(_sigma_name(own))]
    else:
        out["sigma"] = _event_sigma(release, psf_correction, out["le_bin"])
    return out


def _event_sigma(release: Release, psf_correction: bool, le_bin: np.ndarray) -> np.ndarray:
    ev = release.events
    psf = {irf: irf_products(release, irf, psf_correction)[1] for irf in release.smearing}
    return psf_sigma(release.seasons, psf, ev["season"], ev["dec"], ev["log_e"], ev["ang_err"],
                     le_bin)


def _compute_event_products(release: Release) -> dict[str, np.ndarray]:
    ev = release.events
    seasons = release.seasons
    irf_names = sorted({s.irf for s in seasons})
    group = np.array([irf_names.index(s.irf) for s in seasons], dtype=np.int64)
    sin_dec = np.sin(np.radians(ev["dec"]))
    sd = bin_index(sin_dec, SIN_DEC_EDGES)
    le = bin_index(ev["log_e"], LOG_E_EDGES)
    ae = ang_err_bin(ev["ang_err"])
    # Seasons that share irfs (IC86_II-VII) share one detector and event selection: their
    # background PDFs are pooled, which fills the sparse high-energy bins.
    spatial, energy, joint = histograms(group[ev["season"]], sin_dec, ev["log_e"],
                                        len(irf_names), ae, sd_bin=sd, le_bin=le)
    pooled = models_from_histograms(spatial, energy, joint)
    grid, dens = density_table([pooled[g] for g in group])
    step = grid[1] - grid[0]
    cell = np.clip(np.rint((sin_dec + 1.0) / step).astype(np.int64), 0, grid.size - 1)
    key = sort_key(ev["ra"], ev["dec"])
    mjd = ev["mjd"]
    own = bool(release.meta.get("psf_correction", True))
    bg_edges = background_row_edges(ev["dec"].size)
    log_be = background_energy_log_pdf(
        fine_energy_counts(group[ev["season"]], sin_dec, le, ae, len(irf_names), bg_edges),
        bg_edges)
    return {
        "sd_bin": sd, "le_bin": le, "ae_bin": ae,
        _sigma_name(own): _event_sigma(release, own, le),
        "bg_density": dens[ev["season"], cell].astype(np.float32),
        "bg_log_energy": interpolated_log_pdf(log_be, bg_edges, group[ev["season"]], sin_dec,
                                              le, ae),
        "bg_log_energy_pdf": log_be, "bg_row_edges": bg_edges,
        "sky_key": key,
        "sky_key_sorted": np.array([key.size < 2 or bool(np.all(key[1:] >= key[:-1]))]),
        "bg_spatial": spatial, "bg_energy": energy, "bg_angerr": joint,
        "season_counts": np.bincount(ev["season"], minlength=len(seasons)),
        # [min, max] MJD (NaN if any time is NaN: windows then test every event).
        "mjd_span": (np.array([mjd.min(), mjd.max()]) if mjd.size
                     else np.array([np.inf, -np.inf])),
    }


def psf_sigma(seasons: list[Season], psf: dict[str, PsfCorrection], season: np.ndarray,
              dec: np.ndarray, log_e: np.ndarray, ang_err: np.ndarray,
              le_bin: np.ndarray | None = None) -> np.ndarray:
    """Per-event PSF width [deg]: AngErr widened by its irf set's correction."""
    irfs = sorted({s.irf for s in seasons})
    tables = [psf[i] for i in irfs]
    same = all(t.extra_var.shape == tables[0].extra_var.shape
               and np.array_equal(t.dec_edges, tables[0].dec_edges)
               and np.array_equal(t.ang_err_edges, tables[0].ang_err_edges) for t in tables)
    if same:
        irf_of_season = np.array([irfs.index(s.irf) for s in seasons])
        t0 = tables[0]
        stack = np.stack([t.extra_var for t in tables])
        le = le_bin if le_bin is not None else bin_index(log_e, LOG_E_EDGES)
        var = stack[irf_of_season[season], bin_index(dec, t0.dec_edges), le,
                    bin_index(ang_err, t0.ang_err_edges)]
        return np.sqrt(ang_err.astype(np.float64) ** 2 + var).astype(np.float32)
    out = np.empty(season.size, dtype=np.float32)
    for k, s in enumerate(seasons):
        m = season == k
        out[m] = psf[s.irf].sigma(dec[m], log_e[m], ang_err[m])
    return out


class ProfilePoint(NamedTuple):
    """The profile log-likelihood ratio at one gamma, with what a Newton step needs."""

    llh: float              # P = max_n log L(n, gamma) / L(0)
    slope: float            # P'
    curvature_below: float  # P'' on the side of lower gamma (the cubic is only C1 at nodes)
    curvature_above: float  # P'' on the side of higher gamma
    ns: float               # n_hat (0: P = 0 and flat)
    ns_slope: float         # dn_hat / dgamma

    def curvature(self, direction: float) -> float:
        """P'' on the side of `direction` (> 0: towards higher gamma)."""
        return self.curvature_above if direction > 0 else self.curvature_below


_FLAT = ProfilePoint(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


class GammaProfile:
    """Profile log-likelihood ratio P(gamma) = max_n log L(n, gamma) of one selection.

    With L(n, gamma) = sum_i log(1 + n a_i) + sum_s rest_s log(1 - n c_s), a_i = c_s(i)
    (x_i - 1), x_i = S/B of event i: P' = dL/dgamma at n_hat (envelope theorem) and
    P'' = L_gg - L_ng^2 / L_nn, from the gamma-derivatives of the cubic interpolation of
    log(S_E/B_E) and of the season shares. Newton steps on P then need a handful of
    evaluations where bracketing by values alone (golden section) needs ~14.
    """

    def __init__(self, sel: Selection, yields: np.ndarray) -> None:
        self.sel = sel
        self.positive = yields.max(axis=1) > 0
        self.log_yields = np.log(np.maximum(yields, 1e-300))
        nw = sel.n_window
        self.per_event = np.divide(1.0, nw, out=np.zeros_like(nw), where=nw > 0)
        self.kappa = (sel.kappa if sel.kappa is not None
                      else np.ones((nw.size, _N_GAMMA)))

    def evaluate(self, gamma: float, n_start: float | None, solved: bool = False
                 ) -> ProfilePoint:
        """P and its derivatives at gamma (all zero where n_hat = 0).

        `n_start`: first guess for n_hat, or n_hat itself when `solved`.
        """
        sel = self.sel
        j, t_cell = _stencil_cell(gamma, +1)
        idx, w = _STENCIL_INDEX[j], _derivative_weights(t_cell)
        lam = self.log_yields[:, idx] @ w.T                       # (n_seasons, 3)
        y = np.where(self.positive, np.exp(lam[:, 0]), 0.0)
        total = y.sum()
        f = y / total if total > 0 else y
        dev = lam[:, 1] - f @ lam[:, 1]
        f1 = f * dev
        c, c1 = f * self.per_event, f1 * self.per_event
        kap = self.kappa[:, idx] @ w.T                            # (n_seasons, 3)
        r, r1 = c * kap[:, 0], c1 * kap[:, 0] + c * kap[:, 1]   # rest coefficients
        ell, ell1, ell2 = w @ sel.log_energy_ratio[:, idx].T     # (3, n_events)
        x = sel.spatial_ratio * np.exp(ell)
        season, rest = sel.season, sel.n_rest
        cs, cs1 = c[season], c1[season]
        xm1 = x - 1.0
        a = cs * xm1
        n = float(n_start) if solved and n_start else solve_ns(a, rest, r, n_start, 1e-6)
        if n <= 0.0:
            return _FLAT
        xl1 = x * ell1
        a1 = cs1 * xm1 + cs * xl1
        t = 1.0 / (1.0 + n * a)
        at = a * t
        a1t = a1 * t
        u = 1.0 / (1.0 - n * r)
        ru, ru2 = rest * u, rest * u * u
        llh = float(np.log1p(n * a).sum() + rest @ np.log1p(-n * r))
        d1 = n * (a1t.sum() - ru @ r1)
        l_nn = -(at @ at + ru2 @ (r * r))
        l_ng = a1t @ t - ru2 @ r1
        first_order = n * n * (a1t @ a1t + ru2 @ (r1 * r1)) + l_ng * l_ng / l_nn

        def curvature(lam2: np.ndarray, ell2: np.ndarray, kap2: np.ndarray) -> float:
            # Only the second derivatives of the cubic differ between the cells of a node.
            f2 = f1 * dev + f * (lam2 - f @ (dev * dev) - f @ lam2)
            c2 = f2 * self.per_event
            r2 = c2 * kap[:, 0] + 2.0 * c1 * kap[:, 1] + c * kap2
            a2 = c2[season] * xm1 + 2.0 * cs1 * xl1 + cs * (xl1 * ell1 + x * ell2)
            return float(n * (a2 @ t - ru @ r2) - first_order)

        above = below = curvature(lam[:, 2], ell2, kap[:, 2])
        j_below, t_below = _stencil_cell(gamma, -1)
        if j_below != j:                                          # at a node
            idx_b, w_b = _STENCIL_INDEX[j_below], _derivative_weights(t_below)[2]
            below = curvature(self.log_yields[:, idx_b] @ w_b,
                              w_b @ sel.log_energy_ratio[:, idx_b].T,
                              self.kappa[:, idx_b] @ w_b)
        return ProfilePoint(llh, float(d1), below, above, n, float(-l_ng / l_nn))

    def maximise(self, gamma: float, start: ProfilePoint, far: float, far_llh: float
                 ) -> tuple[float, float, float]:
        """(gamma_hat, n_hat, P) climbing from `gamma` (evaluated: `start`) towards `far`.

        Safeguarded Newton: the bracket [near, far] keeps P' > 0 (in the climbing
        direction) at `near` and P no higher than the maximum at `far` (P(far) =
        `far_llh`); where a Newton step leaves it or P is not concave, the step goes to
        the top of the parabola through P(near), P'(near) and P(far), kept within the
        inner 80% of the bracket. Returns the best point.
        """
        pt = near_pt = start
        best = (gamma, pt.ns, pt.llh)
        sign = 1.0 if pt.slope > 0 else -1.0
        near = g = gamma
        for _ in range(60):
            d2 = pt.curvature(pt.slope)
            newton = -pt.slope / d2 if (pt.ns > 0.0 and d2 < 0.0) else np.inf
            target = g + newton
            inside = min(near, far) < target < max(near, far)
            if inside and abs(newton) <= _NEWTON_LAST_STEP:
                # The last step is taken on the quadratic model, not evaluated: gamma and
                # n_s are then off by O(step^2) and P by O(step^3).
                llh = pt.llh + 0.5 * pt.slope * newton
                if llh > best[2]:
                    best = (target, pt.ns + pt.ns_slope * newton, llh)
                break
            if abs(far - near) <= _NEWTON_LAST_STEP:
                break
            if not inside:
                width = far - near
                curv = (far_llh - near_pt.llh - near_pt.slope * width) / width**2
                frac = -near_pt.slope / (2.0 * curv * width) if curv < 0.0 else 0.5
                target = near + min(max(frac, 0.1), 0.9) * width
            guess = pt.ns + pt.ns_slope * (target - g) if pt.ns > 0.0 else None
            pt = self.evaluate(target, guess)
            g = target
            if pt.ns <= 0.0 or pt.slope * sign < 0.0:
                far, far_llh = g, pt.llh
            else:
                near, near_pt = g, pt
            if pt.llh > best[2]:
                best = (g, pt.ns, pt.llh)
        return best


class PointSourceAnalysis:
    """Everything that does not depend on the source position, built once per release."""

    def __init__(self, release: Release, mjd_range: tuple[float, float] | None = None,
                 radius_deg: float = 5.0, psf_correction: bool | None = None,
                 energy: bool = True, psf_model: str | None = None,
                 allow_empty: bool = False) -> None:
        """`allow_empty`: a window without events is an analysis (the transient likelihood
        answers it), not an `AnalysisError`. `psf_model`: "table" (the smearing table's PSF per gamma, `psf.PsfTable`; the
        default where the release's PSF differs from AngErr), "gaussian" (a Gaussian of
        AngErr widened for E^-2, `response.PsfCorrection`) or "angerr" (a Gaussian of
        AngErr; the 3-year release, whose table has no PSF of its own). `psf_correction`
        True / False asks for "gaussian" / "angerr" (the former switch)."""
        self.release_name = release.name
        self.seasons = release.seasons
        self.radius_deg = float(radius_deg)
        ev = release.events
        t1, t2 = mjd_range if mjd_range is not None else (-np.inf, np.inf)
        self.mjd_range = (float(t1), float(t2))
        if psf_model is None:
            own = bool(release.meta.get("psf_correction", True))
            psf_model = (("table" if own else "angerr") if psf_correction is None
                         else ("gaussian" if psf_correction else "angerr"))
        if psf_model not in PSF_MODELS:
            raise ValueError(f"psf_model {psf_model!r}: one of {PSF_MODELS}")
        self.psf_model = psf_model
        if psf_correction is None:
            psf_correction = psf_model != "angerr"
        n_seasons = len(self.seasons)
        self.aeff = [release.aeff[s.irf] for s in self.seasons]
        products = {irf: irf_products(release, irf, psf_correction) for irf in release.smearing}
        self.psf = {irf: p[1] for irf, p in products.items()}
        self._smearing_tables = release.smearing
        self._samplers: dict[str, SmearingSampler] = {}
        self._energy_keys: dict[float, tuple[int, ...]] = {}
        self._seasons_of_irf = {irf: np.array([k for k, s in enumerate(self.seasons)
                                               if s.irf == irf])
                                for irf in dict.fromkeys(s.irf for s in self.seasons)}
        # Per-event bins, PSF widths and background densities, and the background
        # histograms: read from the binary cache (computed if it lacks them).
        prod = event_products(release, psf_correction)
        # Seasons that share irfs (IC86_II-VII) share one background model and one table
        # of log(S/B) (`event_products`).
        irf_names = sorted({s.irf for s in self.seasons})
        group = np.array([irf_names.index(s.irf) for s in self.seasons])
        self._table_of_season = group
        pooled = models_from_histograms(prod["bg_spatial"], prod["bg_energy"],
                                        prod["bg_angerr"])
        self.background: list[BackgroundModel] = [pooled[g] for g in group]
        # The energy term: log S_E by (irf set, SOURCE row, log E, AngErr), on GAMMA_GRID
        # (`signal_energy_table`, in the binary cache), and each event's log B_E (its own
        # row; `background_energy_log_pdf`). energy=False: spatial only (S_E = B_E).
        # A source's own term is folded at its declination (`energy_slice`); the per-row
        # table gives the shape, energy=False's zeros, and the rows' E_B[S_E/B_E] checks.
        if not energy:
            table = np.zeros((len(irf_names), SIN_DEC_EDGES.size - 1, LOG_E_EDGES.size - 1,
                              LOG_ANG_ERR_EDGES.size - 1, GAMMA_GRID.size), dtype=np.float32)
        elif ENERGY_TABLE_KEY in release.derived:
            table = release.derived[ENERGY_TABLE_KEY]
        else:
            table = signal_energy_table(release, irf_names)
        self.log_signal_energy = table
        self.energy = bool(energy)
        # The energy term of a source is folded at ITS declination (`energy_slice`): the
        # table's rows are folded at their centres, where A_eff (40 sin dec bins in the
        # 10-year release against our 30 rows) can be another bin's than the source's.
        self._irf_aeff = [release.aeff[irf] for irf in irf_names]
        self._irf_smearing = [products[irf][0] for irf in irf_names]
        self._angerr_given_energy = (angerr_given_energy(prod["bg_angerr"]) if energy
                                     else None)
        self._energy_slices: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._bg_log_energy_pdf = prod["bg_log_energy_pdf"]
        self._bg_angerr_counts = prod["bg_angerr"]
        self._bg_row_edges = prod["bg_row_edges"]
        # The tabulated PSF: rows of log density per (cell, psi bin), values on PSF_GAMMAS,
        # carried onto GAMMA_GRID by a cubic (`_psf_to_grid`).
        self._psf: np.ndarray | None = None
        if psf_model == "table":
            logd = psf_tables(release, irf_names)
            self._psf = logd.reshape(-1, logd.shape[-1])
            self._psf_shape = logd.shape
            self._psf_to_grid = gamma_weights(PSF_GAMMAS, GAMMA_GRID).astype(np.float32)
            self._containment: dict[tuple[int, ...], np.ndarray] = {}
        # Events of the window, sorted for cone queries. A window holding the whole span of
        # the release takes the arrays as they are (no pass over the events).
        span = prod["mjd_span"]
        cols = {**ev, "sd_bin": prod["sd_bin"], "le_bin": prod["le_bin"],
                "ae_bin": prod["ae_bin"], "sigma": prod["sigma"],
                "bg_density": prod["bg_density"], "sky_key": prod["sky_key"],
                "bg_log_energy": prod["bg_log_energy"]}
        if t1 <= span[0] and span[1] <= t2:
            n_window = prod["season_counts"]
        else:
            win = (ev["mjd"] >= t1) & (ev["mjd"] <= t2)
            cols = {c: v[win] for c, v in cols.items()}
            n_window = np.bincount(cols["season"], minlength=n_seasons)
        if not np.any(n_window) and not allow_empty:
            raise AnalysisError("no events in this time range")
        self.index = SkyIndex(cols["ra"], cols["dec"], cols["sky_key"],
                              bool(prod["sky_key_sorted"][0]))
        if self.index.order is not None:
            cols = {c: v[self.index.order] for c, v in cols.items()}
        self.ra, self.dec, self.mjd = cols["ra"], cols["dec"], cols["mjd"]
        self.log_e, self.ang_err, self.season = cols["log_e"], cols["ang_err"], cols["season"]
        self.sd_bin, self.le_bin, self.ae_bin = cols["sd_bin"], cols["le_bin"], cols["ae_bin"]
        self.sigma, self.bg_density = cols["sigma"], cols["bg_density"]
        self.bg_log_energy = (cols["bg_log_energy"] if energy
                              else np.zeros(cols["ra"].size, dtype=np.float32))
        self.n_window = np.asarray(n_window, dtype=float)
        self.livetime_s = np.array([s.livetime_in(t1, t2) for s in self.seasons]) * SECONDS_PER_DAY
        if self.livetime_s.sum() <= 0:
            raise AnalysisError("no detector livetime in this time range")
        self._yield_cache: dict[tuple[int, ...], np.ndarray] = {}
        self._strips: dict[tuple[float, float], tuple[int, int, float]] = {}

    def _cell_index(self, season: np.ndarray, sd: np.ndarray | int, le: np.ndarray,
                    ae: np.ndarray) -> np.ndarray:
        """Flat index into the PSF table (and the per-row energy table) of events with these seasons
        and bins; `sd`: the source's row for the signal tables, or the events' own."""
        return np.ravel_multi_index((self._table_of_season[season], sd, le, ae),
                                    self.log_signal_energy.shape[:4])

    def background_log_energy(self, season: np.ndarray, dec: np.ndarray, le: np.ndarray,
                              ae: np.ndarray) -> np.ndarray:
        """log B_E of events in these seasons, at these declinations and bins."""
        if not self.energy:
            return np.zeros(season.size, dtype=np.float32)
        return interpolated_log_pdf(self._bg_log_energy_pdf, self._bg_row_edges,
                                    self._table_of_season[season], np.sin(np.radians(dec)),
                                    le, ae)

    # ----- source-dependent pieces -------------------------------------------------------
    def season_yields(self, dec: float, only_season: int | None = None) -> np.ndarray:
        """Expected events per unit flux (GeV^-1 cm^-2 s^-1 at 1 TeV), (n_season, n_gamma).

        `only_season`: zero the other seasons, i.e. fit that season alone (light curves).
        """
        # A_eff is constant within a declination bin: so are the yields (a TS map's pixels,
        # each at its own declination, share a few dozen of them).
        key = tuple(a.dec_bin(dec) for a in self.aeff)
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

    def containment(self, dec: float) -> np.ndarray:
        """Share of a source's signal within `radius_deg`, per season, on GAMMA_GRID (the
        tabulated PSF; 1 for the Gaussian ones, normalised on the cone per event)."""
        n_seasons = len(self.seasons)
        if self._psf is None:
            return np.ones((n_seasons, _N_GAMMA))
        row, key = sin_dec_row(dec), self.energy_key(dec)
        per_group = self._containment.get(key)
        if per_group is None:
            logd = self._psf.reshape(self._psf_shape)[:, row]
            inside = np.stack([psf_containment(logd[g], self._cell_mass(g, dec),
                                               self.radius_deg)
                               for g in range(logd.shape[0])])
            per_group = np.clip(inside @ self._psf_to_grid.astype(np.float64), 0.0, 1.0)
            self._containment[key] = per_group
        return per_group[self._table_of_season]

    def _cell_mass(self, group: int, dec: float) -> np.ndarray:
        """P(log E, AngErr | S) of a source at `dec` on PSF_GAMMAS, (n_le, n_ae, n_gk): the
        energy term's own (the background's with energy=False, where S_E = B_E)."""
        if not self.energy:
            p = energy_density(self._bg_angerr_counts[group])[sin_dec_row(dec)]
            return np.repeat(p[..., None], PSF_GAMMAS.size, axis=-1)
        nodes = np.rint((PSF_GAMMAS - GAMMA_MIN) / _GAMMA_STEP).astype(int)
        rows, _ = self.energy_slice(dec)
        cells = rows.reshape(self.log_signal_energy.shape[:1] + self.log_signal_energy.shape[2:])
        return np.exp(cells[group][..., nodes].astype(np.float64))

    def energy_key(self, dec: float) -> tuple[int, ...]:
        """What the energy term of a source depends on: its row (AngErr given log E) and,
        per irf set, its A_eff declination bin and smearing band."""
        key = self._energy_keys.get(dec)
        if key is None:                  # trials ask it for one position thousands of times
            if len(self._energy_keys) >= 4096:
                self._energy_keys.clear()
            key = (sin_dec_row(dec), *(a.dec_bin(dec) for a in self._irf_aeff),
                   *(int(m.band(dec)) for m in self._irf_smearing))
            self._energy_keys[dec] = key
        return key

    def energy_slice(self, dec: float) -> tuple[np.ndarray, np.ndarray]:
        """log S_E of a source at `dec` by flat (irf set, log E, AngErr) cell on GAMMA_GRID,
        (n_cells, n_gamma), and per cell exp(max over gamma) for pruning.

        The smearing table folded with A_eff E^-gamma of the source's own declination bin
        (`response.signal_energy_pdf_at`), AngErr given log E as the background's in the
        source's row. Folded at the row's centre instead, a source at -30 deg (an A_eff
        bin edge, the row's centre) read the neighbouring bin's spectrum: 0.1 dex harder,
        and n_s of signal drawn from the irfs came out 2.6% low.
        """
        key = self.energy_key(dec)
        hit = self._energy_slices.get(key)
        if hit is None:
            if self._angerr_given_energy is None:    # energy=False: S_E = B_E
                cells = self.log_signal_energy[:, key[0]]
            else:
                sig = np.stack([signal_energy_pdf_at(a, m, dec, GAMMA_GRID)
                                for a, m in zip(self._irf_aeff, self._irf_smearing,
                                                strict=True)])
                cells = energy_cells(sig, self._angerr_given_energy[:, key[0]])
            if len(self._energy_slices) >= _ENERGY_SLICES_KEPT:
                self._energy_slices.clear()
            hit = (cells.reshape(-1, cells.shape[-1]), energy_row_max(cells))
            self._energy_slices[key] = hit
        return hit

    def kappa_rows(self, dec: float, n_window: np.ndarray, rest: np.ndarray
                   ) -> np.ndarray | None:
        """kappa_s = 1 - x_rest,s on GAMMA_GRID: the events left out of a selection (beyond
        the radius, or pruned) hold the share 1 - C_s of the signal, so their mean S/B is
        x_rest,s = (1 - C_s) N_s / rest_s; the Gaussian PSFs, normalised on the cone,
        have none (None)."""
        if self._psf is None:
            return None
        q = np.divide(n_window, rest, out=np.zeros_like(n_window, dtype=float), where=rest > 0)
        return np.clip(1.0 - (1.0 - self.containment(dec)) * q[:, None], 0.0, 1.0)

    def _log_psf(self, cell: np.ndarray, psi: np.ndarray) -> np.ndarray:
        """log S_psi [sr^-1] of events in these cells at these angles, on PSF_GAMMAS."""
        n_psi = self._psf_shape[4]
        j, t = psi_position(psi)
        base = cell * n_psi + j
        lo = np.take(self._psf, base, axis=0)
        hi = np.take(self._psf, base + 1, axis=0)
        return lo + t[:, None].astype(np.float32) * (hi - lo)

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
        return self._build_selection(idx, psi, self.n_window, dec)

    def _build_selection(self, idx: np.ndarray, psi: np.ndarray, n_window: np.ndarray,
                         dec: float, extra: dict[str, np.ndarray] | None = None) -> Selection:
        sigma, dens = self.sigma[idx], self.bg_density[idx]
        season = self.season[idx]
        le, ae, log_be = self.le_bin[idx], self.ae_bin[idx], self.bg_log_energy[idx]
        if extra is not None:
            psi = np.concatenate([psi, extra["psi"]])
            sigma = np.concatenate([sigma, extra["sigma"]])
            dens = np.concatenate([dens, extra["density"]])
            le = np.concatenate([le, extra["le_bin"]])
            ae = np.concatenate([ae, extra["ae_bin"]])
            log_be = np.concatenate([log_be, self.background_log_energy(
                extra["season"], extra["dec"], extra["le_bin"], extra["ae_bin"])])
            season = np.concatenate([season, extra["season"]])
            idx = np.concatenate([idx, np.full(extra["psi"].size, -1)])
        # Signal PDFs are those of the source (its declination's energy term, its row's
        # PSF), the background's each event's own.
        src_row = sin_dec_row(dec)
        group = self._table_of_season[season]
        energy_rows, ratio_max = self.energy_slice(dec)
        ecell = np.ravel_multi_index((group, le, ae), (self.log_signal_energy.shape[0],
                                                       *self.log_signal_energy.shape[2:4]))
        inv_be = np.exp(-log_be.astype(np.float64))
        if self._psf is None:
            r = self._spatial_ratio(psi, sigma, dens) * inv_be
            keep = r * ratio_max[ecell] > PRUNE_RATIO
            rows = np.take(energy_rows, ecell[keep], axis=0)
        else:
            log_s = self._log_psf(self._cell_index(season, src_row, le, ae), psi)
            r = inv_be / dens.astype(np.float64)
            keep = np.exp(log_s.max(axis=1)) * r * ratio_max[ecell] > PRUNE_RATIO
            rows = np.take(energy_rows, ecell[keep], axis=0) + log_s[keep] @ self._psf_to_grid
        season = season[keep]
        rest = n_window - np.bincount(season, minlength=len(self.seasons))
        return Selection(r[keep], rows, season, n_window, rest, idx[keep],
                         self.kappa_rows(dec, n_window, rest))

    # ----- fitting -----------------------------------------------------------------------
    def terms(self, sel: Selection, yields: np.ndarray, gamma: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-event a_i, per-season rest counts and c_s = f_s / N_s of the likelihood."""
        f, _ = self._fractions(yields, gamma)
        c = np.divide(f, sel.n_window, out=np.zeros_like(f), where=sel.n_window > 0)
        x = sel.spatial_ratio * np.exp(interpolate_gamma(sel.log_energy_ratio, gamma))
        a = c[sel.season] * (x - 1.0)
        return a, sel.n_rest, sel.rest_coefficients(c, gamma)

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
        return self._fit_gamma_free(sel, yields, default_gamma)

    def _fit_gamma_free(self, sel: Selection, yields: np.ndarray, default_gamma: float
                        ) -> FitResult:
        """(n_s, gamma) fit: node scans of the profile, then Newton steps within one cell.

        The profile log-likelihood P(gamma) = max_n log L(n, gamma) is taken at nodes of
        GAMMA_GRID, where the interpolated energy term is the table itself, so a scan is
        one array operation and one vectorised n_s solve: first every 0.5 in gamma (if
        the score at n_s = 0 is <= 0 at all of them, TS = 0 exactly), then at the 0.05
        nodes of the half step into which P rises from the best one (P', like P'', comes
        from the analytic gamma-derivatives of the cubic: `GammaProfile`). From the best
        fine node, safeguarded Newton steps on P climb into the cell where P rises; the
        neighbouring node is no higher, so a maximum lies in that cell. The fine scan
        matters: the C1 cubic puts wiggles of ~1e-4 in TS on flat profiles, and a climb
        from the coarse node alone stops on the nearest one.
        """
        positive = yields.max(axis=1) > 0
        n_hat, vals = self._scan_nodes(sel, yields, positive, _COARSE_NODES)
        k = int(np.argmax(vals))
        if vals[k] <= 0.0:
            f0, _ = self._fractions(yields, default_gamma)
            return FitResult(0.0, 0.0, default_gamma, True, sel.season.size, f0, 0.0)
        # P rises from node k into one half step (the inner one at an end of the range,
        # where the cubic's clamped end tangent can bend P up): scan it on the fine nodes.
        prof = GammaProfile(sel, yields)
        node_k = int(_COARSE_NODES[k])
        at_k = prof.evaluate(float(GAMMA_GRID[node_k]), float(n_hat[k]), solved=True)
        if at_k.ns <= 0.0 or at_k.slope == 0.0:
            f, _ = self._fractions(yields, float(GAMMA_GRID[node_k]))
            return FitResult(2.0 * at_k.llh, at_k.ns, float(GAMMA_GRID[node_k]), True,
                             sel.season.size, f, at_k.llh)
        half = 1 if at_k.slope > 0 else -1
        if not 0 <= k + half < _COARSE_NODES.size:
            half = -half
        lo, hi = sorted((node_k, int(_COARSE_NODES[k + half])))
        nodes = np.arange(lo, hi + 1)
        n_nodes = np.interp(nodes, _COARSE_NODES, n_hat)
        v_nodes = np.interp(nodes, _COARSE_NODES, vals)      # exact at the coarse nodes
        n_nodes[1:-1], v_nodes[1:-1] = self._scan_nodes(sel, yields, positive, nodes[1:-1],
                                                        n_nodes[1:-1])
        j = int(np.argmax(v_nodes))
        node = lo + j
        g = float(GAMMA_GRID[node])
        start = at_k if node == node_k else prof.evaluate(g, float(n_nodes[j]), solved=True)
        llh, n = start.llh, start.ns
        rising = 1 if start.slope > 0 else -1
        if n > 0.0 and start.slope != 0.0 and 0 <= node + rising < _N_GAMMA:
            if lo <= node + rising <= hi:
                far_llh = float(v_nodes[j + rising])
            else:                              # next node outside the scan: P there
                far_llh = float(self._scan_nodes(sel, yields, positive,
                                                 np.array([node + rising]))[1][0])
            if far_llh <= llh:
                g, n, llh = prof.maximise(g, start, float(GAMMA_GRID[node + rising]),
                                          far_llh)
        other = -rising
        if n > 0.0 and 0 <= node + other < _N_GAMMA:
            # Flat profile: the C1 cubic's wiggles (1e-5 - 1e-4 in TS) can put a second,
            # higher maximum in the cell on the other side of the node; climb there too,
            # from the middle of the cell.
            if lo <= node + other <= hi:
                n_other, v_other = float(n_nodes[j + other]), float(v_nodes[j + other])
            else:                              # outside the fine scan: P there
                n_o, v_o = self._scan_nodes(sel, yields, positive, np.array([node + other]))
                n_other, v_other = float(n_o[0]), float(v_o[0])
            if v_nodes[j] - v_other < _FLAT_PROFILE:
                g_mid = float(GAMMA_GRID[node]) + 0.5 * other * _GAMMA_STEP
                pt = prof.evaluate(g_mid, 0.5 * (float(n_nodes[j]) + n_other))
                if pt.ns > 0.0 and pt.slope != 0.0:
                    toward_other = (pt.slope > 0) == (other > 0)
                    end, far_llh = ((node + other, v_other) if toward_other
                                    else (node, float(v_nodes[j])))
                    g2, n2, llh2 = prof.maximise(g_mid, pt, float(GAMMA_GRID[end]), far_llh)
                    if llh2 > llh:
                        g, n, llh = g2, n2, llh2
        f, _ = self._fractions(yields, g)
        return FitResult(2.0 * llh, n, g, True, sel.season.size, f, llh)

    def _scan_nodes(self, sel: Selection, yields: np.ndarray, positive: np.ndarray,
                    nodes: np.ndarray, start: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(n_hat, log L ratio) at GAMMA_GRID[nodes], all nodes in one array operation.

        At a node the interpolated energy term is the table column itself. `start`: first
        guesses for n_hat.
        """
        y = np.where(positive[:, None], yields[:, nodes], 0.0)
        total = y.sum(axis=0)
        f = y / np.where(total > 0, total, 1.0)
        c = np.divide(f.T, sel.n_window, out=np.zeros((nodes.size, f.shape[0])),
                      where=sel.n_window > 0)                       # (n_nodes, n_seasons)
        x = sel.spatial_ratio * np.exp(sel.log_energy_ratio[:, nodes].T.astype(np.float64))
        a = np.take(c, sel.season, axis=1) * (x - 1.0)              # (n_nodes, n_events)
        r = c if sel.kappa is None else c * sel.kappa[:, nodes].T
        n_hat = solve_ns_rows(a, sel.n_rest, r, start=start)
        vals = np.zeros(nodes.size)
        act = n_hat > 0
        vals[act] = np.log1p(n_hat[act, None] * a[act]).sum(axis=1) \
            + np.log1p(-n_hat[act, None] * r[act]) @ sel.n_rest
        return n_hat, vals

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

        RA is uniform for background, so each event of the declination strips falls in the
        RA window independently with probability (window width) / 360 deg, at a fresh
        uniform RA within it.
        """
        key = (float(dec), self.radius_deg)
        if key not in self._strips:           # trials repeat one position: ask the index once
            if len(self._strips) > 64:
                self._strips.clear()
            self._strips[key] = (*self.index.strip_range(dec, self.radius_deg),
                                 self.index.ra_half_width(dec, self.radius_deg))
        start, stop, half = self._strips[key]
        idx = start + bernoulli_subset(stop - start, min(2.0 * half / 360.0, 1.0), rng)
        # Haversine on the RA offsets drawn (the new RA = ra + offset, mod 360).
        half_dra = np.radians(0.5) * rng.uniform(-half, half, idx.size)
        dec_i = np.radians(self.dec[idx])
        dec_0 = np.radians(dec)
        hav = np.sin(0.5 * (dec_i - dec_0)) ** 2 + np.cos(dec_i) * (np.cos(dec_0)
                                                                    * np.sin(half_dra) ** 2)
        keep = hav < np.sin(np.radians(0.5 * self.radius_deg)) ** 2
        idx = idx[keep]
        psi = np.degrees(2.0 * np.arcsin(np.sqrt(hav[keep])))
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
        return self._build_selection(idx[keep], psi[keep], n_window, dec, extra)

    def signal_events(self, ra: float, dec: float, n: int, gamma: float,
                      rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        """`n` signal events drawn from the irfs, in the derived form the likelihood uses."""
        from .inject import SmearingSampler, place

        if n <= 0:
            return None
        f, _ = self._fractions(self.season_yields(dec), gamma)
        counts = rng.multinomial(n, f)
        parts = []
        # Seasons sharing an irf set share its A_eff and smearing: one draw for them all.
        for irf, ks in self._seasons_of_irf.items():
            c = counts[ks]
            if c.sum() == 0:
                continue
            if irf not in self._samplers:
                self._samplers[irf] = SmearingSampler.from_table(self._smearing_tables[irf])
            log_e, psf, ang = self._samplers[irf].draw(self.aeff[ks[0]], dec, gamma,
                                                       int(c.sum()), rng)
            r, d = place(ra, dec, psf, rng)
            parts.append((np.repeat(ks, c).astype(np.int8), r, d, log_e, ang))
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
