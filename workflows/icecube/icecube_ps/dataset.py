"""A point-source data release in memory: seasons, events and instrument responses.

The data model alone, apart from its readers and binary cache (`release.py`), so that the
science modules (`likelihood`, `psf`, `response`) can take a `Release` without importing
what prepares one: imports flow one way, release -> likelihood -> dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

EVENT_COLUMNS = ("mjd", "log_e", "ang_err", "ra", "dec")


@dataclass
class EffectiveArea:
    """A_eff [cm^2] of nu_mu + nubar_mu on a (Dec_nu, log10 E_nu) grid."""

    log_e_edges: np.ndarray
    dec_edges: np.ndarray
    values: np.ndarray  # shape (n_dec, n_log_e)

    def row(self, dec_deg: float) -> np.ndarray:
        """A_eff versus E_nu in the declination bin holding `dec_deg`."""
        return self.values[self.dec_bin(dec_deg)]

    def dec_bin(self, dec_deg: float) -> int:
        """Index of the declination bin holding `dec_deg` (A_eff is constant within it)."""
        return int(np.clip(np.searchsorted(self.dec_edges, dec_deg, "right") - 1,
                           0, len(self.dec_edges) - 2))


@dataclass
class Season:
    """One detector season: name, the irf set it uses, and its uptime intervals (MJD)."""

    name: str
    irf: str
    uptime: np.ndarray  # shape (n, 2)

    @property
    def livetime_days(self) -> float:
        return float(np.sum(self.uptime[:, 1] - self.uptime[:, 0]))

    def livetime_in(self, t1: float, t2: float) -> float:
        """Livetime [days] of this season inside the MJD window [t1, t2]."""
        lo = np.clip(self.uptime[:, 0], t1, t2)
        hi = np.clip(self.uptime[:, 1], t1, t2)
        return float(np.sum(hi - lo))


@dataclass
class Release:
    """Events of all seasons (columns of equal length, `season` indexes `seasons`) and irfs."""

    name: str
    seasons: list[Season]
    events: dict[str, np.ndarray]
    aeff: dict[str, EffectiveArea]
    smearing: Mapping[str, np.ndarray]  # irf name -> (n_rows, 11) table as in the files
    meta: dict = field(default_factory=dict)
    derived: dict[str, np.ndarray] = field(default_factory=dict)  # cached irf products

    @property
    def n_events(self) -> int:
        return int(self.events["ra"].size)

    def season_index(self, name: str) -> int:
        return [s.name for s in self.seasons].index(name)
