"""Server pieces that need their own process or no process: 429, 413, token minting, fsspec."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import jwt
from server_process import SECRET, ServerProcess

from astroflow.jobs.artifacts import ArtifactStore


def test_queue_limit_gives_429(tmp_path):
    server = ServerProcess(tmp_path / "data", workers=1, extra_args=["--queue-limit", "2"],
                           env={"ASTROFLOW_UPLOAD_LIMIT": "1000"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            codes = [client.post("/api/v1/services/slow/jobs",
                                 json={"parameters": {"seconds": 20, "tag": f"t{i}"}}).status_code
                     for i in range(6)]
            assert codes.count(201) >= 2 and codes[-1] == 429, codes
            reply = client.post("/api/v1/services/slow/jobs",
                                json={"parameters": {"seconds": 20, "tag": "late"}})
            assert reply.status_code == 429 and reply.headers["retry-after"]
            assert "queued jobs" in reply.json()["error"]["message"]
            for job in client.get("/api/v1/jobs", params={"mine": True}).json():
                client.delete(f"/api/v1/jobs/{job['id']}")
            # The same server has a 1000-byte upload limit (and wants a token for uploads).
            auth = {"Authorization": "Bearer " + jwt.encode(
                {"sub": "ana", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")}
            big = client.post("/api/v1/uploads", files={"file": ("big.bin", b"x" * 5000)},
                              headers=auth)
            assert big.status_code == 413 and "upload limit" in big.json()["error"]["message"]
            assert client.post("/api/v1/uploads", files={"file": ("ok.bin", b"x" * 10)},
                               headers=auth).status_code == 201
    finally:
        server.stop()


def test_token_create_cli(tmp_path):
    # A data dir of its own: one holding a key made by `serve` would sign instead.
    env = {**os.environ, "ASTROFLOW_JWT_SECRET": SECRET, "ASTROFLOW_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "astroflow", "token", "create", "--sub", "ana",
                          "--roles", "a,b", "--ttl", "2h"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    claims = jwt.decode(out.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "ana" and sorted(claims["roles"]) == ["a", "b"]
    assert 7000 < claims["exp"] - claims["iat"] <= 7200
    env.pop("ASTROFLOW_JWT_SECRET")
    out = subprocess.run([sys.executable, "-m", "astroflow", "token", "create", "--sub", "ana"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and "ASTROFLOW_JWT_SECRET" in out.stderr


def test_fsspec_artifact_store_round_trip(tmp_path):
    """A remote store (fsspec's in-memory filesystem here): upload on commit, fetch on read."""
    store = ArtifactStore("memory://astroflow-test", cache=tmp_path / "cache")
    job_dir = store.job_dir("j1")
    (job_dir / "products").mkdir(parents=True)
    (job_dir / "products" / "a.json").write_text('{"value": 1}')
    (job_dir / "work").mkdir()
    (job_dir / "work" / "scratch.txt").write_text("not a result")
    store.commit("j1")
    assert store.fs.exists("/astroflow-test/jobs/j1/products/a.json")
    assert not store.fs.exists("/astroflow-test/jobs/j1/work/scratch.txt")
    # A fresh cache (another replica) fetches the file back.
    other = ArtifactStore("memory://astroflow-test", cache=tmp_path / "cache2")
    assert other.path("j1", "products/a.json").read_text() == '{"value": 1}'
