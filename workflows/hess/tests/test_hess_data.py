"""The data step: DR1 over real HTTP (a local server with DR1's real bytes), from a folder
or an archive, checksum errors, wrong sources, the offline fallback, and the CLI's help."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hess_dl3 import data
from hess_dl3.errors import AnalysisError

#: The files a test installs: the indices, the terms of use and two runs (of 108).
SUBSET = ("README.txt", "obs-index.fits.gz", "hdu-index.fits.gz",
          "data/hess_dl3_dr1_obs_id_023523.fits.gz", "data/hess_dl3_dr1_obs_id_033787.fits.gz")


@pytest.fixture()
def subset_manifest(tmp_path: Path) -> Path:
    """DR1's manifest restricted to SUBSET (the `manifest` argument of fetch)."""
    full = data.load_manifest()
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({**full, "files": {n: full["files"][n] for n in SUBSET}}))
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args) -> None:  # the test output is not a server log
        return

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture()
def serve() -> Iterator:
    """``serve(folder) -> (base URL, list of requested paths)``: http.server on 127.0.0.1."""
    servers = []

    def start(folder: Path) -> tuple[str, list[str]]:
        requests: list[str] = []
        handler = type("Handler", (QuietHandler,), {"requests": requests})
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hess-dl3-dr1/"


@pytest.fixture(autouse=True)
def no_configured_source(monkeypatch):
    monkeypatch.delenv(data.ENV_SOURCE, raising=False)
    monkeypatch.delenv(data.ENV_BASE_URL, raising=False)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.rglob("*") if ".partial" in p.name
                  or p.name.startswith(".dr1"))


def test_download_over_http_installs_checked_files(real_dr1, subset_manifest, serve, tmp_path,
                                                   monkeypatch):
    url, requests = serve(real_dr1)
    monkeypatch.setenv(data.ENV_BASE_URL, url)
    messages: list[str] = []
    dest = tmp_path / "hess"
    folder = data.fetch(dest, release="dr1", manifest=subset_manifest, log=messages.append)
    assert folder == dest / "dr1"
    for name in SUBSET:
        assert (folder / name).read_bytes() == (real_dr1 / name).read_bytes(), name
    assert "No scientific publications" in (folder / "README.txt").read_text()
    info = data.release_info(dest)
    assert info["release"] == "dr1" and info["attribution"] == data.DR1_ATTRIBUTION
    assert data.release_dir(dest) == folder
    assert sorted(requests) == sorted("/" + n for n in SUBSET)
    assert leftovers(dest) == []
    # installed already: no second download
    data.fetch(dest, release="dr1", manifest=subset_manifest, log=messages.append)
    assert len(requests) == len(SUBSET)


def test_a_tampered_file_is_named_and_nothing_is_installed(real_dr1, subset_manifest, serve,
                                                           tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    for name in SUBSET:
        (mirror / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real_dr1 / name, mirror / name)
    tampered = mirror / SUBSET[-1]
    content = bytearray(tampered.read_bytes())
    content[len(content) // 2] ^= 0xFF
    tampered.write_bytes(bytes(content))
    url, _ = serve(mirror)
    monkeypatch.setenv(data.ENV_BASE_URL, url)
    dest = tmp_path / "hess"
    with pytest.raises(AnalysisError, match=r"hess_dl3_dr1_obs_id_033787\.fits\.gz.*checksum"):
        data.fetch(dest, release="dr1", manifest=subset_manifest, log=lambda _: None)
    assert not (dest / "dr1").exists() and not (dest / "current.json").exists()
    assert leftovers(dest) == []


def test_a_local_folder_at_the_parent_level(real_dr1, subset_manifest, tmp_path):
    dest = tmp_path / "hess"
    folder = data.fetch(dest, source=str(real_dr1.parent), manifest=subset_manifest,
                        log=lambda _: None)
    assert folder == dest / "dr1"
    assert (folder / SUBSET[-1]).read_bytes() == (real_dr1 / SUBSET[-1]).read_bytes()
    assert data.release_info(dest)["release"] == "dr1"


def test_an_archive_of_the_release(real_dr1, subset_manifest, tmp_path):
    archive = tmp_path / "hess-dl3-dr1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in SUBSET:
            tar.add(real_dr1 / name, arcname=f"hess-dl3-dr1/{name}")
    dest = tmp_path / "hess"
    folder = data.fetch(dest, source=str(archive), release="dr1", manifest=subset_manifest,
                        log=lambda _: None)
    assert (folder / "obs-index.fits.gz").read_bytes() == \
        (real_dr1 / "obs-index.fits.gz").read_bytes()
    assert leftovers(dest) == []


def test_a_wrong_folder_is_an_error_not_a_fallback(tmp_path):
    wrong = tmp_path / "photos"
    wrong.mkdir()
    (wrong / "holiday.jpg").write_bytes(b"\xff\xd8")
    dest = tmp_path / "hess"
    with pytest.raises(AnalysisError, match=r"holds no H\.E\.S\.S\. DL3 DR1.*holiday\.jpg"):
        data.fetch(dest, source=str(wrong), log=lambda _: None)
    assert not (dest / "synthetic").exists() and not (dest / "current.json").exists()
    with pytest.raises(AnalysisError, match="does not exist"):
        data.fetch(dest, source=str(tmp_path / "nowhere"), release="dr1", log=lambda _: None)


@pytest.mark.parametrize("archive", ["closed port", "HTTP 404"])
def test_offline_auto_says_so_and_uses_the_synthetic_release(archive, synthetic_release, serve,
                                                             tmp_path, monkeypatch):
    if archive == "closed port":
        url = closed_port_url()
    else:  # a server that answers but has no DR1 (a proxy's refusal, a moved archive)
        (tmp_path / "nothing").mkdir()
        url, _ = serve(tmp_path / "nothing")
    monkeypatch.setenv(data.ENV_BASE_URL, url)
    dest = tmp_path / "hess"
    dest.mkdir()
    # the release this step would generate (seed 0, defaults), made once for the session
    (dest / "synthetic").symlink_to(synthetic_release, target_is_directory=True)
    messages: list[str] = []
    folder = data.fetch(dest, log=messages.append)
    assert folder == dest / "synthetic"
    assert any("unreachable" in m and "synthetic" in m for m in messages), messages
    info = data.release_info(dest)
    assert info["release"] == "synthetic" and info["seed"] == 0
    assert "synthetic" in info["attribution"].lower() and "seed 0" in info["attribution"]
    assert data.release_dir(dest) == dest / "synthetic"


def test_dr1_asked_for_offline_is_an_error_that_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_BASE_URL, closed_port_url())
    dest = tmp_path / "hess"
    with pytest.raises(AnalysisError, match=r"unreachable.*--source.*HESS_DL3_SOURCE"):
        data.fetch(dest, release="dr1", log=lambda _: None)
    assert not (dest / "synthetic").exists() and not (dest / "current.json").exists()
    assert leftovers(dest) == []


def test_data_root_fixture_points_at_the_synthetic_release(data_root, synthetic_release):
    assert data.release_dir(data_root / "hess").resolve() == synthetic_release.resolve()


def test_bad_requests_are_analysis_errors(tmp_path):
    with pytest.raises(AnalysisError, match="astroflow data fetch hess"):
        data.release_dir(tmp_path)
    with pytest.raises(AnalysisError, match="release 'dr2'"):
        data.fetch(tmp_path / "hess", release="dr2", log=lambda _: None)
    with pytest.raises(AnalysisError, match="source .* is for the real DR1"):
        data.fetch(tmp_path / "hess", source=str(tmp_path), release="synthetic",
                   log=lambda _: None)


def test_cli_help_shows_the_data_step(tmp_path):
    astroflow = Path(sys.executable).with_name("astroflow")
    if not astroflow.is_file():
        pytest.skip(f"astroflow command absent next to {sys.executable}")
    shown = subprocess.run([str(astroflow), "data", "fetch", "--help"], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0
    assert "H.E.S.S. DL3 data for the hess services" in shown.stdout
    assert "$HESS_DL3_SOURCE" in shown.stdout and "--release synthetic" in shown.stdout
    wrong = tmp_path / "empty"
    wrong.mkdir()
    refused = subprocess.run([str(astroflow), "data", "fetch", "hess", "--source", str(wrong),
                              "--data-dir", str(tmp_path / "data")], capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode != 0
    assert "holds no H.E.S.S. DL3 DR1" in refused.stdout + refused.stderr
    assert not (tmp_path / "data" / "hess" / "synthetic").exists()
