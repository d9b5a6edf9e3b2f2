"""The Fermi-LAT 4FGL-DR4 catalogue as a name resolver, when its file has been fetched.

The file is ``$ASTROFLOW_DATA_DIR/fermi-lat/gll_psc_v35.fit`` (the fermi-lat workflow fetches
it; the data folder defaults to ``~/.local/share/astroflow``). When it is absent nothing
changes. When present, every 4FGL source answers by its name and by the names of its
counterparts and earlier gamma-ray detections, always with the catalogue position of the
source (``RAJ2000``/``DEJ2000``, the gamma-ray localisation) and resolver ``"4FGL-DR4"``.

Which answer wins where other resolvers also know a name (see `NameResolver.resolve`):

1. **4FGL designations** — ``4FGL J0509.4+0542`` in any spelling the other catalogues accept,
   also bare (``J0509.4+0542``), with a release (``4FGL-DR4 J0509.4+0542``), and the older
   4FGL names of sources renamed since (``ASSOC_4FGL``) — are answered here first, before
   Sesame: the catalogue defines where its sources are, and SIMBAD would give the
   counterpart's position instead.
2. **Exact associations**: a name that is the counterpart (``ASSOC1``, ``ASSOC2``), the
   extended-source template, the TeVCat counterpart or an earlier gamma-ray designation
   (3FGL/2FGL/1FGL, 3FHL/2FHL/1FHL, 2AGL, 3EG, EGR) of exactly one 4FGL source
   ("TXS 0506+056", "Mkn 421" so also "Mrk 421", "PKS 2155-304", "3FGL J0509.4+0541").
   Offline these come before the bundled catalogues, so a gamma-ray user gets the position
   the LAT analysis is built on; online Sesame is still asked first, as for every name that
   is not a 4FGL designation. A name the bundled catalogues know counts as the association
   when their entry lists it under another name ("Vela", "PSR B0833-45" and "Vela pulsar"
   are the curated entry that also lists PSR J0835-4510, the counterpart of
   4FGL J0835.3-4510), so all names of one object give one answer.
3. **Shared associations**: a name several 4FGL sources carry ("Crab Nebula" names the
   synchrotron and inverse-Compton components of the Crab, "SNR G343.0-06.0" eleven
   sources) is not one source: the bundled catalogues' answer stands ("Crab" stays the
   curated Crab Nebula); only names they lack fall back to the source where the name is
   the first association, the most significant (``Signif_Avg``) of those.

``ASSOC2`` entries such as "Vela X field" say a source lies in the field of an extended
source, not that it is that source, and name nothing here.

Reading the FITS file (only the needed columns) and keying some 24,000 names takes about
0.25 s, so the finished index is kept beside the catalogue as a small JSON file
(`INDEX_SUFFIX`), rebuilt when the catalogue's size or modification time change; loading it
takes ~20 ms. Where the folder is read-only the index is built in memory each time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroflow.datadir import default_data_dir
from astroflow.resolve.catalogue import Catalogue, Entry
from astroflow.resolve.names import name_key
from astroflow.resolve.resolution import Resolution

log = logging.getLogger(__name__)

RESOLVER = "4FGL-DR4"
CATALOGUE_FILE = Path("fermi-lat") / "gll_psc_v35.fit"
HDU = "LAT_Point_Source_Catalog"
INDEX_SUFFIX = ".astroflow-names.json"
INDEX_FORMAT = 1
# Association columns, most telling first: the rank decides among sources sharing a name.
ASSOCIATIONS = ("ASSOC1", "ASSOC2", "Extended_Source_Name", "ASSOC_TEV", "ASSOC_FHL",
                "ASSOC_FGL", "ASSOC_GAM1", "ASSOC_GAM2", "ASSOC_GAM3")
COLUMNS = ("Source_Name", "RAJ2000", "DEJ2000", "CLASS1", "Signif_Avg", "ASSOC_4FGL",
           *ASSOCIATIONS)
# CLASS1 in words (4FGL paper, table 6); upper case means identified, lower case associated.
CLASSES = {
    "psr": "Pulsar", "msp": "Millisecond pulsar", "pwn": "Pulsar wind nebula",
    "snr": "Supernova remnant", "spp": "Supernova remnant or pulsar wind nebula",
    "glc": "Globular cluster", "sfr": "Star-forming region", "hmb": "High-mass binary",
    "lmb": "Low-mass binary", "bin": "Binary", "nov": "Nova", "bll": "BL Lac type of blazar",
    "fsrq": "Flat-spectrum radio quasar", "rdg": "Radio galaxy",
    "agn": "Non-blazar active galaxy", "ssrq": "Soft-spectrum radio quasar",
    "css": "Compact steep-spectrum radio source",
    "bcu": "Blazar candidate of uncertain type", "nlsy1": "Narrow-line Seyfert 1",
    "sey": "Seyfert galaxy", "sbg": "Starburst galaxy", "gal": "Normal galaxy",
    "unk": "Gamma-ray source of unknown nature", "gc": "Galactic centre",
}
# "4FGL J…", "4FGL-DR4 J…", "4FGL_DR3 J…", "J…": one key, "4fglj…".
_DESIGNATION = re.compile(r"^(?:4fgl(?:dr\d)?)?(j\d.*)$")

Row = tuple[str, float, float, str | None, list[str]]  # name, ra, dec, type, aliases


@dataclass
class FermiCatalogue:
    """4FGL sources and three name indexes: designations, exact and shared associations."""

    path: Path
    sources: list[Row] = field(default_factory=list)
    designations: dict[str, int] = field(default_factory=dict)
    associations: dict[str, int] = field(default_factory=dict)
    shared: dict[str, int] = field(default_factory=dict)
    problem: str | None = None          # set when the file could not be read

    def describe(self) -> str:
        """For "not found" messages."""
        if self.problem:
            return f"{RESOLVER} ({self.path}: {self.problem})"
        return f"{RESOLVER} ({len(self.sources)} Fermi-LAT sources)"

    def designation(self, name: str) -> Resolution | None:
        """The source a 4FGL name designates (tier 1)."""
        match = _DESIGNATION.match(name_key(name))
        return self._answer(name, self.designations.get("4fgl" + match[1]) if match else None)

    def association(self, name: str, known: Sequence[Catalogue] = ()) -> Resolution | None:
        """The one source ``name`` is an exact association of, directly or through the entry
        of the first of ``known`` (the bundled catalogues) that knows it (tier 2)."""
        key = name_key(name)
        if key in self.associations:
            return self._answer(name, self.associations[key])
        for catalogue in known:
            entry = catalogue.owner(name)
            if entry is None:
                continue
            found = {self.associations.get(name_key(n))
                     for n in (entry.canonical, *entry.aliases)} - {None}
            return self._answer(name, found.pop() if len(found) == 1 else None)
        return None

    def shared_association(self, name: str) -> Resolution | None:
        """The first-ranked, most significant source among those sharing ``name`` (tier 3)."""
        return self._answer(name, self.shared.get(name_key(name)))

    def _answer(self, asked: str, index: int | None) -> Resolution | None:
        if index is None:
            return None
        canonical, ra, dec, kind, aliases = self.sources[index]
        return Entry(canonical, ra, dec, kind, tuple(aliases)).resolution(asked, RESOLVER)

    def __len__(self) -> int:
        return len(self.sources)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_rows(cls, path: Path, columns: Mapping[str, list[Any]]) -> FermiCatalogue:
        """The index from the catalogue's columns (as lists; see `COLUMNS`)."""
        catalogue = cls(path)
        significance = [float(s) if s == s else 0.0 for s in columns["Signif_Avg"]]
        claims: dict[str, set[int]] = {}     # association key → sources naming it
        best: dict[str, tuple[int, float, int]] = {}  # key → (-rank, significance, source)
        old_names: dict[str, int] = {}
        for i, source in enumerate(columns["Source_Name"]):
            canonical = source.strip()
            ra, dec = _degrees(columns["RAJ2000"][i]), _degrees(columns["DEJ2000"][i])
            if not canonical or not (0 <= ra < 360 and -90 <= dec <= 90):
                raise ValueError(f"{source!r}: no name or a position out of range")
            names: dict[str, str] = {name_key(canonical): canonical}
            for rank, column in enumerate(("ASSOC_4FGL", *ASSOCIATIONS)):
                alias = columns[column][i].strip()
                key = name_key(alias)
                if not key or alias.endswith(" field") or key in names:
                    continue
                names[key] = alias
                if column == "ASSOC_4FGL":
                    previous = old_names.get(key)
                    if previous is None or significance[i] > significance[previous]:
                        old_names[key] = i
                    continue
                claims.setdefault(key, set()).add(i)
                candidate = (-rank, significance[i], i)
                if key not in best or candidate[:2] > best[key][:2]:
                    best[key] = candidate
            catalogue.sources.append(
                (canonical, ra, dec, _object_type(columns["CLASS1"][i]), list(names.values())[1:]))
            catalogue.designations[name_key(canonical)] = i
        for key, i in old_names.items():
            catalogue.designations.setdefault(key, i)
        for key, sources in claims.items():
            if len(sources) == 1:
                catalogue.associations[key] = next(iter(sources))
            else:
                catalogue.shared[key] = best[key][2]
        return catalogue

    def to_json(self, stamp: list[int]) -> dict[str, Any]:
        return {"format": INDEX_FORMAT, "catalogue": stamp, "sources": self.sources,
                "designations": self.designations, "associations": self.associations,
                "shared": self.shared}

    @classmethod
    def from_json(cls, path: Path, doc: dict[str, Any]) -> FermiCatalogue:
        return cls(path, [tuple(row) for row in doc["sources"]], doc["designations"],
                   doc["associations"], doc["shared"])


def _degrees(value: float) -> float:
    """A float32 catalogue value as written ("77.3593", not 77.35929870605469)."""
    import numpy as np

    return float(str(np.float32(value)))


def _object_type(code: str) -> str:
    code = code.strip()
    if not code:
        return "Unassociated gamma-ray source"
    words = CLASSES.get(code.lower(), code)
    return f"{words} (identified)" if code.isupper() else words


# ---------------------------------------------------------------------- loading

def catalogue_path(environ: Mapping[str, str] = os.environ) -> Path:
    return default_data_dir(environ) / CATALOGUE_FILE


_loaded: dict[Path, tuple[list[int], FermiCatalogue]] = {}
_lock = threading.Lock()


def fermi_catalogue(path: Path | None = None) -> FermiCatalogue | None:
    """The 4FGL index of ``path`` (default `catalogue_path`), None when there is no file.

    Read once per process and again only when the file changes (one ``stat`` per call).
    """
    path = catalogue_path() if path is None else Path(path)
    try:
        status = path.stat()
    except OSError:
        return None
    stamp = [status.st_size, status.st_mtime_ns]
    with _lock:
        kept = _loaded.get(path)
        if kept is None or kept[0] != stamp:
            kept = (stamp, _load(path, stamp))
            _loaded[path] = kept
        return kept[1]


def _load(path: Path, stamp: list[int]) -> FermiCatalogue:
    index = path.with_name(path.name + INDEX_SUFFIX)
    # A missing, stale or damaged index is rebuilt from the catalogue below.
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        doc = json.loads(index.read_text("utf-8"))
        if doc.get("format") == INDEX_FORMAT and doc.get("catalogue") == stamp:
            return FermiCatalogue.from_json(path, doc)
    try:
        catalogue = FermiCatalogue.from_rows(path, read_columns(path))
    except Exception as exc:  # a broken download must not break resolving other names
        log.warning("cannot read the 4FGL catalogue %s: %s", path, exc)
        return FermiCatalogue(path, problem=f"unreadable: {exc}")
    try:
        partial = index.with_name(f"{index.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(catalogue.to_json(stamp), separators=(",", ":")), "utf-8")
        os.replace(partial, index)
    except OSError as exc:
        log.info("4FGL name index not kept beside %s (%s): built in memory", path, exc)
    return catalogue


def read_columns(path: Path) -> dict[str, list[Any]]:
    """The `COLUMNS` of the point-source table, as lists."""
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdus:
        table = hdus[HDU].data
        return {column: table[column].tolist() for column in COLUMNS}
