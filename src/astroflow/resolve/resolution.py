"""What a name resolves to, and the error when nothing knows it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from astroflow.errors import AstroflowError

#: The resolvers that can answer, in the words the API reports them.
RESOLVERS = ("sesame/simbad", "sesame/ned", "sesame/vizier", "openngc", "astroflow-catalogue",
             "4FGL-DR4")


@dataclass
class Resolution:
    """Sky position of a named object: ICRS degrees, and who said so."""

    name: str                       # as asked
    canonical: str                  # the answering catalogue's main name, e.g. "M 31"
    ra: float                       # degrees, ICRS
    dec: float                      # degrees, ICRS
    resolver: str                   # one of RESOLVERS (or "sesame/<database>" for a new one)
    object_type: str | None = None
    aliases: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NameNotFound(AstroflowError):
    """No resolver knows the name; the message says which ones were asked."""

    def __init__(self, name: str, tried: list[str]) -> None:
        self.name = name
        self.tried = tried
        where = " nor in ".join(tried) if len(tried) <= 2 else (
            ", ".join(tried[:-1]) + " nor in " + tried[-1])
        super().__init__(f"{name!r} was not found in {where}; check the spelling, or enter "
                         "RA and Dec directly")
