"""Background PDFs from the data themselves, per season.

Neutrino point sources are rare, so the recorded events are (almost) all background:
their distribution in sin(dec) (RA is uniform by Earth rotation) and in (sin dec, log E)
gives the background spatial and energy PDFs without any simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .binning import LOG_E_EDGES, SELECTION_BOUNDARY_DEG, SIN_DEC_EDGES

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



MIN_GROUP_COUNTS = 100  # data events per merged energy group, at least (`energy_groups`)
MIN_ANGERR_COUNTS = 10  # data events per AngErr sub-group of an energy group


def greedy_groups(counts: np.ndarray, need: float) -> np.ndarray:
    """Labels merging consecutive bins, from the last one down, into groups of >= `need`.

    A remainder below `need` at the start joins its neighbouring group; bins without data
    at either end thus join a populated group. One group if the total is below `need`.
    """
    labels = np.zeros(counts.size, dtype=np.int64)
    g, acc = 0, 0.0
    for b in range(counts.size - 1, -1, -1):
        labels[b] = g
        acc += counts[b]
        if acc >= need:
            g, acc = g + 1, 0.0
    if g > 0 and acc < need:
        labels[labels == g] = g - 1
    return labels.max() - labels    # increasing with the bin index


def energy_groups(counts: np.ndarray, min_counts: float = MIN_GROUP_COUNTS) -> np.ndarray:
    """Merge log E bins of each sin(dec) row into groups of enough data events.

    Why: the likelihood is regular (background TS 1/2 delta(0) + 1/2 chi2_1) only if the
    signal energy PDF lives where the background PDF does, so that E_B[S/B] = 1, and if
    no S/B value rests on a handful of events. Built from the data, the background PDF has
    no event in the high-energy tail where E^-2 signal puts up to 30% of its mass (gamma =
    2, full release): there S/B was floored, E_B[S/B] fell to 0.75, the slope of log L at
    n_s = 0 was negative on most skies and TS = 0 in ~85% of the trials. Grouping from the
    top until each group holds `min_counts` events folds that tail into an overflow group
    that still ranks the highest-energy events first. The size sets a trade-off measured
    in the README: a few events per group keep the most power but leave S/B values resting
    on events that rarely fall within a PSF of the source (skewed score, excess of TS = 0,
    light tail); thousands make the TS asymptotic but merge energies so widely that n_s is
    biased high. Returns the group label of each (row, bin); labels increase with energy.
    """
    return np.stack([greedy_groups(row, float(min_counts)) for row in counts])


def grouped_log_ratio(signal_pdf: np.ndarray, counts: np.ndarray, clip: float,
                      min_counts: float = MIN_GROUP_COUNTS,
                      min_angerr_counts: float = MIN_ANGERR_COUNTS) -> np.ndarray:
    """log(S / B) on merged (log E, AngErr) groups, broadcast back onto the bins.

    signal_pdf: (n_sin_dec, n_log_e, n_ang_err, n_gamma), each row summing to 1; counts:
    (n_sin_dec, n_log_e, n_ang_err) data events. Energy groups first (`energy_groups`),
    then AngErr sub-groups of >= `min_angerr_counts` events within each. S and B of a
    group are its summed probabilities, so over the data themselves (RA-scrambled trials)
    E_B[S/B] = sum_groups S_g = 1 exactly.
    """
    n_rows, n_le, n_ae, n_g = signal_pdf.shape
    e_lab = energy_groups(counts.sum(axis=2), min_counts)
    out = np.zeros(signal_pdf.shape)
    for r in range(n_rows):
        total = counts[r].sum()
        if total <= 0:
            continue
        lab = np.zeros((n_le, n_ae), dtype=np.int64)
        next_label = 0
        for g in range(int(e_lab[r].max()) + 1):
            bins = e_lab[r] == g
            sub = greedy_groups(counts[r][bins].sum(axis=0), min_angerr_counts)
            lab[bins] = next_label + sub[None, :]
            next_label += int(sub.max()) + 1
        flat = lab.ravel()
        member = flat[None, :] == np.arange(next_label)[:, None]   # (n_groups, n_cells)
        b = member @ counts[r].ravel() / total
        s = member @ signal_pdf[r].reshape(n_le * n_ae, n_g)
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.log(s / b[:, None])
        lr = np.clip(np.nan_to_num(lr, nan=0.0, neginf=-clip, posinf=clip), -clip, clip)
        out[r] = lr[flat].reshape(n_le, n_ae, n_g)
    return out

