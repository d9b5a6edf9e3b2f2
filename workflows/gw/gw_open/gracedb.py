"""Public sky maps of real events from GraceDB (gracedb.ligo.org), through ``ligo-gracedb``.

GWOSC's API v2 has no sky-map field. The LIGO/Virgo/KAGRA alerts' sky maps are public on
GraceDB for every public superevent (O3 onwards), readable without credentials:
:func:`sky_map_for_gps` finds the superevent of a GPS time and downloads its best sky map.

* Service: ``service_url`` argument, else ``$GRACEDB_SERVICE_URL``, else
  ``https://gracedb.ligo.org/api/``; ``GRACEDB_SERVICE_URL=off`` (or ``none``) disables it.
* Superevent: the query ``gpstime: <gps-1> .. <gps+1>`` (GraceDB's query syntax, whole
  seconds), then those whose ``t_0`` is within ``WINDOW`` (1 s) of the time; a retracted one
  (label ``ADVNO``/``RETRACTED``) last, a confirmed one (``gw_id``) first, then the closest.
* File (:func:`rank_sky_maps`): among the superevent's files (``files(superevent_id)``: names,
  ``<name>,<version>`` for each uploaded version, the bare name being the latest), the sky
  maps (``*.multiorder.fits``, ``*.fits``, ``*.fits.gz``) in this order of preference:

  1. parameter estimation: Bilby, then LALInference, then RapidPE/RIFT — within a pipeline
     the newest offline run first (``Bilby.offline1`` before ``Bilby.offline0`` before the
     online ``Bilby``);
  2. BAYESTAR (the low-latency CBC localisation);
  3. any other pipeline's map (cWB, oLIB, MLy, ...: burst searches);

  within each, multi-order before flat maps, and of a file its highest version (the
  versioned name is downloaded: it never changes, so the cache cannot go stale).
* Cache: the file goes to ``dest/<superevent>/v<version>/<name>``; its SHA-256 and the lookup
  (superevent, file, URL, time) are written to ``dest/lookups/<gps>.json``. A later call for
  the same time reuses the file without contacting GraceDB while the hash matches (delete the
  folder to pick up a newer upload).

A service that cannot be reached (or does not answer as GraceDB's API) is an
:class:`AnalysisError` naming the URL, with ``unreachable = True``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

import requests
import urllib3

from .errors import AnalysisError

ENV_URL = "GRACEDB_SERVICE_URL"
DEFAULT_URL = "https://gracedb.ligo.org/api/"
DISABLED = frozenset({"off", "none", "no", "false", "0", "disabled"})
WINDOW = 1.0  # s, between the event's GPS time and the superevent's t_0
TIMEOUT = 10.0
RETRACTED_LABELS = frozenset({"ADVNO", "RETRACTED"})
_SKY_MAP = re.compile(r"\.(multiorder\.fits|fits|fits\.gz)$", re.IGNORECASE)
# (name prefix, rank): lower is preferred; anything else ranks after BAYESTAR
_PIPELINES = (("bilby", 0), ("lalinference", 1), ("rapidpe", 2), ("rift", 2),
              ("bayestar", 3))
_OTHER = 4


def resolve_service_url(explicit: str | None = None) -> str | None:
    """The GraceDB API root to use (ending in ``/``), or None when disabled."""
    url = explicit if explicit is not None else os.environ.get(ENV_URL, "").strip()
    if not url:
        url = DEFAULT_URL
    if url.lower() in DISABLED:
        return None
    if not url.startswith(("http://", "https://")):
        raise AnalysisError(f"GraceDB service URL {url!r} ({ENV_URL}) is not an http(s) URL")
    return url if url.endswith("/") else url + "/"


def _split(filename: str) -> tuple[str, int | None]:
    """``'Bilby.multiorder.fits,2'`` -> ``('Bilby.multiorder.fits', 2)``; bare: None."""
    base, sep, version = filename.rpartition(",")
    if sep and version.isdigit():
        return base, int(version)
    return filename, None


def _preference(base: str) -> tuple[int, int, int, str]:
    name = base.lower()
    rank = next((r for prefix, r in _PIPELINES if name.startswith(prefix)), _OTHER)
    offline = re.search(r"offline(\d+)", name)
    flat = 0 if name.endswith(".multiorder.fits") else 1
    return rank, -(int(offline.group(1)) if offline else -1), flat, name


def rank_sky_maps(filenames: Iterable[str]) -> list[tuple[str, str, int | None]]:
    """The sky maps among a superevent's file names, best first (see the module's text):
    ``(name to download, file name, version)``; version None when only the bare (latest)
    name is listed."""
    versions: dict[str, set[int | None]] = {}
    for filename in filenames:
        base, version = _split(str(filename))
        if _SKY_MAP.search(base):
            versions.setdefault(base, set()).add(version)
    ranked = []
    for base in sorted(versions, key=_preference):
        numbered = [v for v in versions[base] if v is not None]
        if numbered:
            version = max(numbered)
            ranked.append((f"{base},{version}", base, version))
        else:
            ranked.append((base, base, None))
    return ranked


def _superevent_order(gps: float):
    def key(superevent: dict) -> tuple[bool, bool, float]:
        labels = set(superevent.get("labels") or [])
        return (bool(labels & RETRACTED_LABELS), not superevent.get("gw_id"),
                abs(float(superevent["t_0"]) - gps))
    return key


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _client(url: str, timeout: float):
    """A ``ligo.gracedb.rest.GraceDb`` without credentials whose every request has
    `timeout` (a timeout reported as a connection error) and one retry at most."""
    from ligo.gracedb.rest import GraceDb

    class _Client(GraceDb):
        def request(self, method, url, *args, **kwargs):  # noqa: D102
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            try:
                return super().request(method, url, *args, **kwargs)
            except requests.Timeout as exc:
                raise requests.ConnectionError(
                    f"no answer from {url} in {kwargs['timeout']:g} s") from exc

    return _Client(service_url=url, force_noauth=True, retries=1)


def _unreachable(url: str, exc: Exception) -> AnalysisError:
    error = AnalysisError(f"GraceDB at {url} cannot be reached ({type(exc).__name__}: "
                          f"{exc}); check the network or {ENV_URL}")
    error.unreachable = True  # type: ignore[attr-defined]
    return error


def _lookup_path(dest: Path, gps: float) -> Path:
    return dest / "lookups" / f"{gps:.3f}.json"


def _cached(dest: Path, gps: float, url: str) -> tuple[Path, dict] | None:
    try:
        record = json.loads(_lookup_path(dest, gps).read_text())
    except (OSError, ValueError):
        return None
    path = dest / str(record.get("path", ""))
    if record.get("service_url") != url or not path.is_file():
        return None
    if _sha256(path) != record.get("sha256"):
        return None
    return path, record


def sky_map_for_gps(gps: float, dest: Path, service_url: str | None = None,
                    timeout: float = TIMEOUT) -> tuple[Path, dict]:
    """(local path, record) of the best public sky map of the superevent at `gps` (±1 s).

    The record: ``superevent_id``, ``gw_id``, ``preferred_event``, ``t_0``, ``filename`` (as
    listed, with its version), ``file``, ``version``, ``url``, ``sha256``, ``service_url``,
    ``retrieved`` (UTC), ``path`` (relative to `dest`). Raises AnalysisError when GraceDB
    cannot be reached (``unreachable`` attribute True), is disabled, has no public superevent
    at that time, or the superevent has no sky map.
    """
    url = resolve_service_url(service_url)
    if url is None:
        raise AnalysisError(f"GraceDB is disabled ({ENV_URL}=off)")
    gps = float(gps)
    if not math.isfinite(gps):
        raise AnalysisError(f"GPS time {gps} is not a number")
    dest = Path(dest)
    hit = _cached(dest, gps, url)
    if hit is not None:
        return hit

    from ligo.gracedb.exceptions import HTTPError

    client = _client(url, timeout)
    query = f"gpstime: {math.floor(gps - WINDOW)} .. {math.ceil(gps + WINDOW)}"
    try:
        found = [s for s in client.superevents(query=query, count=20, max_results=100)
                 if abs(float(s.get("t_0", math.inf)) - gps) <= WINDOW]
        found.sort(key=_superevent_order(gps))
        for superevent in found:
            sid = superevent["superevent_id"]
            listing = client.files(sid).json()
            if not isinstance(listing, dict):
                raise ValueError(f"the file list of {sid} is not a JSON object")
            ranked = rank_sky_maps(listing)
            if ranked:
                break
        else:
            if found:
                names = ", ".join(s["superevent_id"] for s in found)
                raise AnalysisError(f"GraceDB at {url}: superevent(s) {names} at GPS {gps:.3f} "
                                    "has no sky map file")
            raise AnalysisError(f"GraceDB at {url} has no public superevent within "
                                f"±{WINDOW:g} s of GPS {gps:.3f}")
        filename, base, version = ranked[0]
        relative = Path(sid) / (f"v{version}" if version is not None else "latest") / base
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # unique per writer: runs in other processes may fetch the same file meanwhile
        partial = target.with_name(f"{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
        raw = client.files(sid, filename)
        try:
            with open(partial, "wb") as out:
                for block in iter(lambda: raw.read(1 << 20), b""):
                    out.write(block)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            raw.close()
    except AnalysisError:
        raise
    except HTTPError as exc:
        status = getattr(exc, "status_code", None)
        if status is not None and status < 500 and status not in (401, 403, 407, 408, 429):
            raise AnalysisError(f"GraceDB at {url} refused a request (HTTP {status}: "
                                f"{str(getattr(exc, 'text', ''))[:200]})") from exc
        raise _unreachable(url, exc) from exc
    except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError) as exc:
        raise _unreachable(url, exc) from exc
    except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not GraceDB's shapes
        error = AnalysisError(f"{url} did not answer as GraceDB's API ({exc})")
        error.unreachable = True  # type: ignore[attr-defined]
        raise error from exc
    partial.replace(target)
    record = {
        "superevent_id": sid, "gw_id": superevent.get("gw_id"),
        "preferred_event": superevent.get("preferred_event"),
        "t_0": float(superevent["t_0"]), "filename": filename, "file": base,
        "version": version, "url": str(listing.get(filename, "")), "sha256": _sha256(target),
        "service_url": url, "path": str(relative),
        "retrieved": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    lookup = _lookup_path(dest, gps)
    lookup.parent.mkdir(parents=True, exist_ok=True)
    scratch = lookup.with_name(f"{lookup.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
    scratch.write_text(json.dumps(record, indent=1))
    scratch.replace(lookup)
    return target, record


def describe(record: dict) -> str:
    """``'GraceDB superevent S190425z, Bilby.multiorder.fits v1'`` for captions."""
    version = record.get("version")
    suffix = f" v{version}" if version is not None else ""
    return f"GraceDB superevent {record['superevent_id']}, {record['file']}{suffix}"
