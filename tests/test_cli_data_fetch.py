"""`astroflow data fetch`: --source at any level, --release, clear refusals, --help.

Run as a real subprocess (the installed `astroflow` script), on a small synthetic IceCube
release in the 10-year layout written by the workflow's own generator.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ASTROFLOW = Path(sys.executable).with_name("astroflow")
SEASONS = ("IC40, IC59, IC79, IC86_I, IC86_II, IC86_III, IC86_IV, IC86_V, IC86_VI, "
           "IC86_VII: 10 seasons")


def astroflow(*args: str, env: dict[str, str] | None = None, timeout: float = 180.0
              ) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "ICECUBE_PS_SOURCE"}
    return subprocess.run([str(ASTROFLOW), *args], capture_output=True, text=True,
                          timeout=timeout, env={**environ, **(env or {})})


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> dict[str, Path]:
    """The synthetic release as the official zip (under `icecube_10year_ps/`), as the folder
    holding `icecube_10year_ps/`, and as that folder itself."""
    sys.path.insert(0, str(REPO / "workflows" / "icecube"))
    try:
        from icecube_ps import synthetic
    finally:
        sys.path.remove(str(REPO / "workflows" / "icecube"))
    base = tmp_path_factory.mktemp("icecube-source")
    inner = synthetic.generate(base / "skyllh" / "icecube_10year_ps", scale=0.02, seed=11,
                               irf_samples=4000)
    archive = base / "20210126_PS-IC40-IC86_VII.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(inner.rglob("*.csv")):
            z.write(path, path.relative_to(base / "skyllh").as_posix())
    return {"zip": archive, "parent": base / "skyllh", "inner": inner}


@pytest.mark.parametrize("level", ["zip", "parent", "inner"])
def test_source_at_any_level_gives_the_ten_year_cache(tmp_path, release, level):
    proc = astroflow("data", "fetch", "icecube", "--source", str(release[level]),
                     "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    cache = tmp_path / "icecube" / "10year" / "icecube_ps_cache.npz"
    assert f"icecube: data ready at {cache}" in proc.stdout
    found = next(line for line in proc.stdout.splitlines()
                 if line.startswith("found the 10-year release"))
    assert SEASONS in found and str(release[level] if level == "zip" else release["inner"]) in found
    assert cache.is_file() and not (tmp_path / "icecube" / "3year").exists()


def test_folder_without_a_release_exits_non_zero(tmp_path):
    empty = tmp_path / "not a release"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing\n")
    proc = astroflow("data", "fetch", "icecube", "--source", str(empty), "--release", "10year",
                     "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: icecube: {empty} holds no IceCube 10-year release")
    assert "events/IC*_exp.csv" in proc.stderr and "notes.txt" in proc.stderr
    assert "Traceback" not in proc.stderr and "3-year" not in proc.stderr
    assert not (tmp_path / "data" / "icecube" / "10year").exists()


def test_ten_year_asked_of_a_three_year_source(tmp_path):
    folder = tmp_path / "3year-data-release"
    folder.mkdir()
    for season in ("IC79-2010", "IC86-2011", "IC86-2012"):
        (folder / f"{season}-events.txt").write_text("# only the name is read: the release is detected by its files' names\n")
    archive = tmp_path / "3year-data-release.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.iterdir()):
            z.write(path, f"3year-data-release/{path.name}")
    for source in (tmp_path, archive):
        proc = astroflow("data", "fetch", "icecube", "--source", str(source), "--release",
                         "10year", "--data-dir", str(tmp_path / "data"))
        assert proc.returncode == 2, proc.stdout
        assert f"error: icecube: {source} holds the 3-year release" in proc.stderr
        assert "not the 10-year release asked for" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "icecube").exists()


def test_environment_source_is_named_in_the_error(tmp_path):
    proc = astroflow("data", "fetch", "icecube", "--data-dir", str(tmp_path),
                     env={"ICECUBE_PS_SOURCE": str(tmp_path / "gone")})
    assert proc.returncode == 2
    assert f"{tmp_path / 'gone'} (ICECUBE_PS_SOURCE) does not exist" in proc.stderr


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        """Keep the test's output clean: requests are not logged."""


def test_url_source_served_on_loopback(tmp_path, release):
    handler = functools.partial(_Quiet, directory=str(release["zip"].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{release['zip'].name}"
        proc = astroflow("data", "fetch", "icecube", "--source", url, "--release", "10year",
                         "--data-dir", str(tmp_path), timeout=120)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert f"downloading {url}" in proc.stdout and SEASONS in proc.stdout
    assert (tmp_path / "icecube" / "downloads" / release["zip"].name).is_file()
    assert (tmp_path / "icecube" / "10year" / "icecube_ps_cache.npz").is_file()


def test_help_documents_options_and_environment():
    proc = astroflow("data", "fetch", "--help")
    assert proc.returncode == 0
    for word in ("--source", "--release", "--data-dir", "--services", "PATH|URL",
                 "ICECUBE_PS_SOURCE", "ASTROFLOW_DATA_DIR", "10year|3year|any"):
        assert word in proc.stdout, word
    # Each bundled workflow's data step contributes its own text.
    assert "icecube:\n" in proc.stdout and "fermi-lat:\n" in proc.stdout


def test_options_a_data_step_does_not_take_are_refused(tmp_path):
    """fermi-lat's data step takes `source` but no `release`: refused before it runs."""
    proc = astroflow("data", "fetch", "fermi-lat", "--release", "10year",
                     "--data-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "fermi-lat: its data step (fermi_lat.data:fetch) takes no --release option" \
        in proc.stderr
    assert not (tmp_path / "fermi-lat").exists()
