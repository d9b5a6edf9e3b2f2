"""Real events' sky maps from GraceDB: the real ``ligo-gracedb`` client against a GraceDB
speaking its REST API on 127.0.0.1 (the API root with its links and templates, the superevent
list by query, paginated as GraceDB does, a superevent's file list with its versions, file
downloads), serving sky maps written with ligo.skymap's writer. Checked: the superevent found
by GPS time, the order of preference of the files, the cache, clear errors (unreachable, not
GraceDB, no superevent), the archive's fallback, and the sky-map service's products saying
the map came from GraceDB.

The sky maps are von Mises-Fisher densities (concentration kappa), whose credible areas are
analytic: A(p) = (2 pi / kappa) * -ln(1 - p (1 - exp(-2 kappa))) sr."""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import healpy as hp
import numpy as np
import pytest
from gw_open import gracedb
from gw_open.archive import Archive
from gw_open.catalogue import event_table
from gw_open.errors import AnalysisError
from gw_open.gracedb import rank_sky_maps, sky_map_for_gps
from gw_open.skymap import read_sky_map, sky_map_for

WORKFLOW = Path(__file__).resolve().parents[1]
NSIDE = 64
GPS_170817 = 1187008882.4  # GWOSC's GPS time of GW170817 (gw_open/events.json)
GPS_190425 = 1240215503.0
KAPPA = 120.0
# (RA, Dec) of each file's map, so a test can tell which one was downloaded
CENTRES = {
    "LALInference.multiorder.fits,0": (200.0, -20.0),
    "LALInference.multiorder.fits,1": (197.45, -23.38),  # NGC 4993
    "bayestar.multiorder.fits,0": (190.0, -35.0),
    "bayestar.fits.gz,0": (185.0, -40.0),
    "S190425z:bayestar.multiorder.fits,0": (250.0, 20.0),
    "S190425z:bayestar.multiorder.fits,1": (255.0, 25.0),
    "S190425z:LALInference.fits.gz,0": (240.0, 30.0),
}


def fisher_area(level: float, kappa: float = KAPPA) -> float:
    """deg2 of the `level` credible cap of a Fisher density (independent of any sky-map
    code)."""
    sr = 2 * math.pi / kappa * -math.log(1 - level * (1 - math.exp(-2 * kappa)))
    return sr * (180 / math.pi) ** 2


def write_fisher_map(path: Path, ra: float, dec: float, objid: str, gps: float,
                     flat: bool = False) -> bytes:
    """A Fisher sky map at NSIDE written with ligo.skymap.io.fits.write_sky_map (multi-order
    UNIQ/PROBDENSITY, or a flat NESTED PROB map)."""
    import astropy.units as u
    from astropy.table import Table
    from ligo.skymap.io.fits import write_sky_map

    npix = hp.nside2npix(NSIDE)
    xyz = np.array(hp.pix2vec(NSIDE, np.arange(npix), nest=True))
    centre = hp.ang2vec(ra, dec, lonlat=True)
    density = np.exp(KAPPA * (centre @ xyz - 1.0))
    prob = density / density.sum()
    meta = {"objid": objid, "gps_time": gps, "instruments": {"H1", "L1", "V1"},
            "creator": "astroflow test_gracedb", "origin": "LIGO/Virgo/KAGRA"}
    if flat:
        write_sky_map(str(path), prob, nest=True, **meta)
    else:
        order = int(math.log2(NSIDE))
        table = Table({"UNIQ": 4 * 4**order + np.arange(npix, dtype=np.int64),
                       "PROBDENSITY": prob / hp.nside2pixarea(NSIDE) / u.sr})
        write_sky_map(str(path), table, **meta)
    return path.read_bytes()


def superevent_json(base: str, sid: str, t0: float, preferred: str, labels: list[str],
                    gw_id: str | None = None) -> dict:
    """A superevent as GraceDB's API serializes it."""
    links = {k: f"{base}/api/superevents/{sid}/{k}/" for k in
             ("events", "labels", "logs", "files", "voevents", "emobservations")}
    links["self"] = f"{base}/api/superevents/{sid}/"
    return {"superevent_id": sid, "gw_id": gw_id, "category": "Production",
            "created": "2019-04-25 08:18:26 UTC", "submitter": "emfollow",
            "preferred_event": preferred, "em_type": None, "t_start": t0 - 1.0, "t_0": t0,
            "t_end": t0 + 1.0, "gw_events": [preferred], "em_events": [], "far": 4.5e-13,
            "time_coinc_far": None, "space_coinc_far": None, "labels": labels,
            "links": links}


class FakeGraceDb:
    """GraceDB's REST API on 127.0.0.1: ``/api/`` (root: links, templates, vocabularies),
    ``/api/superevents/?query=&count=&start=`` (``{"numRows", "superevents", "links"}``),
    ``/api/superevents/<id>/``, ``/api/superevents/<id>/files/`` (``{name: url}``, every
    version ``name,N`` and the bare name for the latest), ``.../files/<name>``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.superevents: list[dict] = []
        self.files: dict[str, dict[str, bytes]] = {}
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                fake.requests.append(self.path)
                status, ctype, body = fake.respond(self.path)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.base + "/api/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, superevent: dict, files: dict[str, bytes]) -> None:
        """`files`: versioned names ``name,N`` -> content; the bare name is added as the
        latest version, as GraceDB lists it."""
        self.superevents.append(superevent)
        listing = dict(files)
        latest: dict[str, tuple[int, bytes]] = {}
        for name, content in files.items():
            base, _, version = name.rpartition(",")
            if int(version) >= latest.get(base, (-1, b""))[0]:
                latest[base] = (int(version), content)
        listing.update({base: content for base, (_, content) in latest.items()})
        self.files[superevent["superevent_id"]] = listing

    def root(self) -> dict:
        api = self.url
        templates = {
            "event-detail-template": api + "events/{graceid}",
            "event-log-template": api + "events/{graceid}/log/",
            "event-log-detail-template": api + "events/{graceid}/log/{N}",
            "files-template": api + "events/{graceid}/files/{filename}",
            "event-label-template": api + "events/{graceid}/labels/{label}",
            "taglist-template": api + "events/{graceid}/log/{N}/tag/",
            "tag-template": api + "events/{graceid}/log/{N}/tag/{tag_name}",
            "voevent-list-template": api + "events/{graceid}/voevent/",
            "superevent-detail-template": api + "superevents/{superevent_id}/",
            "superevent-event-list-template": api + "superevents/{superevent_id}/events/",
            "superevent-label-list-template": api + "superevents/{superevent_id}/labels/",
            "superevent-log-list-template": api + "superevents/{superevent_id}/logs/",
            "superevent-log-detail-template": api + "superevents/{superevent_id}/logs/{N}/",
            "superevent-file-list-template": api + "superevents/{superevent_id}/files/",
            "superevent-file-detail-template":
                api + "superevents/{superevent_id}/files/{file_name}",
            "superevent-voevent-list-template": api + "superevents/{superevent_id}/voevents/",
        }
        return {"links": {"events": api + "events/", "self": api,
                          "superevents": api + "superevents/",
                          "performance": api + "performance/",
                          "user-info": api + "user-info/"},
                "templates": templates,
                "groups": ["Burst", "CBC", "Detchar", "External", "Test"],
                "pipelines": ["CWB", "gstlal", "MBTA", "pycbc", "spiir", "oLIB"],
                "searches": ["AllSky", "BBH", "EarlyWarning", "MDC", "SSM"],
                "labels": ["ADVNO", "ADVOK", "DQV", "EM_READY", "GCN_PRELIM_SENT",
                           "SKYMAP_READY"],
                "superevent-categories": {"P": "Production", "T": "Test", "M": "MDC"},
                "voevent-types": {"PR": "preliminary", "IN": "initial", "UP": "update",
                                  "RE": "retraction"},
                "signoff-types": {"ADV": "advocate", "OP": "operator"},
                "signoff-statuses": {"OK": "OKAY", "NO": "NOT OKAY"},
                "server-version": "2.28.0", "API_VERSIONS": ["v1"]}

    def respond(self, path: str) -> tuple[int, str, bytes]:
        parts = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        route = urllib.parse.unquote(parts.path)
        if route == "/api/":
            return self.json(200, self.root())
        if route == "/api/superevents/":
            return self.superevent_list(query)
        match = re.fullmatch(r"/api/superevents/([^/]+)/(files/(.*))?", route)
        if match:
            sid = match.group(1)
            found = [s for s in self.superevents if s["superevent_id"] == sid]
            if not found:
                return self.json(404, {"detail": "Not found."})
            if match.group(2) is None:
                return self.json(200, found[0])
            name = match.group(3)
            if not name:
                return self.json(200, {n: f"{self.url}superevents/{sid}/files/"
                                          f"{urllib.parse.quote(n)}" for n in self.files[sid]})
            if name in self.files[sid]:
                return 200, "application/octet-stream", self.files[sid][name]
            return self.json(404, {"detail": "File not found"})
        return self.json(404, {"detail": "Not found."})

    def superevent_list(self, query: dict) -> tuple[int, str, bytes]:
        text = query.get("query", "")
        match = re.fullmatch(r"\s*(gpstime|t_0):\s*([\d.]+)\s*\.\.\s*([\d.]+)\s*", text)
        if text and not match:
            return self.json(400, {"detail": f"Invalid query: {text}"})
        chosen = [s for s in self.superevents if not match
                  or float(match.group(2)) <= s["t_0"] <= float(match.group(3))]
        count, start = int(query.get("count", 10)), int(query.get("start", 0))

        def link(offset: int) -> str:
            return f"{self.url}superevents/?" + urllib.parse.urlencode(
                {**query, "start": offset, "count": count})

        last = max(0, (len(chosen) - 1) // count * count)
        return self.json(200, {
            "numRows": len(chosen), "superevents": chosen[start:start + count],
            "links": {"self": link(start), "first": link(0), "last": link(last),
                      "next": link(start + count) if start + count < len(chosen) else None,
                      "previous": link(max(0, start - count)) if start > 0 else None}})

    @staticmethod
    def json(status: int, data) -> tuple[int, str, bytes]:
        return status, "application/json", json.dumps(data).encode()


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gracedb-maps")
    server = FakeGraceDb(folder)

    def fits(key: str, objid: str, gps: float) -> bytes:
        name = key.split(":")[-1]
        flat = name.split(",")[0].endswith(".gz")
        target = folder / (key.replace(":", "_").replace(",", "_v")
                           + (".fits.gz" if flat else ".fits"))
        return write_fisher_map(target, *CENTRES[key], objid=objid, gps=gps, flat=flat)

    # GW170817's superevent in this fixture, with a retracted candidate 0.3 s away and
    # another superevent 1.5 s away (inside the whole-second query, outside +-1 s)
    files = {k: fits(k, "S170817a", GPS_170817) for k in CENTRES if ":" not in k}
    files["p_astro.json,0"] = b'{"BNS": 0.99, "NSBH": 0.0, "BBH": 0.0, "Terrestrial": 0.01}'
    files["bayestar.png,0"] = b"\x89PNG\r\n\x1a\n"
    server.add(superevent_json(server.base, "S170817a", GPS_170817 + 0.03, "G298048",
                               ["SKYMAP_READY", "EM_READY", "ADVOK"], gw_id="GW170817"),
               files)
    server.add(superevent_json(server.base, "S170817b", GPS_170817 - 0.3, "G298050",
                               ["SKYMAP_READY", "ADVNO"]),
               {"Bilby.multiorder.fits,0": fits("bayestar.multiorder.fits,0", "S170817b",
                                                GPS_170817)})
    server.add(superevent_json(server.base, "S170817c", GPS_170817 + 1.5, "G298051",
                               ["SKYMAP_READY"]),
               {"Bilby.multiorder.fits,0": fits("bayestar.multiorder.fits,0", "S170817c",
                                                GPS_170817)})
    server.add(superevent_json(server.base, "S190425z", 1240215503.011549, "G337515",
                               ["SKYMAP_READY", "EM_READY", "ADVOK"]),
               {k.split(":")[1]: fits(k, "S190425z", GPS_190425) for k in CENTRES
                if k.startswith("S190425z:")})
    yield server
    server.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_preference_order_of_real_file_lists():
    # O3 (GW190425-like): PE (LALInference) before BAYESTAR, multi-order before flat,
    # the highest version of each; plots and JSON are not sky maps
    o3 = ["bayestar.fits.gz", "bayestar.fits.gz,0", "bayestar.multiorder.fits",
          "bayestar.multiorder.fits,0", "bayestar.multiorder.fits,1", "LALInference.fits.gz",
          "LALInference.fits.gz,0", "LALInference.multiorder.fits",
          "LALInference.multiorder.fits,0", "LALInference.multiorder.fits,1",
          "bayestar.png,0", "p_astro.json,0", "coinc.xml,0"]
    assert [r[0] for r in rank_sky_maps(o3)] == [
        "LALInference.multiorder.fits,1", "LALInference.fits.gz,0",
        "bayestar.multiorder.fits,1", "bayestar.fits.gz,0"]
    # O4: Bilby's newest offline run first, then the online Bilby, LALInference, BAYESTAR;
    # a burst pipeline's map last
    o4 = ["Bilby.multiorder.fits,0", "Bilby.offline0.multiorder.fits,0",
          "Bilby.offline1.multiorder.fits,0", "Bilby.offline1.multiorder.fits,2",
          "bayestar.multiorder.fits,0", "cwb.multiorder.fits,0", "Bilby.fits.gz,0",
          "LALInference.multiorder.fits,0", "Bilby.offline1.multiorder.fits"]
    assert [r[0] for r in rank_sky_maps(o4)] == [
        "Bilby.offline1.multiorder.fits,2", "Bilby.offline0.multiorder.fits,0",
        "Bilby.multiorder.fits,0", "Bilby.fits.gz,0", "LALInference.multiorder.fits,0",
        "bayestar.multiorder.fits,0", "cwb.multiorder.fits,0"]
    # a list with bare names only (no versions): downloaded by the bare name
    assert rank_sky_maps(["bayestar.multiorder.fits"]) == [
        ("bayestar.multiorder.fits", "bayestar.multiorder.fits", None)]
    assert rank_sky_maps(["p_astro.json", "bayestar.png"]) == []


def test_superevent_by_gps_preferred_file_and_cache(fake, tmp_path):
    before = len(fake.requests)
    path, record = sky_map_for_gps(GPS_170817, tmp_path, fake.url, timeout=5.0)
    assert record["superevent_id"] == "S170817a" and record["gw_id"] == "GW170817"
    assert record["preferred_event"] == "G298048"
    assert record["filename"] == "LALInference.multiorder.fits,1" and record["version"] == 1
    assert record["url"].startswith(fake.url + "superevents/S170817a/files/LALInference")
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.read_bytes() == fake.files["S170817a"]["LALInference.multiorder.fits,1"]
    assert path.is_relative_to(tmp_path) and path.name == "LALInference.multiorder.fits"
    queries = [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query).get("query", [""])[0]
               for p in fake.requests[before:] if p.startswith("/api/superevents/?")]
    assert queries == ["gpstime: 1187008881 .. 1187008884"]

    # the map read back: its peak where that file's map was centred, its credible areas
    # those of the Fisher density (analytic)
    sky = read_sky_map(path)
    ra, dec = sky.peak
    assert abs(ra - 197.45) < 1.0 and abs(dec + 23.38) < 1.0
    for level in (0.5, 0.9):
        assert sky.credible_area(level) == pytest.approx(fisher_area(level), rel=0.005)

    # cached: the same time again does not ask GraceDB
    seen = len(fake.requests)
    again, cached = sky_map_for_gps(GPS_170817, tmp_path, fake.url, timeout=5.0)
    assert again == path and cached["sha256"] == record["sha256"]
    assert len(fake.requests) == seen
    # a damaged cached file (hash differs) is downloaded again
    path.write_bytes(b"damaged")
    fresh, _ = sky_map_for_gps(GPS_170817, tmp_path, fake.url, timeout=5.0)
    assert fresh.read_bytes() == fake.files["S170817a"]["LALInference.multiorder.fits,1"]
    assert len(fake.requests) > seen

    # O3-style GW190425: the flat LALInference map (PE) wins over BAYESTAR's multi-order
    path, record = sky_map_for_gps(GPS_190425, tmp_path, fake.url)
    assert (record["superevent_id"], record["filename"]) == ("S190425z",
                                                             "LALInference.fits.gz,0")
    sky = read_sky_map(path)
    assert abs(sky.peak[0] - 240.0) < 1.0 and abs(sky.peak[1] - 30.0) < 1.0
    assert sky.credible_area(0.9) == pytest.approx(fisher_area(0.9), rel=0.005)


def test_clear_errors(fake, tmp_path, monkeypatch):
    with pytest.raises(AnalysisError, match=r"no public superevent within ±1 s of GPS "
                                            r"1126259462\.400") as info:
        sky_map_for_gps(1126259462.4, tmp_path, fake.url)
    assert fake.url in str(info.value) and not getattr(info.value, "unreachable", False)

    closed = f"http://127.0.0.1:{closed_port()}/api/"
    with pytest.raises(AnalysisError, match="cannot be reached") as info:
        sky_map_for_gps(GPS_170817, tmp_path, closed, timeout=2.0)
    assert closed in str(info.value) and info.value.unreachable

    # a server that is not GraceDB (an HTML page at the API root)
    class Html(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"<html><body>maintenance</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        html = f"http://127.0.0.1:{httpd.server_address[1]}/api/"
        with pytest.raises(AnalysisError, match="did not answer as GraceDB's API"):
            sky_map_for_gps(GPS_170817, tmp_path, html)
    finally:
        httpd.shutdown()
        httpd.server_close()

    monkeypatch.setenv(gracedb.ENV_URL, "off")
    with pytest.raises(AnalysisError, match="disabled"):
        sky_map_for_gps(GPS_170817, tmp_path)
    monkeypatch.setenv(gracedb.ENV_URL, "ftp://example.org/")
    with pytest.raises(AnalysisError, match="not an http"):
        sky_map_for_gps(GPS_170817, tmp_path)


def test_archive_falls_back_to_gracedb(fake, replay, tmp_path, monkeypatch):
    url, _ = replay
    monkeypatch.setenv(gracedb.ENV_URL, fake.url)
    archive = Archive("host", url, cache=tmp_path)
    path, record = archive.sky_map_file("GW170817")
    assert record["name"] == "GW170817" and record["skymap_origin"]["superevent_id"] == \
        "S170817a"
    assert path.read_bytes() == fake.files["S170817a"]["LALInference.multiorder.fits,1"]
    assert archive.source.startswith(f"GWOSC API v2 at {url}; sky map from GraceDB "
                                     f"({fake.url}): GW170817: GraceDB superevent S170817a, "
                                     "LALInference.multiorder.fits v1")
    sky = sky_map_for("GW170817", archive)
    assert sky.event == "GW170817" and sky.gps == pytest.approx(GPS_170817)
    density, searched = sky.probability_at(197.45, -23.38)
    assert searched < 0.01 and density > 0
    # an O1 event has no superevent: the error says both what GWOSC and GraceDB lack
    with pytest.raises(AnalysisError, match=r"no sky map for GW150914 .*GWOSC's API lists "
                                            r"no sky map.*no public superevent"):
        archive.sky_map_file("GW150914")

    # the event search's position filter uses GraceDB's maps for real events
    table = event_table(Archive("host", url, cache=tmp_path / "search"),
                        "2017-01-01T00:00:00", "2020-01-01T00:00:00", ra=197.45, dec=-23.38)
    assert list(table["name"]) == ["GW170817"] and table["searched_prob"][0] < 0.01
    assert sorted(table.meta["without_sky_map"]) == ["GW170104", "GW170814", "GW190521"]
    assert "GW190425: GraceDB superevent S190425z" in table.meta["source"]

    # GraceDB unreachable: the same error as before plus why, asked once per archive
    monkeypatch.setenv(gracedb.ENV_URL, f"http://127.0.0.1:{closed_port()}/api/")
    offline = Archive("host", url, cache=tmp_path / "other")
    with pytest.raises(AnalysisError, match=r"no sky map for GW170817 .*cannot be reached"):
        offline.sky_map_file("GW170817")
    assert "GraceDB" not in offline.source
    # disabled: GWOSC's answer alone
    monkeypatch.setenv(gracedb.ENV_URL, "off")
    with pytest.raises(AnalysisError, match=r"no sky map for GW170817 .*=off\)$"):
        Archive("host", url, cache=tmp_path / "third").sky_map_file("GW170817")


@pytest.mark.timeout(90)
def test_sky_map_service_says_gracedb(fake, replay, tmp_path):
    """The gw-sky-map notebook run by astroflow's executor on a host archive: its products
    are GraceDB's map and say so."""
    from astropy.io import fits
    from astropy.table import Table

    from astroflow import Workflow

    url, _ = replay
    env = {"GWOSC_SERVER_URL": url, gracedb.ENV_URL: fake.url,
           "ASTROFLOW_CACHE_DIR": str(tmp_path / "cache")}
    run = Workflow.from_path(WORKFLOW / "gw_sky_map.py").run(
        {"event": "GW170817", "RA": 197.45, "DEC": -23.38}, job_dir=tmp_path / "job",
        time_limit=60, env=env)
    assert run.status == "done", run.error
    products = tmp_path / "job" / "products"
    summary = Table.read(products / "summary.ecsv")
    assert "GraceDB superevent S170817a, LALInference.multiorder.fits v1" in \
        summary.meta["source"]
    assert summary["area_90"][0] == pytest.approx(fisher_area(0.9), rel=0.005)
    assert summary["searched_prob"][0] < 0.01
    # the original file offered to the user is GraceDB's, byte for byte
    assert (products / "multiorder_fits.multiorder.fits").read_bytes() == \
        fake.files["S170817a"]["LALInference.multiorder.fits,1"]
    with fits.open(products / "probability_image.fits") as hdus:
        header = next(h.header for h in hdus if h.data is not None)
    assert header["AREA90"] == pytest.approx(fisher_area(0.9), rel=0.005)
