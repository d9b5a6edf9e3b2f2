"""The Python client against a real `astroflow serve` process (and a scripted HTTP server for
the retry rules that a healthy server never exercises)."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import matplotlib
import pytest
from server_process import SECRET, TEST_SERVICES, ServerProcess, free_port

from astroflow.client import (
    AuthError,
    Client,
    ClientError,
    JobCancelled,
    JobFailed,
    NotFound,
    Retry,
    ServerBusy,
    ServerUnavailable,
    ValidationError,
    WaitTimeout,
)
from astroflow.client.config import find_token, server_url
from astroflow.client.snippet import python_literal, python_snippet, shell_argument

matplotlib.use("Agg")

SKY_PRODUCTS = '''\
# %% [markdown]
# # Sky products
# One product of each kind: image with WCS, light curve, spectrum, text, picture, quantity.

# %% tags=["parameters"]
size = 16  # oda:Integer ; oda:lower_limit 4 ; oda:upper_limit 256
amplitude = 2.5  # oda:Float
label = "crab"  # oda:String

# %%
import astropy.units as u
import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

wcs = WCS(naxis=2)
wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
wcs.wcs.crval = [83.63, 22.01]
wcs.wcs.crpix = [size / 2, size / 2]
wcs.wcs.cdelt = [-0.01, 0.01]
yy, xx = np.mgrid[:size, :size]
image = fits.PrimaryHDU(amplitude * np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / 8.0),
                        header=wcs.to_header())
image.header["BUNIT"] = "ct"
light_curve = Table({"time": 60000.0 + np.arange(6.0), "rate": amplitude * np.linspace(1, 2, 6),
                     "rate_err": np.full(6, 0.1)})
light_curve["time"].unit = "d"
light_curve["rate"].unit = "ct / s"
light_curve["rate_err"].unit = "ct / s"
flux_unit = 1 / (u.cm**2 * u.s * u.keV)
spectrum = Table({"e_min": [1.0, 2.0, 4.0] * u.keV, "e_max": [2.0, 4.0, 8.0] * u.keV,
                  "flux": amplitude * np.array([1.0, 0.5, 0.25]) * flux_unit,
                  "flux_err": amplitude * np.array([0.1, 0.05, 0.025]) * flux_unit})
summary = f"{label}: peak {amplitude} ct on a {size}x{size} map\\n"
total = float(image.data.sum()) * u.ct
figure, ax = plt.subplots(figsize=(3, 2))
ax.plot(light_curve["time"], light_curve["rate"], "o")

# %% tags=["outputs"]
image  # oda:Image
light_curve  # oda:LightCurve
spectrum  # oda:Spectrum
summary  # oda:ODATextProduct
figure  # oda:ODAPictureProduct
total  # oda:Float
'''


def token(sub: str = "alice", roles: tuple[str, ...] = ()) -> str:
    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time() + 3600)}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def extra_services(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("extra-services")
    (folder / "sky_products.py").write_text(SKY_PRODUCTS)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, extra_services):
    process = ServerProcess(tmp_path_factory.mktemp("server"),
                            services=[TEST_SERVICES, extra_services]).start()
    yield process
    process.stop()


@pytest.fixture
def client(server):
    with Client(server.url, token="") as c:
        yield c


def fresh_env(**extra: str) -> dict[str, str]:
    """The environment of a new user session: no astroflow settings at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROFLOW_")}
    return {**env, "MPLBACKEND": "Agg", **extra}


# --- configuration ----------------------------------------------------------------------------

def test_url_and_token_discovery(tmp_path, monkeypatch):
    assert server_url(None, {}) == "http://127.0.0.1:8000"
    assert server_url(None, {"ASTROFLOW_URL": "https://af.example.org/api/v1/"}) == \
        "https://af.example.org"
    assert server_url("localhost:9000", {}) == "http://localhost:9000"
    (tmp_path / "astroflow").mkdir()
    (tmp_path / "astroflow" / "token").write_text("  from-file\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert find_token(None, env) == "from-file"
    assert find_token(None, {**env, "ASTROFLOW_TOKEN": "from-env"}) == "from-env"
    assert find_token("explicit", {**env, "ASTROFLOW_TOKEN": "from-env"}) == "explicit"
    assert find_token("", {**env, "ASTROFLOW_TOKEN": "from-env"}) is None
    assert find_token(None, {"XDG_CONFIG_HOME": str(tmp_path / "none")}) is None
    monkeypatch.setenv("ASTROFLOW_RETRIES", "3")
    monkeypatch.setenv("ASTROFLOW_RETRY_TOTAL", "1.5")
    assert (Retry.from_env().attempts, Retry.from_env().total) == (3, 1.5)


def test_token_from_file_reaches_the_server(server, tmp_path, monkeypatch):
    (tmp_path / "astroflow").mkdir()
    (tmp_path / "astroflow" / "token").write_text(token("carol") + "\n")
    monkeypatch.delenv("ASTROFLOW_TOKEN", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("ASTROFLOW_URL", server.url)
    with Client() as client:
        assert client.url == server.url and client.token
        job = client.run("whoami", progress=False)
        assert job.products["token_seen"].to_astropy() == "carol"


# --- services ---------------------------------------------------------------------------------

def test_services_and_help(client, capsys):
    names = [s.name for s in client.services()]
    assert {"quick", "slow", "boom", "sky-products"} <= set(names) and "hidden" not in names
    quick = client.service("quick")
    assert list(quick.parameters) == ["x", "n"]
    n = quick.parameters["n"]
    assert (n.type, n.default, n.limits) == ("integer", 2, (0, 1000))
    assert quick.parameters["x"].type == "number" and quick.outputs["table"].type == "table"
    assert quick.defaults == {"x": 1.0, "n": 2}
    quick.help()
    text = capsys.readouterr().out
    assert text.startswith("Quick  (quick, version ")
    row = next(line for line in text.splitlines() if line.startswith("n "))
    assert "integer" in row and "0 ≤ n ≤ 1000" in row
    assert "job = client.run('quick', {'x': 1.0, 'n': 2})" in text
    boom = client.service("boom")
    assert boom.parameters["mode"].enum == ("bug", "analysis", "ok")
    assert "one of 'bug', 'analysis', 'ok'" in boom.describe()
    with pytest.raises(NotFound, match="no service named 'nope'"):
        client.service("nope")


# --- jobs and products ------------------------------------------------------------------------

def test_submit_wait_products_notebook_provenance(client, tmp_path, capsys):
    job = client.submit("quick", x=2.5, n=3)
    assert job.state in ("queued", "running", "done") and len(job.id) == 32
    assert job.wait() is job and job.state == "done" and job.ok
    assert capsys.readouterr() == ("", "")  # no terminal watching: no progress bar
    assert job.parameters == {"x": 2.5, "n": 3} and job.elapsed is not None
    assert job.finished >= job.started >= job.created
    table = job.products["table"].to_astropy()
    assert list(table["value"]) == [0.0, 2.5, 5.0] and str(table["value"].unit) == "erg"
    assert job.products["y"].to_astropy() == 7.5
    assert job.products["table"].formats[:3] == ["ecsv", "fits", "votable"]
    fits_path = job.products["table"].save(tmp_path / "one", format="fits")
    assert fits_path.name == "table.fits" and fits_path.read_bytes()[:6] == b"SIMPLE"
    saved = job.save_all(tmp_path / "all")
    assert sorted(p.name for p in saved) == ["table.ecsv", "y.json"]
    assert json.loads((tmp_path / "all" / "y.json").read_text())["value"] == 7.5
    every = job.save_all(tmp_path / "every", format="all")
    assert {"table.fits", "table.vot", "table.csv", "table.json"} <= {p.name for p in every}
    assert not list((tmp_path / "every").glob(".*"))  # no temporary files left behind
    with pytest.raises(KeyError, match="has no product 'nope'.*y, table"):
        job.products["nope"]
    notebook = job.notebook()
    assert notebook.nbformat == 4
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in notebook.cells)
    assert job.save_notebook(tmp_path / "nb").suffix == ".ipynb"
    prov = job.provenance()
    assert "activity" in prov and any(job.id in key for key in prov["activity"])
    # The same request spelled differently is answered from this job.
    again = client.submit("quick", {"x": "2.5", "n": "3"})
    assert again.id == job.id and again.cached and again.ended
    assert client.job(job.id).state == "done"
    assert job.id in [j.id for j in client.jobs(mine=True, service="quick")]
    with pytest.raises(NotFound):
        client.job("0" * 32)


def test_every_product_type_as_astropy_and_plot(client):
    import astropy.units as u
    from astropy.nddata import CCDData
    from astropy.table import Table
    from astropy.wcs import WCS

    job = client.run("sky-products", size=20, amplitude=3.0, progress=False)
    products = job.products
    assert list(products) == ["image", "light_curve", "spectrum", "summary", "figure", "total"]
    hdu = products["image"].to_astropy()
    wcs = WCS(hdu.header).celestial
    assert hdu.data.shape == (20, 20) and list(wcs.wcs.crval) == [83.63, 22.01]
    assert hdu.header["BUNIT"] == "ct"
    ccd = products["image"].to_ccddata()
    assert isinstance(ccd, CCDData) and ccd.unit == u.ct and ccd.wcs.has_celestial
    lc = products["light_curve"].to_astropy()
    assert isinstance(lc, Table) and lc["rate"].unit == u.ct / u.s and lc["time"].unit == u.d
    spectrum = products["spectrum"].to_astropy()
    assert spectrum["e_min"].unit == u.keV and spectrum["flux"][0] == pytest.approx(3.0)
    assert products["summary"].to_astropy() == "crab: peak 3.0 ct on a 20x20 map\n"
    picture = products["figure"].to_astropy()
    assert picture.ndim == 3 and picture.shape[2] in (3, 4)
    total = products["total"].to_astropy()
    assert isinstance(total, u.Quantity) and total.unit == u.ct and total.value > 0
    # Plots: world axes for the image, error bars and log axes as the portal draws them.
    image_ax = products["image"].plot()
    assert type(image_ax).__name__ == "WCSAxes"
    assert image_ax.coords[0].get_axislabel() == "Right ascension"
    lc_ax = products["light_curve"].plot()
    assert lc_ax.get_ylabel() == "rate [ct / s]" and (lc_ax.lines or lc_ax.collections)
    sp_ax = products["spectrum"].plot()
    assert sp_ax.get_xscale() == "log" and sp_ax.get_yscale() == "log"
    assert sp_ax.get_xlabel() == "Energy [keV]"
    assert products["figure"].plot().images
    with pytest.raises(ClientError, match="scalar product .* nothing to plot"):
        products["total"].plot()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_wait_with_progress_timeout_and_cancel(client):
    seen: list[tuple[str, float | None]] = []
    job = client.submit("slow", seconds=0.8, tag="progress")
    job.wait(progress=lambda j: seen.append((j.state, j.progress.fraction)))
    assert seen[-1][0] == "done"
    fractions = [f for s, f in seen if s == "running" and f is not None]
    assert len(fractions) >= 3 and fractions == sorted(fractions)
    long = client.submit("slow", seconds=60, tag="cancel-me")
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match="still (queued|running) after 0.5 s") as caught:
        long.wait(progress=False, timeout=0.5)
    assert time.monotonic() - start < 5 and caught.value.job is long
    assert long.cancel().state in ("cancelled", "running")
    with pytest.raises(JobCancelled, match="was cancelled"):
        long.wait(progress=False, timeout=20)
    assert long.state == "cancelled"
    with pytest.raises(JobCancelled):
        _ = long.products


def test_run_raises_job_failed_with_the_remote_error(client):
    with pytest.raises(JobFailed) as bug:
        client.run("boom", mode="bug", progress=False)
    assert bug.value.analysis is False and "ValueError: boom" in bug.value.remote_message
    assert "boom" in bug.value.traceback and bug.value.job.state == "failed"
    with pytest.raises(JobFailed, match="analysis error: no data in this time range") as analysis:
        client.run("boom", mode="analysis", progress=False)
    assert analysis.value.analysis is True
    job = client.submit("boom", mode="analysis").wait(progress=False, check=False)
    assert job.state == "failed" and job.error.analysis
    limited = client.submit("limited", seconds=30).wait(progress=False, check=False)
    assert "time limit" in limited.error.message and not limited.error.analysis


def test_validation_error_lists_every_field(client):
    with pytest.raises(ValidationError) as caught:
        client.submit("quick", x="abc", n=5000, bogus=1)
    problems = {field: (value, reason) for field, value, reason in caught.value.errors}
    assert set(problems) == {"x", "n", "bogus"}
    assert problems["n"][0] == 5000 and "1000" in problems["n"][1]
    text = str(caught.value)
    assert text.startswith("invalid parameters") and "  n = 5000: must be ≤ 1000" in text
    assert isinstance(caught.value, ValueError) and caught.value.status == 422


def test_auth_errors_and_restricted_services(server):
    with Client(server.url, token="not-a-jwt") as bad, pytest.raises(AuthError) as caught:
        bad.services()
    assert caught.value.status == 401 and "ASTROFLOW_TOKEN" in str(caught.value)
    with Client(server.url, token="") as anonymous, pytest.raises(NotFound):
        anonymous.service("hidden")
    with Client(server.url, token=token("alice", ("secret-team",))) as alice:
        assert "hidden" in [s.name for s in alice.services()]
        job = alice.run("hidden", x=2.0, progress=False)
        assert job.products["y"].to_astropy() == 3.0
        assert job.id in [j.id for j in alice.jobs()]
    with Client(server.url, token=token("mallory", ("secret-team",))) as mallory, \
            pytest.raises(NotFound):
        mallory.job(job.id)


def test_map_waits_for_all_in_order(client):
    seen = set()
    requests = [{"x": float(i), "n": i} for i in range(1, 6)]
    jobs = client.map("quick", requests, progress=lambda j: seen.add(j.id))
    assert [j.parameters for j in jobs] == requests
    assert all(j.state == "done" for j in jobs) and seen == {j.id for j in jobs}
    assert [j.products["y"].to_astropy() for j in jobs] == [1.0, 4.0, 9.0, 16.0, 25.0]
    mixed = client.map("boom", [{"mode": "ok"}, {"mode": "analysis"}], progress=False)
    assert [j.state for j in mixed] == ["done", "failed"]
    with pytest.raises(JobFailed):
        client.map("boom", [{"mode": "ok"}, {"mode": "analysis"}], progress=False, check=True)
    with pytest.raises(ValidationError, match="request #1 of the batch") as caught:
        client.map("quick", [{"n": 1}, {"n": -1}], progress=False)
    assert caught.value.index == 1


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that notes each answer's method and status."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.answers.append((request.method, response.status_code))
        return response


def test_map_pauses_submission_while_the_queue_is_full(tmp_path):
    """One worker, at most one queued job per caller: the batch has to wait for room."""
    server = ServerProcess(tmp_path / "data", workers=1,
                           extra_args=["--queue-limit", "1"]).start()
    try:
        transport = Recording()
        with Client(server.url, token="", transport=transport) as client:
            # jobs long enough that the third request meets a full queue even when a loaded
            # machine spaces the requests out (0.3 s jobs all got 201 once in CI)
            requests = [{"seconds": 1.5, "tag": f"busy{i}"} for i in range(4)]
            jobs = client.map("slow", requests, progress=False, timeout=60)
        assert [j.state for j in jobs] == ["done"] * 4
        assert [j.parameters["tag"] for j in jobs] == [r["tag"] for r in requests]
        assert ("POST", 429) in transport.answers
        assert transport.answers.count(("POST", 201)) == 4
    finally:
        server.stop()


def require_code_routes(server: ServerProcess) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert "/api/v1/jobs/{job_id}/code" in paths, (
        "astroflow.server.routes_code.router is not registered in create_app()")


# --- the code snippet -------------------------------------------------------------------------

def run_snippet(code: str, cwd: Path) -> subprocess.CompletedProcess:
    script = cwd / "snippet.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=fresh_env(),
                          capture_output=True, text=True, timeout=60)


def test_job_snippet_reproduces_products_in_a_fresh_interpreter(client, server, tmp_path):
    require_code_routes(server)
    job = client.run("sky-products", size=12, label="vela 'X' \"1\"\nimport os", progress=False)
    original = {p.name: p.read_bytes() for p in job.save_all(tmp_path / "original")}
    code = job.code()
    assert client.url in code and "ASTROFLOW_TOKEN" not in code
    compile(code, "snippet", "exec")
    done = run_snippet(code, tmp_path)
    assert done.returncode == 0, done.stderr
    printed = [Path(line) for line in done.stdout.splitlines()]
    assert {p.name for p in printed} == set(original)
    for path in printed:
        assert (tmp_path / path).read_bytes() == original[path.name], path.name
    assert (tmp_path / "sky-products-products").is_dir()


def test_request_snippet_for_a_request_not_yet_submitted(client, server, tmp_path):
    require_code_routes(server)
    code = client.code("quick", x=4, n="6")
    assert "'x': 4.0" in code and "'n': 6" in code  # canonical values, not the raw ones
    reply = httpx.get(f"{server.url}/api/v1/services/quick/code",
                      params={"x": "4", "n": "6", "lang": "python"})
    assert reply.status_code == 200 and reply.json() == {"lang": "python", "code": code}
    done = run_snippet(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["quick-products/y.json", "quick-products/table.ecsv"]
    assert json.loads((tmp_path / "quick-products" / "y.json").read_text())["value"] == 24.0
    shell = client.code("quick", x=4, n=6, lang="shell")
    assert f"astroflow submit quick -p x=4.0 -p n=6 --url {server.url} --wait" in shell
    with pytest.raises(ValidationError):
        client.code("quick", n=5000)
    bad = httpx.get(f"{server.url}/api/v1/services/quick/code", params={"lang": "cobol"})
    assert bad.status_code == 422
    assert httpx.get(f"{server.url}/api/v1/jobs/{'0' * 32}/code").status_code == 404


def test_literals_are_json_data_only():
    values = {"s": "a'b\"c\n\\", "i": -3, "f": 0.1, "big": 1e300, "t": True, "n": None,
              "l": [1, "x", [2.5]], "d": {"k": [False]}, "nan": float("nan")}
    rendered = python_literal(values)
    back = eval(rendered, {"__builtins__": {"float": float}})  # noqa: S307 - the point of it
    assert back["s"] == values["s"] and back["big"] == 1e300 and back["l"] == [1, "x", [2.5]]
    assert back["nan"] != back["nan"]
    assert ast.literal_eval(python_literal({k: v for k, v in values.items() if k != "nan"}))
    for unsafe in (object(), {1: "int key"}, b"bytes", {1, 2}):
        with pytest.raises(TypeError):
            python_literal(unsafe)

    class Sneaky(str):
        def __repr__(self) -> str:
            return "__import__('os').system('true')"

    with pytest.raises(TypeError):
        python_literal(Sneaky("x"))
    code = python_snippet("quick", {"x": 1.0}, "http://h:1", job_id="abc\nimport os")
    assert "\nimport os" not in code and "abcimportos" in code
    assert shell_argument("tag", "a b") == "tag=a b" and shell_argument("n", None) == "n:=null"
    assert shell_argument("l", [1, 2]) == "l:=[1,2]" and shell_argument("b", True) == "b=true"


# --- failures between client and server -------------------------------------------------------

def test_unreachable_server_gives_up_within_bounds():
    port = free_port()
    retry = Retry(attempts=4, backoff=0.05, max_backoff=0.2, total=5)
    start = time.monotonic()
    with Client(f"http://127.0.0.1:{port}", token="", retry=retry) as client, \
            pytest.raises(ServerUnavailable) as caught:
        client.services()
    assert caught.value.attempts == 4 and time.monotonic() - start < 3
    assert f"127.0.0.1:{port}" in str(caught.value) and "ASTROFLOW_URL" in str(caught.value)
    tight = Retry(attempts=100, backoff=0.2, max_backoff=0.2, total=0.5)
    start = time.monotonic()
    with Client(f"http://127.0.0.1:{port}", token="", retry=tight) as client, \
            pytest.raises(ServerUnavailable):
        client.services()
    assert time.monotonic() - start < 2  # the total time bounds the attempts


class Scripted(BaseHTTPRequestHandler):
    """Answers from a script of (status, headers, body); the last entry repeats."""

    script: list[tuple[int, dict[str, str], object]] = []
    seen: list[float] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.seen.append(time.monotonic())
        status, headers, body = self.script[min(len(self.seen) - 1, len(self.script) - 1)]
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def scripted(*script: tuple[int, dict[str, str], object]):
    handler = type("Handler", (Scripted,), {"script": list(script), "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.seen
    finally:
        httpd.shutdown()
        httpd.server_close()


SERVICE = {"name": "s", "title": "S", "version": "1"}
DOWN = {"error": {"code": "internal_error", "message": "database is restarting"}}
BUSY = {"error": {"code": "too_many_jobs", "message": "too many queued jobs"}}


def test_5xx_and_429_are_retried_with_backoff_and_retry_after():
    fast = Retry(attempts=5, backoff=0.05, max_backoff=0.1, total=10)
    with scripted((503, {}, DOWN), (502, {}, DOWN), (200, {}, [SERVICE])) as (url, seen), \
            Client(url, token="", retry=fast) as client:
        assert [s.name for s in client.services()] == ["s"] and len(seen) == 3
    with scripted((429, {"Retry-After": "0.4"}, BUSY), (200, {}, [SERVICE])) as (url, seen), \
            Client(url, token="", retry=fast) as client:
        client.services()
        assert seen[1] - seen[0] >= 0.4  # the server's word, not the 0.05 s backoff
    with scripted((500, {}, DOWN)) as (url, seen), Client(url, token="", retry=fast) as client, \
            pytest.raises(ServerUnavailable, match="HTTP 500: database is restarting"):
        client.services()
    assert len(seen) == 5
    with scripted((429, {"Retry-After": "30"}, BUSY)) as (url, seen), \
            Client(url, token="", retry=fast) as client, pytest.raises(ServerBusy):
        client.services()  # waiting 30 s would break the 10 s budget: give up at once
    assert len(seen) == 1
    with scripted((418, {}, {"error": {"code": "teapot", "message": "no"}})) as (url, seen), \
            Client(url, token="", retry=fast) as client, pytest.raises(ClientError) as caught:
        client.services()
    assert len(seen) == 1 and caught.value.status == 418  # other errors are not retried


def test_wait_survives_a_server_restart(tmp_path, extra_services):
    data = tmp_path / "data"
    server = ServerProcess(data, workers=1).start()
    try:
        retry = Retry(attempts=40, backoff=0.1, max_backoff=0.5, total=60)
        with Client(server.url, token="", retry=retry) as client:
            polled = client.submit("slow", seconds=1.5, tag="restart")
            streamed = client.job(polled.id)
            first_start = None
            outcome: dict[str, str] = {}

            def wait(name: str, job, progress) -> None:
                try:
                    outcome[name] = job.wait(progress=progress, timeout=60).state
                except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                    outcome[name] = repr(exc)

            threads = [threading.Thread(target=wait, args=("poll", polled, False)),
                       threading.Thread(target=wait, args=("events", streamed, lambda j: None))]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                probe = client.job(polled.id)
                if probe.state == "running" and (probe.progress.fraction or 0) > 0:
                    first_start = probe.started
                    break
                time.sleep(0.05)
            server.kill9()
            with pytest.raises(httpx.ConnectError):
                httpx.get(server.url + "/healthz", timeout=1)
            time.sleep(0.5)
            server = ServerProcess(data, workers=1, port=server.port).start()
            for thread in threads:
                thread.join(60)
            assert outcome == {"poll": "done", "events": "done"}
            assert first_start is not None and polled.started > first_start  # it ran again
            assert polled.products["slept"].to_astropy() == 1.5
    finally:
        server.stop()
