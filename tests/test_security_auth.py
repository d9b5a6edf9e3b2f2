"""Authorization against a real `astroflow serve`: who may list, cancel, share and monitor.

Each test here failed on the server before issue 21 (item 2): anonymous callers listed and
cancelled everyone's jobs, identical requests to a restricted service shared one job record
between users, ``/healthz`` showed the database's path and ``/metrics`` could not be closed.
The matrix at the end sends every route of the OpenAPI document bad, foreign and good tokens.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from server_process import SECRET, ServerProcess

API = "/api/v1"
TEAM = "secret-team"      # the role tests/services/private (service "hidden") needs
MONITOR = "monitor"       # this server's ASTROFLOW_METRICS_ROLE
OPERATOR = "operator"     # the default ServerConfig.operator_role


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"ASTROFLOW_METRICS_ROLE": MONITOR, "ASTROFLOW_OFFLINE": "1"}
    with ServerProcess(tmp_path_factory.mktemp("security"), env=env).running() as process:
        yield process


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def token(sub: str, *roles: str, ttl: float = 3600, key: str = SECRET) -> str:
    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time() + ttl)}
    return jwt.encode(claims, key, algorithm="HS256")


def unsigned_token(sub: str, *roles: str) -> str:
    """``alg: none``: the claims of a valid token, without any signature."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time() + 3600)}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


ALICE = bearer(token("alice", TEAM, MONITOR))
MALLORY = bearer(token("mallory", TEAM))
CAROL = bearer(token("carol", "other"))
OPS = bearer(token("olga", OPERATOR))


def submit(http: httpx.Client, service: str, headers: dict[str, str] | None = None,
           **parameters: Any) -> httpx.Response:
    return http.post(f"{API}/services/{service}/jobs", json={"parameters": parameters},
                     headers=headers or {})


def wait_done(http: httpx.Client, job_id: str, headers: dict[str, str] | None = None) -> dict:
    reply = http.get(f"{API}/jobs/{job_id}", params={"wait": 30}, headers=headers or {})
    assert reply.status_code == 200, reply.text
    return reply.json()


def slow_job(http: httpx.Client, headers: dict[str, str] | None = None) -> dict:
    """A public job that runs for a minute unless cancelled (a unique tag: never shared)."""
    reply = submit(http, "slow", headers, seconds=60, tag=uuid.uuid4().hex)
    assert reply.status_code == 201, reply.text
    return reply.json()


def from_address(server: ServerProcess, address: str) -> httpx.Client:
    """A client whose connections come from another loopback address (another visitor)."""
    return httpx.Client(base_url=server.url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=address))


# --- listing -------------------------------------------------------------------------------

def test_only_operators_list_everyones_jobs(http: httpx.Client) -> None:
    alices = slow_job(http, ALICE)
    try:
        for headers in ({}, CAROL, MALLORY):
            refused = http.get(f"{API}/jobs", params={"mine": "false"}, headers=headers)
            assert refused.status_code == 403, refused.text
            assert OPERATOR in refused.json()["error"]["message"]
        assert http.get(f"{API}/jobs", params={"mine": "false"},
                        headers=bearer("garbage")).status_code == 401
        everyone = http.get(f"{API}/jobs", params={"mine": "false"}, headers=OPS)
        assert everyone.status_code == 200
        assert alices["id"] in [j["id"] for j in everyone.json()]
        # mine=true stays: one's own jobs, and an anonymous caller gets none of alice's.
        assert alices["id"] in [j["id"] for j in http.get(f"{API}/jobs", headers=ALICE).json()]
        assert alices["id"] not in [j["id"] for j in http.get(f"{API}/jobs").json()]
    finally:
        http.delete(f"{API}/jobs/{alices['id']}", headers=ALICE)


# --- cancelling ----------------------------------------------------------------------------

def test_only_the_submitter_or_an_operator_cancels(http: httpx.Client) -> None:
    job = slow_job(http, ALICE)
    url = f"{API}/jobs/{job['id']}"
    # Bob sends the identical request: he joins alice's job, which does not make it his.
    joined = submit(http, "slow", bearer(token("bob")), **job["parameters"])
    assert joined.status_code == 200 and joined.json()["id"] == job["id"]
    for headers in ({}, bearer(token("bob")), CAROL):
        refused = http.delete(url, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "not yours" in refused.json()["error"]["message"]
    assert http.delete(url, headers=bearer("garbage")).status_code == 401
    assert http.get(url).json()["state"] in ("queued", "running")  # still going
    assert http.delete(url, headers=ALICE).status_code == 200
    assert wait_done(http, job["id"])["state"] == "cancelled"
    # An operator may cancel anyone's job.
    other = slow_job(http, bearer(token("dave")))
    assert http.delete(f"{API}/jobs/{other['id']}", headers=OPS).status_code == 200
    assert wait_done(http, other["id"])["state"] == "cancelled"


def test_anonymous_jobs_are_cancelled_only_from_their_address(server: ServerProcess,
                                                              http: httpx.Client) -> None:
    job = slow_job(http)
    url = f"{API}/jobs/{job['id']}"
    with from_address(server, "127.0.0.2") as stranger:
        assert stranger.get(url).status_code == 200  # the id is a capability for reading
        refused = stranger.delete(url)
        assert refused.status_code == 403 and "not yours" in refused.json()["error"]["message"]
        # Nor does a stranger's listing show it.
        assert job["id"] not in [j["id"] for j in stranger.get(f"{API}/jobs").json()]
    assert http.delete(url, headers=ALICE).status_code == 403  # signed in is someone else
    assert http.delete(url).status_code == 200                   # the same anonymous visitor
    assert wait_done(http, job["id"])["state"] == "cancelled"


# --- restricted services never share a job between users ----------------------------------

def test_restricted_service_keeps_identical_requests_apart(http: httpx.Client) -> None:
    first = submit(http, "hidden", ALICE, x=4.25)
    assert first.status_code == 201, first.text
    alices = wait_done(http, first.json()["id"], ALICE)
    assert alices["state"] == "done"
    theirs = submit(http, "hidden", MALLORY, x=4.25)
    assert theirs.status_code == 201, theirs.text  # a job of mallory's own, not alice's
    assert theirs.json()["id"] != alices["id"]
    assert alices["id"] not in theirs.text
    assert http.get(f"{API}/jobs/{alices['id']}", headers=MALLORY).status_code == 404
    again = submit(http, "hidden", ALICE, x="4.25")  # alice herself still hits her cache
    assert again.status_code == 200 and again.json()["id"] == alices["id"]
    assert again.json()["cached"] is True
    # Public services keep sharing identical requests.
    public = wait_done(http, submit(http, "quick", ALICE, x=4.75, n=2).json()["id"])
    assert submit(http, "quick", MALLORY, x=4.75, n=2).json()["id"] == public["id"]


# --- health and metrics --------------------------------------------------------------------

def test_healthz_names_no_path_or_url(http: httpx.Client, server: ServerProcess) -> None:
    reply = http.get("/healthz")
    assert reply.status_code == 200
    health = reply.json()
    assert health["status"] == "ok" and health["store"] == "sqlite"
    assert {"services", "queued", "running", "workers"} <= set(health)
    text = reply.text
    assert str(server.data_dir) not in text and "/" not in text and "://" not in text


def test_metrics_need_the_configured_role(http: httpx.Client) -> None:
    anonymous = http.get("/metrics")
    assert anonymous.status_code == 401 and MONITOR in anonymous.json()["error"]["message"]
    assert http.get("/metrics", headers=bearer("garbage")).status_code == 401
    wrong = http.get("/metrics", headers=CAROL)
    assert wrong.status_code == 403 and MONITOR in wrong.json()["error"]["message"]
    allowed = http.get("/metrics", headers=ALICE)
    assert allowed.status_code == 200 and "astroflow_jobs" in allowed.text


# --- the matrix: every route, every kind of caller -----------------------------------------

BAD_TOKENS = {
    "garbage": bearer("not-a-token"),
    "expired": bearer(token("alice", TEAM, MONITOR, ttl=-3600)),
    "alg-none": bearer(unsigned_token("alice", TEAM, MONITOR)),
    "wrong-secret": bearer(token("alice", TEAM, MONITOR, key="another-secret-of-32-bytes-or-more")),
}
CALLERS = {"anonymous": {}, "wrong-role": CAROL, "other-user": MALLORY, "owner": ALICE}
OK = range(200, 300)
DENIED = (403, 404)
MMODA_DENIED = (400, 403)  # the dispatcher facade answers as MMODA does (oda_api's exceptions)


@dataclass
class Case:
    """One request and the status range each caller must get (``None``: only no 5xx)."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    files: Any = None
    expect: dict[str, Any] = field(default_factory=dict)
    bad_token: Any = (401,)  # what a refused token gets; None where no token is read


def job_case(method: str, path: str, dispatch: bool = False, **kw: Any) -> Case:
    """A restricted job: only its owner reads it."""
    denied = MMODA_DENIED if dispatch else DENIED
    return Case(method, path, expect={"anonymous": denied, "wrong-role": denied,
                                      "other-user": denied, "owner": OK},
                bad_token=(403,) if dispatch else (401,), **kw)


def service_case(method: str, path: str, dispatch: bool = False, **kw: Any) -> Case:
    """A restricted service: every caller holding its role uses it."""
    denied = MMODA_DENIED if dispatch else DENIED
    return Case(method, path, expect={"anonymous": denied, "wrong-role": denied,
                                      "other-user": OK, "owner": OK},
                bad_token=(403,) if dispatch else (401,), **kw)


def same_for_all(method: str, path: str, status: Any, bad_token: Any = (401,),
                 **kw: Any) -> Case:
    return Case(method, path, expect=dict.fromkeys(CALLERS, status), bad_token=bad_token, **kw)


def matrix(job_id: str) -> list[Case]:
    job = f"{API}/jobs/{job_id}"
    hidden = {"instrument": "hidden", "product_type": "hidden"}
    poll = {**hidden, "x": 3.0, "query_status": "ready", "job_id": job_id}
    dispatch_files = {"job_id": job_id, "file_list": "y", "return_archive": "False"}
    return [
        same_for_all("GET", f"{API}/services", OK),
        service_case("GET", f"{API}/services/hidden"),
        service_case("POST", f"{API}/services/hidden/jobs", json={"parameters": {"x": 3.0}}),
        same_for_all("GET", f"{API}/jobs", OK, params={"mine": "true"}),
        same_for_all("GET", f"{API}/jobs", (403,), params={"mine": "false"}),
        job_case("GET", job),
        job_case("GET", f"{job}/events"),
        job_case("GET", f"{job}/products/y", params={"format": "json"}),
        job_case("GET", f"{job}/products/y/preview"),
        job_case("GET", f"{job}/notebook"),
        job_case("GET", f"{job}/provenance"),
        job_case("GET", f"{job}/log"),
        job_case("GET", f"{job}/archive"),
        job_case("GET", f"{job}/code"),
        job_case("DELETE", job),  # done already: the owner's cancel changes nothing
        same_for_all("POST", f"{API}/uploads", None, files={"file": ("a.txt", b"1 2 3\n")}),
        same_for_all("GET", f"{API}/registry", (404,)),  # this server follows no repository
        same_for_all("POST", f"{API}/registry/update", (404,)),
        same_for_all("POST", f"{API}/registry/hooks/gitlab", (404,), bad_token=None),
        same_for_all("GET", f"{API}/resolve", OK, bad_token=None, params={"name": "Crab"}),
        service_case("GET", f"{API}/services/hidden/code", params={"x": 3.0}),
        service_case("POST", f"{API}/services/hidden/code", json={"parameters": {"x": 3.0}}),
        same_for_all("GET", "/healthz", OK, bad_token=None),
        same_for_all("GET", f"{API}/auth", OK),  # sign-in (issue 18): what is offered
        same_for_all("POST", f"{API}/auth/login", (401,), bad_token=None,
                     json={"username": "nobody", "password": "wrong"}),
        Case("POST", f"{API}/auth/tokens", json={"name": "matrix", "ttl": 3600, "roles": []},
             expect={"anonymous": (401,), "wrong-role": OK, "other-user": OK, "owner": OK}),
        same_for_all("GET", f"{API}/auth/jwks", OK, bad_token=None),
        Case("GET", "/metrics", expect={"anonymous": (401,), "wrong-role": (403,),
                                        "other-user": (403,), "owner": OK}),
        job_case("GET", "/dispatch-data/run_analysis", dispatch=True, params=poll),
        job_case("POST", "/dispatch-data/run_analysis", dispatch=True, json=poll),
        same_for_all("GET", "/dispatch-data/instr-list", OK, bad_token=(403,)),
        same_for_all("GET", "/dispatch-data/api/instr-list", OK, bad_token=(403,)),
        service_case("GET", "/dispatch-data/api/par-names", dispatch=True, params=hidden),
        service_case("GET", "/dispatch-data/meta-data", dispatch=True, params=hidden),
        service_case("GET", "/dispatch-data/api/meta-data", dispatch=True, params=hidden),
        job_case("GET", "/dispatch-data/download_products", dispatch=True,
                 params=dispatch_files),
        job_case("POST", "/dispatch-data/download_products", dispatch=True,
                 json=dispatch_files),
        *nb2workflow_cases(job_id),
    ]


# nb2workflow's backend API (left out of the OpenAPI document: nb2workflow's contract).
NB2WORKFLOW_ROUTES = {
    (method, prefix + path)
    for prefix in ("", "/nb2workflow/{repository}")
    for method, path in (("get", "/api/v1.0/options"), ("get", "/api/v1.0/get/{target}"),
                         ("get", "/trace/{job}/{target}"))
} | {("get", "/health"), ("get", "/nb2workflow/{repository}/health"),
     ("get", "/nb2workflow/{repository}"), ("get", "/nb2workflow/{repository}/")}


def nb2workflow_cases(job_id: str) -> list[Case]:
    """As nb2workflow answers: a target the caller may not use is unknown (400 "target not
    known", as nb2workflow says of any unknown target), a repository with nothing the caller
    may use does not exist (404), a job not theirs has no trace (404), a bad token is
    refused (403)."""
    cases = [same_for_all("GET", "/health", OK, bad_token=None)]
    for prefix in ("", "/nb2workflow/private"):
        options_denied = (404,) if prefix else OK   # the root lists only what they may use
        cases += [
            Case("GET", f"{prefix}/api/v1.0/options",
                 expect={"anonymous": options_denied, "wrong-role": options_denied,
                         "other-user": OK, "owner": OK}, bad_token=(403,)),
            Case("GET", f"{prefix}/api/v1.0/get/hidden", params={"x": 3.0},
                 expect={"anonymous": (400,), "wrong-role": (400,), "other-user": OK,
                         "owner": OK}, bad_token=(403,)),
            Case("GET", f"{prefix}/trace/nb2w-{job_id}/hidden",
                 expect={"anonymous": DENIED, "wrong-role": DENIED, "other-user": DENIED,
                         "owner": OK}, bad_token=(404,)),
        ]
    for path in ("/nb2workflow/private", "/nb2workflow/private/",
                 "/nb2workflow/private/health"):
        ok_for_all = path.endswith("health")
        cases.append(Case("GET", path, expect={
            "anonymous": OK if ok_for_all else DENIED,
            "wrong-role": OK if ok_for_all else DENIED, "other-user": OK, "owner": OK},
            bad_token=None if ok_for_all else (403,)))
    return cases


def route_of(case: Case, job_id: str) -> tuple[str, str]:
    """The OpenAPI template a case's concrete path stands for."""
    path = case.path.replace(job_id, "{job_id}").replace("/services/hidden", "/services/{name}")
    path = path.replace("/products/y", "/products/{name}")
    path = path.replace("/nb2workflow/private", "/nb2workflow/{repository}")
    path = path.replace("/api/v1.0/get/hidden", "/api/v1.0/get/{target}")
    path = path.replace("/trace/nb2w-{job_id}/hidden", "/trace/{job}/{target}")
    return case.method.lower(), path


def test_auth_matrix_covers_every_route(http: httpx.Client) -> None:
    job_id = "0" * 32
    spec = http.get("/openapi.json").json()
    routes = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    routes |= {("get", "/dispatch-data/run_analysis"), ("post", "/dispatch-data/run_analysis")}
    routes |= NB2WORKFLOW_ROUTES
    covered = {route_of(case, job_id) for case in matrix(job_id)}
    assert routes - covered == set(), "routes without an authorization case: add them below"
    assert covered - routes == set()


def test_auth_matrix(http: httpx.Client) -> None:
    created = submit(http, "hidden", ALICE, x=3.0)
    assert created.status_code in (200, 201), created.text
    job_id = wait_done(http, created.json()["id"], ALICE)["id"]
    failures = []
    for case in matrix(job_id):
        for who, headers in {**CALLERS, **BAD_TOKENS}.items():
            reply = http.request(case.method, case.path, params=case.params, json=case.json,
                                 files=case.files, headers=headers)
            expected = case.expect[who] if who in CALLERS else case.bad_token
            if reply.status_code >= 500 or (expected is not None
                                            and reply.status_code not in expected):
                failures.append(f"{case.method} {case.path} as {who}: {reply.status_code} "
                                f"{reply.text[:200]}")
    assert not failures, "\n".join(failures)
