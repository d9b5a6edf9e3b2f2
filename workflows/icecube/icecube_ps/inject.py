"""Draw signal events of a point source from a release's irfs (binned response).

Used for Neyman upper limits, coverage checks and quick injection tests. The synthetic
generator draws from the continuous detector model instead (the truth), so that tests
also see the cost of the release's binning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import sky
from .dataset import EffectiveArea
from .response import (
    SmearingMatrix,
    aeff_on_smearing_bins,
    reco_energy_tails,
    sample_reco_energy,
)


@dataclass
class SmearingSampler:
    """Rows of one smearing table grouped by (dec band, E_nu bin) with cumulative fractions."""

    table: np.ndarray
    smear: SmearingMatrix
    group_start: np.ndarray
    cumulative: np.ndarray
    tails: np.ndarray          # `response.reco_energy_tails` of each (sorted) row
    _e_nu_cdf: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_table(cls, table: np.ndarray) -> SmearingSampler:
        smear = SmearingMatrix.from_table(table)
        ie = np.searchsorted(smear.e_nu_lo, table[:, 0].round(6))
        idd = np.searchsorted(smear.dec_edges, table[:, 2].round(6))
        group = idd * len(smear.e_nu_lo) + ie
        order = np.argsort(group, kind="stable")
        table, group = table[order], group[order]
        n_groups = (smear.dec_edges.size - 1) * len(smear.e_nu_lo)
        start = np.searchsorted(group, np.arange(n_groups + 1))
        cum = np.cumsum(table[:, 10])
        return cls(table, smear, start, cum, reco_energy_tails(table))

    def _e_nu_cdf_at(self, aeff: EffectiveArea, dec: float, gamma: float
                     ) -> tuple[np.ndarray, int]:
        """Cumulative signal weight over E_nu bins and the dec band: trials repeat one
        source, so it is kept (with `aeff`, so that its id is not reused)."""
        key = (id(aeff), float(dec), float(gamma))
        if key not in self._e_nu_cdf:
            if len(self._e_nu_cdf) > 256:
                self._e_nu_cdf.clear()
            w = aeff_on_smearing_bins(aeff, self.smear, dec, np.array([gamma]))[:, 0]
            self._e_nu_cdf[key] = (np.cumsum(w), int(self.smear.band(dec)), aeff)
        cdf, band, _ = self._e_nu_cdf[key]
        return cdf, band

    def draw(self, aeff: EffectiveArea, dec: float, gamma: float, n: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(log E, PSF, AngErr) of `n` signal events at `dec` for E^-gamma."""
        cdf, band = self._e_nu_cdf_at(aeff, dec, gamma)
        ie = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], "right"), cdf.size - 1)
        g = band * len(self.smear.e_nu_lo) + ie
        lo, hi = self.group_start[g], self.group_start[g + 1]
        base = np.where(lo > 0, self.cumulative[np.maximum(lo - 1, 0)], 0.0)
        top = self.cumulative[hi - 1]
        row = np.searchsorted(self.cumulative, base + rng.random(n) * (top - base), "right")
        row = np.clip(row, lo, hi - 1)
        t = self.table[row]
        u = rng.random((n, 3))
        # Within a row: E_reco as the likelihood reads the table (`reco_energy_tails`),
        # directions uniform in solid angle (as `psf.PsfTable`), AngErr uniform in log.
        log_e = sample_reco_energy(t[:, 4], t[:, 5], self.tails[row], u[:, 0])
        c_lo, c_hi = np.cos(np.radians(t[:, 6])), np.cos(np.radians(np.minimum(t[:, 7], 60.0)))
        psf = np.degrees(np.arccos(c_lo + u[:, 1] * (c_hi - c_lo)))
        a_lo = np.log(np.maximum(t[:, 8], 1e-3))
        a_hi = np.log(np.maximum(np.minimum(t[:, 9], 30.0), 1e-3))
        ang = np.exp(a_lo + u[:, 2] * (a_hi - a_lo))
        return log_e, psf, ang


def place(ra: float, dec: float, psf: np.ndarray, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructed directions at angle `psf` from the source, random position angle."""
    return sky.offset(ra, dec, psf, rng.uniform(0.0, 360.0, psf.size))
