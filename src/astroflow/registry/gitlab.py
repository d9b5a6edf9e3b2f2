"""GitLab as a workflow source: group listing, commit statuses and push hooks.

MMODA's bot read only the first page of a group's projects and told authors nothing when a
deployment failed. Here every page and every subgroup is listed, and the outcome of each
pipeline step is written back on the commit, where the author already looks.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import gitlab
import gitlab.exceptions
import requests

from astroflow.errors import AstroflowError

log = logging.getLogger(__name__)

DEFAULT_TOPICS = ("live-workflow", "live-workflow-public", "galaxy-tool")
STATUS_STATES = ("pending", "running", "success", "failed", "canceled")
StatusState = Literal["pending", "running", "success", "failed", "canceled"]
DESCRIPTION_LIMIT = 255  # GitLab stores a commit status description in a 255-character column
MESSENGER_PREFIX = "mm "
_NULL_SHA = re.compile(r"0+")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 and SHA-256 repositories


class GitLabError(AstroflowError):
    """GitLab could not be reached or refused the request; ``status`` is its HTTP code."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HookError(AstroflowError):
    """A webhook request that must be refused; ``status`` is the HTTP code to answer with."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RemoteRepository:
    """One GitLab project that carries a live-workflow or Galaxy topic."""

    name: str  # path_with_namespace, e.g. "astro/neutrino/icecube-lim"
    project_id: int
    clone_url: str
    default_branch: str
    topics: tuple[str, ...]
    web_url: str
    last_commit: str | None = None  # the project listing does not carry the branch head

    @property
    def messenger(self) -> str | None:
        return messenger_from_topics(self.topics)


@dataclass(frozen=True)
class PushEvent:
    """What a GitLab push hook tells us: which project moved, on which branch, to which commit."""

    project_id: int
    path_with_namespace: str
    ref: str
    after: str
    clone_url: str

    @property
    def branch(self) -> str | None:
        """Branch name, or None when the ref is not a branch."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def deleted(self) -> bool:
        """GitLab reports a branch deletion as a push whose ``after`` is all zeros."""
        return bool(_NULL_SHA.fullmatch(self.after))


def messenger_from_topics(topics: Iterable[str]) -> str | None:
    """The messenger named by a topic such as "MM Neutrinos" → "neutrinos" (first one wins)."""
    for topic in topics:
        if topic[: len(MESSENGER_PREFIX)].lower() == MESSENGER_PREFIX:
            messenger = topic[len(MESSENGER_PREFIX):].strip().lower()
            if messenger:
                return messenger
    return None


def project_topics(project: Mapping[str, Any]) -> tuple[str, ...]:
    """Topics of a project record: `topics` since GitLab 14.5, `tag_list` before."""
    topics = project.get("topics") or project.get("tag_list") or ()
    return tuple(str(t) for t in topics)


def list_group_projects(url: str, group: str, token: str | None,
                        topics: Iterable[str] = DEFAULT_TOPICS,
                        timeout: float = 10) -> list[RemoteRepository]:
    """Every non-archived project of ``group`` and its subgroups carrying one of ``topics``.

    Topics are matched case-insensitively on the client, because the group projects endpoint
    has no documented topic filter and older servers only know `tag_list`; the matching ones
    are returned lower-case ("Live-Workflow" → "live-workflow"), others as written.
    """
    wanted = {t.strip().lower() for t in topics}
    with _client(url, token, timeout) as gl, _translated(url, f"group {group!r}"):
        found = gl.groups.get(group, with_projects=False)
        records = found.projects.list(include_subgroups=True, archived=False, order_by="id",
                                      sort="asc", per_page=100, get_all=True)
    repositories = []
    for record in records:
        project = record.attributes
        # The selecting topics come back lower-case so callers can compare them exactly.
        tags = tuple(t.lower() if t.lower() in wanted else t for t in project_topics(project))
        if project.get("archived") or not wanted.intersection(tags):
            continue
        if not project.get("default_branch"):
            log.info("skipping %s: empty repository", project.get("path_with_namespace"))
            continue
        repositories.append(RemoteRepository(
            name=project["path_with_namespace"], project_id=int(project["id"]),
            clone_url=project["http_url_to_repo"], default_branch=project["default_branch"],
            topics=tags, web_url=project.get("web_url", ""), last_commit=None))
    return sorted(repositories, key=lambda r: r.name)


def set_commit_status(url: str, token: str | None, project_id: int, sha: str,
                      state: StatusState, description: str, *, name: str = "astroflow",
                      target_url: str | None = None, timeout: float = 10) -> None:
    """Show a pipeline step's outcome on the commit in GitLab.

    GitLab refuses to move a status to the state it is already in ("Cannot transition
    status"); that answer means the commit already shows this state, so it is not an error.
    """
    if state not in STATUS_STATES:
        raise ValueError(f"commit status state must be one of {STATUS_STATES}, not {state!r}")
    data: dict[str, Any] = {"state": state, "name": name,
                            "description": truncate_description(description)}
    if target_url:
        data["target_url"] = target_url
    try:
        with _client(url, token, timeout) as gl, \
                _translated(url, f"commit {sha[:12]} of project {project_id}"):
            commit = gl.projects.get(project_id, lazy=True).commits.get(sha, lazy=True)
            commit.statuses.create(data)
    except GitLabError as err:
        if err.status == 400 and "cannot transition status" in str(err).lower():
            log.debug("commit %s already %s on project %s", sha[:12], state, project_id)
            return
        raise


def truncate_description(description: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """Keep the head of a description (where the reason is) within GitLab's column size."""
    text = " ".join(description.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def parse_push_hook(headers: Mapping[str, str], body: bytes, secret: str | None) -> PushEvent:
    """Check and read a GitLab push hook; raise `HookError` with the status to answer.

    Without a configured secret every hook is refused: an open endpoint would let anyone
    make the server fetch and run code from an arbitrary commit.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    if not secret:
        raise HookError("no webhook secret is configured on this server; push hooks are refused",
                        status=401)
    given = lower.get("x-gitlab-token")
    if given is None:
        raise HookError("missing X-Gitlab-Token header", status=401)
    if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
        raise HookError("X-Gitlab-Token does not match the configured secret", status=401)
    event = lower.get("x-gitlab-event")
    if event != "Push Hook":
        raise HookError(f"unsupported event {event!r}: only 'Push Hook' triggers an update",
                        status=400)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise HookError(f"push hook body is not JSON: {err}", status=400) from None
    if not isinstance(payload, dict) or payload.get("object_kind") != "push":
        raise HookError("push hook body is not a push event (object_kind != 'push')", status=400)
    project = payload.get("project")
    repository = payload.get("repository") or {}
    if not isinstance(project, dict):
        raise HookError("push hook body has no 'project' object", status=400)
    project_id = project.get("id", payload.get("project_id"))
    path = project.get("path_with_namespace")
    ref = payload.get("ref")
    after = payload.get("after")
    clone_url = (project.get("git_http_url") or project.get("http_url")
                 or (repository.get("git_http_url") if isinstance(repository, dict) else None))
    problems = []
    if not isinstance(project_id, int) or isinstance(project_id, bool):
        problems.append("project.id is not an integer")
    if not isinstance(path, str) or not path:
        problems.append("project.path_with_namespace is missing")
    if not isinstance(ref, str) or not ref.startswith("refs/"):
        problems.append("ref is not a Git ref")
    if not isinstance(after, str) or not _SHA.fullmatch(after):
        problems.append("after is not a commit sha")
    if not isinstance(clone_url, str) or not clone_url:
        problems.append("project.git_http_url is missing")
    if problems:
        raise HookError("malformed push hook: " + "; ".join(problems), status=400)
    assert isinstance(project_id, int) and isinstance(path, str) and isinstance(ref, str)
    assert isinstance(after, str) and isinstance(clone_url, str)  # checked just above
    return PushEvent(project_id=project_id, path_with_namespace=path, ref=ref, after=after,
                     clone_url=clone_url)


def git_auth_env(clone_url: str, token: str | None) -> dict[str, str]:
    """Environment that lets `git` fetch ``clone_url`` from a private GitLab project.

    The token travels as an HTTP header scoped to that URL through git's environment
    configuration, so it never lands in ``.git/config``, in a remote URL or in ``ps`` output.
    """
    parts = urlsplit(clone_url)
    if not token or parts.scheme not in ("http", "https"):
        return {}
    basic = base64.b64encode(f"oauth2:{token}".encode()).decode("ascii")
    return {"GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{parts.scheme}://{parts.netloc}/.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}


def _client(url: str, token: str | None, timeout: float) -> gitlab.Gitlab:
    base = url.rstrip("/").removesuffix("/api/v4")
    return gitlab.Gitlab(base, private_token=token or None, timeout=timeout)


@contextmanager
def _translated(url: str, subject: str) -> Iterator[None]:
    """Turn python-gitlab and transport exceptions into `GitLabError` naming what failed."""
    where = f"GitLab at {url}"
    try:
        yield
    except requests.exceptions.Timeout as err:
        raise GitLabError(f"{where} did not answer in time ({subject})") from err
    except requests.exceptions.RequestException as err:
        raise GitLabError(f"cannot reach {where}: {_root_cause(err)}") from err
    except gitlab.exceptions.GitlabParsingError as err:
        raise GitLabError(f"{where} did not answer with GitLab API JSON ({subject})") from err
    except gitlab.exceptions.GitlabError as err:
        code = err.response_code
        message = err.error_message
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        detail = message if str(message).startswith(str(code)) else f"{code} {message}"
        if code == 401:
            text = (f"{where} rejected the token ({detail}); "
                    "check that it is set and has not expired")
        elif code == 403:
            text = (f"{where} refused access to {subject} ({detail}); "
                    "the token lacks the 'api' scope or the permission")
        elif code == 404:
            text = (f"{subject} not found on {where} ({detail}); "
                    "check its path, or that the token can see it")
        else:
            text = f"{where} failed on {subject} ({detail})"
        raise GitLabError(text, status=code) from err


def _root_cause(err: BaseException) -> str:
    """The innermost reason (e.g. 'Connection refused') from requests' nested exceptions."""
    while err.__context__ is not None and err.__context__ is not err:
        err = err.__context__
    return str(err) or type(err).__name__
