"""GitLab source: group listing, commit statuses and push hooks.

`FakeGitLab` (tests/gitlab_server.py) stands in for gitlab.com: a real HTTP server on
127.0.0.1 speaking GitLab's REST API v4 protocol (paths, pagination headers, error bodies,
status transitions) with answers built from records in GitLab's own JSON format, so
python-gitlab talks to it exactly as it would to gitlab.com.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from gitlab_server import DATA, HOOK_SECRET, READ_TOKEN, TOKEN, FakeGitLab

from astroflow.registry.gitlab import (
    DESCRIPTION_LIMIT,
    GitLabError,
    HookError,
    PushEvent,
    git_auth_env,
    list_group_projects,
    messenger_from_topics,
    parse_push_hook,
    set_commit_status,
)

pytestmark = pytest.mark.timeout(60)

LIVE = {
    "astro/desi-legacy-survey", "astro/fermi-lat-lightcurve", "astro/gaia-cone-search",
    "astro/integral-isgri-spectrum", "astro/ligo-skymap-overlap", "astro/lofar-pulsar-timing",
    "astro/swift-xrt-image", "astro/ztf-forced-photometry",
    "astro/gamma/cta-sensitivity", "astro/gamma/grb-afterglow-fit",
    "astro/gamma/hawc-transient-search",
    "astro/gamma/hess-sky-map", "astro/gamma/magic-crab-sed", "astro/gamma/spi-acs-lightcurve",
    "astro/neutrino/antares-upper-limit", "astro/neutrino/auger-neutrino-limits",
    "astro/neutrino/icecube-lim", "astro/neutrino/km3net-events",
}
PRIVATE = {"astro/integral-isgri-spectrum", "astro/ztf-forced-photometry",
           "astro/gamma/hess-sky-map", "astro/neutrino/km3net-events"}


@pytest.fixture
def gitlab():
    with FakeGitLab() as server:
        yield server


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A real Git repository with one commit; returns its path and the commit sha."""
    path = tmp_path / "icecube-lim"
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.name=Vera Rubin", "-c", "user.email=vr@example.org"]
    subprocess.run(git[:3] + ["init", "-q", "-b", "main"], check=True)
    (path / "README.md").write_text("# IceCube upper limits\n")
    subprocess.run(git + ["add", "README.md"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "first"], check=True)
    sha = subprocess.run(git[:3] + ["rev-parse", "HEAD"], check=True, capture_output=True,
                         text=True).stdout.strip()
    return path, sha


def project_pages(server: FakeGitLab) -> list[str]:
    return [q.get("page", "1") for m, p, q in server.requests if p.endswith("/projects")]


# -- listing ----------------------------------------------------------------------------------

def test_lists_every_page_and_subgroup(gitlab):
    found = list_group_projects(gitlab.url, "astro", TOKEN)
    assert {r.name for r in found} == LIVE
    assert project_pages(gitlab) == ["1", "2", "3"]  # 27 unarchived projects, 10 per page
    icecube = next(r for r in found if r.name == "astro/neutrino/icecube-lim")
    record = gitlab.project("astro/neutrino/icecube-lim")
    assert icecube.project_id == record["id"]
    assert icecube.clone_url == record["http_url_to_repo"]
    assert icecube.web_url == record["web_url"]
    assert icecube.default_branch == "main"
    assert icecube.topics == ("live-workflow-public", "MM Neutrinos")
    assert icecube.messenger == "neutrinos"
    assert icecube.last_commit is None


def test_group_by_numeric_id_and_subgroup_path(gitlab):
    by_id = list_group_projects(gitlab.url, "4201", TOKEN)
    assert {r.name for r in by_id} == LIVE
    gamma = list_group_projects(gitlab.url + "/api/v4/", "astro/gamma", TOKEN)
    assert {r.name for r in gamma} == {n for n in LIVE if n.startswith("astro/gamma/")}


def test_topic_filter_is_case_insensitive(gitlab):
    galaxy = list_group_projects(gitlab.url, "astro", TOKEN, topics=["GALAXY-tool"])
    assert {r.name for r in galaxy} == {
        "astro/desi-legacy-survey", "astro/ligo-skymap-overlap", "astro/gamma/cta-sensitivity",
        "astro/neutrino/auger-neutrino-limits"}
    live = list_group_projects(gitlab.url, "astro", TOKEN, topics=["live-workflow"])
    lofar = next(r for r in live if r.name == "astro/lofar-pulsar-timing")
    assert lofar.topics == ("live-workflow", "MM Radio")  # tagged "Live-Workflow" in GitLab
    assert "astro/fermi-lat-lightcurve" not in {r.name for r in live}  # public topic only
    assert list_group_projects(gitlab.url, "astro", TOKEN, topics=["no-such-topic"]) == []


def test_legacy_tag_list_is_read_as_topics(gitlab):
    record = gitlab.project("astro/gamma/spi-acs-lightcurve")
    assert "topics" not in record and record["tag_list"]
    found = {r.name: r for r in list_group_projects(gitlab.url, "astro", TOKEN)}
    spi = found["astro/gamma/spi-acs-lightcurve"]
    assert spi.topics == ("live-workflow", "MM Gamma-rays")
    assert spi.default_branch == "master"


def test_archived_and_empty_projects_are_left_out(gitlab):
    names = {r.name for r in list_group_projects(gitlab.url, "astro", TOKEN)}
    assert gitlab.project("astro/old-hess-spectra")["archived"]
    assert "astro/old-hess-spectra" not in names
    assert gitlab.project("astro/kilonova-lightcurve-model")["empty_repo"]
    assert "astro/kilonova-lightcurve-model" not in names


def test_archived_left_out_even_when_server_ignores_the_filter():
    class OldGitLab(FakeGitLab):
        def list_group_projects(self, key, query, access):
            return super().list_group_projects(
                key, {k: v for k, v in query.items() if k != "archived"}, access)

    with OldGitLab() as server:
        names = {r.name for r in list_group_projects(server.url, "astro", TOKEN)}
    assert names == LIVE


def test_projects_added_for_the_lead_point_at_local_repositories(repo):
    path, _ = repo
    with FakeGitLab({"astro/neutrino/icecube-lim": str(path),
                     "astro/radio/meerkat-transients": path.as_uri()}) as server:
        server.add_project("astro/radio/chime-frb", str(path), topics=["galaxy-tool"],
                           legacy_tag_list=True)
        found = {r.name: r for r in list_group_projects(server.url, "astro", TOKEN)}
    assert found["astro/neutrino/icecube-lim"].clone_url == str(path)
    assert found["astro/radio/meerkat-transients"].clone_url == path.as_uri()
    assert found["astro/radio/meerkat-transients"].topics == ("live-workflow",)
    assert found["astro/radio/chime-frb"].topics == ("galaxy-tool",)
    assert len(found) == len(LIVE) + 2


def test_anonymous_listing_sees_public_projects_only(gitlab):
    names = {r.name for r in list_group_projects(gitlab.url, "astro", None)}
    assert names == LIVE - PRIVATE


def test_pagination_headers_follow_gitlab(gitlab):
    answer = requests.get(f"{gitlab.url}/api/v4/groups/astro%2Fgamma/projects",
                          params={"include_subgroups": "true", "page": 1, "per_page": 3},
                          headers={"PRIVATE-TOKEN": TOKEN}, timeout=5)
    assert answer.status_code == 200
    h = answer.headers
    assert (h["X-Page"], h["X-Per-Page"], h["X-Total"], h["X-Total-Pages"]) == ("1", "3", "8", "3")
    assert (h["X-Prev-Page"], h["X-Next-Page"]) == ("", "2")
    assert set(answer.links) == {"next", "first", "last"}
    assert "page=2" in answer.links["next"]["url"] and "page=3" in answer.links["last"]["url"]
    assert len(answer.json()) == 3


# -- errors -----------------------------------------------------------------------------------

def test_wrong_token_names_the_reason(gitlab):
    with pytest.raises(GitLabError, match="rejected the token") as caught:
        list_group_projects(gitlab.url, "astro", "glpat-expired")
    assert caught.value.status == 401
    assert "401 Unauthorized" in str(caught.value)


def test_unknown_group_is_a_404(gitlab):
    with pytest.raises(GitLabError, match="group 'astro/radio' not found") as caught:
        list_group_projects(gitlab.url, "astro/radio", TOKEN)
    assert caught.value.status == 404


def test_unreachable_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GitLabError, match="cannot reach GitLab.*refused"):
        list_group_projects(f"http://127.0.0.1:{port}", "astro", TOKEN, timeout=2)


def test_silent_server_times_out():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # accepts connections, never answers
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(GitLabError, match="did not answer in time"):
            list_group_projects(url, "astro", TOKEN, timeout=0.3)


def test_a_server_that_is_not_gitlab():
    class Html(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>welcome</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(GitLabError, match="did not answer with GitLab API JSON"):
            list_group_projects(f"http://127.0.0.1:{server.server_address[1]}", "astro", TOKEN)
    finally:
        server.shutdown()
        server.server_close()


# -- commit statuses --------------------------------------------------------------------------

def test_commit_statuses_are_recorded(repo):
    path, sha = repo
    with FakeGitLab({"astro/neutrino/icecube-lim": str(path)}) as server:
        pid = server.project("astro/neutrino/icecube-lim")["id"]
        set_commit_status(server.url, TOKEN, pid, sha, "running", "building the environment",
                          target_url="https://astroflow.example.org/registry/icecube-lim")
        set_commit_status(server.url, TOKEN, pid, sha, "failed",
                          "test_limits.ipynb failed:\n" + "ValueError: empty sky region " * 20,
                          name="astroflow/tests")
        set_commit_status(server.url, TOKEN, pid, sha, "success", "deployed")
    got = [(s["project_id"], s["sha"], s["state"], s["name"], s["target_url"], s["ref"])
           for s in server.statuses]
    assert got == [
        (pid, sha, "running", "astroflow", "https://astroflow.example.org/registry/icecube-lim",
         "main"),
        (pid, sha, "failed", "astroflow/tests", None, "main"),
        (pid, sha, "success", "astroflow", None, "main"),
    ]
    assert server.statuses[0]["description"] == "building the environment"
    long = server.statuses[1]["description"]
    assert len(long) == DESCRIPTION_LIMIT and long.endswith("…")
    assert long.startswith("test_limits.ipynb failed: ValueError: empty sky region")


def test_repeated_state_is_not_an_error(repo):
    path, sha = repo
    with FakeGitLab({"astro/neutrino/icecube-lim": str(path)}) as server:
        pid = server.project("astro/neutrino/icecube-lim")["id"]
        set_commit_status(server.url, TOKEN, pid, sha, "pending", "queued")
        set_commit_status(server.url, TOKEN, pid, sha, "pending", "queued again")
        set_commit_status(server.url, TOKEN, pid, sha, "running", "testing")
        set_commit_status(server.url, TOKEN, pid, sha, "running", "still testing")
        raw = requests.post(f"{server.url}/api/v4/projects/{pid}/statuses/{sha}",
                            data={"state": "running", "name": "astroflow"},
                            headers={"PRIVATE-TOKEN": TOKEN}, timeout=5)
    assert raw.status_code == 400 and "Cannot transition status" in raw.json()["message"]
    assert [s["state"] for s in server.statuses] == ["pending", "running"]


def test_status_on_unknown_commit_or_project(repo):
    path, _ = repo
    with FakeGitLab({"astro/neutrino/icecube-lim": str(path)}) as server:
        pid = server.project("astro/neutrino/icecube-lim")["id"]
        with pytest.raises(GitLabError, match="Commit Not Found") as caught:
            set_commit_status(server.url, TOKEN, pid, "f" * 40, "running", "x")
        assert caught.value.status == 404
        with pytest.raises(GitLabError, match="Project Not Found"):
            set_commit_status(server.url, TOKEN, 1, "f" * 40, "running", "x")
        with pytest.raises(ValueError, match="state"):
            set_commit_status(server.url, TOKEN, pid, "f" * 40,
                              "done", "x")  # type: ignore[arg-type]
    assert server.statuses == []


def test_status_needs_a_write_token(repo):
    path, sha = repo
    with FakeGitLab({"astro/neutrino/icecube-lim": str(path)}) as server:
        pid = server.project("astro/neutrino/icecube-lim")["id"]
        with pytest.raises(GitLabError, match="insufficient_scope") as caught:
            set_commit_status(server.url, READ_TOKEN, pid, sha, "running", "x")
        assert caught.value.status == 403
        with pytest.raises(GitLabError, match="rejected the token") as caught:
            set_commit_status(server.url, None, pid, sha, "running", "x")
        assert caught.value.status == 401
        assert list_group_projects(server.url, "astro", READ_TOKEN)  # reading is allowed
    assert server.statuses == []


# -- push hooks -------------------------------------------------------------------------------

def recorded_hook() -> tuple[dict[str, str], bytes]:
    body = (DATA / "push_hook.json").read_bytes()
    return {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": HOOK_SECRET,
            "Content-Type": "application/json"}, body


def test_push_hook_with_the_right_secret():
    headers, body = recorded_hook()
    event = parse_push_hook(headers, body, HOOK_SECRET)
    assert event == PushEvent(project_id=51280, path_with_namespace="astro/neutrino/icecube-lim",
                              ref="refs/heads/main",
                              after="e41f8a2d6c0b9375a1d4e8f2c6b0a7395d1e3f84",
                              clone_url="https://gitlab.example.org/astro/neutrino/icecube-lim.git")
    assert event.branch == "main" and not event.deleted
    lower = {k.lower(): v for k, v in headers.items()}  # frameworks may lower-case names
    assert parse_push_hook(lower, body, HOOK_SECRET) == event


def test_push_hook_built_by_the_fake_matches_its_project(repo):
    path, sha = repo
    with FakeGitLab({"astro/neutrino/icecube-lim": str(path)}) as server:
        headers, body = server.push_hook("astro/neutrino/icecube-lim", sha)
        project = server.project("astro/neutrino/icecube-lim")
    event = parse_push_hook(headers, body, HOOK_SECRET)
    assert (event.project_id, event.after, event.clone_url) == (project["id"], sha, str(path))


@pytest.mark.parametrize("token", [None, "", "hook-secret-for-test", "hook-secret-for-tests "])
def test_push_hook_with_a_wrong_or_missing_secret(token):
    headers, body = recorded_hook()
    if token is None:
        del headers["X-Gitlab-Token"]
    else:
        headers["X-Gitlab-Token"] = token
    with pytest.raises(HookError, match="X-Gitlab-Token") as caught:
        parse_push_hook(headers, body, HOOK_SECRET)
    assert caught.value.status == 401


def test_push_hook_refused_without_a_configured_secret():
    headers, body = recorded_hook()
    with pytest.raises(HookError, match="no webhook secret") as caught:
        parse_push_hook(headers, body, None)
    assert caught.value.status == 401


@pytest.mark.parametrize("event", ["Tag Push Hook", "Merge Request Hook", None])
def test_push_hook_with_another_event(event):
    headers, body = recorded_hook()
    if event is None:
        del headers["X-Gitlab-Event"]
    else:
        headers["X-Gitlab-Event"] = event
    with pytest.raises(HookError, match="only 'Push Hook'") as caught:
        parse_push_hook(headers, body, HOOK_SECRET)
    assert caught.value.status == 400


def test_push_hook_with_a_malformed_body():
    headers, body = recorded_hook()
    payload = json.loads(body)
    bad = {
        "not JSON": b"{\"object_kind\": \"push\", ",
        "not a push event": json.dumps({**payload, "object_kind": "tag_push"}).encode(),
        "has no 'project'": json.dumps({k: v for k, v in payload.items()
                                        if k != "project"}).encode(),
        "after is not a commit sha": json.dumps({**payload, "after": "main"}).encode(),
        "project.id is not an integer": json.dumps(
            {**payload, "project_id": "51280", "project": {**payload["project"],
                                                           "id": "51280"}}).encode(),
    }
    for reason, text in bad.items():
        with pytest.raises(HookError, match=reason) as caught:
            parse_push_hook(headers, text, HOOK_SECRET)
        assert caught.value.status == 400, reason


def test_push_hook_for_a_deleted_branch():
    headers, body = recorded_hook()
    payload = json.loads(body)
    payload.update(after="0" * 40, ref="refs/heads/old-limits", checkout_sha=None)
    event = parse_push_hook(headers, json.dumps(payload).encode(), HOOK_SECRET)
    assert event.deleted and event.branch == "old-limits"


# -- topics and git access --------------------------------------------------------------------

@pytest.mark.parametrize("topics, messenger", [
    (["live-workflow", "MM Neutrinos"], "neutrinos"),
    (("MM Gamma-rays", "MM X-rays"), "gamma-rays"),
    (["mm  Gravitational Waves "], "gravitational waves"),
    (["live-workflow", "MMODA"], None),
    (["MM "], None),
    ([], None),
])
def test_messenger_from_topics(topics, messenger):
    assert messenger_from_topics(topics) == messenger


def test_git_auth_env_scopes_the_token_to_the_host(tmp_path):
    url = "https://gitlab.example.org/astro/neutrino/icecube-lim.git"
    env = git_auth_env(url, "glpat-secret")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG")}
    clean.update(HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1")
    ask = ["git", "config", "--get-urlmatch", "http.extraHeader"]
    header = subprocess.run(ask + [url], env={**clean, **env}, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert header == "Authorization: Basic b2F1dGgyOmdscGF0LXNlY3JldA=="  # oauth2:glpat-secret
    elsewhere = subprocess.run(ask + ["https://github.com/astro/x.git"], env={**clean, **env},
                               capture_output=True, text=True, check=False)
    assert elsewhere.stdout.strip() == ""
    assert git_auth_env(url, None) == {}
    assert git_auth_env("git@gitlab.example.org:astro/x.git", "glpat-secret") == {}
    assert git_auth_env("/srv/repos/icecube-lim", "glpat-secret") == {}
