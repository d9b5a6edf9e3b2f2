"""Signal response from a release's irfs: yields, energy PDFs and the PSF correction.

* Yield: expected events per unit flux normalisation, sum over E_nu bins of
  A_eff(E_nu, dec) * ∫ (E/1 TeV)^-gamma dE, times livetime.
* Signal energy PDF at a declination: the smearing matrix (fractions of reconstructed
  energy per true-energy cell) folded with A_eff * E^-gamma, on our log E bins.
* PSF correction: the release's events report AngErr, but the true PSF also holds the
  neutrino–muon angle. From the smearing table (weighted for E^-2) we take, per
  (declination band, log E, AngErr) cell, the Rayleigh width of the PSF and of AngErr
  (from mean log angles, robust to the long PSF tail) and add their quadratic difference
  to each event's AngErr^2. Without it the spatial PDF is too narrow and n_s is biased low.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .binning import (
    LOG_E_EDGES,
    bin_index,
    overlap_fractions,
    power_law_integrals,
)
from .dataset import EffectiveArea, Release

# E[ln psi] = ln(sigma) + (ln 2 - Euler gamma) / 2 for a 2-D Gaussian of width sigma.
RAYLEIGH_LOG_OFFSET = 0.5 * (np.log(2.0) - np.euler_gamma)
MIN_CELL_WEIGHT = 1e-4
PSF_ANGERR_EDGES = np.array([0.0, 0.3, 0.45, 0.6, 0.8, 1.0, 1.4, 2.0, 3.0, 5.0, 180.0])


def _decay_length(mass: float, width: float, density: float) -> float | None:
    """lambda with density * lambda * (1 - exp(-width / lambda)) = mass: an outer bin
    whose mass falls off exponentially from its neighbour's density; None if the bin
    holds as much as that density spread uniformly (then it stays uniform)."""
    if density <= 0 or mass >= density * width:
        return None
    lam = mass / density
    for _ in range(30):
        lam = mass / density / -np.expm1(-width / lam)
    return float(lam)


def smearing_cells(table: np.ndarray) -> np.ndarray:
    """Index of each smearing row's (E_nu, Dec_nu) cell (rows of a cell share both)."""
    _, ie = np.unique(table[:, 0].round(6), return_inverse=True)
    _, idd = np.unique(table[:, 2].round(6), return_inverse=True)
    return ie.ravel() * (idd.max() + 1) + idd.ravel()


def reco_energy_tails(table: np.ndarray) -> np.ndarray:
    """Shape of each smearing row within its reconstructed-energy bounds: 0 uniform,
    lambda < 0 an exponential rising towards the upper bound (a cell's lowest bin),
    lambda > 0 one falling from the lower bound (its highest bin), |lambda| in dex.

    A row gives only the bounds of its E_reco bin; the tables' bins are adaptive, so the
    outer ones are wide (a lowest bin may reach 0.8 dex below the next edge). Spread
    uniformly, such a bin put signal where the selection keeps almost no event (at dec 0,
    gamma = 3.5: 1.4% of the signal at log E 1.0-1.25, against 0.03% drawn from the
    detector) and widened the energy PDF at both ends. The two outer bins of each
    (E_nu, Dec_nu) cell are given the exponential that continues their neighbour's
    density and holds their mass (`_decay_length`); inner bins, narrow where the
    distribution is dense, stay uniform.
    """
    lo, hi, frac = table[:, 4], table[:, 5], table[:, 10]
    cell = smearing_cells(table)
    shape = np.zeros(lo.size)
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(cell.max() + 2))
    for k in range(bounds.size - 1):
        rows = order[bounds[k]:bounds[k + 1]]
        edges, inv = np.unique(np.concatenate([lo[rows], hi[rows]]).round(6),
                               return_inverse=True)
        i_lo, i_hi = inv[:rows.size], inv[rows.size:]
        if edges.size < 4 or np.any(i_hi != i_lo + 1):    # not a partition: keep uniform
            continue
        mass = np.bincount(i_lo, frac[rows], edges.size - 1)
        width = np.diff(edges)
        dens = mass / np.maximum(width, 1e-12)
        lam_lo = _decay_length(mass[0], width[0], dens[1])
        lam_hi = _decay_length(mass[-1], width[-1], dens[-2])
        if lam_lo is not None:
            shape[rows[i_lo == 0]] = -lam_lo
        if lam_hi is not None:
            shape[rows[i_lo == mass.size - 1]] = lam_hi
    return shape


def _row_cdf(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """CDF at x (broadcast) of rows on [lo, hi] with the `reco_energy_tails` shapes."""
    w = np.maximum(hi - lo, 1e-12)
    u = np.clip((x - lo) / w, 0.0, 1.0)
    lam = np.where(shape != 0, np.abs(shape), 1.0)
    z = -np.expm1(-w / lam)
    d = np.clip(x - lo, 0.0, w)
    rising = (np.exp((d - w) / lam) - np.exp(-w / lam)) / z      # density grows towards hi
    falling = -np.expm1(-d / lam) / z                            # density falls from lo
    return np.where(shape < 0, rising, np.where(shape > 0, falling, u))


def sample_reco_energy(lo: np.ndarray, hi: np.ndarray, shape: np.ndarray,
                       u: np.ndarray) -> np.ndarray:
    """Inverse of `_row_cdf`: log E_reco of rows for uniform draws u."""
    w = np.maximum(hi - lo, 1e-12)
    lam = np.where(shape != 0, np.abs(shape), 1.0)
    z = -np.expm1(-w / lam)
    rising = lo + w + lam * np.log(np.exp(-w / lam) + u * z)
    falling = lo - lam * np.log1p(-u * z)
    return np.where(shape < 0, rising, np.where(shape > 0, falling, lo + u * w))


_FRACTIONS: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def reco_energy_fractions(table: np.ndarray) -> np.ndarray:
    """Fraction of each smearing row in each LOG_E_EDGES bin, rows shaped as
    `reco_energy_tails` says (uniform for most). Kept per table while it lives: the
    smearing matrix, the PSF correction and the PSF table all start from it."""
    hit = _FRACTIONS.get(id(table))
    if hit is not None and hit[0]() is table:
        return hit[1]
    tails = reco_energy_tails(table)
    out = overlap_fractions(table[:, 4], table[:, 5], LOG_E_EDGES)
    shaped = np.flatnonzero(tails)
    lo, hi = table[shaped, 4:5], table[shaped, 5:6]
    out[shaped] = np.diff(_row_cdf(LOG_E_EDGES[None, :], lo, hi, tails[shaped, None]), axis=1)
    for key in [k for k, (ref, _) in _FRACTIONS.items() if ref() is None]:
        del _FRACTIONS[key]
    _FRACTIONS[id(table)] = (weakref.ref(table), out)
    return out


@dataclass
class SmearingMatrix:
    """The smearing table collapsed onto our log E bins: M[dec_band, E_nu_bin, log_E_bin]."""

    e_nu_lo: np.ndarray
    e_nu_hi: np.ndarray
    dec_edges: np.ndarray
    matrix: np.ndarray

    @classmethod
    def from_table(cls, table: np.ndarray) -> SmearingMatrix:
        e_lo, first = np.unique(table[:, 0].round(6), return_index=True)
        e_keys = np.column_stack([e_lo, table[first, 1].round(6)])
        d_edges = np.unique(table[:, 2:4].round(6))
        ie = np.searchsorted(e_keys[:, 0], table[:, 0].round(6))
        idd = np.searchsorted(d_edges, table[:, 2].round(6))
        frac = reco_energy_fractions(table) * table[:, 10, None]
        m = np.zeros((d_edges.size - 1, len(e_keys), LOG_E_EDGES.size - 1))
        np.add.at(m, (idd, ie), frac)
        return cls(e_keys[:, 0], e_keys[:, 1], d_edges, m)

    def band(self, dec_deg: np.ndarray) -> np.ndarray:
        return bin_index(np.asarray(dec_deg), self.dec_edges)


def aeff_on_smearing_bins(aeff: EffectiveArea, smear: SmearingMatrix, dec_deg: float,
                          gammas: np.ndarray) -> np.ndarray:
    """A_eff * ∫E^-gamma per smearing E_nu bin at `dec_deg`: shape (n_e_nu, n_gamma)."""
    row = aeff.row(dec_deg)
    lo, hi = aeff.log_e_edges[:-1], aeff.log_e_edges[1:]
    per_bin = row[:, None] * power_law_integrals(lo, hi, gammas)
    # Move from the effective-area energy bins onto the smearing ones (log overlap).
    frac = overlap_fractions(lo, hi, np.append(smear.e_nu_lo, smear.e_nu_hi[-1]))
    return frac.T @ per_bin


def yield_per_flux(aeff: EffectiveArea, dec_deg: float, gammas: np.ndarray) -> np.ndarray:
    """Events per (GeV^-1 cm^-2 s^-1 at 1 TeV) per second of livetime, per gamma."""
    lo, hi = aeff.log_e_edges[:-1], aeff.log_e_edges[1:]
    return aeff.row(dec_deg) @ power_law_integrals(lo, hi, gammas)


def signal_energy_pdf(aeff: EffectiveArea, smear: SmearingMatrix, sin_dec_centres: np.ndarray,
                      gammas: np.ndarray) -> np.ndarray:
    """P(log E bin | sin dec bin, gamma), shape (n_sin_dec, n_log_e, n_gamma)."""
    return np.stack([signal_energy_pdf_at(aeff, smear, float(np.degrees(np.arcsin(s))), gammas)
                     for s in sin_dec_centres])


def signal_energy_pdf_at(aeff: EffectiveArea, smear: SmearingMatrix, dec_deg: float,
                         gammas: np.ndarray) -> np.ndarray:
    """P(log E bin | gamma) of a source at `dec_deg`, shape (n_log_e, n_gamma): A_eff of
    the declination bin holding the source (the same the yields and the injection use)."""
    w = aeff_on_smearing_bins(aeff, smear, dec_deg, gammas)         # (n_e, n_g)
    m = smear.matrix[int(smear.band(dec_deg))]                      # (n_e, n_le)
    pdf = m.T @ w                                                   # (n_le, n_g)
    norm = pdf.sum(axis=0, keepdims=True)
    return np.divide(pdf, norm, out=np.zeros_like(pdf), where=norm > 0)


def energy_range(aeff: EffectiveArea, dec_deg: float, gamma: float,
                 containment: float = 0.9) -> tuple[float, float]:
    """Central E_nu range [GeV] holding `containment` of the expected signal events."""
    lo, hi = aeff.log_e_edges[:-1], aeff.log_e_edges[1:]
    w = aeff.row(dec_deg) * power_law_integrals(lo, hi, np.array([gamma]))[:, 0]
    cdf = np.concatenate([[0.0], np.cumsum(w)])
    if cdf[-1] <= 0:
        return float(10 ** lo[0]), float(10 ** hi[-1])
    cdf /= cdf[-1]
    edges = np.append(lo, hi[-1])
    tail = 0.5 * (1.0 - containment)
    e1, e2 = np.interp([tail, 1.0 - tail], cdf, edges)
    return float(10**e1), float(10**e2)


@dataclass
class PsfCorrection:
    """Extra variance [deg^2] per (smearing dec band, log E bin, AngErr bin)."""

    dec_edges: np.ndarray
    ang_err_edges: np.ndarray
    extra_var: np.ndarray

    def sigma(self, dec: np.ndarray, log_e: np.ndarray, ang_err: np.ndarray) -> np.ndarray:
        d = bin_index(dec, self.dec_edges)
        le = bin_index(log_e, LOG_E_EDGES)
        ae = bin_index(ang_err, self.ang_err_edges)
        return np.sqrt(ang_err.astype(np.float64) ** 2 + self.extra_var[d, le, ae])

    @classmethod
    def none(cls) -> PsfCorrection:
        return cls(np.array([-90.0, 90.0]), np.array([0.0, 180.0]),
                   np.zeros((1, LOG_E_EDGES.size - 1, 1)))

    @classmethod
    def from_table(cls, aeff: EffectiveArea, table: np.ndarray,
                   gamma: float = 2.0) -> PsfCorrection:
        smear = SmearingMatrix.from_table(table)
        d_edges = smear.dec_edges
        ae_edges = PSF_ANGERR_EDGES
        ie = np.searchsorted(smear.e_nu_lo, table[:, 0].round(6))
        idd = np.searchsorted(d_edges, table[:, 2].round(6))
        w_e = np.stack([aeff_on_smearing_bins(aeff, smear, 0.5 * (a + b), np.array([gamma]))[:, 0]
                        for a, b in zip(d_edges[:-1], d_edges[1:], strict=True)])
        w = w_e[idd, ie] * table[:, 10]
        le = bin_index(0.5 * (table[:, 4] + table[:, 5]), LOG_E_EDGES)
        ae = bin_index(0.5 * (table[:, 8] + table[:, 9]), ae_edges)
        psf_mid = np.where(table[:, 6] > 0, np.sqrt(table[:, 6] * table[:, 7]), 0.5 * table[:, 7])
        ae_mid = np.sqrt(np.maximum(table[:, 8], 1e-3) * table[:, 9])
        shape = (d_edges.size - 1, LOG_E_EDGES.size - 1, ae_edges.size - 1)
        cell = np.ravel_multi_index((idd, le, ae), shape)
        n = int(np.prod(shape))
        sw = np.bincount(cell, w, n)
        lpsf = np.bincount(cell, w * np.log(psf_mid), n)
        lae = np.bincount(cell, w * np.log(ae_mid), n)
        extra = np.zeros(n)
        band_total = sw.reshape(shape).sum(axis=(1, 2))
        ok = sw > MIN_CELL_WEIGHT * np.repeat(band_total, shape[1] * shape[2])
        sig_psf = np.exp(lpsf[ok] / sw[ok] - RAYLEIGH_LOG_OFFSET)
        sig_ae = np.exp(lae[ok] / sw[ok])
        extra[ok] = np.maximum(sig_psf**2 - sig_ae**2, 0.0)
        extra = extra.reshape(shape)
        # Cells without weight take the value of their (dec band, log E) marginal.
        sw3 = sw.reshape(shape)
        marg = np.divide((extra * sw3).sum(-1), sw3.sum(-1), out=np.zeros(shape[:2]),
                         where=sw3.sum(-1) > 0)
        extra = np.where(ok.reshape(shape), extra, marg[..., None])
        return cls(d_edges, ae_edges, extra)


IRF_PRODUCTS_VERSION = "v2"   # bump when the smearing or PSF products change


def irf_key(irf: str, name: str) -> str:
    """Name of an irf product in `Release.derived` (and the binary cache)."""
    return f"{irf}:{name}:{IRF_PRODUCTS_VERSION}"


def derive_irf_products(release: Release) -> dict[str, np.ndarray]:
    """Smearing matrices and PSF corrections of every irf set, as flat named arrays."""
    psf_on = bool(release.meta.get("psf_correction", True))
    out: dict[str, np.ndarray] = {}
    for irf, table in release.smearing.items():
        sm = SmearingMatrix.from_table(table)
        out[irf_key(irf, "sm_e_lo")], out[irf_key(irf, "sm_e_hi")] = sm.e_nu_lo, sm.e_nu_hi
        out[irf_key(irf, "sm_dec")], out[irf_key(irf, "sm_m")] = sm.dec_edges, sm.matrix
        pc = (PsfCorrection.from_table(release.aeff[irf], table) if psf_on
              else PsfCorrection.none())
        out[irf_key(irf, "pc_dec")], out[irf_key(irf, "pc_ae")] = pc.dec_edges, pc.ang_err_edges
        out[irf_key(irf, "pc_var")] = pc.extra_var
    return out


def irf_products(release: Release, irf: str, psf_correction: bool
                 ) -> tuple[SmearingMatrix, PsfCorrection]:
    """The cached products of one irf set (smearing matrix, Gaussian PSF correction),
    computed now if the cache lacks them."""
    d = release.derived
    if irf_key(irf, "sm_m") not in d:
        d.update(derive_irf_products(release))
    sm = SmearingMatrix(d[irf_key(irf, "sm_e_lo")], d[irf_key(irf, "sm_e_hi")],
                        d[irf_key(irf, "sm_dec")], d[irf_key(irf, "sm_m")])
    pc = (PsfCorrection(d[irf_key(irf, "pc_dec")], d[irf_key(irf, "pc_ae")],
                        d[irf_key(irf, "pc_var")])
          if psf_correction else PsfCorrection.none())
    return sm, pc
