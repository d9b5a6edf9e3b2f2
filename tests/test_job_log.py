"""A job's log, its "download all" archive and its provenance, through a real server.

Each route answers its job's owner and nobody else as the job itself does (a restricted
service's job is private to who submitted it). None of the log and archive routes existed on
311d7db, and its provenance carried the server's absolute path to the notebook.
"""

from __future__ import annotations

import io
import json
import re
import textwrap
import time
import uuid
import zipfile
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import httpx
import jwt
import pytest
from server_process import SECRET, ServerProcess

API = "/api/v1"
TEAM = "chatty-team"

CHATTY = '''
# %% [markdown]
# # Chatty
# Prints as it goes, on stdout and stderr, then writes a table.

# %% tags=["parameters"]
lines = 8  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 100
pause = 0.25  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 5
tag = "a"  # oda:String

# %%
import sys
import time

from astropy.table import Table

for i in range(lines):
    print(f"step {i} of {lines}: Ångström ✓", flush=True)
    if i == 0:
        print("a warning on stderr", file=sys.stderr, flush=True)
    time.sleep(pause)
table = Table({"i": list(range(lines)), "value": [2.0 * i for i in range(lines)]})

# %% tags=["outputs"]
table  # oda:ODAAstropyTable
'''


def bearer(sub: str, *roles: str) -> dict[str, str]:
    claims = {"sub": sub, "roles": list(roles), "exp": int(time.time() + 3600)}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


ALICE = bearer("alice", TEAM)
MALLORY = bearer("mallory", TEAM)  # may use the service, but not see alice's jobs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    repo = tmp_path_factory.mktemp("viewer-services") / "chatty-repo"
    repo.mkdir()
    (repo / "astroflow.yaml").write_text(f"roles: [{TEAM}]\n")
    (repo / "chatty.py").write_text(textwrap.dedent(CHATTY).lstrip())
    with ServerProcess(tmp_path_factory.mktemp("viewer-server"), services=[repo]).running() as p:
        yield p


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def followed(http: httpx.Client) -> dict:
    """A job submitted by alice and its log, read in pieces while it ran."""
    reply = http.post(f"{API}/services/chatty/jobs", headers=ALICE,
                      json={"parameters": {"tag": uuid.uuid4().hex}})
    assert reply.status_code == 201, reply.text
    job = reply.json()
    pieces, offset, while_running = [], 0, []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = http.get(f"{API}/jobs/{job['id']}/log", params={"offset": offset}, headers=ALICE)
        assert log.status_code == 200, log.text
        body = log.json()
        assert body["offset"] == offset and body["next_offset"] >= offset
        pieces.append(body["text"])
        if body["text"] and body["state"] != "done":
            while_running.append(body["text"])
        offset = body["next_offset"]
        if body["complete"]:
            break
        time.sleep(0.1)
    return {"job": job, "text": "".join(pieces), "while_running": while_running,
            "size": offset}


def test_log_is_streamed_while_the_job_runs(http: httpx.Client, followed: dict) -> None:
    text = followed["text"]
    assert [line for line in text.splitlines() if line.startswith("step")] == [
        f"step {i} of 8: Ångström ✓" for i in range(8)]
    assert "a warning on stderr" in text
    assert followed["while_running"], "nothing of the log arrived before the job ended"
    job_id = followed["job"]["id"]
    links = http.get(f"{API}/jobs/{job_id}", headers=ALICE).json()["links"]
    assert links["log"] == f"{API}/jobs/{job_id}/log"  # the record says where, as for the rest
    assert links["archive"] == f"{API}/jobs/{job_id}/archive"
    whole = http.get(links["log"], headers=ALICE).json()
    assert whole["text"] == text and whole["complete"] and whole["size"] == followed["size"]
    # Reading from inside a multi-byte character never yields a broken one.
    cut = text.encode().index("Å".encode()) + 1
    piece = http.get(f"{API}/jobs/{job_id}/log", params={"offset": 0, "limit": cut},
                     headers=ALICE).json()
    assert piece["next_offset"] == cut - 1 and "\ufffd" not in piece["text"]
    past = http.get(f"{API}/jobs/{job_id}/log", params={"offset": 10**9}, headers=ALICE).json()
    assert past["text"] == "" and past["complete"]
    bad = http.get(f"{API}/jobs/{job_id}/log", params={"offset": -1}, headers=ALICE)
    assert bad.status_code == 422 and "offset" in bad.text


@pytest.mark.parametrize("route", ["log", "archive", "provenance",
                                   "provenance?format=summary"])
def test_only_the_owner_reads_log_archive_and_provenance(http: httpx.Client, followed: dict,
                                                         route: str) -> None:
    url = f"{API}/jobs/{followed['job']['id']}/{route}"
    assert http.get(url, headers=ALICE).status_code == 200
    assert http.get(url, headers=MALLORY).status_code == 404  # another user's private job
    assert http.get(url).status_code in (401, 404)  # no token: as every other job route
    assert http.get(url, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert http.get(f"{API}/jobs/{'0' * 32}/{route}", headers=ALICE).status_code == 404


def test_archive_holds_products_notebook_and_provenance(http: httpx.Client,
                                                        followed: dict) -> None:
    job_id = followed["job"]["id"]
    reply = http.get(f"{API}/jobs/{job_id}/archive", headers=ALICE)
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/zip"
    assert reply.headers["content-disposition"] == f'attachment; filename="chatty-{job_id}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    assert archive.testzip() is None
    names = set(archive.namelist())
    job = http.get(f"{API}/jobs/{job_id}", headers=ALICE).json()
    (table,) = job["products"]
    stored = {f"products/{Path(f).name}" for f in table.get("files", {}).values()} or {
        n for n in names if n.startswith("products/")}
    assert {"products/table.ecsv", "products/table.fits"} <= names
    assert stored <= names
    assert {"executed.ipynb", "provenance.json", "provenance.provn",
            "provenance-summary.json"} <= names
    notebook = json.loads(archive.read("executed.ipynb"))
    assert any("step 7 of 8" in "".join(o.get("text", "")) for c in notebook["cells"]
               for o in c.get("outputs", []))
    summary = json.loads(archive.read("provenance-summary.json"))
    files = {f["file"]: f["sha256"] for p in summary["products"] for f in p["files"]}
    assert files["table.ecsv"] == sha256(archive.read("products/table.ecsv")).hexdigest()
    prov = json.loads(archive.read("provenance.json"))
    assert f"jobs:{job_id}" in prov["activity"]
    assert archive.read("provenance.provn").startswith(b"document")


def test_provenance_is_readable_and_names_no_server_path(http: httpx.Client, followed: dict,
                                                         server: ServerProcess) -> None:
    """Defect 10: the provenance named the server's absolute source path (fails on 311d7db)."""
    job_id = followed["job"]["id"]
    texts = [http.get(f"{API}/jobs/{job_id}/provenance", params=q, headers=ALICE).text
             for q in ({}, {"format": "summary"}, {"format": "provn"}, {"format": "xml"})]
    for text in texts:
        assert str(server.data_dir) not in text and "/tmp/" not in text and "viewer-services" not in text
        assert not re.search(r'"(/[A-Za-z0-9_.-]+){2,}"', text), "an absolute path"
    prov = json.loads(texts[0])
    (workflow,) = [e for k, e in prov["entity"].items() if k.startswith("services:")]
    assert workflow["astroflow:source"] == "chatty.py"
    assert workflow["astroflow:repository"] == "chatty-repo"
    (product,) = [e for k, e in prov["entity"].items() if "/products/" in k]
    sums = product["astroflow:sha256"]  # one value (the stored ECSV's) is not a list
    assert any(str(v).startswith("ecsv:") for v in (sums if isinstance(sums, list) else [sums]))
    summary = json.loads(texts[1])
    assert summary["who"] == "alice" and summary["what"]["service"] == "chatty"
    assert summary["what"]["notebook"] == "chatty.py"
    assert summary["when"]["seconds"] > 1.5 and summary["when"]["finished"].endswith("+00:00")
    assert summary["parameters"]["tag"] == followed["job"]["parameters"]["tag"]
    assert summary["environment"]["python"].count(".") == 2
    for p in summary["products"]:  # the stored file's sha256 (FITS, VOTable: made on demand)
        assert len({f["format"]: f["sha256"] for f in p["files"]}["ecsv"]) == 64
    assert len(summary["notebook"]["sha256"]) == 64
    assert texts[2].startswith("document") and "<prov:document" in texts[3]
    bad = http.get(f"{API}/jobs/{job_id}/provenance", params={"format": "pdf"}, headers=ALICE)
    assert bad.status_code == 422 and "format" in bad.text


def test_archive_of_a_running_job_is_refused(http: httpx.Client) -> None:
    reply = http.post(f"{API}/services/chatty/jobs", headers=ALICE,
                      json={"parameters": {"tag": uuid.uuid4().hex, "pause": 5, "lines": 2}})
    job_id = reply.json()["id"]
    try:
        archive = http.get(f"{API}/jobs/{job_id}/archive", headers=ALICE)
        assert archive.status_code == 404 and "ended" in archive.json()["error"]["message"]
    finally:
        http.delete(f"{API}/jobs/{job_id}", headers=ALICE)
