"""The web portal: ``/`` serves the page, ``/static/...`` its scripts, styles and vendored libraries,
``/services/{name}/readme`` a service repository's README rendered as a page.

Everything the browser needs comes from this server (no CDN: the portal works offline).
The page and the portal's own modules are revalidated on every load (``no-cache`` with
ETags, so an upgrade shows at once); vendored libraries carry their version in the URL and
are cached for a year. plotly.js is plotly.py's own copy (``plotlyjs.py``): the page names
its version, so browser and server draw with one plotly.js. Text files are sent gzip-compressed when the browser accepts it:
Plotly is 4.8 MB as shipped and about a third of that compressed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from functools import cache
from pathlib import Path

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.datastructures import Headers
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from astroflow.server import plotlyjs
from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.platform import NotFound, Platform
from astroflow.server.readme import CSP, find_readme, missing_page, readme_page

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_CACHE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = {".js", ".mjs", ".css", ".html", ".svg", ".json", ".md", ".txt", ".map"}
MIN_GZIP_BYTES = 1024
PLAIN_TEXT = {".md", ".txt", ""}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def portal_page(request: Request) -> Response:
    """The single page of the portal; the hash part of the URL says what it shows. The
    plotly.js version is filled in here (a ``<meta>`` and the prefetch link read it)."""
    page = (STATIC_DIR / "index.html").read_bytes().replace(
        plotlyjs.PLACEHOLDER.encode(), plotlyjs.version().encode())
    headers = {"Cache-Control": REVALIDATE, "ETag": f'"{hashlib.sha1(page).hexdigest()[:20]}"'}
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return HTMLResponse(page, headers=headers)


@router.api_route(f"/static/vendor/plotly/{plotlyjs.BUNDLE}", methods=["GET", "HEAD"])
async def plotly_bundle(request: Request) -> Response:
    """plotly.js from plotly.py's package data; the page asks for it with ``?v=VERSION``."""
    return await _plotly_files().get_response(plotlyjs.BUNDLE, request.scope)


@cache
def _plotly_files() -> PortalFiles:
    return PortalFiles(plotlyjs.bundle_dir(), cache_control=VENDOR_CACHE)


@router.get("/services/{name}/readme", response_class=HTMLResponse)
def service_readme(name: str, p: Platform = Depends(platform),
                   who: Caller = Depends(caller)) -> HTMLResponse:
    """The README.md of the service's repository as a page (restricted services need the
    caller's roles, as their form does)."""
    headers = {"Content-Security-Policy": CSP, "Cache-Control": REVALIDATE,
               "X-Content-Type-Options": "nosniff"}
    try:
        service = p.service(name, who)
    except NotFound:
        return HTMLResponse(missing_page(f"There is no service named {name!r} here."),
                            status_code=404, headers=headers)
    path = find_readme(service.source)
    if path is None:
        return HTMLResponse(missing_page(f"The repository of {name!r} has no README.md."),
                            status_code=404, headers=headers)
    page = readme_page(path, title=service.workflow.title or name, service=name)
    return HTMLResponse(page, headers=headers)


class _GzipCache:
    """Compressed copies of static files, made on first request and kept while unchanged."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[int, int], bytes]] = {}
        self._lock = threading.Lock()

    def get(self, path: str, stat_result: os.stat_result) -> bytes:
        stamp = (stat_result.st_mtime_ns, stat_result.st_size)
        with self._lock:
            entry = self._entries.get(path)
        if entry is not None and entry[0] == stamp:
            return entry[1]
        with open(path, "rb") as stream:
            data = gzip.compress(stream.read(), compresslevel=6, mtime=0)
        with self._lock:
            self._entries[path] = (stamp, data)
        return data


class PortalFiles(StaticFiles):
    """Static files with the portal's cache policy and gzip for text files.

    Compression runs in a worker thread (Plotly takes a few hundred milliseconds, once per
    process), never on the event loop.
    """

    def __init__(self, directory: Path, cache_control: str | None = None) -> None:
        super().__init__(directory=directory)
        self.folder = Path(directory)
        self._gzip = _GzipCache()
        self._cache_control = cache_control  # one policy for every file (else by folder)

    def file_response(self, full_path: os.PathLike | str, stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = self._cache_policy(full_path)
        if Path(full_path).suffix in PLAIN_TEXT:  # licences and notes open in the browser
            response.headers["content-type"] = "text/plain; charset=utf-8"
            response.media_type = "text/plain"
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if not isinstance(response, FileResponse) or response.status_code != 200:
            return response
        stat_result = response.stat_result
        full_path = str(response.path)
        accepted = Headers(scope=scope).get("accept-encoding", "").lower()
        if (stat_result is None or Path(full_path).suffix not in COMPRESSIBLE
                or stat_result.st_size < MIN_GZIP_BYTES or "gzip" not in accepted):
            return response
        body = await anyio.to_thread.run_sync(self._gzip.get, full_path, stat_result)
        headers = {
            "Cache-Control": response.headers["cache-control"],
            "Content-Encoding": "gzip",
            "Vary": "Accept-Encoding",
            "ETag": response.headers["etag"].rstrip('"') + '-gz"',
            "Last-Modified": response.headers["last-modified"],
            "Content-Type": response.headers["content-type"],
        }
        return Response(body, status_code=200, headers=headers)

    def is_not_modified(self, response_headers: Headers, request_headers: Headers) -> bool:
        # A browser that holds the gzip copy sends its ETag back: it matches the plain one.
        tags = request_headers.get("if-none-match")
        if tags and "-gz" in tags:
            plain = {k: v for k, v in request_headers.items() if k != "if-none-match"}
            plain["if-none-match"] = tags.replace('-gz"', '"')
            request_headers = Headers(plain)
        return super().is_not_modified(response_headers, request_headers)

    def _cache_policy(self, full_path: os.PathLike | str) -> str:
        if self._cache_control:
            return self._cache_control
        relative = Path(full_path).resolve().relative_to(self.folder.resolve())
        return VENDOR_CACHE if relative.parts[:1] == ("vendor",) else REVALIDATE


def mount_portal(app: FastAPI) -> None:
    """Serve the portal from ``app``: the page at ``/`` and its files under ``/static``."""
    app.include_router(router)
    app.mount("/static", PortalFiles(STATIC_DIR), name="static")
