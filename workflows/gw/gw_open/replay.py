"""GWOSC's API v2 answered from a mirror folder: :func:`respond` (used in-process by mirror
mode) and :class:`ReplayServer` (the same over HTTP on 127.0.0.1, for tests and offline runs).

Endpoints (paginated like GWOSC: ``{"count", "next", "previous", "num_pages", "results"}``):
``/api/v2/event-versions`` (filters ``name-contains``, ``min-gps-time``, ``max-gps-time``,
``release``, ``min-``/``max-<parameter>``), ``/api/v2/event-versions/<name>-v<N>`` (also
``<name>@<catalog>`` and ``<name>``: highest version), ``.../parameters``, ``.../strain-files``
(filters ``detector``, ``sample-rate``, ``file-format``, ``duration``), ``/api/v2/catalogs``,
``/api/v2/runs``, ``/api/v2/runs/<run>``, ``/api/v2/runs/<run>/strain-files`` and
``/api/v2/strain-files`` (``detector``, ``start``, ``stop``, ``sample-rate``: the recorded
strain files overlapping the range); any other path is a file of the mirror.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .mirror import API, HOST_PLACEHOLDER

Response = tuple[int, str, bytes]
Handler = Callable[[Path, re.Match, dict], Response]
Route = tuple[re.Pattern, Handler]
JSON = "application/json"
DEFAULT_PAGESIZE = 100


def _json(status: int, data) -> Response:
    return status, JSON, json.dumps(data).encode()


def _not_found(what: str = "Not found.") -> Response:
    return _json(404, {"detail": what})


def _load(root: Path, path: str):
    target = root / path / "index.json"
    if not target.is_file():
        return None
    return json.loads(target.read_text())


def _paged(items: list, query: dict, base: str, path: str) -> Response:
    try:
        size = max(1, int(query.get("pagesize", DEFAULT_PAGESIZE)))
        page = max(1, int(query.get("page", 1)))
    except ValueError:
        return _json(400, {"detail": "pagesize and page must be integers"})
    pages = max(1, -(-len(items) // size))
    if page > pages:
        return _not_found("Invalid page.")

    def link(n: int) -> str:
        return f"{base}/{path}?" + urllib.parse.urlencode({**query, "page": n})

    return _json(200, {"count": len(items), "num_pages": pages,
                       "next": link(page + 1) if page < pages else None,
                       "previous": link(page - 1) if page > 1 else None,
                       "results": items[(page - 1) * size: page * size]})


def _float(query: dict, key: str) -> float | None:
    value = query.get(key)
    return None if value in (None, "") else float(value)


def _release_matches(catalog: str, releases: list[str]) -> bool:
    """``GWTC`` is GWOSC's cumulative catalogue of the confident GWTC releases."""
    for release in releases:
        if catalog == release:
            return True
        if release == "GWTC" and catalog.startswith("GWTC-") and "marginal" not in catalog:
            return True
    return False


def _parameter_values(root: Path, ident: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for record in _load(root, f"{API}/event-versions/{ident}/parameters") or []:
        for name, entry in (record.get("parameters") or {}).items():
            if isinstance(entry, dict) and entry.get("best") is not None:
                values.setdefault(name, float(entry["best"]))
    return values


def _event_list(root: Path, query: dict) -> list[dict]:
    events = _load(root, f"{API}/event-versions") or []
    name = query.get("name-contains")
    lo, hi = _float(query, "min-gps-time"), _float(query, "max-gps-time")
    releases = [r for r in (query.get("release") or "").split(",") if r]
    selects = [(k[4:].replace("-", "_"), k[:3], float(v)) for k, v in query.items()
               if k[:4] in ("min-", "max-") and k not in ("min-gps-time", "max-gps-time")]
    out = []
    for event in events:
        if name and name.lower() not in event["name"].lower():
            continue
        if lo is not None and event["gps"] < lo or hi is not None and event["gps"] > hi:
            continue
        if releases and not _release_matches(event["catalog"], releases):
            continue
        if selects:
            values = _parameter_values(root, event["shortName"])
            if any(key not in values or (values[key] < v if op == "min" else values[key] > v)
                   for key, op, v in selects):
                continue
        out.append(event)
    return sorted(out, key=lambda e: (e["gps"], e["version"]))


def _resolve_event(root: Path, ident: str) -> dict | None:
    events = _load(root, f"{API}/event-versions") or []
    name, _, catalog = ident.partition("@")
    exact = [e for e in events if e["shortName"] == ident]
    if exact:
        return exact[0]
    match = [e for e in events if e["name"] == name and (not catalog or e["catalog"] == catalog)]
    return max(match, key=lambda e: e["version"]) if match else None


def _strain_filter(records: Iterable[dict], query: dict) -> list[dict]:
    detector = query.get("detector")
    rate = query.get("sample-rate")
    fmt = (query.get("file-format") or "").lower()
    fmt = {"hdf5": "hdf"}.get(fmt, fmt)
    duration = query.get("duration")
    start, stop = _float(query, "start"), _float(query, "stop")
    out = []
    for r in records:
        if detector and r.get("detector") != detector:
            continue
        if rate and str(r.get("sample_rate_kHz", "")) != str(rate):
            continue
        rf = str(r.get("file_format", "")).lower()
        if fmt and {"hdf5": "hdf"}.get(rf, rf) != fmt:
            continue
        if duration and str(r.get("duration")) != str(duration):
            continue
        t0 = float(r.get("gps_start", 0))
        t1 = t0 + float(r.get("duration", 0))
        if start is not None and t1 <= start or stop is not None and t0 >= stop:
            continue
        out.append(r)
    return out


def _all_strain(root: Path, run: str | None = None) -> list[dict]:
    out = []
    for event in _load(root, f"{API}/event-versions") or []:
        if run and event["run"] != run:
            continue
        out += _load(root, f"{API}/event-versions/{event['shortName']}/strain-files") or []
    return sorted(out, key=lambda r: (r.get("detector", ""), r.get("gps_start", 0)))


def _api(root: Path, path: str, query: dict, base: str) -> Response:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return _json(200, {k: f"{base}/{API}/{k}" for k in
                           ("event-versions", "catalogs", "runs", "strain-files")})
    head = parts[0]
    if head == "event-versions":
        if len(parts) == 1:
            return _paged(_event_list(root, query), query, base, f"{API}/event-versions")
        event = _resolve_event(root, urllib.parse.unquote(parts[1]))
        if event is None:
            return _not_found(f"No event version matches {parts[1]!r}.")
        ident = event["shortName"]
        if len(parts) == 2:
            return _json(200, event)
        if len(parts) == 3 and parts[2] in ("parameters", "strain-files", "timelines"):
            items = _load(root, f"{API}/event-versions/{ident}/{parts[2]}") or []
            if parts[2] == "strain-files":
                items = _strain_filter(items, query)
            return _paged(items, query, base, f"{API}/event-versions/{ident}/{parts[2]}")
        return _not_found()
    if head == "catalogs" and len(parts) == 1:
        return _paged(_load(root, f"{API}/catalogs") or [], query, base, f"{API}/catalogs")
    if head == "runs":
        if len(parts) == 1:
            return _paged(_load(root, f"{API}/runs") or [], query, base, f"{API}/runs")
        run = _load(root, f"{API}/runs/{parts[1]}")
        if run is None:
            return _not_found(f"No run {parts[1]!r}.")
        if len(parts) == 2:
            return _json(200, run)
        if parts[2] == "strain-files":
            items = _strain_filter(_all_strain(root, parts[1]), query)
            return _paged(items, query, base, f"{API}/runs/{parts[1]}/strain-files")
        return _not_found()
    if head == "strain-files" and len(parts) == 1:
        items = _strain_filter(_all_strain(root), query)
        return _paged(items, query, base, f"{API}/strain-files")
    return _not_found()


def _file(root: Path, path: str) -> Response:
    target = (root / path.lstrip("/")).resolve()
    if root.resolve() not in target.parents or not target.is_file():
        return _not_found()
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return 200, ctype, target.read_bytes()


def respond(root: Path, path: str, query: dict, base_url: str,
            extra_routes: Iterable[Route] = ()) -> Response:
    """GWOSC's answer to ``GET <path>?<query>`` from the mirror at `root`, with the
    mirror's URLs rewritten to `base_url` (no trailing slash)."""
    root = Path(root)
    query = {k: v for k, v in query.items() if k != "format"}
    for pattern, handler in extra_routes:
        match = pattern.fullmatch(path)
        if match:
            status, ctype, body = handler(root, match, query)
            break
    else:
        prefix = f"/{API}"
        if path == prefix or path.startswith(prefix + "/"):
            status, ctype, body = _api(root, path[len(prefix):], query, base_url)
        else:
            status, ctype, body = _file(root, path)
    if ctype == JSON or ctype.startswith("application/json"):
        body = body.replace(HOST_PLACEHOLDER.encode(), base_url.encode())
    return status, ctype, body


class ReplayServer:
    """GWOSC's API v2 over a mirror folder on ``http://127.0.0.1:<port>``.

    ``with ReplayServer(root) as url: ...``; ``extra_routes`` are ``(compiled regex over the
    path, handler(root, match, query) -> (status, content_type, body))`` tried first.
    """

    def __init__(self, root: Path, extra_routes: Iterable[Route] = (), port: int = 0,
                 host: str = "127.0.0.1") -> None:
        self.root = Path(root)
        self.extra_routes = list(extra_routes)
        self.requests: list[str] = []  # paths served, in order (for tests)
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                server.requests.append(self.path)
                try:
                    status, ctype, body = respond(server.root, parsed.path, query, server.url,
                                                  server.extra_routes)
                except Exception as exc:  # noqa: BLE001 - a server error, as GWOSC's
                    status, ctype, body = _json(500, {"detail": f"{type(exc).__name__}: {exc}"})
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name="gwosc-replay")
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m gw_open.replay MIRROR [--port N]``: serve a mirror until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("mirror", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ReplayServer(args.mirror, port=args.port)
    print(f"GWOSC replay of {args.mirror} at {server.url} (GWOSC_SERVER_URL={server.url})",
          flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server._httpd.serve_forever()


if __name__ == "__main__":
    main()
