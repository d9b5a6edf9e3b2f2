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
import io
import json
import mmap
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import layout
from .dataset import EVENT_COLUMNS, EffectiveArea, Release, Season
from .errors import AnalysisError

__all__ = ["EVENT_COLUMNS", "EffectiveArea", "Release", "Season"]  # where they are read

CACHE_NAME = "icecube_ps_cache.npz"
CACHE_VERSION = 2


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


# Cache file: an uncompressed .npz (np.load reads it) whose arrays start on 64-byte
# boundaries, so `read_npz` maps them from the file instead of reading them: a cold start
# touches only the pages it uses (the events near one source, a few tables).
_ALIGN = 64
_PAD_FIELD = 0xD935                     # zip extra-field id of the alignment padding
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)       # fixed: the same release gives the same file
_LOCAL_HEADER = 30                      # bytes of a zip local file header before its name


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` as an uncompressed .npz with every array's data 64-byte aligned."""
    from numpy.lib import format as npy

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        offset = 0
        for key, value in arrays.items():
            buf = io.BytesIO()
            npy.write_array(buf, np.asanyarray(value), allow_pickle=False)
            data = buf.getvalue()       # .npy: header padded to a multiple of 64 bytes
            info = zipfile.ZipInfo(f"{key}.npy", _ZIP_DATE)
            info.external_attr = 0o644 << 16
            start = offset + _LOCAL_HEADER + len(info.filename.encode())
            pad = -start % _ALIGN
            if 0 < pad < 4:             # an extra field needs 4 bytes of id and size
                pad += _ALIGN
            if pad:
                info.extra = struct.pack("<HH", _PAD_FIELD, pad - 4) + bytes(pad - 4)
            zf.writestr(info, data)
            offset = start + pad + len(data)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz: views of a private (copy-on-write) memory map of the file
    where a member is stored uncompressed and aligned (`write_npz`), else read into memory
    (caches written by np.savez)."""
    from numpy.lib import format as npy

    headers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        try:
            mapped: mmap.mmap | None = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        except (OSError, ValueError):
            mapped = None
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            array = None
            if mapped is not None and info.compress_type == zipfile.ZIP_STORED:
                f.seek(info.header_offset + 26)
                n_name, n_extra = struct.unpack("<HH", f.read(4))
                f.seek(info.header_offset + _LOCAL_HEADER + n_name + n_extra)
                read_header = headers.get(npy.read_magic(f))
                if read_header is not None:
                    shape, fortran, dtype = read_header(f)
                    start = f.tell()
                    if not dtype.hasobject and start % _ALIGN == 0:
                        array = np.ndarray(shape, dtype, buffer=mapped, offset=start,
                                           order="F" if fortran else "C")
            if array is None:
                with zf.open(info) as member:
                    array = npy.read_array(member, allow_pickle=False)
            out[info.filename[:-4]] = array
    return out


def save_cache(release: Release, path: Path) -> Path:
    """Write the release as one .npz (`write_npz`): loads in milliseconds, no parsing."""
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
    write_npz(tmp, arrays)
    tmp.replace(path)
    return path


def load_cache(path: Path) -> Release:
    """Read a cache written by `save_cache`; its arrays are mapped, not read (`read_npz`),
    so the smearing tables (tens of MB) cost nothing unless irf products are derived or
    signal events drawn."""
    z = read_npz(Path(path))
    header = json.loads(bytes(z["header"]).decode())
    if header.get("version") != CACHE_VERSION:
        raise AnalysisError(f"{path}: cache version {header.get('version')} is stale")
    events = {k[3:]: v for k, v in z.items() if k.startswith("ev_")}
    seasons = [Season(n, irf, z[f"uptime_{i}"]) for i, (n, irf) in enumerate(header["seasons"])]
    aeff = {irf: EffectiveArea(z[f"aeff_e_{irf}"], z[f"aeff_d_{irf}"], z[f"aeff_v_{irf}"])
            for irf in header["irfs"]}
    smear = {irf: z[f"smear_{irf}"] for irf in header["irfs"]}
    derived = {k[4:]: v for k, v in z.items() if k.startswith("drv_")}
    return Release(header["name"], seasons, events, aeff, smear, header.get("meta", {}),
                   derived)


def complete_products(release: Release) -> bool:
    """Add the products a cache of this code holds (irf products, the energy term, the
    per-event products) where `release.derived` lacks them, and drop those of older
    versions. True if anything changed (the cache should then be written again)."""
    from .likelihood import (
        ENERGY_TABLE_KEY,
        EVENT_PRODUCTS_VERSION,
        event_products,
        precompute_energy_table,
    )
    from .psf import derive_psf_products, psf_key
    from .response import derive_irf_products, irf_key

    before = set(release.derived)
    if any(irf_key(irf, "sm_m") not in release.derived for irf in release.smearing):
        release.derived = derive_irf_products(release)      # everything else follows them
    if bool(release.meta.get("psf_correction", True)) and psf_key() not in release.derived:
        release.derived = {k: v for k, v in release.derived.items()
                           if ":psf_" not in k and not k.startswith("psf_")}
        release.derived.update(derive_psf_products(release))
    release.derived = {k: v for k, v in release.derived.items()
                       if not (k.startswith(("energy_table:", "energy_signal:"))
                               and k != ENERGY_TABLE_KEY)
                       and not (k.startswith("events:")
                                and not k.endswith(f":{EVENT_PRODUCTS_VERSION}"))}
    event_products(release)
    if ENERGY_TABLE_KEY not in release.derived:
        release.derived[ENERGY_TABLE_KEY] = precompute_energy_table(release)
    return set(release.derived) != before


def prepare(release: Release) -> Release:
    """Sort events for cone queries and precompute the irf products, the energy term and
    the per-event products, before caching.

    They depend only on the release, and together they are most of the cost of a cold
    start: done once here, loaded from the cache afterwards.
    """
    from .skyindex import sort_key

    order = np.argsort(sort_key(release.events["ra"], release.events["dec"]), kind="stable")
    release.events = {c: v[order] for c, v in release.events.items()}
    release.derived = {}
    complete_products(release)
    return release


def cache_is_current(path: Path) -> bool:
    """True if `path` is a cache written by this version of the code."""
    try:
        with np.load(Path(path)) as z:
            return json.loads(bytes(z["header"]).decode()).get("version") == CACHE_VERSION
    except (OSError, ValueError, KeyError):
        return False


def load_current(path: Path) -> Release:
    """`load_cache`, completing (once, in place) a cache that lacks newer products."""
    release = load_cache(path)
    if complete_products(release):
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
