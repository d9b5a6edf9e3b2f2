"""A running server's store swept from outside (`astroflow gc`), and a full store: the job
fails clearly ("store full"), the server keeps answering, the sweep frees space before new
jobs are refused, and a store with nothing left to free refuses them with 507."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from lifecycle_helpers import API, LIFECYCLE_SERVICES, run_job
from polling import until
from server_process import TEST_SERVICES, ServerProcess


@pytest.fixture(scope="module")
def full_store(tmp_path_factory):
    """No age limit; sweeps only when a run finds the store full (and at gc)."""
    server = ServerProcess(tmp_path_factory.mktemp("full"), workers=1,
                           services=[TEST_SERVICES, LIFECYCLE_SERVICES],
                           env={"ASTROFLOW_GC_INTERVAL": "600", "ASTROFLOW_IN_USE_GRACE": "0"})
    with server.running():
        yield server


def gc(server: ServerProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "astroflow", "gc", "--data-dir",
                           str(server.data_dir), *args], capture_output=True, text=True,
                          timeout=60)


def test_gc_sweeps_a_running_servers_data_dir(full_store):
    server = full_store
    with httpx.Client(base_url=server.url, timeout=60) as http:
        job = run_job(http, "quick", x=3.0, n=5)
        http.get(f"{API}/jobs/{job['id']}")  # now in the server's cache of ended records
        dry = gc(server, "--max-age", "0", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        planned = json.loads(dry.stdout)
        assert planned["dry_run"] and job["id"] in {r["target"] for r in planned["removed"]}
        assert http.get(f"{API}/jobs/{job['id']}/products/table").status_code == 200
        kept = gc(server, "--max-age", "0")  # downloaded just now: within the grace
        assert kept.returncode == 0 and "1 in use, kept" in kept.stdout, kept.stdout
        done = gc(server, "--max-age", "0", "--grace", "0")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("removed ") and "results past their max age" in done.stdout
        assert http.get(f"{API}/jobs/{job['id']}/products/table").status_code == 410
        # the server's cached record learns of the expiry from the database
        until(lambda: http.get(f"{API}/jobs/{job['id']}").json()["expired"])


def test_a_full_store_fails_the_job_clearly_and_the_sweep_frees_space_first(full_store):
    """ENOSPC comes from the kernel itself: the run writes to /dev/full, which answers every
    write with "No space left on device" (no tmpfs can be mounted here without root)."""
    with httpx.Client(base_url=full_store.url, timeout=60) as http:
        kept = run_job(http, "blob", size=20000, tag="kept")
        assert kept["state"] == "done"
        failed = run_job(http, "diskfull")
        assert failed["state"] == "failed" and failed["error"]["type"] == "store_full"
        assert failed["error"]["message"].startswith("store full")
        assert http.get("/healthz").status_code == 200  # the server keeps answering
        # the sweep ran at once and evicted the least recently used result
        until(lambda: http.get(f"{API}/jobs/{kept['id']}").json()["expired"])
        assert run_job(http, "blob", size=20000, tag="after")["state"] == "done"
        # nothing left to evict: the next full store refuses new jobs, and says why
        assert gc(full_store, "--max-age", "0", "--grace", "0").returncode == 0  # expire all
        assert run_job(http, "diskfull", size=10)["state"] == "failed"
        refused = http.post(f"{API}/services/blob/jobs",
                            json={"parameters": {"size": 100, "tag": "refused"}})
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["code"] == "store_full"
        assert int(refused.headers["Retry-After"]) > 0
        assert http.get(f"{API}/jobs/{failed['id']}").status_code == 200
