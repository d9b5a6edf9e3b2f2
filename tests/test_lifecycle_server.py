"""The storage lifecycle in real `astroflow serve` processes (SQLite): results expire by the
operator's policy (the record stays, products answer 410, the same request recomputes),
and quotas refuse new jobs with a message naming the limit."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from lifecycle_helpers import API, run_job
from polling import until
from server_process import SECRET, ServerProcess


def bearer(sub: str, *roles: str) -> dict[str, str]:
    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time() + 600)}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@pytest.fixture(scope="module")
def expiring(tmp_path_factory):
    """Results kept 2 s, swept every second; 3 new jobs a day per caller, operators exempt."""
    server = ServerProcess(tmp_path_factory.mktemp("expiring"), workers=1,
                           env={"ASTROFLOW_MAX_AGE": "2", "ASTROFLOW_GC_INTERVAL": "1",
                                "ASTROFLOW_IN_USE_GRACE": "0",
                                "ASTROFLOW_QUOTA_JOBS_PER_DAY": "3",
                                "ASTROFLOW_QUOTA_EXEMPT_ROLES": "operator"})
    with server.running(), httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def test_expired_results_answer_410_and_the_same_request_recomputes(expiring):
    http = expiring
    job = run_job(http, "quick", x=7.0, n=3)
    assert job["state"] == "done" and job["expired"] is None
    product = f"{API}/jobs/{job['id']}/products/table"
    assert http.get(product, params={"format": "ecsv"}).status_code == 200
    record = until(lambda: (r := http.get(f"{API}/jobs/{job['id']}").json())["expired"] and r)
    assert record["state"] == "done" and record["parameters"] == {"x": 7.0, "n": 3}
    assert record["expired"]["message"] == "expired: resubmit to recompute"
    for path in (product, f"{product}/preview", f"{API}/jobs/{job['id']}/notebook",
                 f"{API}/jobs/{job['id']}/archive"):
        gone = http.get(path)
        assert gone.status_code == 410, (path, gone.text)
        assert gone.json()["error"]["code"] == "expired"
        assert "resubmit to recompute" in gone.json()["error"]["message"]
    again = run_job(http, "quick", x=7.0, n=3)
    assert again["id"] != job["id"] and again["state"] == "done" and not again["cached"]
    assert http.get(f"{API}/jobs/{again['id']}/products/table").status_code == 200


def test_jobs_per_day_quota_names_the_limit_and_operators_are_exempt(expiring):
    http = expiring
    alice = bearer("alice")
    for n in (1, 2, 3):
        run_job(http, "quick", alice, x=100.0, n=n)
    refused = http.post(f"{API}/services/quick/jobs", json={"parameters": {"x": 100.0, "n": 4}},
                        headers=alice)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded" and "jobs_per_day" in error["message"]
    assert "at most 3 new jobs a day" in error["message"]
    assert int(refused.headers["Retry-After"]) > 0
    # MMODA's dispatcher facade refuses the same way, naming the limit (not a generic 400)
    mmoda = http.get("/dispatch-data/run_analysis",
                     params={"instrument": "quick", "product_type": "quick", "x": 100.0, "n": 5,
                             "query_status": "new", "token": alice["Authorization"][7:]})
    assert mmoda.status_code == 429 and "jobs_per_day" in mmoda.json()["error_message"]
    assert int(mmoda.headers["Retry-After"]) > 0
    boss = bearer("boss", "operator")
    for n in (1, 2, 3, 4):
        assert run_job(http, "quick", boss, x=200.0, n=n)["state"] == "done"
