"""Object name → ICRS position: CDS Sesame online, bundled catalogues (curated high-energy
sources, OpenNGC, and Fermi-LAT 4FGL-DR4 when its file is in the data folder) offline.

    >>> from astroflow.resolve import resolve
    >>> r = resolve("Crab", online=False)
    >>> r.canonical, round(r.ra, 4), round(r.dec, 4), r.resolver
    ('Crab Nebula', 83.6331, 22.0145, 'astroflow-catalogue')
"""

from astroflow.resolve.names import name_key
from astroflow.resolve.resolution import RESOLVERS, NameNotFound, Resolution
from astroflow.resolve.resolver import NameResolver, default_resolver, load_catalogues, resolve
from astroflow.resolve.sesame import SesameClient, SesameUnavailable, parse_sesame_xml

__all__ = [
    "RESOLVERS",
    "NameNotFound",
    "NameResolver",
    "Resolution",
    "SesameClient",
    "SesameUnavailable",
    "default_resolver",
    "load_catalogues",
    "name_key",
    "parse_sesame_xml",
    "resolve",
]
