"""The data step with real bytes: a zip served over HTTP on 127.0.0.1 (nested like the Zenodo
record's), a local folder, a corrupted copy (nothing installed), a source lacking a site."""

from __future__ import annotations

import functools
import http.server
import io
import json
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from cta_plan import data
from cta_plan.errors import AnalysisError
from cta_plan.irfs import PROD5_FILES

from astroflow.registry.data import data_help, fetch_data

REPO = Path(__file__).resolve().parents[1]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        """Requests are not part of the test's output."""


@pytest.fixture
def http_root(tmp_path):
    """(folder, base URL) of a real HTTP server on 127.0.0.1 serving the folder."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _tar_gz(name: str, payload: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"fits/{name}")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def _zenodo_like_zip(path: Path, files: dict[str, bytes]) -> Path:
    """A zip keeping each site's file in its own .tar.gz, as the Zenodo record does."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("README.md", "prod5 v0.1 test copy")
        for name, payload in files.items():
            site = "North" if "North" in name else "South"
            z.writestr(f"fits/CTA-Performance-prod5-v0.1-{site}-20deg.FITS.tar.gz",
                       _tar_gz(name, payload))
    return path


def _real_files(prod5_dir: Path) -> dict[str, bytes]:
    return {name: (prod5_dir / name).read_bytes() for name in PROD5_FILES.values()}


def test_zip_over_http(prod5_dir, http_root, tmp_path):
    root, base = http_root
    _zenodo_like_zip(root / "cta-prod5-zenodo-fitsonly-v0.1.zip", _real_files(prod5_dir))
    dest = tmp_path / "data" / "cta"
    messages: list[str] = []
    out = data.fetch(dest, source=f"{base}/cta-prod5-zenodo-fitsonly-v0.1.zip",
                     log=messages.append)
    assert out == dest
    for name in PROD5_FILES.values():
        assert (dest / name).read_bytes() == (prod5_dir / name).read_bytes()
    provenance = json.loads((dest / "provenance.json").read_text())
    assert provenance[PROD5_FILES["South"]]["from"].startswith("http://127.0.0.1:")
    assert any("prod5 v0.1 South 20deg 14MSTs37SSTs 180000s" in m for m in messages)
    assert not list(dest.glob(".fetch-*"))  # the download's scratch folder is gone
    # a second fetch keeps the verified copies
    again: list[str] = []
    data.fetch(dest, source=f"{base}/missing.zip", log=again.append)
    assert again == [f"prod5 IRFs already present in {dest}"]


def test_checksum_mismatch_installs_nothing(prod5_dir, http_root, tmp_path):
    root, base = http_root
    files = _real_files(prod5_dir)
    south = PROD5_FILES["South"]
    files[south] = files[south][:-100] + bytes(100)  # same name, other bytes
    _zenodo_like_zip(root / "bad.zip", files)
    dest = tmp_path / "data" / "cta"
    with pytest.raises(AnalysisError, match=f"{south} has sha256 [0-9a-f]{{64}}, not the "
                                            "released file's .*: nothing installed"):
        data.fetch(dest, source=f"{base}/bad.zip", log=lambda _m: None)
    assert not list(dest.glob("*.fits.gz")) and not (dest / "provenance.json").exists()


def test_source_folder_through_the_cli_step(prod5_dir, tmp_path):
    folder = tmp_path / "irfs" / "nested"
    folder.mkdir(parents=True)
    south = PROD5_FILES["South"]
    (folder / south).write_bytes((prod5_dir / south).read_bytes())
    data_dir = tmp_path / "data"
    # both sites asked: the folder has one, so nothing is installed
    with pytest.raises(Exception, match=f"holds no {PROD5_FILES['North']} .*--release"):
        fetch_data("cta", [REPO.parent], data_dir,
                   {"source": str(tmp_path / "irfs"), "release": "all"})
    assert not list((data_dir / "cta").glob("*.fits.gz"))
    # by default the sites the source holds are installed
    out = fetch_data("cta", [REPO.parent], data_dir, {"source": str(tmp_path / "irfs")})
    assert (out / south).read_bytes() == (prod5_dir / south).read_bytes()
    assert not (out / PROD5_FILES["North"]).exists()
    # North alone from a source without it: refused
    with pytest.raises(Exception, match=f"holds no {PROD5_FILES['North']}"):
        fetch_data("cta", [REPO.parent], data_dir,
                   {"source": str(tmp_path / "irfs"), "release": "North"})


def test_bad_source_and_release_are_named(tmp_path):
    with pytest.raises(AnalysisError, match="source .*nowhere does not exist"):
        data.fetch(tmp_path / "cta", source=str(tmp_path / "nowhere"), log=lambda _m: None)
    with pytest.raises(AnalysisError, match="release 'East' is not one of all, North, South"):
        data.fetch(tmp_path / "cta", source=str(tmp_path), release="East")
    text = tmp_path / "notes.txt"
    text.write_text("not an IRF")
    with pytest.raises(AnalysisError, match="is not a prod5 IRF file"):
        data.fetch(tmp_path / "cta", source=str(text), log=lambda _m: None)


def test_help_names_the_environment_variable():
    helps = dict(data_help([REPO.parent]))
    assert "CTA_IRF_SOURCE" in helps["cta"] and "--release North|South|all" in helps["cta"]
