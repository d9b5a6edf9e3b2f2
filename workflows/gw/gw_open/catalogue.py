"""The event table: confident GWTC events in a time range and/or whose sky map covers a position.

Events come from GWOSC's API v2 (``event-versions``, filtered on GPS time by the server), one
row per event (its highest version in a confident catalogue), with the parameters of its
preferred parameter-estimation record and of its search record. The position filter reads
each candidate's sky map (downloaded once, cached) and keeps the events whose smallest
`credible_level` region contains the position.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy.table import Table
from astropy.time import Time

from .errors import AnalysisError

#: (column, GWOSC parameter name, unit, description)
COLUMNS = (
    ("mass_1", "mass_1_source", "solMass", "primary mass (source frame), median"),
    ("mass_2", "mass_2_source", "solMass", "secondary mass (source frame), median"),
    ("chirp_mass", "chirp_mass_source", "solMass", "chirp mass (source frame), median"),
    ("total_mass", "total_mass_source", "solMass", "total mass (source frame), median"),
    ("final_mass", "final_mass_source", "solMass", "remnant mass (source frame), median"),
    ("luminosity_distance", "luminosity_distance", "Mpc", "luminosity distance, median"),
    ("network_snr", "network_matched_filter_snr", "", "network matched-filter SNR"),
    ("far", "far", "1 / yr", "false-alarm rate"),
    ("sky_area_90", "sky_area", "deg2", "90% credible sky area"),
)
EXCLUDED_WORDS = ("marginal", "preliminary", "auxiliary")
Progress = Callable[[float, str], object]


def parse_time(value: str, what: str = "time") -> Time:
    try:
        return Time(str(value).strip(), format="isot", scale="utc")
    except ValueError:
        try:
            return Time(str(value).strip(), scale="utc")
        except ValueError:
            raise AnalysisError(f"{what} {value!r} is not an ISO time "
                                "(e.g. 2017-08-17T12:41:04)") from None


def catalogue_matches(catalog: str, wanted: list[str]) -> bool:
    """Empty `wanted`: every confident catalogue. Otherwise a name matches itself or, for a
    prefix such as ``GWTC`` or ``GWTC-3``, every confident catalogue it begins."""
    low = catalog.lower()
    if not wanted:
        return not any(word in low for word in EXCLUDED_WORDS)
    for name in wanted:
        name = name.strip().lower()
        if low == name:
            return True
        if low.startswith(name) and not any(w in low for w in EXCLUDED_WORDS):
            return True
    return False


def _parameter_values(records: list[dict]) -> dict[str, float]:
    """Preferred parameter-estimation values first, then any record's (search values)."""
    ordered = sorted(records, key=lambda r: not r.get("is_preferred", False))
    values: dict[str, float] = {}
    for record in ordered:
        params = record.get("parameters") or {}
        if isinstance(params, list):  # a list of {"name", "value"}
            params = {p.get("name"): p for p in params}
        for name, entry in params.items():
            value = entry.get("best", entry.get("value")) if isinstance(entry, dict) else entry
            if value is not None and name not in values:
                try:
                    values[name] = float(value)
                except (TypeError, ValueError):
                    continue
    # a flat record: {"name": "mass_1_source", "value": ...}
    for record in records:
        if "name" in record and "value" in record and record["name"] not in values:
            with contextlib.suppress(TypeError, ValueError):
                values[record["name"]] = float(record["value"])
    return values


def select_events(archive, t1: Time | None, t2: Time | None, catalogues: str = "") -> list[dict]:
    """One record per event (highest version in a matching catalogue), by GPS time."""
    segment = None
    if t1 is not None and t2 is not None:
        if t2 <= t1:
            raise AnalysisError(f"T2 ({t2.isot}) must be later than T1 ({t1.isot})")
        segment = (float(t1.gps), float(t2.gps))
    wanted = [c for c in str(catalogues or "").replace(";", ",").split(",") if c.strip()]
    best: dict[str, dict] = {}
    for record in archive.event_versions(segment=segment):
        if segment and not segment[0] <= float(record["gps"]) <= segment[1]:
            continue
        if not catalogue_matches(str(record.get("catalog", "")), wanted):
            continue
        name = record["name"]
        if name not in best or record.get("version", 0) > best[name].get("version", 0):
            best[name] = record
    return sorted(best.values(), key=lambda r: float(r["gps"]))


def event_table(archive=None, t1: str | None = None, t2: str | None = None,
                catalogues: str = "", ra: float | None = None, dec: float | None = None,
                credible_level: float = 0.9, progress: Progress | None = None) -> Table:
    """The events in [t1, t2] (ISO UTC; both None: all) of the catalogues, and, when `ra`
    and `dec` are given, whose `credible_level` sky region contains the position."""
    from .archive import current_archive

    archive = archive or current_archive()
    progress = progress or (lambda fraction, message: None)
    start = parse_time(t1, "T1") if t1 else None
    stop = parse_time(t2, "T2") if t2 else None
    use_position = ra is not None and dec is not None
    if use_position:
        if not 0.0 < float(credible_level) <= 1.0:
            raise AnalysisError(f"credible_level {credible_level} must be in (0, 1]")
        if not -90.0 <= float(dec) <= 90.0:
            raise AnalysisError(f"DEC {dec} is outside [-90, 90] deg")
    progress(0.05, "querying the event list")
    records = select_events(archive, start, stop, catalogues)
    progress(0.2, f"{len(records)} events; reading their parameters")
    with ThreadPoolExecutor(max_workers=8) as pool:
        params = list(pool.map(lambda r: _parameter_values(archive.parameters(r)), records))

    searched: list[float] = []
    density: list[float] = []
    keep: list[bool] = []
    without_map: list[str] = []
    if use_position:
        from .skymap import sky_map_for

        for i, record in enumerate(records):
            progress(0.3 + 0.65 * i / max(len(records), 1), f"sky map of {record['name']}")
            try:
                sky = sky_map_for(record["shortName"] if "shortName" in record
                                  else record["name"], archive)
            except AnalysisError:
                without_map.append(record["name"])
                searched.append(math.nan)
                density.append(math.nan)
                keep.append(False)
                continue
            d, p = sky.probability_at(float(ra), float(dec))
            searched.append(p)
            density.append(d)
            keep.append(p <= float(credible_level))
    else:
        keep = [True] * len(records)

    rows = [(r, p) for r, p, k in zip(records, params, keep, strict=True) if k]
    table = Table()
    table["name"] = [r["name"] for r, _ in rows] if rows else np.array([], dtype="U20")
    table["catalog"] = [str(r.get("catalog", "")) for r, _ in rows] if rows else \
        np.array([], dtype="U20")
    table["version"] = np.array([int(r.get("version", 0)) for r, _ in rows], dtype=int)
    table["gps"] = np.array([float(r["gps"]) for r, _ in rows], dtype=float)
    table["gps"].unit = "s"
    table["gps"].description = "GPS time of the merger"
    utc = Time(table["gps"], format="gps").utc.isot if rows else []
    table["utc"] = np.array(utc, dtype="U23") if rows else np.array([], dtype="U23")
    for column, key, unit, description in COLUMNS:
        table[column] = np.array([p.get(key, math.nan) for _, p in rows], dtype=float)
        table[column].unit = unit or None
        table[column].description = description
    if use_position:
        kept = [i for i, k in enumerate(keep) if k]
        table["searched_prob"] = np.array([searched[i] for i in kept], dtype=float)
        table["searched_prob"].description = ("smallest credible level of the sky map "
                                              "containing the position")
        table["prob_density"] = np.array([density[i] for i in kept], dtype=float)
        table["prob_density"].unit = "deg-2"
    table.meta.update({
        "source": archive.source, "attribution": archive.attribution,
        "T1": start.isot if start is not None else "", "T2": stop.isot if stop is not None
        else "", "catalogues": str(catalogues or "all confident"),
        "n_candidates": len(records)})
    if use_position:
        table.meta.update({"RA": float(ra), "DEC": float(dec),
                           "credible_level": float(credible_level),
                           "without_sky_map": without_map})
    progress(1.0, f"{len(table)} events")
    return table
