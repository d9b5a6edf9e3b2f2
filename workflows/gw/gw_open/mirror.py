"""The offline GWOSC mirror: a folder in the URL layout of GWOSC's API v2.

``<root>/api/v2/<path>/index.json`` holds what ``https://gwosc.org/api/v2/<path>`` answers
(unpaginated: ``gw_open.replay`` pages and filters it the way GWOSC does), with every URL
written as ``@HOST@/...`` and replaced by the serving host (the replay server's address, or
a local ``http://mirror-<id>.invalid`` host in mirror mode). Files (sky maps, strain) sit at
their URL path under ``<root>``.

Events: the real confident GWTC events of ``events.json`` (their published parameters; no sky
map: those cannot be had offline) and the synthetic ``GW120618_120000`` (parameters and its
multi-order sky map from ``gw_open.synthetic``). Strain files come from helper module
``gw_open.strain_mirror`` when it is installed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from . import synthetic

HOST_PLACEHOLDER = "@HOST@"
MANIFEST = "mirror.json"
MIRROR_VERSION = 1
EVENTS_FILE = Path(__file__).with_name("events.json")
API = "api/v2"
UNITS = {"mass_1_source": "M_sun", "mass_2_source": "M_sun", "chirp_mass_source": "M_sun",
         "total_mass_source": "M_sun", "final_mass_source": "M_sun",
         "luminosity_distance": "Mpc", "redshift": "", "sky_area": "deg2",
         "network_matched_filter_snr": "", "far": "1/yr", "p_astro": ""}
SEARCH_KEYS = ("network_matched_filter_snr", "far", "p_astro")
URL_FIELDS = ("download_url", "url", "hdf5_url", "gwf_url", "txt_url")
Log = Callable[[str], object]


def real_events() -> list[dict]:
    return json.loads(EVENTS_FILE.read_text())["events"]


def event_id(event: dict) -> str:
    return f"{event['name']}-v{int(event['version'])}"


def _api_url(path: str) -> str:
    return f"{HOST_PLACEHOLDER}/{API}/{path}"


def _write_json(root: Path, path: str, data) -> None:
    target = root / path / "index.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1) + "\n")


def _parameter_records(event: dict) -> list[dict]:
    """The event's parameters as GWOSC API v2 parameter records: one preferred
    parameter-estimation record and one search record."""
    pe, search = {}, {}
    for key, value in event["parameters"].items():
        if value is None:
            continue
        best, up, low = (value + [None, None])[:3] if isinstance(value, list) else (value, None,
                                                                                     None)
        entry = {"best": best, "upper_error": up, "lower_error": low, "unit": UNITS.get(key, "")}
        (search if key in SEARCH_KEYS else pe)[key] = entry
    source = event.get("source", "")
    return [{"pipeline": "published", "waveform_family": "overall_posterior",
             "is_preferred": True, "data_url": None, "source": source, "parameters": pe},
            {"pipeline": "search", "waveform_family": None, "is_preferred": False,
             "data_url": None, "source": source, "parameters": search}]


def _detail(event: dict, skymap_path: str | None) -> dict:
    ident = event_id(event)
    out = {"name": event["name"], "shortName": ident, "version": int(event["version"]),
           "catalog": event["catalog"], "run": event["run"], "gps": float(event["gps"]),
           "grace_id": event.get("grace_id"), "aliases": [], "doi": event.get("doi"),
           "detectors": list(event["detectors"]),
           "detail_url": _api_url(f"event-versions/{ident}"),
           "parameters_url": _api_url(f"event-versions/{ident}/parameters"),
           "timelines_url": _api_url(f"event-versions/{ident}/timelines"),
           "strain_files_url": _api_url(f"event-versions/{ident}/strain-files")}
    if skymap_path:  # astroflow's extension: GWOSC's API has no sky-map field
        out["skymap_url"] = f"{HOST_PLACEHOLDER}/{skymap_path}"
    return out


def _absolute_urls(record: dict) -> dict:
    """Strain records from helper modules with root-relative paths made placeholder URLs."""
    out = dict(record)
    for key in URL_FIELDS:
        value = out.get(key)
        if isinstance(value, str) and value and "://" not in value \
                and not value.startswith(HOST_PLACEHOLDER):
            out[key] = f"{HOST_PLACEHOLDER}/{value.lstrip('/')}"
    return out


def _strain_records(root: Path, event: dict, log: Log) -> list[dict]:
    try:
        from .strain_mirror import add_strain
    except ImportError:  # strain not installed: events without strain files
        return []
    try:
        records = add_strain(root, {**event, "id": event_id(event)})
    except Exception as exc:  # noqa: BLE001 - the catalogue stays usable without strain
        log(f"gw mirror: no strain for {event['name']} ({type(exc).__name__}: {exc})")
        return []
    return [_absolute_urls(r) for r in records or []]


def _fingerprint() -> dict:
    strain = Path(__file__).with_name("strain_mirror.py")
    synth = Path(__file__).with_name("synthetic_strain.py")
    return {"mirror_version": MIRROR_VERSION, "synthetic_version": synthetic.GENERATOR_VERSION,
            "events": EVENTS_FILE.read_text(),
            "strain": [p.read_text() if p.exists() else None for p in (strain, synth)]}


def is_current(root: Path) -> bool:
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("fingerprint") == _fingerprint()


def build(root: Path, log: Log = print, force: bool = False) -> Path:
    """Build the mirror at `root` (skipped when it is already up to date)."""
    root = Path(root)
    if not force and is_current(root):
        log(f"gw mirror: {root} is up to date")
        return root
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    events = []
    for event in real_events():
        events.append((dict(event), None))
    synth = synthetic.event_record()
    skymap_rel = f"skymaps/{synthetic.NAME}/{synthetic.NAME}.multiorder.fits"
    synthetic.write_sky_map(staging / skymap_rel)
    synth["parameters"] = {k: v for k, v in synth["parameters"].items()}
    events.append((synth, skymap_rel))

    listing = []
    for event, skymap_rel in events:
        ident = event_id(event)
        detail = _detail(event, skymap_rel)
        listing.append(detail)
        _write_json(staging, f"{API}/event-versions/{ident}", detail)
        _write_json(staging, f"{API}/event-versions/{ident}/parameters",
                    _parameter_records(event))
        _write_json(staging, f"{API}/event-versions/{ident}/strain-files",
                    _strain_records(staging, event, log))
    _write_json(staging, f"{API}/event-versions", listing)
    catalogs = sorted({d["catalog"] for d in listing})
    _write_json(staging, f"{API}/catalogs",
                [{"name": c, "detail_url": _api_url(f"catalogs/{c}")} for c in catalogs])
    runs: dict[str, dict] = {}
    for d in listing:
        run = runs.setdefault(d["run"], {"name": d["run"], "gps_start": int(d["gps"]) - 4096,
                                         "gps_end": int(d["gps"]) + 4096, "detectors": []})
        run["gps_start"] = min(run["gps_start"], int(d["gps"]) - 4096)
        run["gps_end"] = max(run["gps_end"], int(d["gps"]) + 4096)
        run["detectors"] = sorted(set(run["detectors"]) | set(d["detectors"]))
    for run in runs.values():
        run["detail_url"] = _api_url(f"runs/{run['name']}")
        run["strain_files_url"] = _api_url(f"runs/{run['name']}/strain-files")
        _write_json(staging, f"{API}/runs/{run['name']}", run)
    _write_json(staging, f"{API}/runs", list(runs.values()))
    (staging / MANIFEST).write_text(json.dumps(
        {"fingerprint": _fingerprint(), "events": [d["shortName"] for d in listing],
         "note": "Offline GWOSC API v2 mirror built by astroflow's gw_open.mirror; real "
                 "events carry published catalogue parameters, GW120618_120000 is synthetic."},
        indent=1) + "\n")
    if root.exists():
        shutil.rmtree(root)
    staging.replace(root)
    log(f"gw mirror: {len(listing)} events written to {root}")
    return root
