"""A GitLab group as a registry source, end to end.

The GitLab here is `tests/gitlab_server.FakeGitLab`, a local server on 127.0.0.1 that stands in
for gitlab.com and speaks the subset of its REST API the registry uses, with recorded
real-format responses; the repositories it lists are real local Git repositories.
"""

from __future__ import annotations

import httpx
from gitlab_server import HOOK_SECRET, TOKEN, FakeGitLab
from gitrepos import commit, new_repo
from polling import until
from server_process import ServerProcess

PROJECT = "astro/neutrino/greeting"


def test_push_hook_deploys_and_reports_commit_statuses(tmp_path):
    repo = new_repo(tmp_path / "greeting")
    good = commit(repo, "v1", topics=())
    with FakeGitLab({PROJECT: str(repo)}, recorded=False,
                    topics=("live-workflow-public", "MM Neutrinos")) as gitlab:
        config = tmp_path / "astroflow.toml"
        config.write_text(f'[[sources]]\nkind = "gitlab"\nurl = "{gitlab.url}"\n'
                          f'group = "astro"\ntoken_env = "GITLAB_TOKEN"\n')
        server = ServerProcess(tmp_path / "data", services=[], extra_args=["--config", str(config)],
                               env={"GITLAB_TOKEN": TOKEN,
                                    "ASTROFLOW_GITLAB_HOOK_SECRET": HOOK_SECRET}).start()
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                hook = "/api/v1/registry/hooks/gitlab"
                headers, body = gitlab.push_hook(PROJECT, good, secret="wrong")
                assert client.post(hook, headers=headers, content=body).status_code == 401
                headers, body = gitlab.push_hook(PROJECT, good)
                reply = client.post(hook, headers=headers, content=body)
                assert reply.status_code == 202 and reply.json()["commit"] == good

                def served():
                    names = {s["name"]: s for s in client.get("/api/v1/services").json()}
                    return names.get("greeting")

                service = until(served, 60)
                assert service["messenger"] == "neutrinos"
                def reported_success():
                    # The bot reports success to GitLab just after the service goes live.
                    states = [(s["sha"], s["state"]) for s in gitlab.statuses]
                    return states if (good, "success") in states else None

                assert (good, "running") in until(reported_success, 20)

                broken = commit(repo, "v2", test_body="raise RuntimeError('broken')", topics=())
                headers, body = gitlab.push_hook(PROJECT, broken)
                assert client.post(hook, headers=headers, content=body).status_code == 202
                failed = until(lambda: [s for s in gitlab.statuses
                                        if s["sha"] == broken and s["state"] == "failed"], 60)
                assert "test" in failed[0]["description"]
                entry = next(e for e in client.get("/api/v1/registry").json()
                             if e["name"] == PROJECT)
                assert entry["active_version"] == good
                assert entry["last_attempt"]["step"] == "test"
                assert served()["version"] == service["version"]
        finally:
            server.stop()
