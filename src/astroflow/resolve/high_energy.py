"""The curated table of well-known high-energy and multi-messenger sources shipped with astroflow.

OpenNGC knows galaxies and nebulae but not Geminga, Cyg X-1, TXS 0506+056 or GRB 221009A,
which are the names users of an X-ray, gamma-ray or neutrino service type first. The table
(`high_energy_sources.ecsv`) gives each a SIMBAD-quality ICRS position, a type in words,
aliases and where the position comes from, and is read with astropy's ECSV reader so its
units are checked, not assumed.
"""

from __future__ import annotations

import threading
from functools import cache
from importlib.resources import files

from astroflow.errors import AstroflowError
from astroflow.resolve.catalogue import Catalogue, Entry

RESOLVER = "astroflow-catalogue"
TABLE = "high_energy_sources.ecsv"
_lock = threading.Lock()


class CatalogueError(AstroflowError):
    """The bundled table is inconsistent (a packaging or editing mistake, caught at load)."""


def high_energy_sources() -> Catalogue:
    """The curated catalogue, read once per process."""
    with _lock:
        return _load()


@cache
def _load() -> Catalogue:
    from astropy import units as u
    from astropy.table import Table

    table = Table.read(str(files("astroflow.resolve") / TABLE), format="ascii.ecsv")
    if table["ra"].unit != u.deg or table["dec"].unit != u.deg:
        raise CatalogueError(f"{TABLE}: ra and dec must be in degrees")
    table = table.filled("") if table.masked or table.has_masked_columns else table
    catalogue = Catalogue(RESOLVER, "high-energy sources")
    for row in table:
        aliases = tuple(a.strip() for a in str(row["aliases"]).split("|") if a.strip())
        entry = Entry(str(row["name"]), float(row["ra"]), float(row["dec"]),
                      str(row["object_type"]) or None, aliases)
        if not (0 <= entry.ra < 360 and -90 <= entry.dec <= 90):
            raise CatalogueError(f"{TABLE}: {entry.canonical}: position out of range")
        catalogue.add(entry)
        for name in (entry.canonical, *aliases):
            owner = catalogue.owner(name)
            if owner is not None and owner is not entry:
                raise CatalogueError(f"{TABLE}: {name!r} names both {owner.canonical!r} "
                                     f"and {entry.canonical!r}")
            catalogue.index(name, entry)
    return catalogue
