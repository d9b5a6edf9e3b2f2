"""Limits at the edge (issue 21, item 3), against a real `astroflow serve` process.

Each test is a finding on the server before these limits: a 20 MB parameter kept in full,
a 200 MB upload read before its 413, uploads without a token, inputs that gave a 500, and
no bound on how fast one caller submits. Requests that must be refused before their body is
read go over a raw socket, which counts what the client got to send.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from server_process import SECRET, TEST_SERVICES, ServerProcess

API = "/api/v1"
MiB = 1 << 20
UPLOAD_LIMIT = 1 * MiB
RATE_LIMIT = 60

EDGE_SERVICE = '''# %% [markdown]
# # Edge cases
# Parameters of each plain type without limits, for tests of the server's edge.

# %% tags=["parameters"]
x = 1.0  # oda:Float
k = 2  # oda:Integer
s = "a"  # oda:String
items: list = [1, 2]

# %%
out = len(s) + len(items)

# %% tags=["outputs"]
out  # oda:Integer
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("edge")
    services = root / "services"
    (services / "edgecases").mkdir(parents=True)
    (services / "edgecases" / "edgecases.py").write_text(EDGE_SERVICE)
    process = ServerProcess(root / "data", services=[TEST_SERVICES / "basics", services],
                            env={"ASTROFLOW_UPLOAD_LIMIT": str(UPLOAD_LIMIT),
                                 "ASTROFLOW_RATE_LIMIT": str(RATE_LIMIT)})
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def bearer(sub: str) -> dict[str, str]:
    claims = {"sub": sub, "roles": [], "exp": int(time.time() + 600)}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def settled_rss_kib(pid: int, timeout: float = 30) -> int:
    """RSS once it stops moving (within 512 KiB over 1.5 s)."""
    samples = [rss_kib(pid)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        samples.append(rss_kib(pid))
        if len(samples) >= 4 and max(samples[-4:]) - min(samples[-4:]) < 512:
            return samples[-1]
    return samples[-1]


def raw_post(server: ServerProcess, path: str, headers: dict[str, str],
             body: Iterator[bytes], chunked: bool = False,
             wait_first: float = 0.0) -> tuple[int | None, bytes, int]:
    """POST over a raw socket: ``(status or None if the connection closed first, response
    body, bytes of the request body sent)``. The answer is looked for before each chunk,
    so the count is what the server let in before refusing (plus what sockets buffer)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if chunked:
        head.append("Transfer-Encoding: chunked")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0
    answered = bool(select.select([sock], [], [], wait_first)[0]) if wait_first else False
    # The server may close while we send (that is the refusal) or before it has answered all.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for chunk in body:
            if answered or select.select([sock], [], [], 0)[0]:
                break
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            sent += len(chunk)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
    reply = b""
    with contextlib.closing(sock), contextlib.suppress(ConnectionResetError, TimeoutError):
        while data := sock.recv(65536):
            reply += data
            if b"\r\n\r\n" in reply and _complete(reply):
                break
    if not reply.startswith(b"HTTP/1.1 "):
        return None, b"", sent
    return int(reply[9:12]), reply.split(b"\r\n\r\n", 1)[1], sent


def _complete(reply: bytes) -> bool:
    head, _, rest = reply.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(rest) >= int(line.split(b":")[1])
    return False


def repeated(total: int, chunk: bytes) -> Iterator[bytes]:
    for _ in range(total // len(chunk)):
        yield chunk


def multipart(field: str, filename: str, size: int, boundary: str = "edgeboundary"
              ) -> tuple[dict[str, str], Iterator[bytes]]:
    """Headers and a generated multipart body holding one file of ``size`` bytes."""
    start = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
             f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    end = f"\r\n--{boundary}--\r\n".encode()

    def parts() -> Iterator[bytes]:
        yield start
        yield from repeated(size, b"x" * 65536)
        yield end

    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, parts()


# --- sizes ----------------------------------------------------------------------------------

def test_twenty_megabyte_parameters_do_not_grow_the_server(server: ServerProcess,
                                                           http: httpx.Client) -> None:
    """10 jobs with a 20 MB string once added 840 MB to the server: now each is refused
    with 413 on its Content-Length, and chunked ones at the body limit."""
    warm = http.post(f"{API}/services/slow/jobs", json={"parameters": {"seconds": 0,
                                                                     "tag": "warm"}}).json()
    assert http.get(f"{API}/jobs/{warm['id']}", params={"wait": 30}).json()["state"] == "done"
    before = settled_rss_kib(server.process.pid)  # after a first job, the server warms up
    tag = b"y" * (20 * MiB)
    for i in range(10):
        body = b'{"parameters": {"seconds": 0, "tag": "' + tag + b'%d"}}' % i
        status, reply, sent = raw_post(server, f"{API}/services/slow/jobs",
                                       {"Content-Type": "application/json",
                                        "Content-Length": str(len(body))},
                                       iter([body[j:j + MiB] for j in range(0, len(body), MiB)]),
                                       chunked=False, wait_first=2.0)
        assert status == 413, (status, reply[:300])
        assert json.loads(reply)["error"]["code"] == "body_too_large"
        assert sent == 0  # refused on the header, before the body
    for _ in range(3):  # no Content-Length: counted as it arrives, cut off at 1 MiB
        status, reply, sent = raw_post(server, f"{API}/services/slow/jobs",
                                       {"Content-Type": "application/json"},
                                       repeated(20 * MiB, b"z" * 65536), chunked=True)
        assert status in (413, None), reply[:300]
        assert sent < 12 * MiB, sent
    grown = rss_kib(server.process.pid) - before
    assert grown < 8 * 1024, f"server RSS grew by {grown} KiB"


def test_parameter_value_over_the_limit_is_413_naming_it(http: httpx.Client) -> None:
    reply = http.post(f"{API}/services/slow/jobs",
                      json={"parameters": {"seconds": 0, "tag": "t" * (100 * 1024)}})
    assert reply.status_code == 413, reply.text
    error = reply.json()["error"]
    assert error["code"] == "parameter_too_large"
    assert error["errors"][0]["field"] == "tag" and "64 KiB" in error["errors"][0]["reason"]
    ok = http.post(f"{API}/services/slow/jobs",
                   json={"parameters": {"seconds": 0, "tag": "t" * (60 * 1024)}})
    assert ok.status_code in (200, 201), ok.text


def test_declared_large_upload_is_refused_before_reading(server: ServerProcess) -> None:
    headers, body = multipart("file", "big.bin", 200 * MiB)
    headers = {**headers, **bearer("uploader"), "Content-Length": str(200 * MiB + 300)}
    status, reply, sent = raw_post(server, f"{API}/uploads", headers, body, wait_first=2.0)
    assert status == 413, reply[:300]
    assert json.loads(reply)["error"]["code"] == "upload_too_large"
    assert sent == 0


@pytest.mark.parametrize("path", [f"{API}/uploads", "/dispatch-data/run_analysis"])
def test_chunked_large_upload_is_cut_off_at_the_limit(server: ServerProcess, path: str) -> None:
    """A 200 MB chunked upload is refused after a few MB at most, not read in full."""
    headers, body = multipart("file" if path.endswith("uploads") else "catalogue",
                              "big.bin", 200 * MiB)
    headers = {**headers, **bearer("uploader")}
    start = time.monotonic()
    status, reply, sent = raw_post(server, path + ("?instrument=filestat" if "dispatch" in path
                                                   else ""), headers, body, chunked=True)
    assert status in (413, None), reply[:300]
    assert sent < 12 * MiB, f"the client sent {sent / MiB:.1f} MiB before the refusal"
    assert time.monotonic() - start < 20
    if status == 413:
        assert b"limit" in reply


def test_declared_large_dispatcher_upload_is_refused_at_once(server: ServerProcess) -> None:
    headers, body = multipart("catalogue", "big.bin", 200 * MiB)
    headers = {**headers, **bearer("uploader"), "Content-Length": str(200 * MiB + 300)}
    status, reply, sent = raw_post(server, "/dispatch-data/run_analysis?instrument=filestat",
                                   headers, body, wait_first=2.0)
    assert status == 413 and sent == 0, reply[:300]


# --- uploads need a token -------------------------------------------------------------------

def test_uploads_need_a_token_when_the_server_verifies_them(http: httpx.Client) -> None:
    files = {"file": ("a.txt", b"line one\n")}
    refused = http.post(f"{API}/uploads", files=files)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "unauthorized"
    bad = http.post(f"{API}/uploads", files=files, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    ok = http.post(f"{API}/uploads", files=files, headers=bearer("ana"))
    assert ok.status_code == 201, ok.text
    assert ok.json()["ref"].startswith("upload://")


def test_dispatcher_uploads_need_a_token(http: httpx.Client) -> None:
    fields = {"instrument": "filestat", "query_status": "new"}
    files = {"catalogue": ("a.txt", b"first\nsecond\n")}
    refused = http.post("/dispatch-data/run_analysis", data=fields, files=files)
    assert refused.status_code == 403, refused.text
    assert "token" in refused.json()["exit_status"]["message"]
    token = bearer("ana")["Authorization"].split()[1]
    ok = http.post("/dispatch-data/run_analysis", data={**fields, "token": token}, files=files)
    assert ok.status_code == 200, ok.text


# --- inputs that gave a 500 -----------------------------------------------------------------

DEEP = b"[" * 10_000 + b"]" * 10_000

# (raw JSON body, field named in the answer, a word of the reason)
FINDINGS = [
    (b'{"parameters": {"x": NaN}}', "x", "finite"),
    (b'{"parameters": {"x": Infinity}}', "x", "finite"),
    (b'{"parameters": {"x": -Infinity}}', "x", "finite"),
    (b'{"parameters": {"x": 1e400}}', "x", "range"),
    (b'{"parameters": {"x": "nan"}}', "x", "finite"),
    (b'{"parameters": {"x": "inf"}}', "x", "finite"),
    (b'{"parameters": {"x": ' + b"9" * 401 + b"}}", "x", "large"),
    (b'{"parameters": {"k": ' + b"9" * 401 + b"}}", "k", "range"),
    (b'{"parameters": {"k": "' + b"9" * 401 + b'"}}', "k", "range"),
    (b'{"parameters": {"k": 1e300}}', "k", "range"),
    (b'{"parameters": {"s": "\\ud800"}}', "s", "surrogate"),
    (b'{"parameters": {"\\udc00": 1}}', "parameters", "surrogate"),
    (b'{"parameters": {"items": ' + DEEP + b"}}", "body", "nested"),
    (b'{"parameters": {"items": ' + b"[" * 200 + b"]" * 200 + b"}}", "items", "nested"),
    (b'{"parameters": {"x": ' + b"9" * 5000 + b"}}", "x", "digits"),
    (b'{"parameters": {"s": ' + b"9" * 5000 + b"}}", "s", "digits"),
    (b'{"parameters": {"x": 1,', "body", "not valid JSON"),
    (b'{"parameters": {"x": 1}', "body", "not valid JSON"),
    (b"\xff\xfe{}", "body", "UTF-8"),
    (b"[1, 2]", "body", "JSON object"),
]


@pytest.mark.parametrize(("body", "field", "reason"), FINDINGS,
                         ids=[f"{i}-{f}-{r}" for i, (_, f, r) in enumerate(FINDINGS)])
def test_bad_inputs_are_422_naming_field_and_reason(http: httpx.Client, body: bytes, field: str,
                                                    reason: str) -> None:
    reply = http.post(f"{API}/services/edgecases/jobs", content=body,
                      headers={"Content-Type": "application/json"})
    assert reply.status_code == 422, reply.text[:500]
    error = reply.json()["error"]
    assert error["code"] in ("invalid_parameters", "invalid_request")
    assert any(e["field"] == field and reason.lower() in e["reason"].lower()
               for e in error["errors"]), error


def test_the_server_still_answers_after_the_bad_inputs(http: httpx.Client) -> None:
    reply = http.post(f"{API}/services/edgecases/jobs",
                      json={"parameters": {"x": 2.5, "k": 2**62, "s": "ünïcode ✓",
                                           "items": [[1], {"a": [2]}]}})
    assert reply.status_code in (200, 201), reply.text


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"items": "[" * 10_000 + "]" * 10_000}, "items", "nested"),
    ({"items": "[" + "9" * 5000 + "]"}, "items", "JSON"),
    ({"x": "nan"}, "x", "finite"),
    ({"x": "9" * 401}, "x", "finite"),
    ({"k": "9" * 401}, "k", "range"),
    ({"s": "s" * (100 * 1024)}, "s", "limit"),
])
def test_dispatcher_form_fields_are_refused_with_field_and_reason(
        http: httpx.Client, fields: dict[str, str], field: str, reason: str) -> None:
    reply = http.post("/dispatch-data/run_analysis",
                      data={"instrument": "edgecases", "query_status": "new", **fields})
    assert reply.status_code in (400, 413), reply.text[:500]
    message = reply.json()["exit_status"]["message"]
    assert f"{field}:" in message and reason.lower() in message.lower(), message


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"instrument": "edgecases", "items": ' + DEEP + b"}", "nested"),
    (b'{"instrument": "edgecases",', "not valid JSON"),
    (b'{"instrument": "edgecases", "x": NaN}', "finite"),
    (b'{"instrument": "edgecases", "s": "\\ud800"}', "surrogate"),
])
def test_dispatcher_json_bodies_are_refused_with_the_reason(http: httpx.Client, body: bytes,
                                                            reason: str) -> None:
    reply = http.post("/dispatch-data/run_analysis", content=body,
                      headers={"Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text[:500]
    assert reason.lower() in reply.json()["exit_status"]["message"].lower()


# --- rate -----------------------------------------------------------------------------------

def test_submissions_past_the_rate_limit_get_429_with_retry_after(http: httpx.Client) -> None:
    headers = bearer("hasty")
    statuses = []
    for _ in range(RATE_LIMIT + 10):
        reply = http.post(f"{API}/services/quick/jobs", json={"parameters": {"x": 7.0}},
                          headers=headers)
        statuses.append(reply.status_code)
        if reply.status_code == 429:
            break
    assert statuses[-1] == 429 and len(statuses) >= RATE_LIMIT, statuses
    assert reply.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(reply.headers["retry-after"]) <= 60
    # Another caller has a bucket of its own.
    other = http.post(f"{API}/services/quick/jobs", json={"parameters": {"x": 7.0}},
                      headers=bearer("patient"))
    assert other.status_code in (200, 201), other.text
    # The dispatcher facade counts the same bucket.
    token = headers["Authorization"].split()[1]
    facade = http.post("/dispatch-data/run_analysis",
                       data={"instrument": "quick", "query_status": "new", "x": "7.0",
                             "token": token})
    assert facade.status_code == 429 and facade.headers["retry-after"]
