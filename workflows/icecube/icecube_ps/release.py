"""In-memory model of a point-source data release, its readers and its binary cache.

A release is a set of seasons. Each season has events, uptime intervals and instrument
response functions (irfs): an effective area tabulated in (log10 E_nu, Dec_nu) and a
smearing table giving, per (E_nu, Dec_nu) cell, the joint fractions of reconstructed
energy, point-spread (true angle) and reported angular error. The 3-year release has no
smearing table; `threeyear.py` builds one from its published median resolution and
an energy-proxy model (see there), so that one analysis path serves both releases.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import layout
from .errors import AnalysisError

CACHE_NAME = "icecube_ps_cache.npz"
CACHE_VERSION = 2
EVENT_COLUMNS = ("mjd", "log_e", "ang_err", "ra", "dec")


@dataclass
class EffectiveArea:
    """A_eff [cm^2] of nu_mu + nubar_mu on a (Dec_nu, log10 E_nu) grid."""

    log_e_edges: np.ndarray
    dec_edges: np.ndarray
    values: np.ndarray  # shape (n_dec, n_log_e)

    def row(self, dec_deg: float) -> np.ndarray:
        """A_eff versus E_nu in the declination bin holding `dec_deg`."""
        i = int(np.clip(np.searchsorted(self.dec_edges, dec_deg, "right") - 1,
                        0, len(self.dec_edges) - 2))
        return self.values[i]


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


class LazyArrays(Mapping[str, np.ndarray]):
    """Arrays of an .npz read on first access: the smearing tables (tens of MB in a full
    release) are only needed to derive irf products or draw signal events, not to answer
    a request from a complete cache."""

    def __init__(self, path: Path, keys: dict[str, str]) -> None:
        self._path, self._keys, self._values = Path(path), keys, {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._values:
            with np.load(self._path) as z:
                self._values[name] = z[self._keys[name]]
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


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


def _load_table(path: Path, n_cols: int) -> np.ndarray:
    if not path.is_file():
        raise AnalysisError(f"missing file of the data release: {path}")
    table = np.loadtxt(path, comments="#", ndmin=2)
    if table.size == 0:
        return np.zeros((0, n_cols))
    if table.shape[1] != n_cols:
        raise AnalysisError(f"{path}: expected {n_cols} columns, found {table.shape[1]}")
    return table


def effective_area_from_rows(rows: np.ndarray) -> EffectiveArea:
    """Rebuild the (Dec, log E) grid from rows `logE_min logE_max dec_min dec_max A`."""
    e_edges = np.unique(np.concatenate([rows[:, 0], rows[:, 1]]).round(6))
    d_edges = np.unique(np.concatenate([rows[:, 2], rows[:, 3]]).round(6))
    values = np.zeros((d_edges.size - 1, e_edges.size - 1))
    ie = np.searchsorted(e_edges, rows[:, 0].round(6))
    idd = np.searchsorted(d_edges, rows[:, 2].round(6))
    values[idd, ie] = rows[:, 4]
    return EffectiveArea(e_edges, d_edges, values)


def read_events(path: Path) -> np.ndarray:
    """Events file -> (n, 7) array: MJD, log10 E, AngErr, RA, Dec, Azimuth, Zenith."""
    return _load_table(path, 7)


def read_uptime(path: Path) -> np.ndarray:
    return _load_table(path, 2)


def read_effective_area(path: Path) -> EffectiveArea:
    return effective_area_from_rows(_load_table(path, 5))


def read_smearing(path: Path) -> np.ndarray:
    return _load_table(path, 11)


def read_10year(root: Path, name: str = "10year",
                seasons: tuple[str, ...] | None = None) -> Release:
    """Read a release in the 10-year layout (real or synthetic) from its text files."""
    root = Path(root)
    if seasons is None:
        seasons = tuple(s for s in layout.SEASONS_10YEAR
                        if (root / layout.events_path(s)).is_file())
    if not seasons:
        raise AnalysisError(f"no events/<season>_exp.csv files under {root}")
    cols: dict[str, list[np.ndarray]] = {c: [] for c in (*EVENT_COLUMNS, "season")}
    season_list, aeff, smear = [], {}, {}
    for i, s in enumerate(seasons):
        ev = read_events(root / layout.events_path(s))
        for j, c in enumerate(EVENT_COLUMNS):
            cols[c].append(ev[:, j])
        cols["season"].append(np.full(len(ev), i, dtype=np.int8))
        irf = layout.irf_season(s)
        if irf not in aeff:
            aeff[irf] = read_effective_area(root / layout.aeff_path(s))
            smear[irf] = read_smearing(root / layout.smearing_path(s))
        season_list.append(Season(s, irf, read_uptime(root / layout.uptime_path(s))))
    events = {c: np.concatenate(v) for c, v in cols.items()}
    return Release(name, season_list, _typed(events), aeff, smear)


def _typed(events: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float64 where precision matters (time, direction), float32 elsewhere: halves memory."""
    out = {c: np.asarray(events[c], dtype=np.float64) for c in ("mjd", "ra", "dec")}
    out["log_e"] = np.asarray(events["log_e"], dtype=np.float32)
    out["ang_err"] = np.asarray(events["ang_err"], dtype=np.float32)
    out["season"] = np.asarray(events["season"], dtype=np.int8)
    return out


def save_cache(release: Release, path: Path) -> Path:
    """Write the release as one uncompressed .npz: loads in tens of ms, no text parsing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {f"ev_{c}": v for c, v in release.events.items()}
    header = {"version": CACHE_VERSION, "name": release.name, "meta": release.meta,
              "seasons": [[s.name, s.irf] for s in release.seasons],
              "irfs": sorted(release.aeff)}
    for i, s in enumerate(release.seasons):
        arrays[f"uptime_{i}"] = s.uptime
    for irf in release.aeff:
        a = release.aeff[irf]
        arrays[f"aeff_e_{irf}"] = a.log_e_edges
        arrays[f"aeff_d_{irf}"] = a.dec_edges
        arrays[f"aeff_v_{irf}"] = a.values
        arrays[f"smear_{irf}"] = release.smearing[irf]
    for key, value in release.derived.items():
        arrays[f"drv_{key}"] = value
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def load_cache(path: Path) -> Release:
    """Read a cache written by `save_cache`."""
    with np.load(Path(path)) as z:
        header = json.loads(bytes(z["header"]).decode())
        if header.get("version") != CACHE_VERSION:
            raise AnalysisError(f"{path}: cache version {header.get('version')} is stale")
        events = {k[3:]: z[k] for k in z.files if k.startswith("ev_")}
        seasons = [Season(n, irf, z[f"uptime_{i}"])
                   for i, (n, irf) in enumerate(header["seasons"])]
        aeff = {irf: EffectiveArea(z[f"aeff_e_{irf}"], z[f"aeff_d_{irf}"], z[f"aeff_v_{irf}"])
                for irf in header["irfs"]}
        smear = LazyArrays(path, {irf: f"smear_{irf}" for irf in header["irfs"]})
        derived = {k[4:]: z[k] for k in z.files if k.startswith("drv_")}
    return Release(header["name"], seasons, events, aeff, smear, header.get("meta", {}),
                   derived)


def prepare(release: Release) -> Release:
    """Sort events for cone queries and precompute the irf products, before caching.

    Both depend only on the release, and together they are most of the cost of a cold
    start: done once here, loaded from the cache afterwards.
    """
    from .likelihood import ENERGY_TABLE_KEY, precompute_energy_table
    from .response import derive_irf_products
    from .skyindex import sort_key

    order = np.argsort(sort_key(release.events["ra"], release.events["dec"]), kind="stable")
    release.events = {c: v[order] for c, v in release.events.items()}
    release.derived = derive_irf_products(release)
    release.derived[ENERGY_TABLE_KEY] = precompute_energy_table(release)
    return release


def cache_is_current(path: Path) -> bool:
    """True if `path` is a cache written by this version of the code."""
    try:
        with np.load(Path(path)) as z:
            return json.loads(bytes(z["header"]).decode()).get("version") == CACHE_VERSION
    except (OSError, ValueError, KeyError):
        return False


def load_current(path: Path) -> Release:
    """`load_cache`, completing (once, in place) a cache that lacks newer irf products."""
    from .likelihood import ENERGY_TABLE_KEY, precompute_energy_table
    from .response import derive_irf_products

    release = load_cache(path)
    if any(f"{irf}:sm_joint" not in release.derived for irf in release.smearing) \
            or ENERGY_TABLE_KEY not in release.derived:
        release.derived = derive_irf_products(release)
        release.derived[ENERGY_TABLE_KEY] = precompute_energy_table(release)
        # A read-only data directory: computed again at each start instead.
        with contextlib.suppress(OSError):
            save_cache(release, path)
    return release


def open_release(root: Path, name: str = "10year") -> Release:
    """The release under `root`, through its binary cache (built on first use)."""
    root = Path(root)
    cache = root / CACHE_NAME
    if cache.is_file() and cache_is_current(cache):
        return load_current(cache)
    release = prepare(read_10year(root, name))
    save_cache(release, cache)
    return release
