"""Data manager: a source at any level, never another release in its place, checksums,
clear failures; the service on the releases present, within their seasons."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from pathlib import Path

import pytest
from icecube_ps import data, layout, release, synthetic
from icecube_ps.errors import AnalysisError


def test_fetch_says_what_it_tried(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "OFFICIAL_URLS", ("http://127.0.0.1:9/nothing.zip",))
    monkeypatch.delenv("ICECUBE_PS_SOURCE", raising=False)
    with pytest.raises(AnalysisError) as err:
        data.fetch(tmp_path, release="10year", timeout=2, log=lambda m: None)
    assert "no IceCube data could be had" in str(err.value)
    assert "official 10-year release" in str(err.value)
    assert "3-year" not in str(err.value) and "--release 10year --source" in str(err.value)


def test_wheel_checksum_is_enforced(tmp_path):
    fake = tmp_path / data.FLARESTACK_WHEEL
    fake.write_bytes(b"not the wheel")
    with pytest.raises(AnalysisError, match="sha256"):
        data._from_wheel(fake, tmp_path)


def test_load_without_data_is_explicit(tmp_path, caplog):
    """The user reads what is missing; the operator's command goes to the log (issue 18, 5)."""
    with caplog.at_level("WARNING", logger="icecube_ps.data"), \
            pytest.raises(AnalysisError, match="the 3-year release is not installed on this "
                                               "server, nor any other IceCube release"):
        data.load("3year", dest=tmp_path, fetch_missing=False)
    assert "astroflow data fetch icecube --release 3year" in caplog.text
    with pytest.raises(AnalysisError, match="unknown data release"):
        data.load("7year", dest=tmp_path)


def test_default_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ASTROFLOW_DATA_DIR", str(tmp_path))
    assert data.default_dir() == tmp_path / "icecube"


# -- a source at any level, never another release in its place -------------------------------

@pytest.fixture(scope="module")
def tenyear(tmp_path_factory) -> dict[str, Path]:
    """A small synthetic 10-year release, as the official zip lays it out (files under
    `icecube_10year_ps/`), as the folder holding that folder (what SkyLLH takes), and as
    the folder itself."""
    base = tmp_path_factory.mktemp("tenyear")
    inner = synthetic.generate(base / "parent" / "icecube_10year_ps", scale=0.02, seed=5,
                               irf_samples=4000)
    archive = base / "20210126_PS-IC40-IC86_VII.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(inner.rglob("*.csv")):
            z.write(path, path.relative_to(base / "parent").as_posix())
        z.writestr("README.txt", "synthetic stand-in for the official release\n")
    return {"zip": archive, "parent": base / "parent", "inner": inner}


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("ICECUBE_PS_SOURCE", raising=False)


def three_year_folder(root: Path) -> Path:
    """Files named as the 3-year release's (their content is never read here)."""
    folder = root / "3year-data-release"
    folder.mkdir(parents=True)
    for season in layout.THREE_YEAR_SEASONS:
        for kind in ("events", "TabulatedAeff", "AngRes"):
            (folder / f"{season}-{kind}.txt").write_text("# only the name is read: the release is detected by its files' names\n")
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory, tenyear) -> dict:
    """A data folder holding the small 10-year release, converted from the folder holding
    `icecube_10year_ps/`, and what the conversion said."""
    messages: list[str] = []
    store = tmp_path_factory.mktemp("data") / "icecube"
    path = data.fetch(store, source=tenyear["parent"], log=messages.append)
    return {"dest": store, "cache": path, "messages": messages}


@pytest.mark.parametrize("level", ["zip", "parent", "inner"])
def test_ten_year_source_found_at_any_level(tenyear, level):
    (found,) = data.locate(tenyear[level])
    assert found.release == "10year" and found.seasons == layout.SEASONS_10YEAR
    if level == "zip":
        assert (found.root, found.member) == (tenyear["zip"], "icecube_10year_ps/")
        assert found.where == f"{tenyear['zip']} (icecube_10year_ps/)"
    else:
        assert found.root == tenyear["inner"] and found.where == str(tenyear["inner"])


def test_ten_year_source_gives_the_ten_year_cache(store, tenyear, no_env):
    dest, path = store["dest"], store["cache"]
    assert path == data.cache_path(dest, "10year") and data.available(dest) == ["10year"]
    cached = release.load_cache(path)
    expected = release.read_10year(tenyear["inner"])
    assert cached.name == "10year" and cached.n_events == expected.n_events
    assert [s.name for s in cached.seasons] == list(layout.SEASONS_10YEAR)
    assert cached.meta["provenance"]["local"] == str(tenyear["parent"])
    assert cached.meta["provenance"]["root"] == str(tenyear["inner"])
    assert store["messages"][0] == (
        f"found the 10-year release (IC40, IC59, IC79, IC86_I, IC86_II, IC86_III, IC86_IV, "
        f"IC86_V, IC86_VI, IC86_VII: 10 seasons, {expected.n_events} events) in "
        f"{tenyear['inner']}; converting it")
    # The same files given at another level, unchanged: nothing is converted again.
    messages: list[str] = []
    assert data.fetch(dest, source=tenyear["inner"], release="10year",
                      log=messages.append) == path
    assert messages == [f"the 10-year release in {tenyear['inner']} is converted already: "
                        f"{path}"]
    # Without a source, the converted release is kept as it is.
    assert data.fetch(dest, release="10year", log=messages.append) == path


def test_folder_without_a_release_is_an_error(tmp_path, no_env):
    empty = tmp_path / "downloads"
    (empty / "papers").mkdir(parents=True)
    (empty / "notes.txt").write_text("no data here\n")
    for wanted in ("any", "10year"):
        with pytest.raises(AnalysisError) as err:
            data.fetch(tmp_path / "store", source=empty, release=wanted, log=lambda m: None)
        message = str(err.value)
        assert str(empty) in message and "events/IC*_exp.csv" in message
        assert "notes.txt" in message and "papers/" in message  # what is there
        assert "Tried" not in message       # no other source was tried
    # Asked for the 10-year release, the error says nothing of 3-year files.
    assert "3-year" not in message and "IC79" not in message and "events.txt" not in message
    assert not (tmp_path / "store" / "10year").exists()
    assert not (tmp_path / "store" / "3year").exists()


def test_other_release_than_asked_is_an_error(tmp_path, tenyear, no_env):
    source = three_year_folder(tmp_path / "three")
    with pytest.raises(AnalysisError) as err:
        data.fetch(tmp_path / "store", source=source, release="10year", log=lambda m: None)
    message = str(err.value)
    assert str(source) in message
    assert "holds the 3-year release" in message and "not the 10-year release asked for" in message
    assert "--release 3year" in message
    with pytest.raises(AnalysisError, match="holds the 10-year release .* not the 3-year"):
        data.fetch(tmp_path / "store", source=tenyear["zip"], release="3year",
                   log=lambda m: None)
    assert not (tmp_path / "store" / "3year").exists()
    assert not (tmp_path / "store" / "10year").exists()
    with pytest.raises(AnalysisError, match="unknown release '7year'"):
        data.fetch(tmp_path / "store", source=tenyear["zip"], release="7year")


def test_environment_source_is_used_alone(tmp_path, monkeypatch):
    missing = tmp_path / "not-there"
    monkeypatch.setenv("ICECUBE_PS_SOURCE", str(missing))
    with pytest.raises(AnalysisError) as err:
        data.fetch(tmp_path / "store", log=lambda m: None)
    assert f"{missing} (ICECUBE_PS_SOURCE) does not exist" in str(err.value)
    assert "Tried" not in str(err.value)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        """Keep the test's output clean: requests are not logged."""


@pytest.fixture
def http_folder(tenyear):
    """The folder of the zip served on 127.0.0.1 (any free port) while the test runs."""
    handler = functools.partial(_Quiet, directory=str(tenyear["zip"].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_url_source_is_downloaded_then_read(tmp_path, tenyear, http_folder, no_env):
    url = f"{http_folder}/{tenyear['zip'].name}"
    messages: list[str] = []
    path = data.fetch(tmp_path, source=url, release="10year", timeout=10, log=messages.append)
    assert path == data.cache_path(tmp_path, "10year")
    downloaded = tmp_path / "downloads" / tenyear["zip"].name
    assert downloaded.read_bytes() == tenyear["zip"].read_bytes()
    assert release.load_cache(path).meta["provenance"] == {"url": url,
                                                           "sha256": data.sha256(downloaded)}
    assert messages[0] == f"downloading {url}"
    assert messages[1].startswith("found the 10-year release (IC40, IC59")
    assert messages[1].endswith(f"in {downloaded} (icecube_10year_ps/); converting it")
    assert not list((tmp_path / "10year").glob(".unpack-*"))  # the unpacked zip is gone
    # The same URL again: the converted release is kept, nothing downloaded.
    messages.clear()
    assert data.fetch(tmp_path, source=url, log=messages.append) == path
    assert not any(m.startswith("downloading") for m in messages)
    with pytest.raises(AnalysisError, match="cannot download the IceCube data source"):
        data.fetch(tmp_path / "other", source=f"{http_folder}/missing.zip", timeout=10,
                   log=lambda m: None)
    # file: URLs are read the same way.
    got = data._download_source(tenyear["zip"].as_uri(), tmp_path / "third", 10, print)
    assert got.read_bytes() == tenyear["zip"].read_bytes()


def test_load_offers_only_present_releases(tmp_path, store, monkeypatch):
    monkeypatch.delenv("ICECUBE_PS_SOURCE", raising=False)
    with pytest.raises(AnalysisError) as err:
        data.load("auto", dest=tmp_path / "empty", fetch_missing=False)
    assert "no IceCube release is installed on this server" in str(err.value)
    assert data.load("auto", dest=store["dest"], fetch_missing=False).name == "10year"
    with pytest.raises(AnalysisError) as err:
        data.load("3year", dest=store["dest"], fetch_missing=False)
    # A portal user reads what to choose, never the operator's command (issue 18, 5).
    assert str(err.value) == ("data_release: the 3-year release is not installed on this "
                              "server; choose 10year (installed: 10year)")
    assert "astroflow data fetch" not in str(err.value) and "urlopen" not in str(err.value)
    # A missing release is fetched only as itself: a source of another is refused, and
    # nothing is converted.
    monkeypatch.setenv("ICECUBE_PS_SOURCE", str(three_year_folder(tmp_path / "three")))
    with pytest.raises(AnalysisError, match="not the 10-year release asked for"):
        data.load("10year", dest=tmp_path / "other", fetch_missing=True, log=lambda m: None)
    assert data.available(tmp_path / "other") == []


def test_service_clamps_the_window_to_the_release(store):
    from icecube_ps import service

    rel = data.load("10year", dest=store["dest"], fetch_missing=False)
    start = min(float(s.uptime[0, 0]) for s in rel.seasons)
    stop = max(float(s.uptime[-1, 1]) for s in rel.seasons)
    span = f"{service.isot(start)}/{service.isot(stop)}"

    def summary(t1: str, t2: str):
        return service.run(rel, "s", 150.0, 20.0, t1, t2, ts_map_radius=0.5, ts_map_pixels=3,
                           background_trials=0).summary[0]

    row = summary("2000-01-01T00:00:00", "2024-01-01T00:00:00")
    assert row["time_range_used"] == span
    assert row["time_range_note"].startswith("T1 and T2 beyond the 10year release's seasons "
                                             "(IC40 to IC86_VII")
    assert span.replace("/", " to ") in row["time_range_note"]
    # The summary's span is the one analysed (issue 18, 4), the request beside it.
    assert f"{row['t_start']}/{row['t_stop']}" == span == row["data_span"]
    assert (row["t_start_requested"], row["t_stop_requested"]) == ("2000-01-01T00:00:00",
                                                                   "2024-01-01T00:00:00")
    assert row["livetime"] == pytest.approx(sum(s.livetime_days for s in rel.seasons))
    row = summary("2012-01-01T00:00:00", "2024-01-01T00:00:00")
    assert row["time_range_used"] == f"2012-01-01T00:00:00/{service.isot(stop)}"
    assert row["time_range_note"].startswith("T2 beyond")
    row = summary("2012-01-01T00:00:00", "2013-01-01T00:00:00")
    assert row["time_range_used"] == "2012-01-01T00:00:00/2013-01-01T00:00:00"
    assert row["time_range_note"].startswith("T1 and T2 within")
    with pytest.raises(AnalysisError, match="no events in this time range") as err:
        summary("2020-01-01T00:00:00", "2021-01-01T00:00:00")
    # It names the span the release covers, in ISO and MJD (issue 18, 4).
    assert (f"covers {service.isot(start)[:10]} – {service.isot(stop)[:10]} "
            f"(MJD {start:.2f} – {stop:.2f}); your range 2020-01-01T00:00:00") in str(err.value)

