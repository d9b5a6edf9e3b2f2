"""A full fsspec store under a real server: the job whose results cannot be uploaded fails
with "store full", the server keeps answering, the sweep evicts the least recently used
result from the remote store, and the next job fits.

The store is tests/lifecycle_fsspec/quota_store.py: fsspec's memory filesystem with a
capacity, answering ENOSPC past it (as a full disk or a bucket over quota does), loaded in
the server process through PYTHONPATH; no tmpfs can be mounted here without root."""

from __future__ import annotations

from pathlib import Path

import httpx
from lifecycle_helpers import API, LIFECYCLE_SERVICES, run_job
from polling import until
from server_process import ServerProcess

FSSPEC = Path(__file__).resolve().parent / "lifecycle_fsspec"


def test_a_full_fsspec_store_fails_the_upload_clearly_and_eviction_makes_room(tmp_path):
    server = ServerProcess(tmp_path / "server", workers=1, services=[LIFECYCLE_SERVICES],
                           extra_args=["--store", "quotamem://results"],
                           env={"PYTHONPATH": str(FSSPEC), "ASTROFLOW_IN_USE_GRACE": "0",
                                "ASTROFLOW_GC_INTERVAL": "600",
                                "ASTROFLOW_TEST_STORE_BYTES": str(600_000)})
    with server.running(), httpx.Client(base_url=server.url, timeout=60) as http:
        done, failed = [], None
        for n in range(15):  # fill the store: each result takes 100–250 kB
            job = run_job(http, "blob", size=200_000, tag=f"fill-{n}")
            if job["state"] == "failed":
                failed = job
                break
            done.append(job)
        assert failed is not None and len(done) >= 1, "the store never filled"
        assert failed["error"]["type"] == "store_full", failed["error"]
        assert failed["error"]["message"].startswith("store full")
        assert http.get("/healthz").status_code == 200
        assert http.get(f"{API}/jobs/{done[-1]['id']}/products/table").status_code == 200
        # the sweep that the full store set off evicted the least recently used result
        until(lambda: http.get(f"{API}/jobs/{done[0]['id']}").json()["expired"])
        gone = http.get(f"{API}/jobs/{done[0]['id']}/products/table")
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "expired"
        assert run_job(http, "blob", size=200_000, tag="after")["state"] == "done"
