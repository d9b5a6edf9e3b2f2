"""What one ontology class means to astroflow, once its superclasses are walked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ODA = "http://odahub.io/ontology#"
UNIT = "http://odahub.io/ontology/unit#"

Kind = Literal["parameter", "product", "other"]
# Roles bind a parameter to the portal's common query bar and to the MMODA facade.
Role = Literal[
    "ra", "dec", "start_time", "end_time", "time", "object_name", "radius",
    "energy", "file", "url", "token", "visibility",
]
# Product types understood by astroflow.products.
ProductType = Literal[
    "scalar", "text", "table", "image", "lightcurve", "spectrum", "picture", "binary", "file",
]


@dataclass(frozen=True)
class ClassInfo:
    """The resolved meaning of an ontology class (all inherited facts folded in)."""

    uri: str
    name: str
    kind: Kind
    python_type: type | None = None          # float, int, str, bool, list or dict for parameters
    unit: str | None = None                  # astropy unit string, e.g. "deg", "arcmin", "GeV"
    lower_limit: float | None = None
    upper_limit: float | None = None
    allowed_values: tuple | None = None
    format: str | None = None                # astropy.time format for times: "isot", "mjd", ...
    role: Role | None = None
    product_type: ProductType | None = None  # set when kind == "product"
    optional: bool = False                   # a class that implies None is allowed
    label: str | None = None
    description: str | None = None
    superclasses: tuple[str, ...] = field(default_factory=tuple)  # full URIs, nearest first

    @property
    def curie(self) -> str:
        """Short form, ``oda:Name`` for odahub classes."""
        return "oda:" + self.uri[len(ODA):] if self.uri.startswith(ODA) else self.uri
