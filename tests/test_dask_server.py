"""`astroflow serve --executor dask://…`: two server replicas on one PostgreSQL database and one
Dask cluster (a scheduler and `astroflow worker` processes) serve jobs unchanged: each runs
once, on a worker, with its progress and products reaching the API."""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest

pytest.importorskip("distributed")

from dask_cluster import DaskCluster  # noqa: E402
from pg import private_schema  # noqa: E402
from server_process import ServerProcess  # noqa: E402

pytestmark = pytest.mark.timeout(90)
API = "/api/v1"


def _submit(client: httpx.Client, service: str, **parameters) -> dict:
    reply = client.post(f"{API}/services/{service}/jobs", json={"parameters": parameters})
    assert reply.status_code in (200, 201), reply.text
    return reply.json()


def _final(client: httpx.Client, job_id: str, seconds: float = 40) -> dict:
    return client.get(f"{API}/jobs/{job_id}", params={"wait": seconds}).json()


def _started(cluster: DaskCluster) -> dict[str, int]:
    """Worker → runs started there (astroflow's plugin counts them)."""
    from distributed import Client

    from astroflow.execution.dask.executor import started_on_worker

    with Client(cluster.address, set_as_default=False) as client:
        return client.run(started_on_worker)


def test_two_replicas_on_one_dask_cluster(tmp_path):
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(private_schema())
        cluster = DaskCluster(tmp_path / "dask")
        stack.callback(cluster.stop)
        cluster.start()
        artifacts = tmp_path / "artifacts"

        def replica(name: str) -> ServerProcess:
            process = ServerProcess(tmp_path / name, db=url, workers=1,
                                    extra_args=["--store", str(artifacts),
                                                "--executor", cluster.url],
                                    env={"ASTROFLOW_WORKER_HOST": name})
            stack.callback(process.stop)
            return process.start()

        a, b = replica("replica-a"), replica("replica-b")
        with httpx.Client(base_url=a.url, timeout=60) as on_a, \
                httpx.Client(base_url=b.url, timeout=60) as on_b:
            assert on_a.get("/healthz").status_code == 200
            # Progress from a run on a Dask worker reaches the API while it runs.
            slow = _submit(on_a, "slow", seconds=2.0, tag="progress")
            deadline = time.monotonic() + 30
            progress = None
            while time.monotonic() < deadline and not progress:
                progress = (on_b.get(f"{API}/jobs/{slow['id']}").json().get("progress") or {})
                progress = progress if progress.get("stage") == "sleeping" else None
                time.sleep(0.05)
            assert progress, "no progress from the remote run"
            # Jobs submitted to both replicas all run, once each, on the cluster's workers.
            jobs = [_submit(client, "quick", x=float(i), n=3)
                    for i, client in enumerate((on_a, on_b) * 3)]
            finals = [_final(on_a, job["id"]) for job in [slow, *jobs]]
            assert [f["state"] for f in finals] == ["done"] * 7, finals
            assert sum(_started(cluster).values()) == 7
            # Products written on the workers are served by either replica.
            for job in jobs:
                reply = on_b.get(f"{API}/jobs/{job['id']}/products/table", params={"format": "csv"})
                assert reply.status_code == 200, reply.text
            assert "Traceback" not in a.log() + b.log(), (a.log() + b.log())[-3000:]

