"""Object name resolution: bundled catalogues offline, CDS Sesame online, and the HTTP route.

The Sesame tests run a real HTTP server on 127.0.0.1, started by the test, that answers the
Sesame protocol (``GET <mirror>/-oxI/SNV?<name>``) with the XML replies below. They are written
in the format CDS Sesame returns (XML prologue, stylesheet, DOCTYPE, ``<Target>`` with one
``<Resolver name="S=Simbad …">`` block per database, SIMBAD's padded names such as
``M   1``, and the ``<!--- ====Done… --->`` trailer that is not well-formed XML); this machine
has no internet, so they were written from Sesame's format rather than captured live.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from fastapi import FastAPI
from fastapi.testclient import TestClient

from astroflow.errors import AstroflowError
from astroflow.resolve import (
    NameNotFound,
    NameResolver,
    SesameClient,
    SesameUnavailable,
    load_catalogues,
    name_key,
    parse_sesame_xml,
    resolve,
)
from astroflow.resolve.high_energy import high_energy_sources
from astroflow.resolve.openngc import openngc
from astroflow.resolve.resolver import OnlineCheck
from astroflow.server import routes_resolve

SESAME_PATH = "/cgi-bin/nph-sesame"

PROLOGUE = """<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="http://cdsportal.u-strasbg.fr/xsl/sesame.xsl"?>
<!DOCTYPE Sesame SYSTEM "http://vizier.u-strasbg.fr/xml/sesame_4x.dtd">
<Sesame xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:noNamespaceSchemaLocation="http://vizier.u-strasbg.fr/xml/sesame_4x.xsd">
"""
TRAILER = """</Sesame>
<!--- ====Done (2024-Mar-05,10:12:44z)==== --->
"""

CRAB_XML = PROLOGUE + """<Target option="SNV">
  <name>Crab</name>
  <!-- Q12 #1 -->
  <Resolver name="S=Simbad (via url):    1">
    <INFO>from cache</INFO>
    <oid>1010504</oid>
    <otype>SNR</otype>
    <jpos>05:34:31.94 +22:00:52.2</jpos>
    <jradeg>83.63308333</jradeg>
    <jdedeg>+22.01450000</jdedeg>
    <refPos>2011AJ....141...11R</refPos>
    <errRAmas>3000</errRAmas><errDEmas>3000</errDEmas>
    <oname>M   1</oname>
    <alias>M   1</alias>
    <alias>NGC  1952</alias>
    <alias>NAME Crab Nebula</alias>
    <alias>NAME Tau A</alias>
    <alias>3C 144</alias>
    <alias>SNR G184.6-05.8</alias>
    <alias>Sh  2-244</alias>
    <nrefs>3868</nrefs>
  </Resolver>
</Target>
""" + TRAILER

M87_XML = PROLOGUE + """<Target option="SNV">
  <name>M 87</name>
  <!-- Q13 #1 -->
  <Resolver name="S=Simbad (via url):    1">
    <INFO>from cache</INFO>
    <oid>1303227</oid>
    <otype>AGN</otype>
    <jpos>12:30:49.42 +12:23:28.0</jpos>
    <jradeg>187.70593075958</jradeg>
    <jdedeg>+12.39112329392</jdedeg>
    <refPos>2020MNRAS.497.1419L</refPos>
    <errRAmas>0.0191</errRAmas><errDEmas>0.0181</errDEmas>
    <z>0.00428</z>
    <oname>M  87</oname>
    <alias>M  87</alias>
    <alias>NGC  4486</alias>
    <alias>3C 274</alias>
    <alias>NAME Vir A</alias>
    <alias>UGC  7654</alias>
    <alias>VCC 1316</alias>
    <nrefs>5630</nrefs>
  </Resolver>
</Target>
""" + TRAILER

# SIMBAD has nothing, NED answers: the resolver reported must be NED's.
NED_ONLY_XML = PROLOGUE + """<Target option="SNV">
  <name>MESSIER 087</name>
  <!-- Q14 #1 -->
  <Resolver name="S=Simbad (via url):    0">
    <INFO>*** Nothing found *** </INFO>
  </Resolver>
  <Resolver name="N=NED:    1">
    <otype>G</otype>
    <jpos>12:30:49.42 +12:23:28.0</jpos>
    <jradeg>187.705930</jradeg>
    <jdedeg>12.391123</jdedeg>
    <oname>MESSIER 087</oname>
    <alias>MESSIER 087</alias>
    <alias>NGC 4486</alias>
  </Resolver>
</Target>
""" + TRAILER

NOTHING_XML = PROLOGUE + """<Target option="SNV">
  <name>{name}</name>
  <!-- Q15 #1 -->
  <Resolver name="S=Simbad (via url):    0">
    <INFO>*** Nothing found *** </INFO>
  </Resolver>
  <Resolver name="N=NED:    0">
    <INFO>*** Nothing found *** </INFO>
  </Resolver>
  <Resolver name="V=VizieR (CDS, via url):    0">
    <INFO>*** Nothing found *** </INFO>
  </Resolver>
</Target>
""" + TRAILER

RECORDINGS = {"Crab": CRAB_XML, "M 87": M87_XML, "MESSIER 087": NED_ONLY_XML}


class SesameServer:
    """A local Sesame: answers the recordings, "nothing found" for other names."""

    def __init__(self, status: int = 200, delay: float = 0.0, body: str | None = None) -> None:
        self.requests: list[str] = []
        self.status, self.delay, self.body = status, delay, body
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner.requests.append(self.path)
                time.sleep(owner.delay)
                parts = urlsplit(self.path)
                if parts.path != f"{SESAME_PATH}/-oxI/SNV":
                    self.send_error(404)
                    return
                name = unquote(parts.query)
                body = owner.body or RECORDINGS.get(name) or NOTHING_XML.format(name=name)
                payload = body.encode()
                try:
                    self.send_response(owner.status)
                    self.send_header("Content-Type", "text/xml;charset=UTF-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout tests)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}{SESAME_PATH}"

    @contextmanager
    def running(self) -> Iterator[SesameServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{SESAME_PATH}"


@pytest.fixture
def sesame() -> Iterator[SesameServer]:
    with SesameServer().running() as server:
        yield server


def offline_resolver() -> NameResolver:
    """The bundled catalogues alone: a 4FGL file in this machine's data folder (where
    `astroflow data fetch fermi-lat` puts it) must not change these answers."""
    return NameResolver(SesameClient([closed_port_url()]), offline=True, fermi=lambda: None)


def separation_arcsec(a: tuple[float, float], b: tuple[float, float]) -> float:
    one, two = SkyCoord(*a, unit="deg"), SkyCoord(*b, unit="deg")
    return one.separation(two).to_value(u.arcsec)


def sexagesimal(ra: str, dec: str) -> tuple[float, float]:
    c = SkyCoord(ra, dec, unit=(u.hourangle, u.deg))
    return c.ra.deg, c.dec.deg


# --------------------------------------------------------------------------- spellings

@pytest.mark.parametrize("spellings", [
    ["M31", "M 31", "m31", "Messier 31", "MESSIER_31", "M031", "m-31"],
    ["NGC 224", "NGC0224", "ngc224", "NGC_224", "NGC  224"],
    ["Mrk 421", "mrk421", "Mkn 421", "MKN421", "Markarian 421", "markarian_421"],
    ["MCG-6-30-15", "MCG -06-30-015", "mcg 6 30 15"],
    ["Sgr A*", "SgrA*", "sgr_a*", "SGR A *"],
    ["PKS 2155-304", "PKS2155-304", "pks 2155 304", "PKS 2155\u2212304"],
])
def test_spellings_share_one_key(spellings):
    assert len({name_key(s) for s in spellings}) == 1, {s: name_key(s) for s in spellings}


@pytest.mark.parametrize("one, other", [
    ("3C 454.3", "3C 4543"), ("Sgr A*", "Sgr A"), ("PKS 2155-304", "PKS 2155+304"),
    ("M 1", "M 10"), ("GRB 221009A", "GRB 22109A"), ("Mrk 421", "M 421"),
])
def test_distinct_names_keep_distinct_keys(one, other):
    assert name_key(one) != name_key(other)


# --------------------------------------------------------------------------- offline

# Positions to check the curated table against (ICRS; SIMBAD, or the values of the brief).
KNOWN_POSITIONS = {
    "Crab": (83.6331, 22.0145),
    "TXS 0506+056": (77.3582, 5.6931),
    "NGC 1068": (40.6696, -0.0133),
    "Sgr A*": (266.4168, -29.0078),
    "Mrk 421": sexagesimal("11 04 27.314", "+38 12 31.80"),
    "Mrk 501": sexagesimal("16 53 52.217", "+39 45 36.61"),
    "3C 273": sexagesimal("12 29 06.700", "+02 03 08.60"),
    "3C 279": sexagesimal("12 56 11.167", "-05 47 21.52"),
    "PKS 2155-304": sexagesimal("21 58 52.065", "-30 13 32.12"),
    "Cyg X-1": sexagesimal("19 58 21.676", "+35 12 05.78"),
    "Vela pulsar": sexagesimal("08 35 20.611", "-45 10 34.88"),
    "Geminga": sexagesimal("06 33 54.153", "+17 46 12.91"),
    "M 87": sexagesimal("12 30 49.423", "+12 23 28.04"),
    "Cen A": sexagesimal("13 25 27.615", "-43 01 08.81"),
    "SN 1987A": sexagesimal("05 35 27.988", "-69 16 11.11"),
    "GRB 221009A": (288.2646, 19.7734),
    "AT2018cow": (244.000927, 22.268031),
}


@pytest.mark.parametrize("name", sorted(KNOWN_POSITIONS))
def test_curated_positions_within_one_arcsec(name):
    found = offline_resolver().resolve(name)
    assert found.resolver == "astroflow-catalogue"
    assert separation_arcsec((found.ra, found.dec), KNOWN_POSITIONS[name]) < 1.0


@pytest.mark.parametrize("asked, canonical", [
    ("crab", "Crab Nebula"), ("M1", "Crab Nebula"), ("Taurus A", "Crab Nebula"),
    ("PSR B0531+21", "Crab pulsar"), ("psr_j0534+2200", "Crab pulsar"),
    ("Vela PSR", "Vela pulsar"), ("mkn 421", "Mrk 421"), ("Markarian 501", "Mrk 501"),
    ("1es1959+650", "1ES 1959+650"), ("pks2155-304", "PKS 2155-304"), ("3c454.3", "3C 454.3"),
    ("Centaurus A", "Cen A"), ("NGC 5128", "Cen A"), ("Virgo A", "M 87"), ("M77", "NGC 1068"),
    ("txs0506+056", "TXS 0506+056"), ("PKS 0735+178", "PKS 0735+178"), ("sgr a*", "Sgr A*"),
    ("cygnus x-1", "Cyg X-1"), ("Cyg X-3", "Cyg X-3"), ("scorpius x-1", "Sco X-1"),
    ("Her X-1", "Her X-1"), ("GX 339-4", "GX 339-4"), ("V404 Cygni", "V404 Cyg"),
    ("SS433", "SS 433"), ("LS I +61 303", "LS I +61 303"), ("LSI +61 303", "LS I +61 303"),
    ("LS 5039", "LS 5039"), ("PSR B1259-63", "PSR B1259-63"), ("Cassiopeia A", "Cas A"),
    ("Tycho", "Tycho SNR"), ("RX J1713.7-3946", "RX J1713.7-3946"), ("Vela Junior", "Vela Jr"),
    ("W 44", "W44"), ("IC 443", "IC 443"), ("SN1987A", "SN 1987A"), ("sn 2014j", "SN 2014J"),
    ("GRB 221009A", "GRB 221009A"), ("Swift J1644+57", "Swift J1644+57"),
    ("AT 2018cow", "AT2018cow"), ("GW170817", "GW170817"), ("AT 2017gfo", "GW170817"),
    ("NGC 4993", "NGC 4993"), ("Mrk 231", "Mrk 231"), ("NGC 4151", "NGC 4151"),
    ("MCG -06-30-015", "MCG-6-30-15"), ("4U 1630-47", "4U 1630-47"), ("Aquila X-1", "Aql X-1"),
    ("GRS 1915+105", "GRS 1915+105"), ("3C 273", "3C 273"), ("3C 279", "3C 279"),
])
def test_offline_names_and_spellings(asked, canonical):
    found = offline_resolver().resolve(asked)
    assert (found.name, found.canonical, found.resolver) == (
        asked, canonical, "astroflow-catalogue")
    assert found.object_type and 0 <= found.ra < 360 and -90 <= found.dec <= 90


def test_well_known_multi_messenger_names_resolve_offline():
    """Issue 18 (8): "Vela" (the README's example) is the Vela pulsar; Vela X and the
    Galactic Centre were unknown offline on 311d7db."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    resolver = offline_resolver()
    vela = resolver.resolve("Vela")
    assert (vela.canonical, vela.object_type) == ("Vela pulsar", "Pulsar")
    assert separation_arcsec((vela.ra, vela.dec), KNOWN_POSITIONS["Vela pulsar"]) < 1.0
    vela_x = resolver.resolve("Vela X")
    assert vela_x.canonical == "Vela X" and vela_x.object_type == "Pulsar wind nebula"
    assert 0.4 < separation_arcsec((vela_x.ra, vela_x.dec), (vela.ra, vela.dec)) / 3600 < 0.5
    centre = SkyCoord(l=0 * u.deg, b=0 * u.deg, frame="galactic").icrs
    for name in ["Galactic Centre", "galactic center"]:
        found = resolver.resolve(name)
        assert found.canonical == "Galactic Centre"
        assert separation_arcsec((found.ra, found.dec), (centre.ra.deg, centre.dec.deg)) < 0.1
    for name in ["Crab", "Cas A", "Sgr A*", "TXS 0506+056", "NGC 1068", "Mrk 421", "Mrk 501",
                 "PKS 2155-304", "Cyg X-1", "Cyg X-3", "LS I +61 303", "SN 1987A", "M87",
                 "3C 279", "Geminga", "RX J1713.7-3946"]:
        assert resolver.resolve(name).resolver == "astroflow-catalogue", name


def test_curated_table_is_complete_and_consistent():
    catalogue = high_energy_sources()
    assert len(catalogue) >= 60
    canonical = [e.canonical for e in catalogue.entries]
    assert len(set(map(name_key, canonical))) == len(canonical)
    for entry in catalogue.entries:
        assert catalogue.owner(entry.canonical) is entry
        assert all(catalogue.owner(alias) is entry for alias in entry.aliases)


def test_curated_galaxies_agree_with_openngc():
    """An independent check: OpenNGC's optical centres of the same galaxies, within 3"."""
    curated, ngc = high_energy_sources(), openngc()
    for name in ["M 87", "NGC 1068", "NGC 5128", "NGC 4151", "NGC 4993", "NGC 253",
                 "NGC 1275", "M 82"]:
        a, b = curated.lookup(name), ngc.lookup(name)
        assert a is not None and b is not None, name
        assert separation_arcsec((a.ra, a.dec), (b.ra, b.dec)) < 3.0, name


@pytest.mark.parametrize("asked", ["M31", "M 31", "Messier 31", "NGC 224", "NGC0224",
                                   "Andromeda Galaxy", "andromeda galaxy", "UGC 454",
                                   "PGC 2557"])
def test_openngc_andromeda(asked):
    found = offline_resolver().resolve(asked)
    assert (found.canonical, found.resolver, found.object_type) == ("M 31", "openngc", "Galaxy")
    assert "NGC 224" in found.aliases and "Andromeda Galaxy" in found.aliases
    assert separation_arcsec((found.ra, found.dec), (10.6847, 41.2687)) < 5.0


@pytest.mark.parametrize("asked, canonical, ra, dec", [
    ("M42", "M 42", 83.82, -5.39), ("Orion Nebula", "M 42", 83.82, -5.39),
    ("Pleiades", "M 45", 56.87, 24.11), ("NGC 7000", "NGC 7000", 314.7, 44.3),
    ("IC 1805", "IC 1805", 38.2, 61.45), ("Whirlpool Galaxy", "M 51", 202.47, 47.2),
])
def test_openngc_messier_ngc_ic_and_common_names(asked, canonical, ra, dec):
    found = offline_resolver().resolve(asked)
    assert (found.canonical, found.resolver) == (canonical, "openngc")
    assert separation_arcsec((found.ra, found.dec), (ra, dec)) < 30 * 60


def test_not_found_says_what_was_tried():
    with pytest.raises(NameNotFound) as caught:
        offline_resolver().resolve("Blorp 42")
    message = str(caught.value)
    assert isinstance(caught.value, AstroflowError)
    assert message.startswith("'Blorp 42' was not found in Sesame (offline: ASTROFLOW_OFFLINE")
    n = len(high_energy_sources())
    assert f"nor in the bundled catalogues ({n} high-energy sources, OpenNGC)" in message


@pytest.mark.parametrize("blank", ["", "   ", "\t", "x" * 201])
def test_blank_or_overlong_names_are_rejected(blank):
    with pytest.raises(ValueError):
        offline_resolver().resolve(blank)


def test_offline_resolution_is_fast_after_first_load():
    resolver = offline_resolver()
    resolver.resolve("Crab")
    names = ["M31", "Andromeda Galaxy", "mkn421", "NGC 1068", "Vela Jr", "Blorp 42"] * 20
    for name in names:
        start = time.perf_counter()
        with suppress(NameNotFound):
            resolver.resolve(name)
        assert time.perf_counter() - start < 0.05, name


def test_bundled_catalogues_load_once():
    first, second = load_catalogues(), load_catalogues()
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert len(first[1]) > 13000


# --------------------------------------------------------------------------- Sesame

def test_sesame_answers_first_with_simbad_data(sesame):
    resolver = NameResolver(SesameClient([sesame.url]))
    found = resolver.resolve("Crab")
    assert found.resolver == "sesame/simbad"
    assert (found.name, found.canonical, found.object_type) == ("Crab", "M 1", "SNR")
    assert (found.ra, found.dec) == (83.63308333, 22.0145)
    assert found.aliases == ["NGC 1952", "Crab Nebula", "Tau A", "3C 144", "SNR G184.6-05.8",
                             "Sh 2-244"]
    assert sesame.requests == [f"{SESAME_PATH}/-oxI/SNV?Crab"]
    # Asked again: answered from memory, not from CDS, and not the same mutable object.
    found.aliases.clear()
    again = resolver.resolve(" Crab ")
    assert again.canonical == "M 1" and len(again.aliases) == 6
    assert len(sesame.requests) == 1


def test_sesame_query_is_url_quoted(sesame):
    found = NameResolver(SesameClient([sesame.url])).resolve("M 87", online=True)
    assert (found.canonical, found.resolver, found.object_type) == ("M 87", "sesame/simbad", "AGN")
    assert "NGC 4486" in found.aliases and "Vir A" in found.aliases
    assert sesame.requests == [f"{SESAME_PATH}/-oxI/SNV?M%2087"]


def test_sesame_reports_the_database_that_answered(sesame):
    found = NameResolver(SesameClient([sesame.url])).resolve("MESSIER 087")
    assert (found.resolver, found.canonical, found.object_type) == (
        "sesame/ned", "MESSIER 087", "G")


def test_names_sesame_does_not_know_fall_back_to_bundled_catalogues(sesame):
    resolver = NameResolver(SesameClient([sesame.url]), fermi=lambda: None)
    assert resolver.resolve("GW170817").resolver == "astroflow-catalogue"
    assert resolver.resolve("Andromeda Galaxy").resolver == "openngc"
    with pytest.raises(NameNotFound, match=r"not found in Sesame \(SIMBAD, NED, VizieR\) nor"):
        resolver.resolve("Blorp 42")
    assert len(sesame.requests) == 3


def test_online_path_chosen_by_environment(sesame, monkeypatch):
    monkeypatch.setenv("ASTROFLOW_SESAME_URL", sesame.url)
    monkeypatch.delenv("ASTROFLOW_OFFLINE", raising=False)
    assert resolve("Crab").resolver == "sesame/simbad"
    monkeypatch.setenv("ASTROFLOW_OFFLINE", "1")
    assert resolve("Crab").resolver == "astroflow-catalogue"
    assert len(sesame.requests) == 1


def test_offline_setting_and_argument_send_nothing(sesame):
    assert NameResolver(SesameClient([sesame.url])).resolve(
        "Crab", online=False).resolver == "astroflow-catalogue"
    assert NameResolver(SesameClient([sesame.url]), offline=True).resolve(
        "Crab", online=True).resolver == "astroflow-catalogue"
    assert sesame.requests == []


def test_next_mirror_is_asked_when_one_fails(sesame):
    with SesameServer(status=503).running() as broken:
        client = SesameClient([closed_port_url(), broken.url, sesame.url])
        assert client.query("Crab").canonical == "M 1"
        assert len(broken.requests) == 1


def test_sesame_down_falls_back_quickly(caplog):
    """The person reads that Sesame was not reachable; the network's words go to the log."""
    resolver = NameResolver(SesameClient([closed_port_url()]))
    start = time.perf_counter()
    found = resolver.resolve("Crab")
    assert found.resolver == "astroflow-catalogue"
    with caplog.at_level("INFO", logger="astroflow.resolve.resolver"), pytest.raises(
            NameNotFound, match=r"Sesame \(not reachable from this server\)") as caught:
        resolver.resolve("Blorp 42")
    assert "refused" not in str(caught.value)
    assert "Connection refused" in caplog.text
    assert time.perf_counter() - start < 2.0  # the first call also loads the catalogues


def test_failed_query_marks_sesame_offline_for_a_while(caplog):
    resolver = NameResolver(SesameClient([closed_port_url()]))
    with caplog.at_level("WARNING", logger="astroflow.resolve.resolver"), pytest.raises(
            NameNotFound, match=r"Sesame \(not reachable from this server\)") as caught:
        resolver.resolve("Blorp 42", online=True)
    assert "cannot connect" not in str(caught.value) and "cannot connect" in caplog.text
    online, why = resolver.online.status()
    assert online is False and "cannot connect" in why


def test_slow_sesame_is_abandoned_at_the_timeout():
    with SesameServer(delay=2.0).running() as slow:
        resolver = NameResolver(SesameClient([slow.url]))
        start = time.perf_counter()
        found = resolver.resolve("Crab", timeout=0.3)
        assert found.resolver == "astroflow-catalogue"
        assert time.perf_counter() - start < 1.5
        with pytest.raises(SesameUnavailable, match="timed out"):
            SesameClient([slow.url]).query("Crab", timeout=0.2)


def test_unreadable_reply_is_a_failure_not_an_answer():
    with SesameServer(body="<html>maintenance</html>").running() as odd:
        with pytest.raises(SesameUnavailable, match="not Sesame XML"):
            SesameClient([odd.url]).query("Crab")
        assert NameResolver(SesameClient([odd.url])).resolve("Crab").resolver == (
            "astroflow-catalogue")


def test_parser_ignores_resolvers_without_position_and_entities():
    assert parse_sesame_xml(NOTHING_XML.format(name="x"), "x") is None
    hostile = ('<?xml version="1.0"?><!DOCTYPE Sesame [<!ENTITY a "aaaaaaaaaa">]>'
               "<Sesame><Target><Resolver name=\"S=Simbad\"><jradeg>1</jradeg>"
               "<jdedeg>2</jdedeg><oname>&a;</oname></Resolver></Target></Sesame>")
    with pytest.raises(SesameUnavailable):
        parse_sesame_xml(hostile, "x")


def test_online_check_probes_once_per_minute():
    calls = []

    def probe(timeout: float) -> tuple[bool, str]:
        calls.append(timeout)
        return False, "unreachable"

    check = OnlineCheck(probe, ttl=60.0, probe_timeout=0.5)
    assert [check.status() for _ in range(5)] == [(False, "unreachable")] * 5
    assert calls == [0.5]
    expired = OnlineCheck(probe, ttl=0.0)
    expired.status()
    time.sleep(0.01)
    expired.status()
    assert len(calls) == 3


# --------------------------------------------------------------------------- HTTP route

@pytest.fixture
def api() -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(routes_resolve.router)
    app.state.resolver = offline_resolver()
    with TestClient(app) as client:
        yield client


def test_route_resolves(api):
    reply = api.get("/api/v1/resolve", params={"name": "txs0506+056"})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"name", "canonical", "ra", "dec", "resolver", "object_type", "aliases"}
    assert (body["name"], body["canonical"], body["resolver"]) == (
        "txs0506+056", "TXS 0506+056", "astroflow-catalogue")
    assert separation_arcsec((body["ra"], body["dec"]), (77.3582, 5.6931)) < 1.0
    m31 = api.get("/api/v1/resolve", params={"name": "Messier 31"}).json()
    assert (m31["canonical"], m31["resolver"]) == ("M 31", "openngc")


def test_route_not_found(api):
    reply = api.get("/api/v1/resolve", params={"name": "Blorp 42"})
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["code"] == "not_found"
    assert "'Blorp 42' was not found in Sesame" in error["message"]
    assert "bundled catalogues" in error["message"]


@pytest.mark.parametrize("query", [{"name": ""}, {"name": "   "}, {}])
def test_route_rejects_blank_names(api, query):
    reply = api.get("/api/v1/resolve", params=query)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["errors"][0]["field"] == "name"


def test_route_uses_sesame_when_configured(sesame):
    app = FastAPI()
    app.include_router(routes_resolve.router)
    app.state.resolver = NameResolver(SesameClient([sesame.url]))
    with TestClient(app) as client:
        body = client.get("/api/v1/resolve", params={"name": "Crab"}).json()
    assert (body["canonical"], body["resolver"]) == ("M 1", "sesame/simbad")
