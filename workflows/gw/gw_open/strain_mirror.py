"""Strain files in a GWOSC mirror: the files, their API v2 records and the lookup endpoints.

A mirror keeps each file at the path of its URL on gwosc.org, as GWOSC serves event
releases: ``eventapi/json/<catalog>/<event>/v<version>/H-H1_GWOSC_4KHZ_R1-<gps>-32.hdf5``.
The records (``GET /api/v2/event-versions/<event>-v<version>/strain-files``) are built from
the files on disk, so the mirror holds no second copy of what its files already say.

URLs in the records start with the mirror's host placeholder (``@HOST@``); the replay server
(``gw_open.replay``) swaps it for its own address, as in every other body it serves.

Only synthetic events (catalogue ``astroflow-synthetic``) get strain: the real events' strain
cannot be had offline, and simulated noise must never pass for theirs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from . import synthetic, synthetic_strain
from .mirror import HOST_PLACEHOLDER

EVENT_FILES = "eventapi/json"
#: ``H-H1_GWOSC_4KHZ_R1-1126259447-32.hdf5`` (LIGO-T050017: observatory-tag-start-duration)
FILE_NAME = re.compile(r"^(?P<obs>[A-Z])-(?P<ifo>[A-Z]\d)_(?P<tag>[A-Z0-9_]+?)_(?P<khz>\d+)KHZ_"
                       r"(?P<rel>R\d+)-(?P<start>\d+)-(?P<duration>\d+)\.(?P<ext>hdf5|gwf|txt\.gz)$")
PAGE_SIZE = 100
Response = tuple[int, str, bytes]


def event_folder(mirror_root: Path, event: dict) -> Path:
    version = int(event.get("version") or 1)
    return (Path(mirror_root) / EVENT_FILES / str(event["catalog"]) / str(event["name"])
            / f"v{version}")


def _parse(path: Path) -> dict | None:
    match = FILE_NAME.match(path.name)
    if match is None:
        return None
    return {"detector": match["ifo"], "gps_start": int(match["start"]),
            "duration": int(match["duration"]), "sample_rate_kHz": int(match["khz"]),
            "file_format": {"hdf5": "hdf", "gwf": "gwf", "txt.gz": "txt"}[match["ext"]]}


def _record(mirror_root: Path, path: Path) -> dict | None:
    info = _parse(path)
    if info is None:
        return None
    relative = path.relative_to(mirror_root).as_posix()
    return {**info, "download_url": f"{HOST_PLACEHOLDER}/{quote(relative)}"}


def event_records(mirror_root: Path, event: dict) -> list[dict]:
    """The API v2 strain-file records of the event's files in the mirror (sorted)."""
    folder = event_folder(mirror_root, event)
    if not folder.is_dir():
        return []
    records = [r for p in sorted(folder.iterdir()) if (r := _record(Path(mirror_root), p))]
    return sorted(records, key=lambda r: (r["detector"], r["duration"], r["gps_start"]))


def add_strain(mirror_root: Path, event: dict) -> list[dict]:
    """Write the event's synthetic strain (32 s at 4 kHz for H1 and L1) into the mirror and
    return its API v2 strain-file records; a real (not synthetic) event gets none.

    ``event`` needs ``name``, ``gps`` and ``catalog`` (``version`` defaults to 1; masses and
    distance are taken from ``mass_1_source``, ``mass_2_source``, ``luminosity_distance``
    when given). Files already written by this generator version for the same source are
    kept, so a second call costs nothing.
    """
    if event.get("catalog") != synthetic.CATALOG:
        return []
    folder = event_folder(mirror_root, event)
    source = synthetic_strain.source_for(event)
    detectors = tuple(d for d in event.get("detectors", synthetic_strain.DETECTORS)
                      if d in synthetic_strain.DETECTORS) or synthetic_strain.DETECTORS
    truth_path = folder / synthetic_strain.TRUTH_NAME
    try:
        truth = json.loads(truth_path.read_text())
    except (OSError, ValueError):
        truth = None
    fresh = (truth is not None and truth.get("generator_version")
             == synthetic_strain.GENERATOR_VERSION
             and truth.get("source", {}).get("gps") == source.gps
             and set(truth.get("detectors", {})) == set(detectors)
             and all((folder / d["file"]).is_file() for d in truth["detectors"].values()))
    if not fresh:
        synthetic_strain.generate_event_strain(folder, source, detectors)
    return event_records(mirror_root, event)


def find_files(mirror_root: Path, detector: str, start: float, end: float) -> list[Path]:
    """Files of ``detector`` in the mirror overlapping [start, end), in time order; where
    files of several durations overlap, the shortest one covering the span alone."""
    root = Path(mirror_root)
    found = []
    for path in root.glob(f"{EVENT_FILES}/*/*/v*/{detector[0]}-{detector}_*.hdf5"):
        info = _parse(path)
        if info and info["detector"] == detector:
            a, b = info["gps_start"], info["gps_start"] + info["duration"]
            if a < end and b > start:
                found.append((a, b, path))
    covering = sorted((b - a, p) for a, b, p in found if a <= start and b >= end)
    if covering:
        return [covering[0][1]]
    return [p for _, _, p in sorted(found)]


# -- the API endpoints ---------------------------------------------------------------------------

def _page(results: list[dict]) -> bytes:
    return json.dumps({"count": len(results), "num_pages": 1, "next": None,
                       "previous": None, "results": results}).encode()


def _event_id(event_id: str) -> tuple[str, int | None, str | None]:
    """``GW150914-v3`` → (name, 3, None); ``GW150914@GWTC-1-confident`` → (name, None, cat)."""
    if "@" in event_id:
        name, catalog = event_id.split("@", 1)
        return name, None, catalog
    match = re.match(r"^(?P<name>.+)-v(?P<version>\d+)$", event_id)
    if match:
        return match["name"], int(match["version"]), None
    return event_id, None, None


def _event_strain_files(root: Path, match: re.Match, query: dict) -> Response:
    name, version, catalog = _event_id(match["event"])
    candidates = sorted(Path(root).glob(f"{EVENT_FILES}/{catalog or '*'}/{name}/v*"))
    if version is not None:
        candidates = [c for c in candidates if c.name == f"v{version}"]
    if not candidates:
        body = json.dumps({"detail": f"No event version matches {match['event']}."}).encode()
        return 404, "application/json", body
    folder = max(candidates, key=lambda c: int(c.name[1:]))
    records = [r for p in sorted(folder.iterdir()) if (r := _record(Path(root), p))]
    checks = {"detector": "detector", "sample-rate": "sample_rate_kHz",
              "file-format": "file_format", "duration": "duration"}
    for key, field_name in checks.items():
        wanted = _first(query.get(key))
        if wanted is not None:
            wanted = {"hdf5": "hdf"}.get(str(wanted).lower(), str(wanted).lower())
            records = [r for r in records if str(r[field_name]).lower() == wanted]
    return 200, "application/json", _page(records)


def _file(root: Path, match: re.Match, query: dict) -> Response:
    relative = match["path"]
    path = (Path(root) / EVENT_FILES / relative).resolve()
    base = (Path(root) / EVENT_FILES).resolve()
    if base not in path.parents or not path.is_file():
        return 404, "text/plain", b"Not found"
    return 200, "application/x-hdf5", path.read_bytes()


def _first(value):
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def routes() -> list[tuple[re.Pattern, object]]:
    """(path pattern, handler(root, match, query) -> (status, content type, body)) for the
    strain lookups gwosc.locate and gwpy make, and the file downloads."""
    return [
        (re.compile(r"^/api/v2/event-versions/(?P<event>[^/]+)/strain-files/?$"),
         _event_strain_files),
        (re.compile(r"^/eventapi/(?:json|html)/(?P<path>[^?]+\.hdf5)$"), _file),
    ]
