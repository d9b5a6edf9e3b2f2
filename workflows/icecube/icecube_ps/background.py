"""Background PDFs from the data themselves, per season.

Neutrino point sources are rare, so the recorded events are (almost) all background:
their distribution in sin(dec) (RA is uniform by Earth rotation) and in (sin dec, log E)
gives the background spatial and energy PDFs without any simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .binning import LOG_E_EDGES, SIN_DEC_EDGES

EMPTY_BIN_COUNTS = 0.5  # an empty energy bin counts as half an event: bounds S/B
FINE_SPATIAL_BINS = 200  # spatial histograms are rebinned from this many sin(dec) bins
_SPATIAL_CHOICES = (10, 20, 25, 40, 50)  # divisors of FINE_SPATIAL_BINS


@dataclass
class BackgroundModel:
    """Spatial density per steradian versus sin(dec), and P(log E bin | sin dec bin)."""

    spatial_centres: np.ndarray
    spatial_density: np.ndarray   # per sr, at the centres
    energy_pdf: np.ndarray        # (n_sin_dec, n_log_e), rows sum to 1

    @classmethod
    def from_histograms(cls, fine_spatial: np.ndarray, energy_counts: np.ndarray
                        ) -> BackgroundModel:
        """From counts in FINE_SPATIAL_BINS sin(dec) bins and in (sin dec, log E) bins."""
        n = max(int(fine_spatial.sum()), 1)
        # Fewer spatial bins for small seasons keeps the relative noise per bin bounded.
        n_bins = max([c for c in _SPATIAL_CHOICES if c <= max(n // 400, 10)])
        h = fine_spatial.reshape(n_bins, -1).sum(axis=1).astype(float)
        h = np.maximum(h, EMPTY_BIN_COUNTS)
        edges = np.linspace(-1.0, 1.0, n_bins + 1)
        density = h / h.sum() / np.diff(edges) / (2.0 * np.pi)
        h2 = np.where(energy_counts > 0, energy_counts, EMPTY_BIN_COUNTS)
        energy = h2 / h2.sum(axis=1, keepdims=True)
        return cls(0.5 * (edges[1:] + edges[:-1]), density, energy)

    @classmethod
    def from_events(cls, sin_dec: np.ndarray, log_e: np.ndarray) -> BackgroundModel:
        return per_season(np.zeros(sin_dec.size, dtype=np.int8), sin_dec, log_e, 1)[0]

    def spatial(self, sin_dec: np.ndarray) -> np.ndarray:
        """Background density per steradian (linear between bin centres)."""
        return np.interp(sin_dec, self.spatial_centres, self.spatial_density)


def per_season(season: np.ndarray, sin_dec: np.ndarray, log_e: np.ndarray,
               n_seasons: int) -> list[BackgroundModel]:
    """Background models of all seasons from one pass over the events (bincount)."""
    from .binning import bin_index

    fine = np.clip(((sin_dec + 1.0) * (0.5 * FINE_SPATIAL_BINS)).astype(np.int64), 0,
                   FINE_SPATIAL_BINS - 1)
    s64 = season.astype(np.int64)
    spatial = np.bincount(s64 * FINE_SPATIAL_BINS + fine,
                          minlength=n_seasons * FINE_SPATIAL_BINS)
    n_sd, n_le = SIN_DEC_EDGES.size - 1, LOG_E_EDGES.size - 1
    cell = (s64 * n_sd + bin_index(sin_dec, SIN_DEC_EDGES)) * n_le + bin_index(log_e, LOG_E_EDGES)
    energy = np.bincount(cell, minlength=n_seasons * n_sd * n_le).reshape(n_seasons, n_sd, n_le)
    spatial = spatial.reshape(n_seasons, FINE_SPATIAL_BINS)
    return [BackgroundModel.from_histograms(spatial[k], energy[k]) for k in range(n_seasons)]


def density_table(models: list[BackgroundModel], n_grid: int = 4001
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Spatial densities of all seasons on one fine sin(dec) grid: fast per-event lookup."""
    grid = np.linspace(-1.0, 1.0, n_grid)
    return grid, np.stack([m.spatial(grid) for m in models])
