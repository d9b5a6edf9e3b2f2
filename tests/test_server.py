"""The HTTP API against a real `astroflow serve` process (SQLite store, real workers)."""

from __future__ import annotations

import contextlib
import json
import time

import httpx
import jwt
import pytest
from pg import private_schema
from server_process import SECRET, ServerProcess

API = "/api/v1"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """The whole API suite runs once per store: embedded SQLite and PostgreSQL."""
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(private_schema()) if request.param == "postgresql" else None
        process = ServerProcess(tmp_path_factory.mktemp("server"), db=db).start()
        stack.callback(process.stop)
        yield process


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def token(sub: str = "alice", roles: tuple[str, ...] = (), ttl: float = 3600, key: str = SECRET) -> str:
    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time() + ttl)}
    return jwt.encode(claims, key, algorithm="HS256")


def bearer(*args, **kw) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*args, **kw)}"}


def submit(http, service: str, headers: dict | None = None, **parameters):
    return http.post(f"{API}/services/{service}/jobs", json={"parameters": parameters},
                     headers=headers or {})


def wait_done(http, job_id: str, headers: dict | None = None, seconds: float = 30) -> dict:
    reply = http.get(f"{API}/jobs/{job_id}", params={"wait": seconds}, headers=headers or {})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_services_listing_and_detail(http):
    services = {s["name"]: s for s in http.get(f"{API}/services").json()}
    assert {"quick", "slow", "boom", "limited", "whoami"} <= set(services)
    assert "hidden" not in services
    assert set(services["quick"]) == {"name", "title", "version", "messenger", "description"}
    detail = http.get(f"{API}/services/quick").json()
    assert [p["name"] for p in detail["parameters"]] == ["x", "n"]
    assert detail["schema"]["properties"]["n"]["maximum"] == 1000
    assert [o["name"] for o in detail["outputs"]] == ["y", "table"]
    assert http.get(f"{API}/services/nope").status_code == 404


def test_submit_run_and_cache(http):
    first = submit(http, "quick", x=2.5, n=3)
    assert first.status_code == 201, first.text
    job = first.json()
    assert job["state"] in ("queued", "running", "done") and job["cached"] is False
    done = wait_done(http, job["id"])
    assert done["state"] == "done", done
    assert done["parameters"] == {"x": 2.5, "n": 3}
    products = {p["name"]: p for p in done["products"]}
    assert products["table"]["type"] == "table" and "fits" in products["table"]["formats"]
    # The same request spelled differently: served from cache at once.
    again = submit(http, "quick", x="2.5", n="3")
    assert again.status_code == 200 and again.json()["cached"] is True
    assert again.json()["id"] == job["id"]


def test_identical_request_joins_running_job(http):
    a = submit(http, "slow", seconds=1.5, tag="join").json()
    b = submit(http, "slow", seconds="1.5", tag="join")
    assert b.status_code == 200 and b.json()["id"] == a["id"] and b.json()["cached"] is False
    assert wait_done(http, a["id"])["state"] == "done"


def test_invalid_parameters_are_422_with_every_field(http):
    reply = submit(http, "quick", x="abc", n=5000, bogus=1)
    assert reply.status_code == 422
    errors = {e["field"]: e for e in reply.json()["error"]["errors"]}
    assert set(errors) == {"x", "n", "bogus"}
    assert errors["n"]["value"] == 5000 and "1000" in errors["n"]["reason"]
    bad_body = http.post(f"{API}/services/quick/jobs", content=b"{not json",
                         headers={"content-type": "application/json"})
    assert bad_body.status_code == 422 and "error" in bad_body.json()
    wrong_shape = http.post(f"{API}/services/quick/jobs", json={"parameters": [1, 2]})
    assert wrong_shape.status_code == 422


def test_failures_are_reported_and_never_cached(http):
    bug = wait_done(http, submit(http, "boom", mode="bug").json()["id"])
    assert bug["state"] == "failed"
    assert bug["error"]["analysis"] is False and "ValueError: boom" in bug["error"]["message"]
    assert "Traceback" in bug["error"]["traceback"] or "boom" in bug["error"]["traceback"]
    analysis = wait_done(http, submit(http, "boom", mode="analysis").json()["id"])
    assert analysis["error"]["analysis"] is True
    assert analysis["error"]["message"] == "no data in this time range"
    retry = submit(http, "boom", mode="bug")
    assert retry.status_code == 201 and retry.json()["id"] != bug["id"]


def test_cancel_kills_the_run(http):
    job = submit(http, "slow", seconds=60, tag="cancel").json()
    for _ in range(100):
        if http.get(f"{API}/jobs/{job['id']}").json()["state"] == "running":
            break
        time.sleep(0.05)
    cancelled = http.delete(f"{API}/jobs/{job['id']}")
    assert cancelled.status_code == 200
    final = wait_done(http, job["id"], seconds=10)
    assert final["state"] == "cancelled"
    assert submit(http, "slow", seconds=60, tag="cancel").status_code == 201  # not served
    http.delete(f"{API}/jobs/{submit(http, 'slow', seconds=60, tag='cancel').json()['id']}")


def test_workflow_time_limit(http):
    final = wait_done(http, submit(http, "limited", seconds=30).json()["id"])
    assert final["state"] == "failed"
    assert "time limit exceeded" in final["error"]["message"]


def test_progress_is_stored_and_pushed_as_events(http, server):
    job = submit(http, "slow", seconds=1.0, tag="events").json()
    events = []
    with httpx.stream("GET", f"{server.url}{API}/jobs/{job['id']}/events", timeout=30) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                record = json.loads(line[6:])
                events.append((kind, record["state"], record["progress"]["fraction"]))
                if record["state"] in ("done", "failed", "cancelled"):
                    break
    assert events[-1][1] == "done"
    fractions = [f for k, _, f in events if k == "progress" and f is not None]
    assert fractions and fractions == sorted(fractions)


def test_long_poll_returns_early_when_done(http):
    job = submit(http, "slow", seconds=0.3, tag="poll").json()
    start = time.monotonic()
    assert wait_done(http, job["id"], seconds=30)["state"] == "done"
    assert time.monotonic() - start < 10


def test_auth_matrix(http):
    assert http.get(f"{API}/services", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    expired = http.get(f"{API}/services", headers=bearer(ttl=-100))
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    forged = http.get(f"{API}/services", headers=bearer(key="another-secret-of-32-bytes-or-more!!"))
    assert forged.status_code == 401
    # Restricted service: absent and 404 without the role, visible with it.
    assert http.get(f"{API}/services/hidden", headers=bearer(roles=("other",))).status_code == 404
    team = bearer("alice", roles=("secret-team",))
    names = [s["name"] for s in http.get(f"{API}/services", headers=team).json()]
    assert "hidden" in names
    job = submit(http, "hidden", headers=team, x=3.0).json()
    assert wait_done(http, job["id"], headers=team)["state"] == "done"
    # Another caller (even with the role) cannot see alice's restricted job.
    mallory = bearer("mallory", roles=("secret-team",))
    assert http.get(f"{API}/jobs/{job['id']}", headers=mallory).status_code == 404
    assert http.get(f"{API}/jobs/{job['id']}").status_code == 404
    mine = http.get(f"{API}/jobs", params={"mine": True}, headers=team).json()
    assert job["id"] in [j["id"] for j in mine]


def test_reads_of_ended_jobs_answer_as_the_api_does(http):
    """Anonymous reads of an ended public job take the fast path; the answer is the API's."""
    job = wait_done(http, submit(http, "quick", x=6.125, n=2).json()["id"])
    fast = http.get(f"{API}/jobs/{job['id']}")
    slow = http.get(f"{API}/jobs/{job['id']}", headers=bearer("carol"))  # a token: the full API
    assert fast.status_code == slow.status_code == 200
    assert fast.json() == slow.json() == job
    assert fast.headers["content-type"] == "application/json"
    assert "server-timing" in fast.headers
    assert http.get(f"{API}/jobs/{job['id']}", params={"wait": 5}).json() == job
    bad = http.get(f"{API}/jobs/{job['id']}", params={"wait": "soon"})
    assert bad.status_code == 422 and bad.json()["error"]["errors"][0]["field"] == "query.wait"
    expired = http.get(f"{API}/jobs/{job['id']}", headers=bearer(ttl=-100))
    assert expired.status_code == 401
    assert http.get(f"{API}/jobs/{'0' * 32}").status_code == 404


def test_token_reaches_only_declaring_workflow_and_is_part_of_cache_key(http, server):
    alice, bob = bearer("alice"), bearer("bob")
    a = wait_done(http, submit(http, "whoami", headers=alice).json()["id"], headers=alice)
    b = wait_done(http, submit(http, "whoami", headers=bob).json()["id"], headers=bob)
    assert a["id"] != b["id"]  # the caller's identity is part of the cache key here

    def seen(job):
        url = f"{API}/jobs/{job['id']}/products/token_seen"
        return http.get(url, params={"format": "json"}).json()["value"]

    assert (seen(a), seen(b)) == ("alice", "bob")
    # The run's scratch folder (where MMODA's context file with the token lives) is gone.
    job_dirs = [p for p in server.data_dir.rglob(a["id"]) if p.is_dir()]
    assert job_dirs and all((d / "executed.ipynb").exists() for d in job_dirs)
    assert not any((d / "work").exists() for d in job_dirs)
    nosy = wait_done(http, submit(http, "nosy", headers=alice).json()["id"], headers=alice)
    assert seen(nosy) == ""
    secret = http.get(f"{API}/jobs/{nosy['id']}/products/secret_seen", params={"format": "json"})
    assert secret.json()["value"] == ""  # the server's signing key never reaches a notebook
    # Without token access the identity is not in the key: bob gets alice's cached job.
    assert submit(http, "nosy", headers=bob).json()["id"] == nosy["id"]


def test_products_notebook_provenance(http):
    job = wait_done(http, submit(http, "quick", x=1.5, n=4).json()["id"])
    base = f"{API}/jobs/{job['id']}"
    fits = http.get(f"{base}/products/table", params={"format": "fits"})
    assert fits.status_code == 200 and fits.content[:6] == b"SIMPLE"
    assert "table.fits" in fits.headers["content-disposition"]
    csv = http.get(f"{base}/products/table", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and "value" in csv.text
    ecsv = http.get(f"{base}/products/table", params={"format": "ecsv"})
    assert "# %ECSV" in ecsv.text and "erg" in ecsv.text
    vot = http.get(f"{base}/products/table", params={"format": "votable"})
    assert b"VOTABLE" in vot.content
    bad = http.get(f"{base}/products/table", params={"format": "xlsx"})
    assert bad.status_code == 404 and "fits" in bad.json()["error"]["message"]
    assert http.get(f"{base}/products/nope").status_code == 404
    preview = http.get(f"{base}/products/table/preview").json()
    assert preview["kind"] == "table" and preview["nrows"] == 4
    notebook = http.get(f"{base}/notebook").json()
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in notebook["cells"])
    html = http.get(f"{base}/notebook", params={"format": "html"})
    assert html.status_code == 200 and "<html" in html.text.lower()
    prov = http.get(f"{base}/provenance").json()
    assert "activity" in prov and "entity" in prov


def test_health_metrics_openapi(http):
    assert http.get("/healthz").json()["status"] == "ok"
    metrics = http.get("/metrics")
    assert "astroflow_jobs" in metrics.text and "astroflow_queue_length" in metrics.text
    spec = http.get("/openapi.json").json()
    assert f"{API}/services/{{name}}/jobs" in spec["paths"]
    assert http.get("/docs").status_code == 200


def test_file_parameter_takes_an_upload(http):
    content = b"# my catalogue\n1 2 3\n4 5 6\n"
    # Uploads need a token on a server that verifies them (this one does).
    reply = http.post(f"{API}/uploads", files={"file": ("../../etc/cat alog.txt", content)},
                      headers=bearer("uploader"))
    assert reply.status_code == 201, reply.text
    upload = reply.json()
    assert upload["ref"].startswith("upload://") and upload["size"] == len(content)
    assert upload["filename"] == "cat_alog.txt"
    job = wait_done(http, submit(http, "filestat", catalogue=upload["ref"]).json()["id"])
    assert job["state"] == "done", job

    def value(name):
        url = f"{API}/jobs/{job['id']}/products/{name}"
        return http.get(url, params={"format": "json"}).json()["value"]

    assert value("n_bytes") == len(content) and value("first_line") == "# my catalogue"
    # A path on the server's disk is refused: only uploads reach a file parameter.
    refused = submit(http, "filestat", catalogue="/etc/passwd")
    assert refused.status_code == 422
    assert "upload the file first" in refused.json()["error"]["errors"][0]["reason"]


def test_api_docs_work_offline(http):
    page = http.get("/docs").text
    assert "cdn" not in page.lower()
    for asset in ("/static/vendor/swagger-ui/swagger-ui-bundle.js",
                  "/static/vendor/swagger-ui/swagger-ui.css"):
        assert asset in page and http.get(asset).status_code == 200


def test_mine_lists_only_the_callers_jobs(http):
    alices = submit(http, "quick", headers=bearer("alice"), x=7.25, n=2).json()
    anonymous = submit(http, "quick", x=7.5, n=2).json()
    mine = [j["id"] for j in http.get(f"{API}/jobs", params={"mine": True}).json()]
    assert anonymous["id"] in mine and alices["id"] not in mine
    hers = [j["id"] for j in http.get(f"{API}/jobs", params={"mine": True},
                                      headers=bearer("alice")).json()]
    assert alices["id"] in hers and anonymous["id"] not in hers
    # Everyone's jobs: for operators only (tests/test_security_auth.py has the refusals).
    everyone = [j["id"] for j in http.get(f"{API}/jobs", params={"mine": False},
                                          headers=bearer("olga", roles=("operator",))).json()]
    assert {alices["id"], anonymous["id"]} <= set(everyone)
