"""MMODA notebooks run unchanged: oda_api products, ProgressReporter, get_context, files, URLs.

The notebooks in ``tests/services/mmoda`` are written as MMODA authors write them (``oda_api``
imports, full ontology URIs, ``# oda:oda_token_access``); a real ``astroflow serve`` runs them
and every check goes through the astroflow HTTP API.
"""

from __future__ import annotations

import functools
import io
import json
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from server_process import SECRET, TEST_SERVICES, ServerProcess

from astroflow.compat.oda_runtime import forward, split_reports, uses_oda_api

pytest.importorskip("oda_api")

API = "/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("mmoda"), services=[TEST_SERVICES / "mmoda"],
                            env={"NO_PROXY": "127.0.0.1,localhost"}).start()
    yield process
    process.stop()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def bearer(sub: str = "alice") -> dict[str, str]:
    token = jwt.encode({"sub": sub, "roles": [], "exp": int(time.time()) + 600}, SECRET,
                       algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def run(http, service: str, headers: dict | None = None, **parameters) -> dict:
    reply = http.post(f"{API}/services/{service}/jobs", json={"parameters": parameters},
                      headers=headers or {})
    assert reply.status_code in (200, 201), reply.text
    done = http.get(f"{API}/jobs/{reply.json()['id']}", params={"wait": 30},
                    headers=headers or {})
    assert done.status_code == 200, done.text
    return done.json()


def product(http, job: dict, name: str, fmt: str | None = None, headers: dict | None = None):
    reply = http.get(f"{API}/jobs/{job['id']}/products/{name}",
                     params={"format": fmt} if fmt else {}, headers=headers or {})
    assert reply.status_code == 200, reply.text
    return reply


def value(http, job: dict, name: str, headers: dict | None = None):
    return product(http, job, name, "json", headers).json()["value"]


# --- progress -------------------------------------------------------------------------------

def test_progress_reporter_reaches_the_job_progress(http):
    reply = http.post(f"{API}/services/progress-report/jobs",
                      json={"parameters": {"steps": 3, "pause": 0.4}})
    job_id = reply.json()["id"]
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = http.get(f"{API}/jobs/{job_id}").json()
        if job["progress"]["stage"]:
            seen.append(job["progress"])
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["state"] == "done", job
    running = [p for p in seen if p["stage"] == "integration"]
    assert running, seen
    first = running[0]
    assert first["substage"].startswith("chunk ") and first["message"].startswith("integrating")
    assert 0 <= first["fraction"] < 1 and 0 < first["subfraction"] <= 1
    assert {"stage": "writing", "fraction": pytest.approx(0.95), "message": "almost there",
            "substage": "products", "subfraction": pytest.approx(0.5), "ended": None} in seen
    # Once done, the job's progress is "done", not its last report (issue 18, 14).
    assert job["progress"] == {"stage": "done", "fraction": 1.0, "message": "done",
                               "substage": None, "subfraction": None, "ended": "done"}
    assert value(http, job, "reporter_enabled") is True
    assert value(http, job, "callback_scheme") == "file"


def test_progress_reports_are_split_and_scaled():
    stream = (b'{"stage": "a", "progress": 20, "progress_max": 100.0, "action": "progress"}'
              b'garbage{"stage": "b", "progress": 3, "progress_max": 4, "subprogress": 1,'
              b' "subprogress_max": 2, "action": "progress"}{"stage": "c", "prog')
    reports, rest = split_reports(stream)
    assert [r["stage"] for r in reports] == ["a", "b"]
    assert rest == b'{"stage": "c", "prog'
    reports, rest = split_reports(rest + b'ress": 1, "action": "progress"}')
    assert [r["stage"] for r in reports] == ["c"] and rest == b""
    forward(reports[0])  # outside a run: a no-op that must not raise
    assert uses_oda_api({"cells": [{"cell_type": "code", "source": ["from oda_api.api ",
                                                                    "import get_context"]}]})
    assert not uses_oda_api({"cells": [{"cell_type": "markdown", "source": "oda_api"}]})


# --- products -------------------------------------------------------------------------------

def test_light_curve_product(http):
    job = run(http, "light-curve", DEC=20.0, n_bins=4, T1="2021-03-01T00:00:00",
              T2="2021-03-03T00:00:00")
    assert job["state"] == "done", job["error"]
    products = {p["name"]: p for p in job["products"]}
    assert products["lc"]["type"] == "lightcurve"
    assert {"ecsv", "fits", "csv"} <= set(products["lc"]["formats"])
    rows = product(http, job, "lc", "json").json()
    assert [c["name"] for c in rows["columns"]] == ["TIME", "RATE", "ERROR"]
    assert [r["TIME"] for r in rows["rows"]] == pytest.approx([59274.25, 59274.75, 59275.25,
                                                              59275.75])
    assert [r["RATE"] for r in rows["rows"]] == pytest.approx([10.2, 11.2, 12.2, 13.2])
    assert value(http, job, "source_position") == "Crab at RA=83.633 Dec=20.0000"


def test_every_oda_api_product_class_becomes_its_astroflow_product(http):
    job = run(http, "product-gallery", size=4)
    assert job["state"] == "done", job["error"]
    types = {p["name"]: p["type"] for p in job["products"]}
    assert types == {"catalog_table": "table", "sky_image": "image", "spectrum_array": "image",
                     "flux_plot": "picture", "raw_bytes": "binary", "report": "text",
                     "peak": "scalar"}
    table = product(http, job, "catalog_table", "json").json()
    assert [r["name"] for r in table["rows"]] == ["src A", "src B", "src C"]
    assert [c.get("unit") for c in table["columns"] if c["name"] == "flux"] == ["erg / (s cm2)"]
    from astropy.io import fits

    with fits.open(io.BytesIO(product(http, job, "sky_image", "fits").content)) as hdul:
        assert hdul[0].data.shape == (4, 4) and hdul[0].data[3, 3] == 15
        assert hdul[0].header["CTYPE1"] == "RA---TAN" and hdul[0].header["CRVAL2"] == 22.0145
    assert product(http, job, "flux_plot").content[:8] == b"\x89PNG\r\n\x1a\n"
    assert product(http, job, "raw_bytes").content == bytes(range(8)) + b"end"
    assert product(http, job, "report").text == "3 sources\nbrightest: src C"
    assert value(http, job, "peak") == 15.0


# --- parameters -----------------------------------------------------------------------------

def test_multiline_and_optional_parameters(http):
    default = run(http, "multiline-optional")
    assert default["state"] == "done", default["error"]
    echo = value(http, default, "echo")
    assert echo == {"filters": {"sdss": ["g", "r"], "2mass": ["J", "H", "K"]},
                    "threshold": None, "n_trials": 5, "scale": 10.0, "scale_type": "float",
                    "query": "SELECT *\nFROM catalogue\nWHERE flux > 1\n", "label": "first run",
                    "verbose": True}
    query = "SELECT ra, dec\nFROM stars\n"
    given = run(http, "multiline-optional", threshold="1.5", n_trials=None, scale=3,
                query=query, filters='{"gaia": ["G"]}', verbose="false")
    echo = value(http, given, "echo")
    assert echo["threshold"] == 1.5 and echo["n_trials"] is None and echo["scale"] == 3.0
    assert echo["query"] == query and echo["filters"] == {"gaia": ["G"]}
    assert echo["verbose"] is False
    refused = http.post(f"{API}/services/multiline-optional/jobs",
                        json={"parameters": {"scale": None}})
    assert refused.status_code == 422 and "scale" in refused.text


def test_structured_inputs(http):
    job = run(http, "structured-input", bands=["u", "z"], zero_points={"u": [22.5], "z": [1, 2]})
    assert json.loads(value(http, job, "summary")) == {
        "label": "baz", "bands": ["u", "z"], "zero_points": {"u": [22.5], "z": [1, 2]}}
    assert value(http, job, "n_zero_points") == 3
    as_text = run(http, "structured-input", bands='["u"]', zero_points="{}")
    assert value(http, as_text, "n_zero_points") == 0
    refused = http.post(f"{API}/services/structured-input/jobs",
                        json={"parameters": {"bands": {"not": "a list"}, "zero_points": "[1"}})
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["error"]["errors"]} == {"bands", "zero_points"}


def test_booleans(http):
    assert value(http, run(http, "booleans"), "flags") == "bool:True,bool:False"
    job = run(http, "booleans", use_background="False", strict=True)
    assert value(http, job, "flags") == "bool:False,bool:True"
    assert http.post(f"{API}/services/booleans/jobs",
                     json={"parameters": {"strict": "maybe"}}).status_code == 422


# --- failures -------------------------------------------------------------------------------

@pytest.mark.parametrize(("failure", "kind", "analysis", "text"), [
    ("runtime", "bug", False, "RuntimeError: the detector model diverged"),
    ("analysis", "analysis", True, "no photons in the requested time range"),
    ("kill", "crashed", False, "SIGKILL"),
])
def test_raising_notebooks(http, failure, kind, analysis, text):
    job = run(http, "raising", failure=failure)
    assert job["state"] == "failed"
    assert job["error"]["type"] == kind and job["error"]["analysis"] is analysis
    assert text in job["error"]["message"]


def test_raising_notebook_that_does_not_raise(http):
    job = run(http, "raising", failure="none")
    assert job["state"] == "done" and value(http, job, "survived") == "none"


# --- files and URLs -------------------------------------------------------------------------

def test_posix_path_takes_an_upload(http):
    csv = b"time,energy\n1.0,5.5\n2.0,6.5\n3.0,7.5\n"
    ref = http.post(f"{API}/uploads", files={"file": ("flare.csv", csv)},
                    headers=bearer()).json()["ref"]  # uploads need a token here
    job = run(http, "file-path", events_file=ref)
    assert job["state"] == "done", job["error"]
    assert value(http, job, "n_events") == 3 and value(http, job, "file_name") == "flare.csv"
    rows = product(http, job, "events_table", "json").json()["rows"]
    assert [r["energy"] for r in rows] == [5.5, 6.5, 7.5]
    assert value(http, run(http, "file-path"), "n_events") == 2  # the notebook's own file
    refused = http.post(f"{API}/services/file-path/jobs",
                        json={"parameters": {"events_file": "/etc/passwd"}})
    assert refused.status_code == 422 and "upload" in refused.text


@pytest.fixture
def file_host(tmp_path):
    """A plain HTTP server on 127.0.0.1 serving tmp_path."""
    (tmp_path / "spectrum.txt").write_text("# energy flux\n1 10\n2 5\n3 2\n")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    host = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{host.server_address[1]}"
    host.shutdown()
    host.server_close()


def test_file_url_is_downloaded_by_the_notebook(http, file_host):
    job = run(http, "file-url", data_url=f"{file_host}/spectrum.txt")
    assert job["state"] == "done", job["error"]
    assert value(http, job, "n_lines") == 4 and value(http, job, "first_line") == "# energy flux"
    missing = run(http, "file-url", data_url=f"{file_host}/absent.txt")
    assert missing["state"] == "failed" and "404" in missing["error"]["message"]
    for bad in ("file:///etc/passwd", "ftp://127.0.0.1/x", "/etc/passwd", "http://"):
        refused = http.post(f"{API}/services/file-url/jobs",
                            json={"parameters": {"data_url": bad}})
        assert refused.status_code == 422, bad
        assert "http" in refused.json()["error"]["errors"][0]["reason"]


# --- token access ---------------------------------------------------------------------------

def test_get_context_gives_the_token_only_to_declaring_notebooks(http):
    alice = bearer("alice")
    declared = run(http, "token-access", headers=alice)
    assert value(http, declared, "token_subject", alice) == "alice"
    assert value(http, declared, "context_keys", alice) == "callback,token"
    anonymous = run(http, "token-access", band="g")
    assert value(http, anonymous, "token_subject") == ""
    assert value(http, anonymous, "context_keys") == "callback,token"  # token: None
    undeclared = run(http, "token-no-access", headers=alice)
    assert value(http, undeclared, "token_subject", alice) == ""
    assert value(http, undeclared, "context_keys", alice) == "callback,token"
