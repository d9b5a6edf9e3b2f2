"""kill -9 of the server with jobs in flight: nothing submitted or computed is lost."""

from __future__ import annotations

import time

import httpx
from server_process import ServerProcess

API = "/api/v1"


def _submit(client: httpx.Client, service: str, **parameters) -> dict:
    reply = client.post(f"{API}/services/{service}/jobs", json={"parameters": parameters})
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


def _state(client: httpx.Client, job_id: str) -> dict:
    return client.get(f"{API}/jobs/{job_id}").json()


def _wait_for(client: httpx.Client, job_id: str, state: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = _state(client, job_id)
        if job["state"] == state:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {state}: {job}")


def test_kill9_and_restart(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data, workers=1).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            done = _submit(client, "quick", x=4.0, n=5)
            done = client.get(f"{API}/jobs/{done['id']}", params={"wait": 30}).json()
            assert done["state"] == "done"
            fits_before = client.get(f"{API}/jobs/{done['id']}/products/table",
                                     params={"format": "fits"}).content
            running = _submit(client, "slow", seconds=3.0, tag="crash")
            _wait_for(client, running["id"], "running")
            queued = [_submit(client, "slow", seconds=0.2, tag=f"q{i}") for i in range(3)]
            assert all(_state(client, q["id"])["state"] in ("queued", "running") for q in queued)
        server.kill9()

        server = ServerProcess(data, workers=1, port=server.port).start()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            # The done job and its products survived byte for byte.
            assert _state(client, done["id"])["state"] == "done"
            fits_after = client.get(f"{API}/jobs/{done['id']}/products/table",
                                    params={"format": "fits"}).content
            assert fits_after == fits_before
            # The interrupted job runs again (second attempt) and the queued ones run too.
            for job in [running, *queued]:
                final = client.get(f"{API}/jobs/{job['id']}", params={"wait": 60}).json()
                assert final["state"] == "done", final
            # Interrupt the same job twice: the second time it fails as interrupted.
            again = _submit(client, "slow", seconds=30.0, tag="twice")
            _wait_for(client, again["id"], "running")
        server.kill9()
        server = ServerProcess(data, workers=1, port=server.port).start()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            job = _wait_for(client, again["id"], "running")  # re-run once
        server.kill9()
        server = ServerProcess(data, workers=1, port=server.port).start()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            final = _wait_for(client, again["id"], "failed")
            assert "interrupted" in final["error"]["message"]
            assert job["id"] == final["id"]
    finally:
        server.stop()
