"""Object name → sky position: Sesame when the network allows, the bundled catalogues always.

Order: Sesame first when online, because SIMBAD/NED/VizieR know millions of objects and
keep positions current; then the curated high-energy table (SIMBAD-quality positions for the
sources our services are about, and transients SIMBAD may lack), then OpenNGC. The bundled
catalogues are also the answer whenever Sesame is unreachable or does not know the name.
The curated table is deliberately not asked before Sesame: Sesame's positions are kept
current by CDS, and asking it first keeps one source of truth online; offline, the table
answers the well-known names at once (the reachability probe is bounded and remembered), so
"Vela" is the Vela pulsar with or without a network. A failed Sesame is reported to people as
"not reachable from this server"; the network's own reason goes to the log.

The Fermi-LAT 4FGL-DR4 catalogue joins when its file is in the data folder (`fermi`): its
own designations ("4FGL J0509.4+0542") are answered before Sesame, names that are the exact
association of one 4FGL source ("TXS 0506+056") before the bundled catalogues, and names
several 4FGL sources share after them; `astroflow.resolve.fermi` says why.

"Online" is decided by a quick TCP probe of the Sesame mirrors whose answer is kept for a
minute, so an offline site pays for one probe a minute, not one per name; a failed Sesame
query also marks it offline for that minute. ``ASTROFLOW_OFFLINE=1`` turns Sesame off.
Sesame's answers (found or not) are remembered for an hour, to be kind to CDS when a portal
asks for the same target again and again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from astroflow.resolve.catalogue import Catalogue
from astroflow.resolve.fermi import FermiCatalogue, catalogue_path, fermi_catalogue
from astroflow.resolve.high_energy import high_energy_sources
from astroflow.resolve.openngc import openngc
from astroflow.resolve.resolution import NameNotFound, Resolution
from astroflow.resolve.sesame import SesameClient, SesameUnavailable, mirrors_from_env

OFFLINE_VARIABLE = "ASTROFLOW_OFFLINE"
MAX_NAME_LENGTH = 200
# What a person reads when Sesame could not be asked: the network's own words (DNS errors,
# urlopen reasons) go to the server log, not into the answer a portal shows.
UNREACHABLE = "Sesame (not reachable from this server)"

log = logging.getLogger(__name__)


def load_catalogues() -> list[Catalogue]:
    """The bundled catalogues in the order they are asked (loaded once per process)."""
    return [high_energy_sources(), openngc()]


@dataclass
class AnswerCache:
    """The last ``size`` Sesame answers, each kept for ``ttl`` seconds."""

    ttl: float = 3600.0
    size: int = 1024
    _answers: OrderedDict[str, tuple[float, Resolution | None]] = field(
        default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, name: str) -> tuple[bool, Resolution | None]:
        with self._lock:
            kept = self._answers.get(name)
            if kept is None or time.monotonic() - kept[0] > self.ttl:
                return False, None
            self._answers.move_to_end(name)
            return True, kept[1]

    def put(self, name: str, answer: Resolution | None) -> None:
        with self._lock:
            self._answers[name] = (time.monotonic(), answer)
            self._answers.move_to_end(name)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)


@dataclass
class OnlineCheck:
    """Remembers for ``ttl`` seconds whether Sesame answered a probe (or a query)."""

    probe: Callable[[float], tuple[bool, str]]
    ttl: float = 60.0
    probe_timeout: float = 1.0
    _state: tuple[float, bool, str] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def status(self) -> tuple[bool, str]:
        """(online, why): probes at most once per ``ttl``."""
        with self._lock:
            now = time.monotonic()
            if self._state is None or now - self._state[0] > self.ttl:
                online, why = self.probe(self.probe_timeout)
                self._state = (time.monotonic(), online, why)
            return self._state[1], self._state[2]

    def record(self, online: bool, why: str) -> None:
        with self._lock:
            self._state = (time.monotonic(), online, why)


class NameResolver:
    """Resolves names with one Sesame client, one online check and the bundled catalogues."""

    def __init__(self, sesame: SesameClient | None = None, *, offline: bool = False,
                 online_ttl: float = 60.0, probe_timeout: float = 1.0,
                 catalogues: Callable[[], list[Catalogue]] = load_catalogues,
                 fermi: Callable[[], FermiCatalogue | None] = fermi_catalogue) -> None:
        self.sesame = sesame or SesameClient()
        self.offline = offline
        self.online = OnlineCheck(self.sesame.reachable, ttl=online_ttl,
                                  probe_timeout=probe_timeout)
        self._catalogues = catalogues
        self._fermi = fermi
        self.answers = AnswerCache()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> NameResolver:
        """Mirrors from ``ASTROFLOW_SESAME_URL``, offline if ``ASTROFLOW_OFFLINE`` is set, 4FGL
        from ``ASTROFLOW_DATA_DIR``."""
        return cls(SesameClient(mirrors_from_env(environ)), offline=_truthy(
            environ.get(OFFLINE_VARIABLE, "")),
            fermi=lambda: fermi_catalogue(catalogue_path(environ)))

    def catalogues(self) -> list[Catalogue]:
        return self._catalogues()

    def resolve(self, name: str, *, online: bool | None = None,
                timeout: float = 3.0) -> Resolution:
        """Position of ``name``; ``online``: None probes, True asks Sesame, False does not.

        Asked in turn: 4FGL designations, Sesame, exact 4FGL associations, the bundled
        catalogues, shared 4FGL associations (the 4FGL steps only when its file is there).

        Raises `NameNotFound` listing what was asked, and ValueError for a blank or overlong
        name.
        """
        asked = name.strip()
        if not asked:
            raise ValueError("an object name is required")
        if len(asked) > MAX_NAME_LENGTH:
            raise ValueError(f"an object name has at most {MAX_NAME_LENGTH} characters")
        fermi = self._fermi()
        found = fermi.designation(asked) if fermi is not None else None
        if found is not None:
            return found
        answer, sesame_said = self._ask_sesame(asked, online, timeout)
        if answer is not None:
            return answer
        catalogues = self.catalogues()
        found = fermi.association(asked, catalogues) if fermi is not None else None
        if found is not None:
            return found
        for catalogue in catalogues:
            found = catalogue.lookup(asked)
            if found is not None:
                return found
        found = fermi.shared_association(asked) if fermi is not None else None
        if found is not None:
            return found
        bundled = ", ".join(_describe(c) for c in catalogues)
        tried = [sesame_said, *([fermi.describe()] if fermi is not None else []),
                 f"the bundled catalogues ({bundled})"]
        raise NameNotFound(asked, tried)

    def _ask_sesame(self, name: str, online: bool | None,
                    timeout: float) -> tuple[Resolution | None, str]:
        if self.offline:
            return None, f"Sesame (offline: {OFFLINE_VARIABLE} is set)"
        if online is False:
            return None, "Sesame (not asked: offline mode requested)"
        asked_sesame = "Sesame (SIMBAD, NED, VizieR)"
        known, answer = self.answers.get(name)
        if known:
            return _copy_for(answer, name), asked_sesame
        if online is None:
            reachable, why = self.online.status()
            if not reachable:
                log.info("resolve %r: Sesame not asked, offline: %s", name, why)
                return None, UNREACHABLE
        try:
            answer = self.sesame.query(name, timeout=timeout)
        except SesameUnavailable as exc:
            self.online.record(False, str(exc))
            log.warning("resolve %r: Sesame unavailable: %s", name, exc)
            return None, UNREACHABLE
        self.online.record(True, "answered")
        self.answers.put(name, answer)
        return _copy_for(answer, name), asked_sesame


def _copy_for(answer: Resolution | None, name: str) -> Resolution | None:
    """A fresh Resolution per caller, so no caller can change a remembered answer."""
    return None if answer is None else replace(answer, name=name, aliases=list(answer.aliases))


def _describe(catalogue: Catalogue) -> str:
    if catalogue.resolver == "astroflow-catalogue":
        return f"{len(catalogue)} {catalogue.description}"
    return catalogue.description


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


_default: tuple[tuple[str, str], NameResolver] | None = None
_default_lock = threading.Lock()


def default_resolver(environ: Mapping[str, str] = os.environ) -> NameResolver:
    """The process-wide resolver, rebuilt when its environment variables change."""
    global _default
    settings = (environ.get("ASTROFLOW_SESAME_URL", ""), environ.get(OFFLINE_VARIABLE, ""))
    with _default_lock:
        if _default is None or _default[0] != settings:
            _default = (settings, NameResolver.from_env(environ))
        return _default[1]


def resolve(name: str, *, online: bool | None = None, timeout: float = 3.0) -> Resolution:
    """Sky position of an object name (see `NameResolver.resolve`), configured from the environment."""
    return default_resolver().resolve(name, online=online, timeout=timeout)
