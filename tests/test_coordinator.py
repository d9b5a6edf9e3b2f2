"""Services that combine others: sub-jobs through the server's own API, never a deadlock.

A real `astroflow serve` with ONE worker runs three coordinator jobs at once, each of which
submits sub-jobs and waits for them: if coordinators held worker slots, the sub-jobs could
never start.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from server_process import ServerProcess

COORDINATOR = '''# %% [markdown]
# # Combine
# Submits sub-jobs to this server and adds their results.

# %% tags=["parameters"]
# oda:coordinator true
# oda:time_limit 60
n = 2  # oda:Integer
tag = "a"  # oda:String

# %%
import os
import time

import httpx

api = os.environ["ASTROFLOW_API_URL"]
ids = [httpx.post(f"{api}/api/v1/services/square/jobs",
                  json={"parameters": {"x": i, "tag": tag}}).json()["id"] for i in range(n)]
total = 0.0
for job_id in ids:
    job = httpx.get(f"{api}/api/v1/jobs/{job_id}", params={"wait": 30}, timeout=40).json()
    value = httpx.get(f"{api}/api/v1/jobs/{job_id}/products/y", params={"format": "json"}).json()
    total += value["value"]
sub_jobs = ",".join(ids)

# %% tags=["outputs"]
total  # oda:Float
sub_jobs  # oda:String
'''

SQUARE = '''# %% [markdown]
# # Square

# %% tags=["parameters"]
x = 1.0  # oda:Float
tag = "a"  # oda:String

# %%
import time

time.sleep(0.3)
y = x * x

# %% tags=["outputs"]
y  # oda:Float
'''


def test_coordinators_never_starve_their_sub_jobs(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "combine.py").write_text(COORDINATOR)
    (repo / "square.py").write_text(SQUARE)
    server = ServerProcess(tmp_path / "data", services=[repo], workers=1)
    with server.running(), httpx.Client(base_url=server.url, timeout=30) as client:
        ids = [client.post("/api/v1/services/combine/jobs",
                           json={"parameters": {"n": 3, "tag": tag}}).json()["id"]
               for tag in ("a", "b", "c")]
        deadline = time.monotonic() + 60
        jobs = []
        for job_id in ids:
            job = client.get(f"/api/v1/jobs/{job_id}", params={"wait": 50}).json()
            jobs.append(job)
        assert time.monotonic() < deadline
        assert [j["state"] for j in jobs] == ["done"] * 3, [j.get("error") for j in jobs]
        for job in jobs:
            total = client.get(f"/api/v1/jobs/{job['id']}/products/total",
                               params={"format": "json"}).json()["value"]
            assert total == 0 + 1 + 4
            subs = client.get(f"/api/v1/jobs/{job['id']}/products/sub_jobs",
                              params={"format": "json"}).json()["value"].split(",")
            for sub in subs:  # each sub-job is a job of its own, visible by its id
                assert client.get(f"/api/v1/jobs/{sub}").json()["state"] == "done"


def test_runs_know_the_api_url(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "where.py").write_text('# %% tags=["parameters"]\nx = 1  # oda:Integer\n\n# %%\n'
                                   'import os\nurl = os.environ["ASTROFLOW_API_URL"]\n\n'
                                   '# %% tags=["outputs"]\nurl  # oda:String\n')
    server = ServerProcess(tmp_path / "data", services=[repo])
    with server.running(), httpx.Client(base_url=server.url, timeout=30) as client:
        job = client.post("/api/v1/services/where/jobs", json={"parameters": {}}).json()
        job = client.get(f"/api/v1/jobs/{job['id']}", params={"wait": 30}).json()
        assert job["state"] == "done", job
        url = client.get(f"/api/v1/jobs/{job['id']}/products/url",
                         params={"format": "json"}).json()["value"]
    assert url == server.url
    assert Path(server.data_dir).exists()
