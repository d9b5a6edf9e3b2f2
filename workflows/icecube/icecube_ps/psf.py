"""Signal point-spread function from a release's smearing table, per spectral index.

P(psi | sin dec row, log E, AngErr, gamma): the distribution of the angle between the
neutrino and the reconstructed track for events of a given reconstructed energy and
reported error, from the smearing table (its PSF column) weighted by A_eff * E^-gamma at
the row's declination. Why tabulated and not a Gaussian in AngErr: the true PSF holds the
neutrino-muon angle that AngErr does not, it grows as the neutrino energy falls, and at a
given reconstructed energy a softer spectrum brings lower neutrino energies. A Gaussian
widened for E^-2 left soft sources biased low (n_s -18% at gamma = 3, -31% at 3.5, with
signal drawn from the release's own irfs; README, validation), and a Gaussian cannot carry
the PSF's tail. The table is taken on nodes in gamma (`PSF_GAMMAS`) and interpolated.

Within a smearing row, directions are spread uniformly in solid angle between its PSF
bounds (the PSF's bins), and its AngErr falls into the bin of its log-centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .binning import LOG_ANG_ERR_EDGES, LOG_E_EDGES, SIN_DEC_EDGES, bin_index
from .dataset import EffectiveArea, Release
from .response import SmearingMatrix, aeff_on_smearing_bins, reco_energy_fractions

# psi bins: [0, 0.02 deg] then 0.1 dex up to 31.7 deg (beyond: outside every selection).
PSI_EDGES_DEG = np.concatenate([[0.0], 0.02 * 10.0 ** (0.1 * np.arange(33))])
PSF_GAMMAS = np.round(np.arange(1.0, 4.0001, 0.5), 4)
MIN_CELL_MASS = 1e-5   # cells with less signal than this (of their row) take a marginal
LOG_DENSITY_FLOOR = -60.0


def solid_angles(edges_deg: np.ndarray) -> np.ndarray:
    """Solid angle [sr] of each annulus between consecutive angles."""
    c = np.cos(np.radians(edges_deg))
    return 2.0 * np.pi * (c[:-1] - c[1:])


def _psi_fractions(lo_deg: np.ndarray, hi_deg: np.ndarray) -> np.ndarray:
    """Fraction of each row's [lo, hi] solid angle in each psi bin, (n_rows, n_psi)."""
    c_lo, c_hi = np.cos(np.radians(lo_deg))[:, None], np.cos(np.radians(hi_deg))[:, None]
    e = np.cos(np.radians(PSI_EDGES_DEG))
    top = np.minimum(c_lo, e[None, :-1])
    bottom = np.maximum(c_hi, e[None, 1:])
    return np.clip(top - bottom, 0.0, None) / np.maximum(c_lo - c_hi, 1e-15)


@dataclass
class PsfTable:
    """log density [sr^-1] of psi per (row, log E, AngErr, psi bin, gamma node), and the
    signal mass of each (row, log E, AngErr) cell per gamma node (the energy PDF)."""

    log_density: np.ndarray   # (n_rows, n_le, n_ae, n_psi, n_gk) float32
    cell_mass: np.ndarray     # (n_rows, n_le, n_ae, n_gk)

    @classmethod
    def from_table(cls, aeff: EffectiveArea, table: np.ndarray,
                   gammas: np.ndarray = PSF_GAMMAS) -> PsfTable:
        smear = SmearingMatrix.from_table(table)
        ie = np.searchsorted(smear.e_nu_lo, table[:, 0].round(6))
        band = np.searchsorted(smear.dec_edges, table[:, 2].round(6))
        n_le, n_ae = LOG_E_EDGES.size - 1, LOG_ANG_ERR_EDGES.size - 1
        n_psi, n_rows = PSI_EDGES_DEG.size - 1, SIN_DEC_EDGES.size - 1
        f_le = reco_energy_fractions(table)
        f_psi = _psi_fractions(table[:, 6], table[:, 7])
        ae_mid = 0.5 * (np.log10(np.maximum(table[:, 8], 1e-2)) + np.log10(table[:, 9]))
        ae = bin_index(ae_mid, LOG_ANG_ERR_EDGES).astype(np.int64)
        # One entry per (table row, log E bin, psi bin) that a row reaches.
        t_le, le = np.nonzero(f_le)
        val_le = f_le[t_le, le] * table[t_le, 10]
        counts = np.count_nonzero(f_psi, axis=1)
        t_psi, psi = np.nonzero(f_psi)
        starts = np.concatenate([[0], np.cumsum(counts)])
        rep = counts[t_le]
        entry_t = np.repeat(t_le, rep)
        offsets = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
        pick = np.repeat(starts[t_le], rep) + offsets
        entry_psi = psi[pick]
        entry_val = np.repeat(val_le, rep) * f_psi[entry_t, entry_psi]
        entry_cell = (np.repeat(le, rep) * n_ae + ae[entry_t]) * n_psi + entry_psi
        mass_cell = le * n_ae + ae[t_le]
        n_cells, n_e_nu = n_le * n_ae, smear.e_nu_lo.size
        # Per (dec band, E_nu bin): the psi histogram of each cell and the cells' masses;
        # a row's tables are then these weighted by A_eff E^-gamma (one product each).
        n_band = smear.dec_edges.size - 1
        hist_b = np.bincount((band[entry_t] * n_e_nu + ie[entry_t]) * (n_cells * n_psi)
                             + entry_cell, entry_val, n_band * n_e_nu * n_cells * n_psi)
        hist_b = hist_b.reshape(n_band, n_e_nu, n_cells * n_psi)
        mass_b = np.bincount((band[t_le] * n_e_nu + ie[t_le]) * n_cells + mass_cell, val_le,
                             n_band * n_e_nu * n_cells).reshape(n_band, n_e_nu, n_cells)
        density = np.zeros((n_rows, n_le, n_ae, n_psi, gammas.size))
        mass = np.zeros((n_rows, n_le, n_ae, gammas.size))
        area = solid_angles(PSI_EDGES_DEG)
        centres = np.degrees(np.arcsin(0.5 * (SIN_DEC_EDGES[1:] + SIN_DEC_EDGES[:-1])))
        for r, dec in enumerate(centres):
            b = int(smear.band(np.array(dec)))
            w = aeff_on_smearing_bins(aeff, smear, float(dec), gammas)   # (n_e_nu, n_gk)
            hists = w.T @ hist_b[b]                                      # (n_gk, cells*psi)
            cms = w.T @ mass_b[b]                                        # (n_gk, cells)
            for k in range(gammas.size):
                total = cms[k].sum()
                if total <= 0:
                    continue
                cm = cms[k].reshape(n_le, n_ae)
                mass[r, :, :, k] = cm / total
                density[r, :, :, :, k] = _conditional(hists[k].reshape(n_le, n_ae, n_psi),
                                                      cm, total) / area
        with np.errstate(divide="ignore"):
            log_d = np.maximum(np.log(density), LOG_DENSITY_FLOOR)
        # The likelihood interpolates log density in log psi between bin centres
        # (`psi_position`); rescale each cell so that the interpolant holds the cell's
        # probability within the table (it fell 2% short on the falling side of the PSF,
        # a deficit the fit paid as n_s).
        flat = np.moveaxis(log_d, 3, -1).reshape(-1, n_psi)
        binned = (np.exp(flat) * area).sum(axis=1)
        held = interpolated_integral(flat, PSI_EDGES_DEG[-1])
        scale = np.divide(binned, held, out=np.ones_like(binned), where=held > 0)
        flat = flat + np.log(scale)[:, None]
        log_d = np.moveaxis(flat.reshape(n_rows, n_le, n_ae, gammas.size, n_psi), -1, 3)
        return cls(np.maximum(log_d, LOG_DENSITY_FLOOR).astype(np.float32), mass)

    def containment(self, row: int, radius_deg: float) -> np.ndarray:
        """Share of the signal of a source in `row` within `radius_deg`, per gamma node."""
        return containment(self.log_density[row], self.cell_mass[row], radius_deg)


def interpolated_integral(log_density: np.ndarray, radius_deg: float) -> np.ndarray:
    """Integral over psi < radius [sr] of the interpolated density (`psi_position`) of each
    row of `log_density` (n, n_psi), in closed form: between bin centres the density is a
    power of psi, d_j (psi / c_j)^p, whose integral over 2 pi psi dpsi is analytic
    (times sin psi / psi at the segment's middle, for the sphere); constant below the
    first centre and beyond the last."""
    centres = _CENTRES_DEG
    r = float(radius_deg)
    ld = np.asarray(log_density, dtype=np.float64)
    rad = np.radians(centres)
    lo = np.minimum(rad[:-1], np.radians(r))
    hi = np.minimum(rad[1:], np.radians(r))
    p = (ld[:, 1:] - ld[:, :-1]) / np.log(rad[1:] / rad[:-1])       # (n, n_seg)
    q = p + 2.0
    safe = np.abs(q) > 1e-9
    u_lo, u_hi = lo / rad[:-1], hi / rad[:-1]        # psi / c_j: within [0.8, 1.26]
    power = np.where(safe, (u_hi ** q - u_lo ** q) / np.where(safe, q, 1.0),
                     np.log(u_hi / u_lo))
    seg = 2.0 * np.pi * np.exp(ld[:, :-1]) * rad[:-1] ** 2 * power
    mid = 0.5 * (lo + hi)
    seg = np.where(hi > lo, seg * np.sin(mid) / mid, 0.0)
    first = 2.0 * np.pi * np.exp(ld[:, 0]) * (1.0 - np.cos(np.radians(min(r, centres[0]))))
    top = np.radians(min(r, PSI_EDGES_DEG[-1]))
    last = 2.0 * np.pi * np.exp(ld[:, -1]) * max(np.cos(rad[-1]) - np.cos(top), 0.0)
    return first + seg.sum(axis=1) + last


def containment(log_density: np.ndarray, cell_mass: np.ndarray, radius_deg: float
                ) -> np.ndarray:
    """Signal share within `radius_deg` of one row's cells, (n_le, n_ae, n_psi, n_gk) and
    (n_le, n_ae, n_gk), per gamma node: what the likelihood's interpolant holds."""
    n_psi = log_density.shape[-2]
    flat = np.moveaxis(log_density, -2, -1).reshape(-1, n_psi)
    held = interpolated_integral(flat, radius_deg).reshape(cell_mass.shape)
    return (held * cell_mass).sum(axis=(0, 1))


def _conditional(hist: np.ndarray, mass: np.ndarray, total: float) -> np.ndarray:
    """P(psi bin | log E, AngErr) from weighted counts; cells with too little signal take
    the AngErr-marginal of their log E bin, or the whole row's distribution."""
    out = np.divide(hist, mass[..., None], out=np.zeros_like(hist), where=mass[..., None] > 0)
    thin = mass < MIN_CELL_MASS * total
    if thin.any():
        m_le = mass.sum(axis=1)
        h_le = hist.sum(axis=1)
        row = hist.sum(axis=(0, 1)) / total
        by_le = np.divide(h_le, m_le[:, None], out=np.broadcast_to(row, h_le.shape).copy(),
                          where=m_le[:, None] >= MIN_CELL_MASS * total)
        out = np.where(thin[..., None], by_le[:, None, :], out)
    return out


_CENTRES_DEG = np.concatenate([[0.01], np.sqrt(PSI_EDGES_DEG[1:-1] * PSI_EDGES_DEG[2:])])


def psi_position(psi_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bin j, weight t): log density at psi is (1 - t) d[j] + t d[j + 1], linear in log psi
    between bin centres, constant below the first centre and beyond the last."""
    centres = np.log10(_CENTRES_DEG)
    x = np.log10(np.maximum(np.asarray(psi_deg, dtype=np.float64), 1e-6))
    j = np.clip(np.searchsorted(centres, x, "right") - 1, 0, centres.size - 2)
    t = np.clip((x - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0)
    return j, t


def gamma_weights(nodes: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(n_nodes, n_grid) weights of a Catmull-Rom cubic through values on `nodes`
    (equally spaced) evaluated on `grid`: smooth in gamma, exact at the nodes."""
    step = nodes[1] - nodes[0]
    x = np.clip((grid - nodes[0]) / step, 0.0, nodes.size - 1 - 1e-12)
    j = np.minimum(x.astype(int), nodes.size - 2)
    t = x - j
    w = 0.5 * np.stack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2,
                        -3 * t**3 + 4 * t**2 + t, t**3 - t**2])
    out = np.zeros((nodes.size, grid.size))
    for k in range(4):
        idx = np.clip(j - 1 + k, 0, nodes.size - 1)
        np.add.at(out, (idx, np.arange(grid.size)), w[k])
    return out


PSF_VERSION = "v3"   # bump when the table's binning or construction changes


def psf_key() -> str:
    """Name of a release's PSF tables, stacked over its irf sets in sorted order, in
    `Release.derived` (the cache): one array, so a cold start maps it without copying."""
    return f"psf_logd:{PSF_VERSION}"


def derive_psf_products(release: Release) -> dict[str, np.ndarray]:
    """PSF tables of every irf set of `release`, stacked, for its binary cache."""
    return {psf_key(): np.stack([PsfTable.from_table(release.aeff[irf], release.smearing[irf])
                                 .log_density for irf in sorted(release.smearing)])}


def psf_tables(release: Release, irf_names: list[str]) -> np.ndarray:
    """log density tables of these irf sets, (n_irf, rows, log E, AngErr, psi, gamma
    nodes), from the cache or computed."""
    d = release.derived
    if psf_key() not in d:
        d.update(derive_psf_products(release))
    stacked = d[psf_key()]
    order = sorted(release.smearing)
    if irf_names == order:
        return stacked
    return stacked[[order.index(irf) for irf in irf_names]]
