"""Background PDFs from the data themselves, per season.

Neutrino point sources are rare, so the recorded events are (almost) all background:
their distribution in sin(dec) (RA is uniform by Earth rotation) and in (sin dec, log E)
gives the background spatial and energy PDFs without any simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .binning import (
    LOG_E_EDGES,
    SELECTION_BOUNDARY_DEG,
    SIN_DEC_EDGES,
    bin_index,
)

EMPTY_BIN_COUNTS = 0.5  # an empty energy bin counts as half an event: bounds S/B
FINE_SPATIAL_BINS = 400  # spatial histograms are rebinned from this many sin(dec) bins
EVENTS_PER_SPATIAL_BIN = 400  # on average, at least: bounds the relative noise per bin
MIN_SPATIAL_BINS = 5          # per side of the selection boundary
# The selection boundary is a fine bin edge: the two sides are binned and interpolated
# apart. Why: IceCube's samples switch selection there and the density jumps
# (x7 in a synthetic release); interpolated across 50 bins the jump spread over 2 deg and
# RA-scrambled trials within 5 deg of it had a score at n_s = 0 off by up to 3.8 sd
# (README, validation part E). Fine bins (0.3 deg at the equator where the counts allow)
# follow the density's other slopes.
SPLIT_SIN_DEC = float(np.sin(np.radians(SELECTION_BOUNDARY_DEG)))
SPLIT_FINE_BIN = int(np.rint((SPLIT_SIN_DEC + 1.0) * 0.5 * FINE_SPATIAL_BINS))


def fine_spatial_bin(sin_dec: np.ndarray) -> np.ndarray:
    """Fine sin(dec) bin of each value: uniform on each side of the selection boundary,
    which is an edge (SPLIT_FINE_BIN bins south of it)."""
    south = (sin_dec + 1.0) * (SPLIT_FINE_BIN / (SPLIT_SIN_DEC + 1.0))
    north = SPLIT_FINE_BIN + (sin_dec - SPLIT_SIN_DEC) * (
        (FINE_SPATIAL_BINS - SPLIT_FINE_BIN) / (1.0 - SPLIT_SIN_DEC))
    fine = np.where(sin_dec < SPLIT_SIN_DEC, south, north).astype(np.int64)
    return np.clip(fine, 0, FINE_SPATIAL_BINS - 1)


def _side_bins(counts: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of one side's fine counts over [lo, hi] in sin(dec), merged into the
    most bins that keep EVENTS_PER_SPATIAL_BIN events each on average (empty: half one)."""
    n_bins = int(min(max(counts.sum() // EVENTS_PER_SPATIAL_BIN, MIN_SPATIAL_BINS),
                     counts.size))
    starts = np.array([p[0] for p in np.array_split(np.arange(counts.size), n_bins)])
    h = np.maximum(np.add.reduceat(counts.astype(float), starts), EMPTY_BIN_COUNTS)
    return lo + (hi - lo) / counts.size * np.append(starts, counts.size), h


@dataclass
class BackgroundModel:
    """Spatial density per steradian versus sin(dec), and P(log E bin | sin dec bin)."""

    spatial_centres: np.ndarray
    spatial_density: np.ndarray   # per sr, at the centres
    energy_pdf: np.ndarray        # (n_sin_dec, n_log_e), rows sum to 1
    energy_counts: np.ndarray     # (n_sin_dec, n_log_e), the raw event counts
    n_south: int                  # centres south of SPLIT_SIN_DEC (interpolated apart)
    angerr_counts: np.ndarray | None = None  # (n_sin_dec, n_log_e, n_ang_err) counts

    @classmethod
    def from_histograms(cls, fine_spatial: np.ndarray, energy_counts: np.ndarray
                        ) -> BackgroundModel:
        """From counts in FINE_SPATIAL_BINS sin(dec) bins and in (sin dec, log E) bins."""
        e_s, h_s = _side_bins(fine_spatial[:SPLIT_FINE_BIN], -1.0, SPLIT_SIN_DEC)
        e_n, h_n = _side_bins(fine_spatial[SPLIT_FINE_BIN:], SPLIT_SIN_DEC, 1.0)
        h = np.concatenate([h_s, h_n])
        widths = np.concatenate([np.diff(e_s), np.diff(e_n)])
        centres = np.concatenate([e_s[1:] + e_s[:-1], e_n[1:] + e_n[:-1]]) / 2.0
        density = h / h.sum() / widths / (2.0 * np.pi)
        h2 = np.where(energy_counts > 0, energy_counts, EMPTY_BIN_COUNTS)
        energy = h2 / h2.sum(axis=1, keepdims=True)
        return cls(centres, density, energy, np.asarray(energy_counts, dtype=float), h_s.size)

    @classmethod
    def from_events(cls, sin_dec: np.ndarray, log_e: np.ndarray) -> BackgroundModel:
        return per_season(np.zeros(sin_dec.size, dtype=np.int8), sin_dec, log_e, 1)[0]

    def spatial(self, sin_dec: np.ndarray) -> np.ndarray:
        """Background density per steradian: linear between bin centres on each side of the
        selection boundary, constant from the last centre of a side to the boundary."""
        k = self.n_south
        sin_dec = np.asarray(sin_dec, dtype=float)
        return np.where(sin_dec < SPLIT_SIN_DEC,
                        np.interp(sin_dec, self.spatial_centres[:k], self.spatial_density[:k]),
                        np.interp(sin_dec, self.spatial_centres[k:], self.spatial_density[k:]))


def per_season(season: np.ndarray, sin_dec: np.ndarray, log_e: np.ndarray,
               n_seasons: int, ang_err_bin: np.ndarray | None = None,
               sd_bin: np.ndarray | None = None, le_bin: np.ndarray | None = None
               ) -> list[BackgroundModel]:
    """Background models of all seasons from one pass over the events (bincount).

    `ang_err_bin` (the events' LOG_ANG_ERR_EDGES bins) adds the (sin dec, log E, AngErr)
    counts the grouped energy term needs; `sd_bin`, `le_bin`: the events' bins if known.
    """
    return models_from_histograms(*histograms(season, sin_dec, log_e, n_seasons, ang_err_bin,
                                              sd_bin, le_bin))


def histograms(season: np.ndarray, sin_dec: np.ndarray, log_e: np.ndarray, n_seasons: int,
               ang_err_bin: np.ndarray | None = None, sd_bin: np.ndarray | None = None,
               le_bin: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The counts `per_season` builds its models from: fine sin(dec) (n_seasons,
    FINE_SPATIAL_BINS), (sin dec, log E) and, with `ang_err_bin`, (sin dec, log E, AngErr).

    They depend on the whole release only, so the binary cache keeps them and a cold
    start skips this pass over every event.
    """
    from .binning import LOG_ANG_ERR_EDGES, bin_index

    fine = fine_spatial_bin(sin_dec)
    s64 = season.astype(np.int64)
    spatial = np.bincount(s64 * FINE_SPATIAL_BINS + fine,
                          minlength=n_seasons * FINE_SPATIAL_BINS)
    n_sd, n_le = SIN_DEC_EDGES.size - 1, LOG_E_EDGES.size - 1
    sd = bin_index(sin_dec, SIN_DEC_EDGES) if sd_bin is None else sd_bin
    le = bin_index(log_e, LOG_E_EDGES) if le_bin is None else le_bin
    cell = (s64 * n_sd + sd) * n_le + le
    energy = np.bincount(cell, minlength=n_seasons * n_sd * n_le).reshape(n_seasons, n_sd, n_le)
    spatial = spatial.reshape(n_seasons, FINE_SPATIAL_BINS)
    joint = None
    if ang_err_bin is not None:
        n_ae = LOG_ANG_ERR_EDGES.size - 1
        joint = np.bincount(cell * n_ae + ang_err_bin, minlength=n_seasons * n_sd * n_le * n_ae)
        joint = joint.reshape(n_seasons, n_sd, n_le, n_ae).astype(float)
    return spatial, energy, joint


def models_from_histograms(spatial: np.ndarray, energy: np.ndarray,
                           joint: np.ndarray | None = None) -> list[BackgroundModel]:
    """One `BackgroundModel` per season from the counts of `histograms`."""
    models = [BackgroundModel.from_histograms(spatial[k], energy[k])
              for k in range(spatial.shape[0])]
    if joint is not None:
        for k, m in enumerate(models):
            m.angerr_counts = joint[k]
    return models


def density_table(models: list[BackgroundModel], n_grid: int = 4001
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Spatial densities of all seasons on one fine sin(dec) grid: fast per-event lookup."""
    grid = np.linspace(-1.0, 1.0, n_grid)
    return grid, np.stack([m.spatial(grid) for m in models])



TAIL_EVENTS = 300     # the log E tail of a row is modelled above its top events
ANGERR_PRIOR = 5.0    # pseudo-events of neighbouring energies' AngErr distribution


def _sides(edges: np.ndarray) -> np.ndarray:
    """Per row of `edges`: 0 south of the selection boundary, 1 from it to the horizon, 2
    north of the horizon (both are row edges).

    Why the horizon: downgoing atmospheric muons end there. On the independent release
    the share of events above 10 TeV doubles from the horizon to 5 deg south of it; rows
    pooled and interpolated across it gave the rows north of it the muons' harder tail,
    and sources at 0...+2 deg came out 6-9% low (E^-2.5, signal from the irfs).
    """
    centres = 0.5 * (edges[1:] + edges[:-1])
    return (centres > SPLIT_SIN_DEC).astype(int) + (centres > 0.0)


def _same_side_rows(r: int, edges: np.ndarray, reach: int = 1) -> slice:
    """Row r and `reach` neighbours each side, on its side of the selection boundary and
    of the horizon (`_sides`)."""
    sides = _sides(edges)
    same = np.flatnonzero(sides == sides[r])                      # contiguous
    return slice(max(r - reach, int(same[0])), min(r + reach + 1, int(same[-1]) + 1))


def _tail_masses(counts: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, int]:
    """Background counts per log E bin of one row, the sparse top modelled.

    Below the TAIL_EVENTS highest-energy events of the row and its neighbours (`pool`,
    same side of the selection boundary and of the horizon) the row's own counts are used;
    above, the row's count there is spread by an exponential in log E (a power law in E)
    fitted to the pooled events (binned maximum likelihood). Why: the signal of a hard
    source lives where a row has a handful of events or none; per-bin counts there make
    S/B rest on single events (or on a floor) and a source's own events raise B
    where it matters. The neighbours dilute that contamination and the bin noise.
    Returns the counts and the first bin of the tail (0: no tail).
    """
    above = np.cumsum(pool[::-1])[::-1]              # pooled events at or above each bin
    k = int(np.flatnonzero(above >= TAIL_EVENTS).max()) if np.any(above >= TAIL_EVENTS) else 0
    out = np.maximum(counts.astype(float), EMPTY_BIN_COUNTS)
    # The row's share of the tail is the pool's (its neighbours dilute a source's events).
    tail_own = counts.sum() * pool[k:].sum() / max(pool.sum(), 1.0)
    if k == 0 or tail_own <= 0 or pool[k:].sum() <= 0:
        return out, 0
    start = LOG_E_EDGES[k]
    # Binned maximum likelihood for an exponential: bins j = 0, 1, ... above the start
    # hold q^j (1 - q), q = exp(-lam * width); the MLE of q is m / (1 + m), m = mean j.
    width = float(LOG_E_EDGES[1] - LOG_E_EDGES[0])
    m = float((pool[k:] * np.arange(pool.size - k)).sum() / pool[k:].sum())
    lam = -np.log(max(m, 1e-3) / (1.0 + max(m, 1e-3))) / width
    lo, hi = LOG_E_EDGES[k:-1] - start, LOG_E_EDGES[k + 1:] - start
    out[k:] = tail_own * (np.exp(-lam * lo) - np.exp(-lam * hi))
    return out, k


def fine_energy_counts(group: np.ndarray, sin_dec: np.ndarray, le: np.ndarray,
                       ae: np.ndarray, n_groups: int, edges: np.ndarray) -> np.ndarray:
    """(group, row of `edges`, log E, AngErr) counts of the data."""
    from .binning import LOG_ANG_ERR_EDGES

    n_rows = edges.size - 1
    n_le, n_ae = LOG_E_EDGES.size - 1, LOG_ANG_ERR_EDGES.size - 1
    row = bin_index(sin_dec, edges).astype(np.int64)
    cell = ((group.astype(np.int64) * n_rows + row) * n_le + le) * n_ae + ae
    return np.bincount(cell, minlength=n_groups * n_rows * n_le * n_ae).reshape(
        n_groups, n_rows, n_le, n_ae).astype(float)


def energy_density(joint: np.ndarray, edges: np.ndarray = SIN_DEC_EDGES) -> np.ndarray:
    """P(log E bin, AngErr bin | sin dec row) of the background, (n_rows, n_le, n_ae).

    From the data's (row, log E, AngErr) counts: log E marginal per row with a modelled
    tail (`_tail_masses`); AngErr given log E from the bin's own counts plus ANGERR_PRIOR
    pseudo-events distributed like its neighbouring energies (in the tail: like all the
    row's tail events), so that no cell of a populated row is empty. Empty rows stay 0.
    Every event then has S/B from its own (log E, AngErr) cell: no merging of energies.
    """
    n_rows, n_le, n_ae = joint.shape
    le_counts = joint.sum(axis=2)
    out = np.zeros(joint.shape)
    for r in range(n_rows):
        if le_counts[r].sum() <= 0:
            continue
        reach = max(1, int(round(3.0 * (edges.size - 1) / (SIN_DEC_EDGES.size - 1))) // 2)
        pool = le_counts[_same_side_rows(r, edges, reach)].sum(axis=0)
        masses, k = _tail_masses(le_counts[r], pool)
        p_le = masses / masses.sum()
        row_ae = joint[r].sum(axis=0) + 1e-3        # every AngErr bin possible
        row_ae /= row_ae.sum()
        window = joint[r].copy()
        window[1:] += joint[r][:-1]
        window[:-1] += joint[r][1:]
        if k > 0:                 # the tail: AngErr like all the tail's events
            window[k:] = joint[r][k:].sum(axis=0)
        w_tot = window.sum(axis=1, keepdims=True)
        prior = np.divide(window, w_tot, out=np.broadcast_to(row_ae, window.shape).copy(),
                          where=w_tot > 0)
        prior = 0.9 * prior + 0.1 * row_ae
        cond = (joint[r] + ANGERR_PRIOR * prior) / (le_counts[r][:, None] + ANGERR_PRIOR)
        out[r] = p_le[:, None] * cond
    return out


def row_interpolation(sin_dec: np.ndarray, edges: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(own row, neighbour row, neighbour weight) of each sin(dec): linear between row
    centres, never across the selection boundary nor the horizon (`_sides`; the rows
    there end on it: between the last centre and the boundary the two rows of that side
    are extrapolated), constant beyond the first and last centres.

    Why: the background's energy spectrum changes within a row where the southern
    selection's threshold rises (-5 ... -30 deg); taken per row, B_E followed the
    row's mean, and a soft-spectrum fit found excesses in background alone (gamma free:
    TS > 6 in 10-20% of the trials at -6 ... -10 deg, 1% in the north).
    """
    s = np.asarray(sin_dec, dtype=np.float64)
    n_rows = edges.size - 1
    centres = 0.5 * (edges[1:] + edges[:-1])
    own = np.clip(np.searchsorted(edges, s, "right") - 1, 0, n_rows - 1)
    step = np.where(s < centres[own], -1, 1)
    other = own + step
    side = _sides(edges)
    inside = (other >= 0) & (other < n_rows)
    across = inside & (side[own] != side[np.clip(other, 0, n_rows - 1)])
    # Towards the boundary, the trend of the two rows on the event's side is extended
    # (negative weight on the inner one): the threshold changes fastest there.
    other = np.where(across, own - step, other)
    valid = inside & (other >= 0) & (other < n_rows)
    valid &= side[own] == side[np.clip(other, 0, n_rows - 1)]
    other = np.where(valid, other, own)
    span = np.abs(centres[other] - centres[own])
    weight = np.where(valid & (span > 0),
                      np.abs(s - centres[own]) / np.where(span > 0, span, 1.0), 0.0)
    return own, other, np.where(across, -weight, weight)


def interpolated_log_pdf(log_pdf: np.ndarray, edges: np.ndarray, group: np.ndarray,
                         sin_dec: np.ndarray, le: np.ndarray, ae: np.ndarray) -> np.ndarray:
    """log B_E of events from per-row tables (n_groups, n_rows, n_le, n_ae) on the rows of
    `edges`, interpolated linearly in sin(dec) between neighbouring rows
    (`row_interpolation`)."""
    own, other, w = row_interpolation(sin_dec, edges)
    p_own = np.exp(log_pdf[group, own, le, ae].astype(np.float64))
    p_other = np.exp(log_pdf[group, other, le, ae].astype(np.float64))
    p = np.maximum((1.0 - w) * p_own + w * p_other, 0.25 * p_own)   # extrapolated: bounded
    return np.log(p).astype(np.float32)
