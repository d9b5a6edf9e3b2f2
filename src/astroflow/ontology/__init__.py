"""astroflow's workflow ontology: MMODA class terms and what they mean for a service.

    >>> from astroflow.ontology import resolve
    >>> info = resolve("oda:PointOfInterestRA")
    >>> info.python_type, info.unit, info.role
    (<class 'float'>, 'deg', 'ra')
"""

from __future__ import annotations

from astroflow.ontology.model import ODA, UNIT, ClassInfo
from astroflow.ontology.ontology import AF, Ontology

__all__ = ["AF", "ODA", "UNIT", "ClassInfo", "Ontology", "resolve"]


def resolve(term: str) -> ClassInfo:
    """Resolve a term (``oda:Name``, ``unit:…``, full URI) in the package's ontology."""
    return Ontology.default().resolve(term)
