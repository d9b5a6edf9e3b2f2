"""Jobs made through the real store, with real files in a real artifact store, for the
storage lifecycle tests (no run: the sweep only sees records and files)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx

from astroflow.jobs.artifacts import ArtifactStore
from astroflow.jobs.store import JobStore

API = "/api/v1"
LIFECYCLE_SERVICES = Path(__file__).resolve().parent / "lifecycle_services"


def ended_job(store: JobStore, artifacts: ArtifactStore, *, service: str = "svc",
              size: int = 1000, state: str = "done", finished: float | None = None,
              requester: str | None = "alice", key: str | None = None,
              scratch: bool = False) -> str:
    """A job submitted, claimed and ended ``state`` at ``finished``, with a product of
    ``size`` bytes, its notebook, and (``scratch``) a leftover scratch folder."""
    key = key or uuid.uuid4().hex
    job, _ = store.submit(service=service, version="v1", cache_key=key, parameters={"k": key},
                          owner=None, requester=requester)
    claimed = store.claim_next("test:1", job_dir_prefix=artifacts.jobs_prefix)
    assert claimed is not None and claimed.id == job.id
    folder = artifacts.job_dir(job.id)
    (folder / "products").mkdir(parents=True)
    (folder / "products" / "table.fits").write_bytes(b"x" * size)
    (folder / "executed.ipynb").write_text("{}")
    if scratch:
        (folder / "work").mkdir()
        (folder / "work" / "tmp.dat").write_bytes(b"s" * 100)
    artifacts.commit(job.id)
    stored = artifacts.usage(job.id)[0]
    assert store.finish(job.id, state, at=finished or time.time(), stored_bytes=stored,
                        products=[{"name": "table"}] if state == "done" else [])
    return job.id


def run_job(http: httpx.Client, service: str, headers: dict | None = None,
            **parameters) -> dict:
    reply = http.post(f"{API}/services/{service}/jobs", json={"parameters": parameters},
                      headers=headers or {})
    assert reply.status_code in (200, 201), reply.text
    return http.get(f"{API}/jobs/{reply.json()['id']}", params={"wait": 30}).json()
