"""Analysis binnings shared by the background and signal PDFs."""

from __future__ import annotations

import numpy as np

# IceCube's point-source samples (3-year and 10-year) take upgoing tracks north of this
# declination and, south of it, only bright ones against the atmospheric muons: the
# event density and energy spectrum jump there (x7 in the density in a synthetic release).
SELECTION_BOUNDARY_DEG = -5.0


def _rows_with_boundary(n_rows: int) -> np.ndarray:
    """n_rows bins in sin(dec), the edge nearest the selection boundary moved onto it.

    Why: a row straddling the boundary mixes two spectra in one background energy PDF;
    near it the score of RA-scrambled trials was off by up to 1.4 sd at gamma = 2 (validation
    part E in the README). The spatial background PDF splits there too
    (`background.SPLIT_SIN_DEC`).
    """
    edges = np.linspace(-1.0, 1.0, n_rows + 1)
    boundary = np.sin(np.radians(SELECTION_BOUNDARY_DEG))
    edges[int(np.argmin(np.abs(edges - boundary)))] = boundary
    return edges


SIN_DEC_EDGES = _rows_with_boundary(30)        # signal PDFs: 30 bins in sin(dec)
# The background's energy PDF, read per event (no cost per fit), on finer rows where the
# data allow: it then follows features narrower than a signal row, such as a
# horizon-enhanced atmospheric flux (at |dec| < 2 deg on the independent release, n_s of
# an E^-3 source was 13-21% low with the background on the 30 signal rows). 30 rows per
# 300,000 events, at most 90: on a release of 57,000 events 90 rows followed the data's own
# fluctuations and background trials came out at TS = 0 too rarely (0.43 at gamma = 4).
EVENTS_PER_BACKGROUND_ROWS = 300_000


def background_row_edges(n_events: int) -> np.ndarray:
    """The sin(dec) rows of the background's energy PDF for a release of n_events."""
    factor = int(np.clip(n_events // EVENTS_PER_BACKGROUND_ROWS, 1, 3))
    return _rows_with_boundary(30 * factor)
LOG_E_EDGES = np.arange(1.0, 9.5001, 0.25)     # energy proxy: 0.25 dex
LOG_ANG_ERR_EDGES = np.linspace(-0.8, 1.2, 9)  # log10(AngErr / deg), 0.25 dex, clipped
GAMMA_GRID = np.round(np.arange(1.0, 4.0001, 0.05), 4)
GAMMA_MIN, GAMMA_MAX = float(GAMMA_GRID[0]), float(GAMMA_GRID[-1])
E_PIVOT_GEV = 1000.0


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Index of the bin holding each value, clipped into range (int16 to save memory).

    Regular binnings use arithmetic (several times faster than a binary search on the
    1.1 M events of the 10-year release).
    """
    n = len(edges) - 1
    width = (edges[-1] - edges[0]) / n
    steps = np.diff(edges)
    if n > 1 and float(np.abs(steps - width).max()) <= 1e-9 * abs(width) + 1e-12:
        i = np.floor((np.asarray(values, dtype=np.float64) - edges[0]) * (1.0 / width))
        return np.clip(i, 0, n - 1).astype(np.int16)
    i = np.searchsorted(edges, values, side="right") - 1
    return np.clip(i, 0, n - 1).astype(np.int16)


def overlap_fractions(src_lo: np.ndarray, src_hi: np.ndarray, dst_edges: np.ndarray
                      ) -> np.ndarray:
    """Fraction of each source interval inside each destination bin, (n_src, n_dst).

    Used to move quantities tabulated on one grid (a release's) onto another (ours),
    assuming they are uniform within the source interval.
    """
    lo = np.maximum(src_lo[:, None], dst_edges[None, :-1])
    hi = np.minimum(src_hi[:, None], dst_edges[None, 1:])
    width = np.maximum(src_hi - src_lo, 1e-12)[:, None]
    return np.clip(hi - lo, 0.0, None) / width


def power_law_integrals(log_e_lo: np.ndarray, log_e_hi: np.ndarray,
                        gammas: np.ndarray) -> np.ndarray:
    """∫ (E / 1 TeV)^-gamma dE over each energy bin [GeV], shape (n_bins, n_gamma)."""
    e_lo = (10.0 ** np.asarray(log_e_lo, dtype=float))[:, None] / E_PIVOT_GEV
    e_hi = (10.0 ** np.asarray(log_e_hi, dtype=float))[:, None] / E_PIVOT_GEV
    g = np.asarray(gammas, dtype=float)[None, :]
    one = np.isclose(g, 1.0)
    p = np.where(one, 1.0, 1.0 - g)
    val = np.where(one, np.log(e_hi / e_lo), (e_hi**p - e_lo**p) / p)
    return E_PIVOT_GEV * val
