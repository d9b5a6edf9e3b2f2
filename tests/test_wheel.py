"""The release as users get it: ``python -m build`` makes an sdist and, from that sdist, a
wheel; the wheel is installed into a fresh venv and ``astroflow serve`` runs from a folder with
no source tree in sight, serving the portal and running a job.

Kept fast (about 20 s on 2 busy cores): the build runs without isolation (setuptools and build
come from the dev extras), the venv is made without pip, the wheel goes in with ``--no-deps``
and the dependencies are made visible through a ``.pth`` file pointing at this environment's
site-packages (the lock's versions, nothing downloaded). Only astroflow itself comes from the
wheel, which the first test checks.

Fails on today's main (before issue 20): no LICENSE (no ``License-File`` in the metadata),
no ``py.typed``, and the portal served a vendored plotly.js 3.7.0 while plotly.py's figures
are made for the plotly.js it bundles (4.1.1 here).
"""

from __future__ import annotations

import email
import os
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from plotly.offline import get_plotlyjs_version
from server_process import free_port

REPO = Path(__file__).resolve().parents[1]
API = "/api/v1"
PACKAGE_DATA = ["astroflow/py.typed", "astroflow/ontology/astroflow.ttl",
                "astroflow/resolve/high_energy_sources.ecsv",
                "astroflow/jobs/migrations/env.py", "astroflow/jobs/migrations/versions/0001_jobs.py",
                "astroflow/server/static/index.html", "astroflow/server/static/app.js",
                "astroflow/server/static/js/plot.js", "astroflow/server/static/favicon.svg",
                "astroflow/server/static/vendor/plotly/LICENSE",
                "astroflow/server/static/vendor/swagger-ui/swagger-ui-bundle.js"]


@dataclass
class Release:
    sdist: Path
    wheel: Path
    python: Path
    url: str
    data_dir: Path


def _build(out: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(REPO)], check=True, capture_output=True, timeout=180)
    return next(out.glob("*.tar.gz")), next(out.glob("*.whl"))


def _venv_with_wheel(root: Path, wheel: Path) -> Path:
    """A venv holding only the wheel; this environment's packages reached through a .pth."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=60)
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   timeout=120)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "_astroflow_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Iterator[Release]:
    root = tmp_path_factory.mktemp("release")
    sdist, wheel = _build(root / "dist")
    python = _venv_with_wheel(root / "venv", wheel)
    cwd, data = root / "elsewhere", root / "data"
    cwd.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["ASTROFLOW_DRAIN_GRACE"] = "2"
    with open(root / "server.log", "wb") as log:
        server = subprocess.Popen([str(python.parent / "astroflow"), "serve", "--port", str(port),
                                   "--services", str(REPO / "workflows" / "sky-position"),
                                   "--data-dir", str(data)], cwd=cwd, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (root / "server.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the installed server did not start in 60 s"
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield Release(sdist, wheel, python, url, data)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)


def test_wheel_and_sdist_carry_the_package_data_and_metadata(release):
    """Every data file the server reads at run time is in the wheel; the metadata says MIT
    with its licence file, and the sdist holds what a rebuild and a contributor need."""
    names = set(zipfile.ZipFile(release.wheel).namelist())
    assert [n for n in PACKAGE_DATA if n not in names] == []
    assert not any(n.endswith("vendor/plotly/plotly.min.js") for n in names)  # plotly.py's copy
    info = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = email.message_from_bytes(zipfile.ZipFile(release.wheel).read(info))
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert meta["Author"] == "astroflow developers" or "astroflow developers" in (meta["Author-email"] or "")
    assert "Typing :: Typed" in meta.get_all("Classifier")
    assert {"starlette", "requests", "anyio", "cryptography", "traitlets", "pydantic"} <= {
        r.split(">")[0].split("<")[0].split("=")[0].strip() for r in meta.get_all("Requires-Dist")}
    with tarfile.open(release.sdist) as sdist:
        top = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in sdist.getnames()
               if len(Path(n).parts) > 1}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "CONTRIBUTING.md", "constraints.txt",
            "pyproject.toml", "src/astroflow/py.typed"} <= top
    # Only astroflow comes from the wheel: imported from the venv, not from the source tree.
    where = subprocess.run([str(release.python), "-c", "import astroflow; print(astroflow.__file__)"],
                           capture_output=True, text=True, check=True, cwd=release.data_dir.parent)
    assert str(release.python.parents[1]) in where.stdout and str(REPO) not in where.stdout


def test_installed_server_serves_the_portal_and_runs_a_job(release):
    """From the installed wheel: the portal's page, a module and plotly.js are served, the
    bundled sky-position service runs a job to done, and the job is stored in the database
    the migrations made."""
    with httpx.Client(base_url=release.url, timeout=30) as http:
        assert http.get("/healthz").status_code == 200
        page = http.get("/")
        assert page.status_code == 200 and 'type="module" src="static/app.js"' in page.text
        module = http.get("/static/js/plot.js")
        assert module.status_code == 200 and "javascript" in module.headers["content-type"]
        services = {s["name"] for s in http.get(f"{API}/services").json()}
        assert "sky-position" in services
        reply = http.post(f"{API}/services/sky-position/jobs",
                          json={"parameters": {"src_name": "Vela", "RA": 128.836,
                                               "DEC": -45.176, "n_bins": 6}})
        assert reply.status_code in (200, 201), reply.text
        job_id = reply.json()["id"]
        record = http.get(f"{API}/jobs/{job_id}", params={"wait": 30}).json()
        assert record["state"] == "done", record
    with sqlite3.connect(release.data_dir / "astroflow.db") as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        stored = db.execute("SELECT count(*) FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
    newest = sorted((REPO / "src/astroflow/jobs/migrations/versions").glob("0*.py"))[-1]
    assert revision == newest.name.split("_")[0]  # the migrations shipped in the wheel ran
    assert stored == 1


def test_portal_serves_plotly_py_own_plotly_js(release):
    """One plotly.js: the page names plotly.py's bundled version (the ``<meta>`` js/plot.js
    reads and the prefetch link), and the script served at that URL is that version, cached
    for a year because the version is in its URL. On today's main the page said 3.7.0."""
    version = get_plotlyjs_version()
    with httpx.Client(base_url=release.url, timeout=30) as http:
        page = http.get("/").text
        assert f'<meta name="plotly-version" content="{version}">' in page
        assert f'href="static/vendor/plotly/plotly.min.js?v={version}"' in page
        assert "__PLOTLY_VERSION__" not in page
        script = http.get(f"/static/vendor/plotly/plotly.min.js?v={version}",
                          headers={"Accept-Encoding": "gzip"})
        assert script.status_code == 200 and "immutable" in script.headers["cache-control"]
        assert script.headers["content-encoding"] == "gzip"
        assert f"plotly.js v{version}\n" in script.text[:200]
        again = http.get(f"/static/vendor/plotly/plotly.min.js?v={version}",
                         headers={"Accept-Encoding": "gzip", "If-None-Match": script.headers["etag"]})
        assert again.status_code == 304
        assert http.get("/static/vendor/plotly/LICENSE").status_code == 200
