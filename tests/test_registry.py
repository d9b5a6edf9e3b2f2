"""Live workflows: real Git repositories, real environment builds, real bot and server processes.

A new commit deploys; a broken commit (failing test notebook, bad annotation, missing
dependency) leaves the previous version serving and says why; a fixed commit recovers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gitrepos import commit, git, new_repo
from server_process import ServerProcess


@pytest.fixture
def repo(tmp_path):
    return new_repo(tmp_path / "greeting-repo")


def bot(config: Path, data: Path) -> tuple[int, list[dict]]:
    out = subprocess.run([sys.executable, "-m", "astroflow", "bot", "--once", "--json",
                          "--config", str(config), "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=600)
    assert out.stdout.strip(), out.stderr
    return out.returncode, json.loads(out.stdout)


def greet(client: httpx.Client, who: str) -> tuple[str, str]:
    job = client.post("/api/v1/services/greeting/jobs", json={"parameters": {"name": who}}).json()
    job = client.get(f"/api/v1/jobs/{job['id']}", params={"wait": 60}).json()
    assert job["state"] == "done", job
    value = client.get(f"/api/v1/jobs/{job['id']}/products/greeting", params={"format": "json"})
    return value.json()["value"], job["version"]


def registry_entry(client: httpx.Client) -> dict:
    return next(e for e in client.get("/api/v1/registry").json() if e["name"] == "greeting-repo")


def test_commits_deploy_failures_keep_the_last_good_version(repo, tmp_path):
    data = tmp_path / "data"
    config = tmp_path / "astroflow.toml"
    config.write_text(f'[[sources]]\nkind = "git"\npath = "{repo}"\nbranch = "main"\n')
    good = commit(repo, "v1")
    code, outcomes = bot(config, data)
    assert code == 0 and outcomes[0]["status"] == "succeeded" and outcomes[0]["version"] == good
    server = ServerProcess(data, services=[], extra_args=["--config", str(config)]).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert greet(client, "Vela")[0] == "hello Vela v1"
            # 1. a failing test notebook
            broken = commit(repo, "v2 broken test", body='greeting = f"hello {name} v2"',
                            test_body="raise RuntimeError('test notebook fails')")
            code, outcomes = bot(config, data)
            assert code == 1 and outcomes[0]["step"] == "test"
            assert "test notebook fails" in outcomes[0]["reason"]
            entry = registry_entry(client)
            assert entry["active_version"] == good and entry["status"] == "failed"
            assert entry["last_attempt"]["version"] == broken
            assert "RuntimeError" in entry["last_attempt"]["log_tail"]
            assert greet(client, "Vela")[0] == "hello Vela v1"
            # 2. a bad annotation
            commit(repo, "v3 bad annotation", body='greeting = f"hello {name} v3"')
            (repo / "greeting.py").write_text(
                (repo / "greeting.py").read_text().replace("# oda:String", "# oda:Float", 1))
            git(repo, "commit", "-q", "-am", "v3 bad annotation")
            code, outcomes = bot(config, data)
            assert code == 1 and outcomes[0]["step"] == "inspect"
            assert "contradicts" in outcomes[0]["reason"] and "line" in outcomes[0]["reason"]
            # 3. a dependency that does not exist
            commit(repo, "v4 missing dependency", body='greeting = f"hello {name} v4"',
                   requirements="astroflow-no-such-package-xyz==1.0\n")
            code, outcomes = bot(config, data)
            assert code == 1 and outcomes[0]["step"] == "environment"
            assert greet(client, "Vela")[0] == "hello Vela v1"
            # 4. fixed, with a real environment built from its requirements file
            fixed = commit(repo, "v5 fixed", requirements="six==1.16.0\n",
                           body='import six\ngreeting = f"hello {name} v5 six {six.__version__}"')
            code, outcomes = bot(config, data)
            assert code == 0 and outcomes[0]["version"] == fixed, outcomes
            deadline = time.monotonic() + 30
            old = client.get("/api/v1/services/greeting").json()["version"]
            while time.monotonic() < deadline:  # the server picks the activation up
                if client.get("/api/v1/services/greeting").json()["version"] != old:
                    break
                time.sleep(0.5)
            value, version = greet(client, "Vela")
            assert value == "hello Vela v5 six 1.16.0"
            envs = list((data / "registry" / "envs").iterdir())
            assert any((e / ".ready").exists() for e in envs)
            # Nothing new: the bot leaves everything as it is.
            code, outcomes = bot(config, data)
            assert code == 0 and outcomes[0]["status"] == "unchanged"
    finally:
        server.stop()


def test_private_topic_needs_the_developer_role(repo, tmp_path):
    import jwt
    from server_process import SECRET  # noqa: F401 - the server verifies tokens with it

    data = tmp_path / "data"
    config = tmp_path / "astroflow.toml"
    config.write_text(f'[[sources]]\nkind = "git"\npath = "{repo}"\n')
    commit(repo, "private", topics=("live-workflow", "MM Neutrinos"))
    assert bot(config, data)[0] == 0
    server = ServerProcess(data, services=[], extra_args=["--config", str(config)]).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert "greeting" not in [s["name"] for s in client.get("/api/v1/services").json()]
            token = jwt.encode({"sub": "dev", "roles": ["workflow-developer"],
                                "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
            services = client.get("/api/v1/services",
                                  headers={"Authorization": f"Bearer {token}"}).json()
            greeting = next(s for s in services if s["name"] == "greeting")
            assert greeting["messenger"] == "neutrinos"
    finally:
        server.stop()


def test_galaxy_tool_repository_gets_a_tool_committed(repo, tmp_path):
    tools = new_repo(tmp_path / "galaxy-tools")
    (tools / "README.md").write_text("tools\n")
    git(tools, "add", "-A")
    git(tools, "commit", "-q", "-m", "start")
    config = tmp_path / "astroflow.toml"
    config.write_text(f'[registry]\ngalaxy_out = "{tools}"\n\n'
                      f'[[sources]]\nkind = "git"\npath = "{repo}"\n')
    commit(repo, "tool", topics=("galaxy-tool",))
    code, outcomes = bot(config, tmp_path / "data")
    assert code == 0 and outcomes[0]["status"] == "succeeded", outcomes
    xml = tools / "greeting-repo" / "greeting.xml"
    assert xml.is_file() and "<tool" in xml.read_text()
    assert "greeting-repo" in git(tools, "log", "-1", "--format=%s")
