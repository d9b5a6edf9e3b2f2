"""The resolver knows 4FGL: source names and associations from the real 4FGL-DR4 file.

The catalogue is the Fermi-LAT team's ``gll_psc_v35.fit`` (4FGL-DR4, 7,195 sources), taken
once per machine from the fermipy 1.4.3 source distribution on the package index (the
package ships it) into ``~/.cache/astroflow-test/fermi-lat`` and checked against its
SHA-256; the tests skip only when the package index cannot be reached. Expected positions
are read from the FITS table here, with astropy, independently of the resolver's index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io import fits
from server_process import ServerProcess

from astroflow.resolve import NameNotFound, NameResolver, SesameClient, fermi, name_key
from astroflow.resolve.fermi import INDEX_SUFFIX, fermi_catalogue
from astroflow.resolve.high_energy import high_energy_sources

FERMIPY = "fermipy==1.4.3"
MEMBER = "fermipy-1.4.3/fermipy/data/catalogs/gll_psc_v35.fit"
SHA256 = "e3b3ea278412b7bda4c259ab558f00b76605be59eb84e44086a862a179ffc3e6"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "astroflow-test"
ASSOCIATIONS = fermi.ASSOCIATIONS
# pip's words when the index cannot be reached (it then finds no version at all).
UNREACHABLE = ("NewConnectionError", "Failed to establish a new connection",
               "Temporary failure in name resolution", "Network is unreachable",
               "No matching distribution found", "ConnectTimeout", "ReadTimeout")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def catalogue_file() -> Path:
    """The real gll_psc_v35.fit, downloaded once into the cache folder and reused."""
    target = CACHE / "fermi-lat" / "gll_psc_v35.fit"
    if target.is_file() and _sha256(target) == SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--retries", "1", "--timeout", "20", FERMIPY, "-d", tmp],
            capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            said = done.stdout + done.stderr
            if any(words in said for words in UNREACHABLE):
                pytest.skip(f"the package index is unreachable, so no 4FGL file: {said[-300:]}")
            pytest.fail(f"pip download {FERMIPY} failed: {said[-2000:]}")
        (sdist,) = Path(tmp).glob("fermipy-*.tar.gz")
        with tarfile.open(sdist) as archive:
            source = archive.extractfile(MEMBER)
            assert source is not None, f"{MEMBER} is not a file in {sdist.name}"
            partial = target.with_suffix(".part")
            with source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out)
    assert _sha256(partial) == SHA256, "gll_psc_v35.fit from fermipy changed"
    partial.replace(target)
    return target


@pytest.fixture(scope="session")
def table(catalogue_file):
    """The point-source table's name, position and association columns, stripped."""
    with fits.open(catalogue_file) as hdus:
        data = hdus["LAT_Point_Source_Catalog"].data
        columns = {c: data[c] for c in ("RAJ2000", "DEJ2000", "Signif_Avg")}
        for c in ("Source_Name", *ASSOCIATIONS):
            columns[c] = np.char.strip(data[c].astype(str))
    return columns


@pytest.fixture(scope="session")
def data_dir(catalogue_file, tmp_path_factory) -> Path:
    """A data folder whose fermi-lat/ holds the catalogue (a symlink to the cached file)."""
    root = tmp_path_factory.mktemp("data")
    (root / "fermi-lat").mkdir()
    (root / "fermi-lat" / "gll_psc_v35.fit").symlink_to(catalogue_file)
    return root


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/cgi-bin/nph-sesame"


def offline(data: Path) -> NameResolver:
    return NameResolver.from_env({"ASTROFLOW_OFFLINE": "1", "ASTROFLOW_DATA_DIR": str(data),
                                  "ASTROFLOW_SESAME_URL": closed_port_url()})


def row_of(table, source: str) -> int:
    (rows,) = np.nonzero(table["Source_Name"] == source)
    assert len(rows) == 1, source
    return int(rows[0])


def assert_at(found, table, source: str) -> None:
    """``found`` is the 4FGL answer for ``source``, at the FITS RAJ2000/DEJ2000 exactly."""
    i = row_of(table, source)
    assert (found.resolver, found.canonical) == ("4FGL-DR4", source), found
    assert np.float32(found.ra) == table["RAJ2000"][i], (found.ra, table["RAJ2000"][i])
    assert np.float32(found.dec) == table["DEJ2000"][i], (found.dec, table["DEJ2000"][i])


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize("asked, source", [
    ("4FGL J0509.4+0542", "4FGL J0509.4+0542"),
    ("4fgl j0509.4+0542", "4FGL J0509.4+0542"),
    ("4FGLJ0509.4+0542", "4FGL J0509.4+0542"),
    ("J0509.4+0542", "4FGL J0509.4+0542"),
    ("4FGL-DR4 J0509.4+0542", "4FGL J0509.4+0542"),
    ("TXS 0506+056", "4FGL J0509.4+0542"),
    ("txs0506+056", "4FGL J0509.4+0542"),
    ("3FGL J0509.4+0541", "4FGL J0509.4+0542"),
    ("PKS 2155-304", "4FGL J2158.8-3013"),
    ("4FGL J2158.8-3013", "4FGL J2158.8-3013"),
    ("Mrk 421", "4FGL J1104.4+3812"),
    ("Mkn 421", "4FGL J1104.4+3812"),
    ("Markarian 421", "4FGL J1104.4+3812"),
    ("Vela", "4FGL J0835.3-4510"),
    ("Vela pulsar", "4FGL J0835.3-4510"),
    ("PSR B0833-45", "4FGL J0835.3-4510"),
    ("PSR J0835-4510", "4FGL J0835.3-4510"),
    ("Vela X", "4FGL J0834.3-4542e"),
    ("4FGL J0534.5+2201i", "4FGL J0534.5+2201i"),
    ("Crab pulsar", "4FGL J0534.5+2200"),
])
def test_names_resolve_offline_to_the_catalogue_position(data_dir, table, asked, source):
    found = offline(data_dir).resolve(asked)
    assert found.name == asked
    assert_at(found, table, source)
    assert found.object_type


def test_every_source_name_and_unique_association_resolves(data_dir, table):
    """All 7,195 designations, and every association that names one source only."""
    resolver = offline(data_dir)
    names = table["Source_Name"]
    assert len(names) == 7195
    claims: dict[str, set[int]] = {}
    for column in ASSOCIATIONS:
        for i, alias in enumerate(table[column]):
            if alias and not alias.endswith(" field"):
                claims.setdefault(name_key(alias), set()).add(i)
    checked = 0
    for i, source in enumerate(names):
        found = resolver.resolve(source)
        assert (found.canonical, np.float32(found.ra), np.float32(found.dec)) == (
            source, table["RAJ2000"][i], table["DEJ2000"][i])
        alias = table["ASSOC1"][i]
        if alias and claims[name_key(alias)] == {i}:
            assert resolver.resolve(alias).canonical == source, alias
            checked += 1
    assert checked > 4500


def test_a_name_several_sources_share_keeps_the_bundled_answer(data_dir, table):
    resolver = offline(data_dir)
    for name in ["Crab", "Crab Nebula", "crab nebula"]:
        found = resolver.resolve(name)
        assert (found.resolver, found.canonical) == ("astroflow-catalogue", "Crab Nebula")
    # Only what no bundled catalogue knows falls to the most significant 4FGL source.
    name = "SNR G343.0-06.0"
    rows = np.nonzero(table["ASSOC1"] == name)[0]
    assert len(rows) == 11
    best = rows[np.argmax(table["Signif_Avg"][rows])]
    assert_at(resolver.resolve(name), table, table["Source_Name"][best])


def test_field_notes_are_not_names(data_dir):
    with pytest.raises(NameNotFound):
        offline(data_dir).resolve("Vela X field")


def test_unknown_name_gives_the_clear_error(data_dir):
    with pytest.raises(NameNotFound) as caught:
        offline(data_dir).resolve("Blorp 42")
    message = str(caught.value)
    assert message.startswith("'Blorp 42' was not found in Sesame (offline: ASTROFLOW_OFFLINE")
    assert ", 4FGL-DR4 (7195 Fermi-LAT sources) nor in the bundled catalogues (" in message
    assert message.endswith("check the spelling, or enter RA and Dec directly")


def test_without_the_file_nothing_changes(tmp_path):
    resolver = offline(tmp_path)
    assert fermi_catalogue(tmp_path / "fermi-lat" / "gll_psc_v35.fit") is None
    found = resolver.resolve("TXS 0506+056")
    assert (found.resolver, found.canonical) == ("astroflow-catalogue", "TXS 0506+056")
    with pytest.raises(NameNotFound) as caught:
        resolver.resolve("4FGL J0509.4+0542")
    n = len(high_energy_sources())
    assert "4FGL" not in str(caught.value).split("' was not found")[1]
    assert f"nor in the bundled catalogues ({n} high-energy sources, OpenNGC)" in str(
        caught.value)


def test_designations_are_answered_before_sesame(data_dir, table):
    """Online, a 4FGL name never reaches Sesame; an association does, and falls back."""
    asked = []

    class Recording(SesameClient):
        def query(self, name, timeout=3.0):
            asked.append(name)
            return None  # "nothing found"

    resolver = NameResolver(Recording([closed_port_url()]),
                            fermi=lambda: fermi_catalogue(data_dir / fermi.CATALOGUE_FILE))
    assert_at(resolver.resolve("4FGL J0509.4+0542", online=True), table, "4FGL J0509.4+0542")
    assert asked == []
    assert_at(resolver.resolve("TXS 0506+056", online=True), table, "4FGL J0509.4+0542")
    assert asked == ["TXS 0506+056"]


# --------------------------------------------------------------------------- index

def fresh_load(path: Path):
    fermi._loaded.pop(path, None)
    start = time.perf_counter()
    catalogue = fermi_catalogue(path)
    return catalogue, time.perf_counter() - start


def test_index_is_kept_beside_the_catalogue_and_loads_fast(catalogue_file, tmp_path, table):
    path = tmp_path / "fermi-lat" / "gll_psc_v35.fit"
    path.parent.mkdir()
    path.symlink_to(catalogue_file)
    built, build_time = fresh_load(path)
    index = path.with_name(path.name + INDEX_SUFFIX)
    assert index.is_file() and index.stat().st_size < 2_000_000
    loads = [fresh_load(path) for _ in range(3)]
    loaded = loads[-1][0]
    load_time = min(t for _, t in loads)
    assert loaded.sources == built.sources and loaded.associations == built.associations
    assert loaded.designations == built.designations and loaded.shared == built.shared
    assert load_time < 0.1, f"cached index loads in {load_time * 1000:.0f} ms"
    resolver = NameResolver(SesameClient([closed_port_url()]), offline=True,
                            fermi=lambda: fermi_catalogue(path))
    names = ["4FGL J0509.4+0542", "TXS 0506+056", "Mrk 421", "Vela", "Crab", "M31",
             "Blorp 42"] * 50
    start = time.perf_counter()
    for name in names:
        with suppress(NameNotFound):
            resolver.resolve(name)
    per_name = (time.perf_counter() - start) / len(names)
    assert per_name < 0.001, f"{per_name * 1e6:.0f} µs per name"
    print(f"\n4FGL index: built from FITS in {build_time * 1000:.0f} ms, loaded from "
          f"{index.name} in {load_time * 1000:.1f} ms; {per_name * 1e6:.1f} µs per name")


def test_a_changed_catalogue_or_a_bad_index_is_rebuilt(catalogue_file, tmp_path, table):
    path = tmp_path / "gll_psc_v35.fit"
    shutil.copyfile(catalogue_file, path)
    first = fermi_catalogue(path)
    index = path.with_name(path.name + INDEX_SUFFIX)
    index.write_text("{not json", "utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = fermi_catalogue(path)
    assert second is not first and second.sources == first.sources
    assert json.loads(index.read_text("utf-8"))["catalogue"][0] == path.stat().st_size
    assert fermi_catalogue(path) is second  # unchanged: the same index, no reading


def test_an_unreadable_file_breaks_nothing_else(tmp_path):
    path = tmp_path / "fermi-lat" / "gll_psc_v35.fit"
    path.parent.mkdir()
    path.write_bytes(b"<html>not a FITS file</html>")
    resolver = offline(tmp_path)
    assert resolver.resolve("Crab").resolver == "astroflow-catalogue"
    with pytest.raises(NameNotFound, match=r"4FGL-DR4 \(.*gll_psc_v35\.fit: unreadable: "):
        resolver.resolve("4FGL J0509.4+0542")


# --------------------------------------------------------------------------- HTTP

def test_http_resolve_answers_with_the_4fgl_position(data_dir, table, tmp_path):
    server_data = tmp_path / "server"
    (server_data / "fermi-lat").mkdir(parents=True)
    (server_data / "fermi-lat" / "gll_psc_v35.fit").symlink_to(
        data_dir / "fermi-lat" / "gll_psc_v35.fit")
    server = ServerProcess(server_data, services=[], env={"ASTROFLOW_OFFLINE": "1"})
    with server.running():
        for name, source in [("4FGL J0509.4+0542", "4FGL J0509.4+0542"),
                             ("TXS 0506+056", "4FGL J0509.4+0542"),
                             ("PKS 2155-304", "4FGL J2158.8-3013"),
                             ("Mrk 421", "4FGL J1104.4+3812"), ("Vela", "4FGL J0835.3-4510")]:
            reply = httpx.get(f"{server.url}/api/v1/resolve", params={"name": name}, timeout=10)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            i = row_of(table, source)
            assert (body["name"], body["canonical"], body["resolver"]) == (
                name, source, "4FGL-DR4")
            assert (body["ra"], body["dec"]) == (
                float(str(table["RAJ2000"][i])), float(str(table["DEJ2000"][i])))
        crab = httpx.get(f"{server.url}/api/v1/resolve", params={"name": "Crab"}).json()
        assert crab["resolver"] == "astroflow-catalogue"
        missing = httpx.get(f"{server.url}/api/v1/resolve", params={"name": "Blorp 42"})
        assert missing.status_code == 404
        assert "4FGL-DR4 (7195 Fermi-LAT sources)" in missing.json()["error"]["message"]
    assert Counter(p.name for p in (server_data / "fermi-lat").iterdir())[
        "gll_psc_v35.fit" + INDEX_SUFFIX] == 1
