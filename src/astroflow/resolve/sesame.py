"""A small client of CDS Sesame, the name resolver in front of SIMBAD, NED and VizieR.

Why our own client rather than ``astropy.coordinates.name_resolve``: astropy asks for Sesame's
plain-text output and returns only a SkyCoord, while the portal needs to say *which* database
answered and show the main name, the object type and the aliases. Sesame's XML output has all
of them (``<Resolver name="S=Simbad…">`` with ``<jradeg>``, ``<jdedeg>``, ``<oname>``,
``<otype>``, ``<alias>``), so we ask for XML and read it with ``xml.etree``. The mirrors are the
same two astropy uses by default; ``ASTROFLOW_SESAME_URL`` replaces them.

Protocol: ``GET <mirror>/-oxI/SNV?<name>``: ``-o`` output options (``x`` XML, ``I`` all
identifiers, which is what adds the ``<alias>`` elements), then the databases in the order to
try (SIMBAD, NED, VizieR); the first resolver with a position answers.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from astroflow.errors import AstroflowError
from astroflow.resolve.names import tidy
from astroflow.resolve.resolution import Resolution

DEFAULT_MIRRORS = (
    "https://cds.unistra.fr/cgi-bin/nph-sesame",
    "http://vizier.cfa.harvard.edu/viz-bin/nph-sesame",
)
OPTIONS = "-oxI"
DATABASES = "SNV"
MIRRORS_VARIABLE = "ASTROFLOW_SESAME_URL"
_RESOLVER_NAME = re.compile(r"^\s*\w+=\s*([A-Za-z]+)")


class SesameUnavailable(AstroflowError):
    """No Sesame mirror gave an answer (refused, timed out, HTTP error, unreadable reply)."""


def mirrors_from_env(environ: Mapping[str, str]) -> tuple[str, ...]:
    """``ASTROFLOW_SESAME_URL``: one or more base URLs separated by commas or spaces."""
    value = environ.get(MIRRORS_VARIABLE, "")
    urls = tuple(u.rstrip("/") for u in re.split(r"[,\s]+", value) if u)
    return urls or DEFAULT_MIRRORS


@dataclass(frozen=True)
class SesameClient:
    """Asks the mirrors in order until one answers; a "not found" answer is an answer."""

    mirrors: Sequence[str] = DEFAULT_MIRRORS
    user_agent: str = "astroflow-resolve"

    def query_url(self, mirror: str, name: str) -> str:
        return f"{mirror.rstrip('/')}/{OPTIONS}/{DATABASES}?{quote(name.strip())}"

    def query(self, name: str, timeout: float = 3.0) -> Resolution | None:
        """The first resolver's position for ``name``, None if Sesame knows no such object.

        ``timeout`` bounds the whole call, across mirrors. Raises `SesameUnavailable`.
        """
        deadline = time.monotonic() + timeout
        failures = []
        for mirror in self.mirrors:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                failures.append(f"{mirror}: no time left (timeout {timeout:g} s)")
                break
            try:
                reply = httpx.get(self.query_url(mirror, name), timeout=remaining,
                                  headers={"User-Agent": self.user_agent},
                                  follow_redirects=True)
                reply.raise_for_status()
                return parse_sesame_xml(reply.text, name)
            except (httpx.HTTPError, SesameUnavailable) as exc:
                failures.append(f"{mirror}: {_reason(exc)}")
        raise SesameUnavailable("; ".join(failures) or "no Sesame mirror configured")

    def reachable(self, timeout: float = 1.0) -> tuple[bool, str]:
        """Whether a TCP connection to any mirror opens within ``timeout`` (DNS included).

        Runs in a helper thread because name lookups ignore socket timeouts: a resolver
        that hangs must not hold the caller for longer than ``timeout``.
        """
        result: list[tuple[bool, str]] = []

        def probe() -> None:
            reasons = []
            for mirror in self.mirrors:
                parts = urlsplit(mirror)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                try:
                    with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                        result.append((True, mirror))
                        return
                except OSError as exc:
                    reasons.append(f"{parts.netloc}: {exc.strerror or exc}")
            result.append((False, "; ".join(reasons) or "no Sesame mirror configured"))

        worker = threading.Thread(target=probe, name="sesame-probe", daemon=True)
        worker.start()
        worker.join(timeout)
        return result[0] if result else (False, f"no answer within {timeout:g} s")


def parse_sesame_xml(text: str, asked: str) -> Resolution | None:
    """The first ``<Resolver>`` with a position in a Sesame XML reply; None if none has one.

    Only the ``<Sesame>…</Sesame>`` element is parsed: Sesame ends its replies with a
    ``<!--- ====Done… --->`` line that is not well-formed XML, and cutting the prologue
    also drops any DOCTYPE, so no entity can be declared, let alone expanded.
    """
    start, end = text.find("<Sesame"), text.rfind("</Sesame>")
    if start < 0 or end < 0:
        raise SesameUnavailable("reply is not Sesame XML")
    try:
        root = ET.fromstring(text[start:end + len("</Sesame>")])
    except ET.ParseError as exc:
        raise SesameUnavailable(f"unreadable Sesame XML: {exc}") from exc
    for resolver in root.iter("Resolver"):
        ra, dec = resolver.findtext("jradeg"), resolver.findtext("jdedeg")
        if not ra or not dec:
            continue
        try:
            position = float(ra), float(dec)
        except ValueError:
            continue
        canonical = tidy(resolver.findtext("oname") or asked)
        aliases: list[str] = []
        for alias in (tidy(a.text or "") for a in resolver.iter("alias")):
            if alias and alias != canonical and alias not in aliases:
                aliases.append(alias)
        return Resolution(name=asked, canonical=canonical, ra=position[0], dec=position[1],
                          resolver=_resolver_label(resolver.get("name", "")),
                          object_type=(resolver.findtext("otype") or "").strip() or None,
                          aliases=aliases)
    return None


def _resolver_label(attribute: str) -> str:
    """``"S=Simbad (via url):    1"`` → ``"sesame/simbad"``."""
    match = _RESOLVER_NAME.match(attribute)
    return f"sesame/{match.group(1).lower()}" if match else "sesame"


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    return str(exc) or type(exc).__name__
