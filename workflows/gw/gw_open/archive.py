"""Where the gravitational-wave data come from: a GWOSC host or the offline mirror.

``current_archive()`` reads ``$ASTROFLOW_DATA_DIR/gw/current.json`` (written by
``astroflow data fetch gw``); ``$GWOSC_SERVER_URL`` (an http URL) overrides it.

* ``host`` mode: GWOSC (or a replay server) through the ``gwosc`` client (``gwosc.api.v2``)
  with that host; every request has a timeout, files are downloaded once into the cache
  folder (``$ASTROFLOW_CACHE_DIR/gw``, else ``<data dir>/gw/cache``).
* ``mirror`` mode: the folder the data step built, read directly: the same ``gwosc`` client
  calls answered in-process by ``gw_open.replay.respond`` through a ``requests`` adapter
  mounted on a local ``http://mirror-<id>.invalid`` host, files read in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .errors import AnalysisError

ENV_HOST = "GWOSC_SERVER_URL"
CURRENT = "current.json"
DEFAULT_HOST = "https://gwosc.org"
TIMEOUT = 10.0
ATTRIBUTION = (
    "This research has made use of data or software obtained from the Gravitational Wave "
    "Open Science Center (gwosc.org), a service of the LIGO Scientific Collaboration, the "
    "Virgo Collaboration, and KAGRA. This material is based upon work supported by NSF's "
    "LIGO Laboratory which is a major facility fully funded by the National Science "
    "Foundation, as well as the Science and Technology Facilities Council (STFC) of the "
    "United Kingdom, the Max-Planck-Society (MPS), and the State of Niedersachsen/Germany "
    "for support of the construction of Advanced LIGO and construction and operation of the "
    "GEO600 detector. Additional support for Advanced LIGO was provided by the Australian "
    "Research Council. Virgo is funded, through the European Gravitational Observatory "
    "(EGO), by the French Centre National de Recherche Scientifique (CNRS), the Italian "
    "Istituto Nazionale di Fisica Nucleare (INFN) and the Dutch Nikhef, with contributions "
    "by institutions from Belgium, Germany, Greece, Hungary, Ireland, Japan, Monaco, Poland, "
    "Portugal, Spain. KAGRA is supported by the Ministry of Education, Culture, Sports, "
    "Science and Technology (MEXT), Japan Society for the Promotion of Science (JSPS) in "
    "Japan; National Research Foundation (NRF) and Ministry of Science and ICT (MSIT) in "
    "Korea; Academia Sinica (AS) and National Science and Technology Council (NSTC) in "
    "Taiwan.")
FETCH_HINT = "run `astroflow data fetch gw` (add `--release mirror` to work offline)"


def data_dir() -> Path:
    """``gw/`` in astroflow's data folder."""
    try:
        from astroflow.datadir import default_data_dir

        return default_data_dir() / "gw"
    except ImportError:  # pragma: no cover - the package used on its own
        return Path(os.environ.get("ASTROFLOW_DATA_DIR", "data")) / "gw"


def cache_dir() -> Path:
    env = os.environ.get("ASTROFLOW_CACHE_DIR")
    folder = Path(env) / "gw" if env else data_dir() / "cache"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir()) / "astroflow-gw-cache"
        folder.mkdir(parents=True, exist_ok=True)
    return folder


class _TimeoutSession(requests.Session):
    """Every request bounded by `timeout`; a timeout is reported as a connection error so
    the gwosc client's retry loop (meant for busy servers) does not wait ten times."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, *args, timeout=None, **kwargs):  # noqa: D102
        limit = self.timeout if timeout is None else min(float(timeout), self.timeout)
        try:
            return super().request(method, url, *args, timeout=limit, **kwargs)
        except requests.Timeout as exc:
            raise requests.ConnectionError(f"no answer from {url} in {limit:g} s") from exc


class _MirrorAdapter(requests.adapters.BaseAdapter):
    """Answers a local host's requests from the mirror folder (``replay.respond``)."""

    def __init__(self, root: Path, base: str) -> None:
        super().__init__()
        self.root, self.base = root, base

    def send(self, request, **kwargs):  # noqa: D102
        from .replay import respond

        parts = urllib.parse.urlsplit(request.url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        status, ctype, body = respond(self.root, parts.path, query, self.base)
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers["Content-Type"] = ctype
        response.url = request.url
        response.request = request
        response.reason = "OK" if status == 200 else "Not Found"
        return response

    def close(self) -> None:  # noqa: D102
        pass


@dataclass
class Archive:
    """A GWOSC API v2 source: ``mode`` ``host`` (URL) or ``mirror`` (folder)."""

    mode: str
    location: str
    attribution: str = ATTRIBUTION
    timeout: float = TIMEOUT
    cache: Path | None = None
    _session: requests.Session | None = field(default=None, init=False, repr=False)
    # GraceDB fallback (gw_open/gracedb.py): event name -> GraceDB record of its sky map;
    # service URL -> why it could not be reached (asked once per archive)
    _gracedb_maps: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _gracedb_down: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ("host", "mirror"):
            raise AnalysisError(f"unknown GW archive mode {self.mode!r} (host or mirror)")
        if self.mode == "host":
            self.location = self.location.rstrip("/")
            if not self.location.startswith(("http://", "https://")):
                raise AnalysisError(f"GWOSC host {self.location!r} is not an http(s) URL")
        else:
            self.location = str(Path(self.location).resolve())

    # -- plumbing -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The URL the gwosc client talks to (a local one for the mirror)."""
        if self.mode == "host":
            return self.location
        digest = hashlib.sha256(self.location.encode()).hexdigest()[:12]
        return f"http://mirror-{digest}.invalid"

    @property
    def source(self) -> str:
        """Where products come from, for their metadata and captions."""
        if self.mode == "host":
            return f"GWOSC API v2 at {self.location}" + self._gracedb_source()
        # The folder's name only: products go to users, the server's paths stay with it.
        return (f"offline GWOSC mirror ({Path(self.location).name}/ in the gw data folder, "
                "built by `astroflow data fetch gw`)")

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            session = _TimeoutSession(self.timeout)
            if self.mode == "mirror":
                root = Path(self.location)
                if not (root / "api").is_dir():
                    raise AnalysisError(f"the GW mirror {root} is missing or incomplete; "
                                        + FETCH_HINT)
                session.mount(self.host + "/", _MirrorAdapter(root, self.host))
            self._session = session
        return self._session

    def cache_folder(self) -> Path:
        folder = self.cache if self.cache is not None else cache_dir()
        digest = hashlib.sha256(self.host.encode()).hexdigest()[:10]
        path = Path(folder) / digest
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _unreachable(self, exc: Exception) -> AnalysisError:
        return AnalysisError(f"the GWOSC archive at {self.location} cannot be reached "
                             f"({type(exc).__name__}: {exc}); check the network or "
                             f"{ENV_HOST}, or {FETCH_HINT}")

    def _call(self, function, *args, **kwargs):
        import tenacity

        try:
            result = function(*args, host=self.host, session=self.session, **kwargs)
            return list(result) if not isinstance(result, dict) else result
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 404:
                raise
            raise self._unreachable(exc) from exc
        except (requests.ConnectionError, requests.Timeout, tenacity.RetryError) as exc:
            raise self._unreachable(exc) from exc
        except ValueError as exc:  # a body that is not JSON: not a GWOSC API
            raise AnalysisError(f"{self.location} did not answer as GWOSC's API v2 ({exc})"
                                ) from exc

    # -- queries --------------------------------------------------------------------------
    def probe(self) -> None:
        """Raise AnalysisError unless the archive answers an API v2 query."""
        from gwosc.api import v2

        self._call(v2.fetch_catalogs, pagesize=1)

    def event_versions(self, segment: tuple[float, float] | None = None,
                       catalogs: str | list[str] | None = None) -> list[dict]:
        """Event versions (GWOSC API v2 records) in a GPS range and catalogues."""
        from gwosc.api import v2

        seg = None if segment is None else (int(segment[0]) - 1, int(segment[1]) + 1)
        return self._call(v2.fetch_event_versions, segment=seg, catalogs=catalogs,
                          pagesize=500)

    def event(self, name: str) -> dict:
        """The event version record (highest version unless ``name`` says ``-vN``)."""
        from gwosc.api import v2

        name = str(name).strip()
        if not name:
            raise AnalysisError("no event name given")
        try:
            return self._call(v2.fetch_event_version, name)
        except requests.HTTPError:
            raise AnalysisError(f"{self.source} knows no event {name!r}") from None

    def parameters(self, record: dict) -> list[dict]:
        """The event's parameter records (``parameters_url``)."""
        from gwosc.api import v2

        url = record.get("parameters_url")
        if not url:
            return []
        url = url.split("?")[0]
        cache = self.cache_folder() / "parameters" / f"{record.get('shortName', 'x')}.json"
        if self.mode == "host" and cache.is_file():
            return json.loads(cache.read_text())
        try:
            items = list(v2.produce_fetched_objects(url, session=self.session))
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return []
            raise self._unreachable(exc) from exc
        except requests.ConnectionError as exc:
            raise self._unreachable(exc) from exc
        if self.mode == "host":
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(items))
        return items

    def file(self, url: str) -> Path:
        """A local path for an archive file: read in place from the mirror, else downloaded
        once into the cache folder (with the archive's timeout)."""
        if self.mode == "mirror" and url.startswith(self.host + "/"):
            path = Path(self.location) / urllib.parse.unquote(url[len(self.host) + 1:])
            if not path.is_file():
                raise AnalysisError(f"{path} is missing from the GW mirror; {FETCH_HINT}")
            return path
        name = Path(urllib.parse.urlsplit(url).path).name or "download"
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        target = self.cache_folder() / "files" / digest / name
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            with self.session.get(url, stream=True) as response:
                if response.status_code == 404:
                    raise AnalysisError(f"{url} does not exist on {self.location}")
                response.raise_for_status()
                with open(partial, "wb") as out:
                    for chunk in response.iter_content(chunk_size=1 << 20):
                        out.write(chunk)
        except requests.RequestException as exc:
            partial.unlink(missing_ok=True)
            raise self._unreachable(exc) from exc
        partial.replace(target)
        return target

    def sky_map_file(self, event: str) -> tuple[Path, dict]:
        """(local path of the event's sky map FITS, its event record).

        The record's ``skymap_url`` when it has one; else, in host mode, the public sky map
        of the GraceDB superevent at the event's GPS time (``gw_open.gracedb``; the record
        then carries ``skymap_origin``, and :attr:`source` names the superevent and file)."""
        record = self.event(event)
        url = record.get("skymap_url")
        if url:
            return self.file(url), record
        if self.mode == "mirror":
            where = ("the offline mirror holds sky maps only for the synthetic event "
                     "GW120618_120000 (real ones cannot be had offline); run `astroflow data "
                     "fetch gw --release gwosc` with network access to use GWOSC")
        else:
            where = ("GWOSC's API lists no sky map for it (sky maps of GWTC events are "
                     "published with the parameter-estimation data releases on Zenodo)")
            try:
                path, origin = self._gracedb_sky_map(record)
            except AnalysisError as exc:
                where += f", and {exc}"
            else:
                return path, {**record, "skymap_origin": origin}
        raise AnalysisError(f"no sky map for {record.get('name', event)} from "
                            f"{self.source}: {where}")

    # -- GraceDB fallback for real events' sky maps (gw_open/gracedb.py) ------------------
    def _gracedb_sky_map(self, record: dict) -> tuple[Path, dict]:
        from . import gracedb

        url = gracedb.resolve_service_url()
        if url is None:
            raise AnalysisError(f"GraceDB is not asked ({gracedb.ENV_URL}=off)")
        if url in self._gracedb_down:
            raise AnalysisError(self._gracedb_down[url])
        if record.get("gps") is None:
            raise AnalysisError("its record has no GPS time to look GraceDB up by")
        folder = self.cache if self.cache is not None else cache_dir()
        dest = Path(folder) / "gracedb" / hashlib.sha256(url.encode()).hexdigest()[:10]
        try:
            path, origin = gracedb.sky_map_for_gps(float(record["gps"]), dest, url,
                                                   timeout=self.timeout)
        except AnalysisError as exc:
            if getattr(exc, "unreachable", False):
                self._gracedb_down[url] = str(exc)
            raise
        self._gracedb_maps[str(record.get("name") or record.get("shortName"))] = origin
        return path, origin

    def _gracedb_source(self) -> str:
        """``'; sky map from GraceDB (URL): GW190425: GraceDB superevent S190425z, <file>
        v<N>'`` (three events named at most)."""
        if not self._gracedb_maps:
            return ""
        from .gracedb import describe

        items = list(self._gracedb_maps.items())
        urls = sorted({origin["service_url"] for _, origin in items})
        text = "; ".join(f"{name}: {describe(origin)}" for name, origin in items[:3])
        if len(items) > 3:
            text += f"; and {len(items) - 3} more"
        plural = "s" if len(items) > 1 else ""
        return f"; sky map{plural} from GraceDB ({', '.join(urls)}): {text}"


def current_archive(dest: Path | None = None) -> Archive:
    """The archive the services use: ``$GWOSC_SERVER_URL``, else ``gw/current.json``."""
    env = os.environ.get(ENV_HOST, "").strip()
    if env:
        if not env.startswith(("http://", "https://")):
            raise AnalysisError(f"{ENV_HOST}={env!r} is not an http(s) URL")
        return Archive("host", env)
    dest = Path(dest) if dest is not None else data_dir()
    try:
        info = json.loads((dest / CURRENT).read_text())
    except FileNotFoundError:
        raise AnalysisError(f"no GW archive configured ({dest / CURRENT} is missing); "
                            + FETCH_HINT) from None
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{dest / CURRENT} is unreadable ({exc}); {FETCH_HINT}") from exc
    attribution = str(info.get("attribution") or ATTRIBUTION)
    if info.get("mode") == "host":
        return Archive("host", str(info["host"]), attribution=attribution)
    if info.get("mode") == "mirror":
        path = Path(info["path"])
        return Archive("mirror", str(path if path.is_absolute() else dest / path),
                       attribution=attribution)
    raise AnalysisError(f"{dest / CURRENT} names no mode (host or mirror); {FETCH_HINT}")
