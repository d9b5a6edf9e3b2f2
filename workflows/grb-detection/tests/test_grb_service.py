"""The grb-detection service through a real ``astroflow serve``: an uploaded light curve
(the shipped example) gives its two bursts, the SPI-ACS path goes through the replay server,
and with no file and no archive the job fails with the analysis error that says what to do."""

from __future__ import annotations

import socket
import time

import httpx
import jwt
import pytest
from astropy.time import Time
from server_process import SECRET, ServerProcess
from spiacs_replay import SERVICE, start_replay

API = "/api/v1"
EXAMPLE = SERVICE / "examples" / "grb_example.ecsv"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def replay():
    url, server = start_replay()
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, replay):
    root = tmp_path_factory.mktemp("grb")
    services = root / "services"
    services.mkdir()
    (services / "grb-detection").symlink_to(SERVICE, target_is_directory=True)
    env = {"ASTROFLOW_RUN_ENV": "SPIACS_BASE_URL", "SPIACS_BASE_URL": replay,
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    with ServerProcess(root / "data", services=[services], workers=2, env=env).running() as p:
        yield p


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _bearer() -> dict[str, str]:
    token = jwt.encode({"sub": "grb-tester", "roles": [], "exp": int(time.time()) + 600},
                       SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def _run(http, **parameters) -> dict:
    reply = http.post(f"{API}/services/grb-detection/jobs", json={"parameters": parameters},
                      headers=_bearer())
    assert reply.status_code in (200, 201), reply.text
    job = http.get(f"{API}/jobs/{reply.json()['id']}", params={"wait": 60},
                   headers=_bearer()).json()
    assert job["state"] in ("done", "failed"), job
    return job


def _rows(http, job, name) -> list[dict]:
    reply = http.get(f"{API}/jobs/{job['id']}/products/{name}", params={"format": "json"},
                     headers=_bearer())
    assert reply.status_code == 200, reply.text
    return reply.json()["rows"]


def test_uploaded_example_gives_its_two_bursts(http):
    upload = http.post(f"{API}/uploads", headers=_bearer(),
                       files={"file": (EXAMPLE.name, EXAMPLE.read_bytes())})
    assert upload.status_code == 201, upload.text
    job = _run(http, lc_file=upload.json()["ref"])
    assert job["state"] == "done", job["error"]
    detections = _rows(http, job, "detections")
    assert [round(d["t_start"]) for d in detections] == [100, 220]
    assert detections[0]["t_start_utc"].startswith("2024-03-15T12:01:")
    assert all(d["significance"] > 6 for d in detections)
    assert 5 < detections[0]["t90"] < 11   # injected T90 = 8 s
    curve = _rows(http, job, "light_curve")
    assert len(curve) == 3000
    assert {"time", "rate", "rate_err", "background_rate", "block_rate",
            "detection_id"} <= set(curve[0])
    picture = http.get(f"{API}/jobs/{job['id']}/products/lc_picture", headers=_bearer())
    assert picture.status_code == 200 and picture.content[:4] == b"\x89PNG"


def test_spiacs_range_through_the_replay_server(http):
    job = _run(http, T1="2021-06-15T09:57:30", T2="2021-06-15T10:02:30",
               threshold_sigma=6.0)
    assert job["state"] == "done", job["error"]
    detections = _rows(http, job, "detections")
    assert len(detections) == 1
    # the recorded burst's T90 interval starts 30 s after the centre, 10:00:30 UTC
    start = Time(detections[0]["t_start_utc"], scale="utc")
    assert abs((start - Time("2021-06-15T10:00:30", scale="utc")).to_value("s")) < 1.0


def test_span_over_two_hours_is_refused_naming_the_fields(http):
    job = _run(http, T1="2021-06-15T08:00:00", T2="2021-06-15T10:30:00")
    assert job["state"] == "failed" and job["error"]["analysis"] is True
    assert "T2 - T1" in job["error"]["message"] and "shorten" in job["error"]["message"]


def test_no_file_and_unreachable_archive_is_a_clear_analysis_error(tmp_path):
    env = {"ASTROFLOW_RUN_ENV": "SPIACS_BASE_URL",
           "SPIACS_BASE_URL": f"http://127.0.0.1:{_closed_port()}/api/v1.0"}
    root = tmp_path / "offline"
    services = root / "services"
    services.mkdir(parents=True)
    (services / "grb-detection").symlink_to(SERVICE, target_is_directory=True)
    with ServerProcess(root / "data", services=[services], workers=1, env=env).running() as p, \
            httpx.Client(base_url=p.url, timeout=60) as http:
        job = _run(http)
    assert job["state"] == "failed" and job["error"]["analysis"] is True
    message = job["error"]["message"]
    assert "SPI-ACS archive is unreachable" in message and "upload a light-curve file" in message
