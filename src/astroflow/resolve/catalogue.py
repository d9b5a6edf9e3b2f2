"""A bundled catalogue held in memory: every spelling key points at one entry.

Lookups are dictionary reads, so resolving offline costs microseconds once the catalogue
is loaded; loading happens once per process (see `high_energy` and `openngc`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from astroflow.resolve.names import name_key
from astroflow.resolve.resolution import Resolution


@dataclass(frozen=True)
class Entry:
    """One object of a bundled catalogue."""

    canonical: str
    ra: float
    dec: float
    object_type: str | None = None
    aliases: tuple[str, ...] = ()

    def resolution(self, asked: str, resolver: str) -> Resolution:
        return Resolution(name=asked, canonical=self.canonical, ra=self.ra, dec=self.dec,
                          resolver=resolver, object_type=self.object_type,
                          aliases=list(self.aliases))


@dataclass
class Catalogue:
    """Name keys → entries, for one resolver ("openngc", "astroflow-catalogue")."""

    resolver: str
    description: str                        # for "not found" messages, e.g. "OpenNGC"
    entries: list[Entry] = field(default_factory=list)
    _by_key: dict[str, Entry] = field(default_factory=dict, repr=False)

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)

    def index(self, name: str, entry: Entry) -> bool:
        """Point ``name`` at ``entry`` unless it already names something (first one wins)."""
        key = name_key(name)
        if not key or key in self._by_key:
            return False
        self._by_key[key] = entry
        return True

    def owner(self, name: str) -> Entry | None:
        return self._by_key.get(name_key(name))

    def lookup(self, name: str) -> Resolution | None:
        entry = self._by_key.get(name_key(name))
        return entry.resolution(name, self.resolver) if entry else None

    def __len__(self) -> int:
        return len(self.entries)
