"""A local GitLab on 127.0.0.1 speaking the subset of REST API v4 that astroflow uses.

It stands in for gitlab.com in tests: real HTTP, GitLab's paths, parameters, pagination
headers, error bodies and status-transition rules, with answers built from records in
GitLab's own JSON format (``tests/data/gitlab/``). Projects can point at real local Git
repositories so that the registry's pipeline can fetch the commits it reports on.

Endpoints: ``GET /api/v4/groups/:id``, ``GET /api/v4/groups/:id/projects``,
``GET /api/v4/projects/:id``, ``POST /api/v4/projects/:id/statuses/:sha``
(``:id`` is a number or a URL-encoded full path).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import subprocess
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DATA = Path(__file__).resolve().parent / "data" / "gitlab"
HOST = "https://gitlab.example.org"
TOKEN = "glpat-astroflow-tests-0001"
READ_TOKEN = "glpat-astroflow-read-api-02"
HOOK_SECRET = "hook-secret-for-tests"
STATES = ("pending", "running", "success", "failed", "canceled")
UNFINISHED = ("pending", "running")
# The state-machine event GitLab names in its "Cannot transition status" error.
EVENTS = {"pending": "enqueue", "running": "run", "success": "success", "failed": "drop",
          "canceled": "cancel"}
ORDERS = ("id", "name", "path", "created_at", "updated_at", "last_activity_at")
TRUE = {"true", "1", "yes", "t", "on"}
FALSE = {"false", "0", "no", "f", "off"}


def load(name: str) -> Any:
    """A recorded GitLab response from ``tests/data/gitlab``."""
    return json.loads((DATA / name).read_text())


def push_payload(project: Mapping[str, Any], after: str, *, before: str | None = None,
                 ref: str = "refs/heads/main") -> dict[str, Any]:
    """A push-hook body in GitLab's format: ``project`` (a project record) moved to ``after``."""
    body = load("push_hook.json")
    web = project["web_url"]
    http = project["http_url_to_repo"]
    body.update(before=before or "0" * 40, after=after, checkout_sha=after, ref=ref,
                project_id=project["id"])
    body["project"].update(
        id=project["id"], name=project["name"], description=project.get("description"),
        web_url=web, git_http_url=http, http_url=http, homepage=web,
        git_ssh_url=project["ssh_url_to_repo"], url=project["ssh_url_to_repo"],
        ssh_url=project["ssh_url_to_repo"], namespace=project["namespace"]["name"],
        path_with_namespace=project["path_with_namespace"],
        default_branch=project.get("default_branch"))
    body["repository"].update(name=project["name"], git_http_url=http, homepage=web,
                              git_ssh_url=project["ssh_url_to_repo"],
                              url=project["ssh_url_to_repo"])
    body["commits"][0].update(id=after, url=f"{web}/-/commit/{after}")
    return body


class FakeGitLab:
    """Context manager running the fake GitLab; ``.url`` is its base URL.

    ``projects`` maps a project path (``"astro/neutrino/icecube-lim"``) to a clone URL: a
    recorded project gets that clone URL, an unknown path is added with ``topics``.
    ``token`` is a full ``api`` token and ``read_token`` a ``read_api`` one (403 on writes);
    ``token=None`` lets anyone in. ``max_per_page`` caps page sizes the way gitlab.com caps
    them at 100, only smaller, so that a few dozen projects already span several pages.
    """

    def __init__(self, projects: Mapping[str, str] | None = None, *, token: str | None = TOKEN,
                 read_token: str | None = READ_TOKEN, recorded: bool = True,
                 topics: Iterable[str] = ("live-workflow",), max_per_page: int = 10) -> None:
        self.token = token
        self.read_token = read_token
        self.max_per_page = max_per_page
        self.groups: list[dict[str, Any]] = load("groups.json") if recorded else []
        self.projects: list[dict[str, Any]] = load("projects.json") if recorded else []
        self.statuses: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(90001)
        self._status_ids = itertools.count(7310545)
        self._pipelines: dict[tuple[int, str, str], int] = {}
        self._pipeline_ids = itertools.count(1290335)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for path, clone_url in (projects or {}).items():
            known = self.project(path)
            if known is None:
                self.add_project(path, clone_url, topics=topics)
            else:
                known["http_url_to_repo"] = clone_url

    # -- data -------------------------------------------------------------------------------
    def project(self, key: int | str) -> dict[str, Any] | None:
        """The project record with this id or path, or None."""
        for project in self.projects:
            if project["id"] == key or str(project["id"]) == str(key) \
                    or project["path_with_namespace"] == key:
                return project
        return None

    def group(self, key: int | str) -> dict[str, Any] | None:
        for group in self.groups:
            if str(group["id"]) == str(key) or group["full_path"] == key:
                return group
        return None

    def add_group(self, full_path: str) -> dict[str, Any]:
        """A group (and its parents) in GitLab's format, created when missing."""
        with self.lock:
            return self._ensure_group(full_path)

    def add_project(self, path_with_namespace: str, clone_url: str, *,
                    topics: Iterable[str] = ("live-workflow",), default_branch: str = "main",
                    archived: bool = False, visibility: str = "public",
                    legacy_tag_list: bool = False) -> dict[str, Any]:
        """Add a project record shaped like GitLab's and return it (its ``id`` is new)."""
        namespace, _, path = path_with_namespace.rpartition("/")
        if not namespace:
            raise ValueError("a project path needs a group: 'group/project'")
        with self.lock:
            group = self._ensure_group(namespace)
            template = copy.deepcopy(self.projects[0]) if self.projects else \
                load("projects.json")[0]
            pid = next(self._ids)
            name = path.replace("-", " ").title()
            web = f"{HOST}/{path_with_namespace}"
            template.update(
                id=pid, name=name, path=path, path_with_namespace=path_with_namespace,
                name_with_namespace=f"{group['full_name']} / {name}",
                description=f"{name} analysis notebooks", default_branch=default_branch,
                tag_list=list(topics), topics=list(topics), http_url_to_repo=clone_url,
                ssh_url_to_repo=f"git@gitlab.example.org:{path_with_namespace}.git",
                web_url=web, readme_url=f"{web}/-/blob/{default_branch}/README.md",
                archived=archived, visibility=visibility, empty_repo=False,
                created_at=_now(), last_activity_at=_now(),
                container_registry_image_prefix=f"registry.{HOST[8:]}/{path_with_namespace}",
                namespace={"id": group["id"], "name": group["name"], "path": group["path"],
                           "kind": "group", "full_path": group["full_path"],
                           "parent_id": group["parent_id"], "avatar_url": None,
                           "web_url": group["web_url"]})
            template["_links"] = {k: re.sub(r"/projects/\d+", f"/projects/{pid}", v)
                                  for k, v in template["_links"].items()}
            if legacy_tag_list:
                template.pop("topics", None)
            self.projects.append(template)
            return template

    def push_hook(self, path_with_namespace: str, after: str, *, secret: str = HOOK_SECRET,
                  ref: str | None = None,
                  before: str | None = None) -> tuple[dict[str, str], bytes]:
        """Headers and body GitLab would POST to a webhook after a push to this project."""
        project = self.project(path_with_namespace)
        if project is None:
            raise KeyError(path_with_namespace)
        body = push_payload(project, after, before=before,
                            ref=ref or f"refs/heads/{project['default_branch']}")
        headers = {"Content-Type": "application/json", "User-Agent": "GitLab/17.0.1",
                   "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret,
                   "X-Gitlab-Instance": HOST,
                   "X-Gitlab-Event-UUID": "1c6f2a0e-5f0b-4a43-9a8e-2b3e27d1c6a4"}
        return headers, json.dumps(body).encode()

    def _ensure_group(self, full_path: str) -> dict[str, Any]:
        found = self.group(full_path)
        if found is not None:
            return found
        parent_path, _, path = full_path.rpartition("/")
        parent = self._ensure_group(parent_path) if parent_path else None
        template = copy.deepcopy(self.groups[0]) if self.groups else load("groups.json")[0]
        name = path.replace("-", " ").title()
        template.update(id=next(self._ids), name=name, path=path, full_path=full_path,
                        full_name=f"{parent['full_name']} / {name}" if parent else name,
                        web_url=f"{HOST}/groups/{full_path}", created_at=_now(),
                        parent_id=parent["id"] if parent else None, visibility="public",
                        description="")
        self.groups.append(template)
        return template

    # -- server -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "FakeGitLab is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGitLab:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.gitlab = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    # -- API --------------------------------------------------------------------------------
    def access(self, headers: Mapping[str, str]) -> str:
        """'api', 'read_api' or 'anonymous' for a request; raises _Reply(401) on a bad token."""
        given = headers.get("PRIVATE-TOKEN")
        bearer = headers.get("Authorization", "")
        if given is None and bearer.lower().startswith("bearer "):
            given = bearer[7:].strip()
        if given is None or self.token is None:
            return "api" if self.token is None else "anonymous"
        if given == self.token:
            return "api"
        if self.read_token is not None and given == self.read_token:
            return "read_api"
        raise _Reply(401, {"message": "401 Unauthorized"})

    def visible(self, record: Mapping[str, Any], access: str) -> bool:
        return access != "anonymous" or record.get("visibility") == "public"

    def get_group(self, key: str, query: Mapping[str, str], access: str) -> dict[str, Any]:
        group = self.group(key)
        if group is None or not self.visible(group, access):
            raise _Reply(404, {"message": "404 Group Not Found"})
        body = copy.deepcopy(group)
        if _flag(query.get("with_projects"), True):
            body["projects"] = [p for p in self.projects
                                if p["namespace"]["id"] == group["id"] and self.visible(p, access)]
            body["shared_projects"] = []
        return body

    def list_group_projects(self, key: str, query: Mapping[str, str],
                            access: str) -> list[dict[str, Any]]:
        group = self.group(key)
        if group is None or not self.visible(group, access):
            raise _Reply(404, {"message": "404 Group Not Found"})
        subgroups = _flag(query.get("include_subgroups"), False)
        prefix = group["full_path"] + "/"
        chosen = [p for p in self.projects if self.visible(p, access) and (
            p["namespace"]["full_path"] == group["full_path"]
            or (subgroups and p["namespace"]["full_path"].startswith(prefix)))]
        if "archived" in query:
            archived = _flag(query["archived"], False)
            chosen = [p for p in chosen if bool(p.get("archived")) == archived]
        if "visibility" in query:
            chosen = [p for p in chosen if p["visibility"] == query["visibility"]]
        order = query.get("order_by", "created_at")
        if order not in ORDERS:
            raise _Reply(400, {"error": "order_by does not have a valid value"})
        sort = query.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise _Reply(400, {"error": "sort does not have a valid value"})
        field = "last_activity_at" if order == "updated_at" else order
        return sorted(chosen, key=lambda p: (p[field], p["id"]), reverse=sort == "desc")

    def get_project(self, key: str, access: str) -> dict[str, Any]:
        project = self.project(key)
        if project is None or not self.visible(project, access):
            raise _Reply(404, {"message": "404 Project Not Found"})
        return project

    def create_status(self, key: str, sha: str, params: Mapping[str, Any],
                      access: str) -> dict[str, Any]:
        if access == "anonymous":
            raise _Reply(401, {"message": "401 Unauthorized"})
        project = self.get_project(key, access)
        if access == "read_api":
            raise _Reply(403, {
                "error": "insufficient_scope", "scope": "api",
                "error_description": "The request requires higher privileges than provided "
                                     "by the access token."})
        state = params.get("state")
        if not state:
            raise _Reply(400, {"error": "state is missing"})
        if state not in STATES:
            raise _Reply(400, {"error": "state does not have a valid value"})
        if not _commit_exists(project["http_url_to_repo"], sha):
            raise _Reply(404, {"message": "404 Commit Not Found"})
        name = params.get("name") or params.get("context") or "default"
        ref = params.get("ref") or project["default_branch"]
        with self.lock:
            previous = [s for s in self.statuses if (s["project_id"], s["sha"], s["name"],
                                                     s["ref"]) == (project["id"], sha, name, ref)]
            if previous and previous[-1]["status"] in UNFINISHED:
                current = previous[-1]["status"]
                if state == current or (current == "running" and state == "pending"):
                    event = EVENTS[state]
                    raise _Reply(400, {"message": f"Cannot transition status via :{event} from "
                                                  f":{current} (Reason(s): Status cannot "
                                                  f"transition via \"{event}\")"})
            pipeline = self._pipelines.setdefault((project["id"], sha, ref),
                                                  next(self._pipeline_ids))
            now = _now()
            body = load("commit_status.json")
            body.update(id=next(self._status_ids), sha=sha, ref=ref, status=state, name=name,
                        target_url=params.get("target_url"),
                        description=params.get("description"), created_at=now,
                        started_at=None if state == "pending" else now,
                        finished_at=None if state in UNFINISHED else now,
                        pipeline_id=pipeline, coverage=params.get("coverage"))
            self.statuses.append({**body, "project_id": project["id"], "state": state})
        return body


class _Reply(Exception):
    """An HTTP answer raised from deep inside a handler."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        return None

    @property
    def gitlab(self) -> FakeGitLab:
        return self.server.gitlab  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        segments = [unquote(s) for s in parts.path.split("/")]
        with self.gitlab.lock:
            self.gitlab.requests.append((method, parts.path, query))
        try:
            access = self.gitlab.access(self.headers)
            reply = self._route(method, segments[1:], query, raw, access)
        except _Reply as answer:
            reply = answer
        self._send(reply)

    def _route(self, method: str, seg: list[str], query: dict[str, str], raw: bytes,
               access: str) -> _Reply:
        gl = self.gitlab
        if seg[:2] != ["api", "v4"]:
            return _Reply(404, {"error": "404 Not Found"})
        seg = seg[2:]
        if method == "GET" and len(seg) == 2 and seg[0] == "groups":
            return _Reply(200, gl.get_group(seg[1], query, access))
        if method == "GET" and len(seg) == 3 and seg[0] == "groups" and seg[2] == "projects":
            return self._paginated(gl.list_group_projects(seg[1], query, access), query)
        if method == "GET" and len(seg) == 2 and seg[0] == "projects":
            return _Reply(200, gl.get_project(seg[1], access))
        if method == "POST" and len(seg) == 4 and seg[0] == "projects" and seg[2] == "statuses":
            params: dict[str, Any] = dict(query)
            params.update(_form(raw, self.headers.get("Content-Type", "")))
            return _Reply(201, gl.create_status(seg[1], seg[3], params, access))
        return _Reply(404, {"error": "404 Not Found"})

    def _paginated(self, items: list[dict[str, Any]], query: dict[str, str]) -> _Reply:
        """One page of ``items`` with GitLab's offset-pagination headers."""
        try:
            per_page = int(query.get("per_page", 20))
            page = int(query.get("page", 1))
        except ValueError:
            return _Reply(400, {"error": "page is invalid, per_page is invalid"})
        per_page = max(1, min(per_page, self.gitlab.max_per_page))
        page = max(1, page)
        total = len(items)
        pages = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        base = f"http://{self.headers.get('Host')}{urlsplit(self.path).path}"

        def link(number: int) -> str:
            params = {**query, "page": str(number), "per_page": str(per_page)}
            return f"{base}?{urlencode(params)}"

        links = []
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        if page < pages:
            links.append(f'<{link(page + 1)}>; rel="next"')
        links += [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page),
                   "X-Prev-Page": str(page - 1) if page > 1 else "",
                   "X-Next-Page": str(page + 1) if page < pages else "",
                   "X-Total": str(total), "X-Total-Pages": str(pages),
                   "Link": ", ".join(links)}
        return _Reply(200, chunk, headers)

    def _send(self, reply: _Reply) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=0, private, must-revalidate")
        self.send_header("X-Request-Id", "01HXAMPLE0ASTROFLOW0000000")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _flag(value: str | None, default: bool) -> bool:
    """GitLab's (Grape's) boolean parameter parsing."""
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise _Reply(400, {"error": f"{value} is invalid"})


def _form(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Reply(400, {"error": "400 Bad request - invalid JSON"}) from None
        return body if isinstance(body, dict) else {}
    return {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}


def _commit_exists(clone_url: str, sha: str) -> bool:
    """Whether ``sha`` is a commit of the project's repository.

    For recorded projects whose repository lives on the (absent) real host, any hex sha is
    taken as existing; for local repositories git itself resolves it, as GitLab would.
    """
    local = clone_url.removeprefix("file://") if clone_url.startswith(("file://", "/")) else None
    if local is None:
        return re.fullmatch(r"[0-9a-f]{7,64}", sha) is not None
    result = subprocess.run(["git", "-C", local, "cat-file", "-e", f"{sha}^{{commit}}"],
                            capture_output=True, check=False)
    return result.returncode == 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
