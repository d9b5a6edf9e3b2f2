"""The 4FGL-DR4 catalogue: cone search, lookup by name, position matching, SED, light curve.

Searches run on the numpy cache written by `data.fetch` (milliseconds). Spectral models are
gammapy's: `SourceCatalogObject4FGL.spectral_model` made from the cached row, which gives the
same model as gammapy's `SourceCatalog4FGL` reading the FITS file (tested) without its 0.4 s
read; that full reader is kept for cross-checks (`gammapy_source`). Band flux points and the yearly light curve are the catalogue's own
columns (`nuFnu_Band`, `Flux_Band`, `Flux_History`), with the catalogue's upper-limit rule:
where the lower 1-sigma error is NaN the value is a limit, flux + ERRUPLIM (2) × upper error.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import numpy as np

from . import data
from .errors import AnalysisError

ASSOCIATION_COLUMNS = ("ASSOC1", "ASSOC2", "ASSOC_FGL", "ASSOC_FHL", "ASSOC_4FGL",
                       "ASSOC_GAM1", "ASSOC_GAM2", "ASSOC_GAM3", "ASSOC_TEV",
                       "Extended_Source_Name")
# Common spellings the catalogue writes differently (normalised forms).
ALIASES = {"mrk": "mkn"}
MODEL_INDEX = {"PowerLaw": "PL_Index", "LogParabola": "LP_Index",
               "PLSuperExpCutoff": "PLEC_IndexS", "PLSuperExpCutoff4": "PLEC_IndexS"}
CLASS_NAMES = {
    "psr": "pulsar", "pwn": "pulsar wind nebula", "snr": "supernova remnant",
    "spp": "SNR or PWN", "glc": "globular cluster", "sfr": "star-forming region",
    "hmb": "high-mass binary", "lmb": "low-mass binary", "bin": "binary", "nov": "nova",
    "bll": "BL Lac", "fsrq": "FSRQ", "rdg": "radio galaxy", "agn": "AGN", "ssrq": "SSRQ",
    "css": "compact steep spectrum", "bcu": "blazar (uncertain type)", "nlsy1": "NLSy1",
    "sey": "Seyfert", "sbg": "starburst galaxy", "gal": "normal galaxy", "unk": "unknown",
    "gc": "Galactic centre", "msp": "millisecond pulsar", "": "unassociated",
}
BAND_LABEL = "100 MeV-100 GeV"


def normalise(name: str) -> str:
    """Case-, space-, underscore-insensitive form of a source name; `4FGL` prefix optional."""
    text = re.sub(r"[\s_]+", "", str(name)).lower()
    for alias, canonical in ALIASES.items():
        if text.startswith(alias):
            text = canonical + text[len(alias):]
    return text


def angular_separation(ra1: Any, dec1: Any, ra2: Any, dec2: Any) -> np.ndarray:
    """Great-circle distance in degrees (Vincenty, stable at every distance)."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(x, float)) for x in (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    s1, c1, s2, c2 = np.sin(dec1), np.cos(dec1), np.sin(dec2), np.cos(dec2)
    num = np.hypot(c2 * np.sin(dra), c1 * s2 - s1 * c2 * np.cos(dra))
    return np.degrees(np.arctan2(num, s1 * s2 + c1 * c2 * np.cos(dra)))


class Catalogue:
    """The catalogue's columns (numpy arrays keyed by FITS column name) and what it answers."""

    def __init__(self, columns: dict[str, np.ndarray], header: dict[str, Any], dest: Path):
        self.columns = columns
        self.header = header
        self.dest = Path(dest)
        self.units: dict[str, str] = header.get("units", {})
        self.names = columns["Source_Name"]
        self.ra = columns["RAJ2000"].astype(float)
        self.dec = columns["DEJ2000"].astype(float)
        self._index: dict[str, list[int]] | None = None

    @classmethod
    def load(cls, dest: Path | None = None) -> Catalogue:
        dest = Path(dest) if dest is not None else data.default_dir()
        return _load(str(dest.resolve()))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def fits_path(self) -> Path:
        return data.catalog_path(self.dest)

    # -- finding sources -----------------------------------------------------------------

    def cone(self, ra: float, dec: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the sources within `radius` degrees, nearest first, and their
        separations (deg)."""
        sep = angular_separation(ra, dec, self.ra, self.dec)
        inside = np.flatnonzero(sep <= radius)
        order = inside[np.argsort(sep[inside], kind="stable")]
        return order, sep[order]

    def lookup(self, name: str) -> list[int]:
        """Rows whose 4FGL name or an association name is `name` (case and spaces ignored;
        "4FGL" may be left out), brightest (Energy_Flux100) first."""
        if self._index is None:
            index: dict[str, list[int]] = {}
            for column in ("Source_Name", *ASSOCIATION_COLUMNS):
                if column not in self.columns:
                    continue
                for i, value in enumerate(self.columns[column]):
                    if value:
                        key = normalise(value)
                        rows = index.setdefault(key, [])
                        if i not in rows:
                            rows.append(i)
                        if column == "Source_Name":
                            index.setdefault(key.removeprefix("4fgl"), rows)
            self._index = index
        rows = self._index.get(normalise(name), [])
        flux = self.columns["Energy_Flux100"]
        return sorted(rows, key=lambda i: -float(np.nan_to_num(flux[i])))

    def match(self, ra: float, dec: float, radius: float) -> tuple[int, float] | None:
        """The source nearest to (ra, dec) within `radius` degrees, with its separation."""
        rows, sep = self.cone(ra, dec, radius)
        return (int(rows[0]), float(sep[0])) if len(rows) else None

    def find(self, src_name: str, ra: float, dec: float, radius: float,
             match_by: str = "auto") -> tuple[int, str]:
        """One source for a service: by name (`match_by` "name"), by position ("position"), or
        ("auto") by name when the name is a 4FGL name or association, else by position.
        Returns the row and a sentence saying how it was chosen."""
        if match_by not in ("auto", "name", "position"):
            raise AnalysisError(f"match_by must be auto, name or position, not {match_by!r}")
        if match_by in ("auto", "name") and str(src_name).strip():
            rows = self.lookup(src_name)
            if rows:
                how = f"{self.names[rows[0]]} is {src_name!r} by name"
                if len(rows) > 1:
                    others = ", ".join(str(self.names[i]) for i in rows[1:])
                    how += f" (the brightest of {len(rows)}; also {others})"
                return rows[0], how
            if match_by == "name":
                raise AnalysisError(f"no 4FGL-DR4 source is named or associated with "
                                    f"{src_name!r} (4FGL names such as '4FGL J0534.5+2200' "
                                    "and association names such as 'Mkn 421' are known)")
        found = self.match(ra, dec, radius)
        if found is None:
            named = (f"; {src_name!r} is not a 4FGL name or association either"
                     if match_by == "auto" and str(src_name).strip() else "")
            raise AnalysisError(f"no 4FGL source within {radius:g} deg of "
                                f"RA {ra:.4f}, Dec {dec:.4f}{named}")
        row, sep = found
        return row, f"{self.names[row]} is the nearest 4FGL source, {sep:.3f} deg away"

    # -- one source ----------------------------------------------------------------------

    def value(self, column: str, row: int) -> Any:
        return self.columns[column][row]

    def quantity(self, column: str, row: int | np.ndarray | slice) -> Any:
        import astropy.units as u

        unit = self.units.get(column, "")
        return u.Quantity(self.columns[column][row], _unit(unit))

    def model_index(self, row: int) -> float:
        """The (local, at the pivot for log-parabolas) photon index of the catalogue model."""
        column = MODEL_INDEX.get(str(self.columns["SpectrumType"][row]), "PL_Index")
        return float(self.columns[column][row])

    def association(self, row: int) -> str:
        return str(self.columns["ASSOC1"][row]) or str(self.columns["ASSOC2"][row])

    def label(self, row: int) -> str:
        """`4FGL J1104.4+3812 (Mkn 421)`, or the 4FGL name alone for an unassociated source."""
        association = self.association(row)
        return f"{self.names[row]} ({association})" if association else str(self.names[row])

    def summary(self, rows: np.ndarray, separations: np.ndarray | None = None) -> Any:
        """The cone-search table of `rows`."""
        import astropy.units as u
        from astropy.table import QTable

        rows = np.asarray(rows, int)
        c = self.columns
        t = QTable()
        t["name"] = np.asarray(self.names[rows], str)
        t["class"] = np.asarray(c["CLASS1"][rows], str)
        t["association"] = [self.association(i) for i in rows]
        t["energy_flux"] = self.quantity("Energy_Flux100", rows).to(u.erg / u.cm**2 / u.s)
        t["energy_flux_err"] = self.quantity("Unc_Energy_Flux100", rows).to(
            u.erg / u.cm**2 / u.s)
        t["photon_flux"] = self.quantity("Flux1000", rows).to(1 / u.cm**2 / u.s)
        t["photon_flux_err"] = self.quantity("Unc_Flux1000", rows).to(1 / u.cm**2 / u.s)
        t["spectral_model"] = np.asarray(c["SpectrumType"][rows], str)
        t["index"] = [self.model_index(i) for i in rows]
        t["significance"] = c["Signif_Avg"][rows].astype(float)
        t["variability_index"] = c["Variability_Index"][rows].astype(float)
        t["ra"] = self.ra[rows] * u.deg
        t["dec"] = self.dec[rows] * u.deg
        if separations is not None:
            t["separation"] = np.asarray(separations, float) * u.deg
        t["conf95_semimajor"] = c["Conf_95_SemiMajor"][rows].astype(float) * u.deg
        t["conf95_semiminor"] = c["Conf_95_SemiMinor"][rows].astype(float) * u.deg
        t["conf95_posang"] = c["Conf_95_PosAng"][rows].astype(float) * u.deg
        t.meta.update({
            "catalogue": data.CATALOG_RELEASE,
            "energy_flux": "Energy_Flux100, 100 MeV-100 GeV",
            "photon_flux": "Flux1000, 1-100 GeV",
            "index": "photon index of the catalogue model (LP_Index at the pivot for "
                     "LogParabola, PLEC_IndexS for PLSuperExpCutoff, else PL_Index)",
        })
        return t

    def flux_points(self, row: int) -> dict[str, Any]:
        """The band points (of eight, 50 MeV-1 TeV) as Quantities: e_min, e_max, e_ref
        (geometric centre), e2dnde (`nuFnu_Band`), e2dnde_errn/errp (scaled from
        `Unc_Flux_Band`), is_ul and, for limits, e2dnde = the 2-sigma upper limit. Bands the
        catalogue gives no number for (a component fitted only above some energy, such as the
        Crab Nebula's inverse-Compton one) are left out, not drawn as infinite limits."""
        import astropy.units as u

        edges = u.Quantity(self.header["band_edges_mev"], u.MeV)
        flux = self.columns["Flux_Band"][row].astype(float)
        unc = self.columns["Unc_Flux_Band"][row].astype(float)
        nufnu = self.columns["nuFnu_Band"][row].astype(float)
        errn, errp = -unc[:, 0], unc[:, 1]
        is_ul = ~np.isfinite(errn)
        ratio = np.divide(nufnu, flux, out=np.zeros_like(nufnu), where=flux > 0)
        k = float(self.header["meta"].get("ERRUPLIM", 2.0))
        e2 = np.where(is_ul, (flux + k * errp) * ratio, nufnu)
        unit = u.erg / u.cm**2 / u.s
        given = np.isfinite(e2) & (e2 >= 0)
        points = {
            "e_min": edges[:-1], "e_max": edges[1:], "e_ref": np.sqrt(edges[:-1] * edges[1:]),
            "e2dnde": e2 * unit, "e2dnde_errn": np.where(is_ul, 0, errn * ratio) * unit,
            "e2dnde_errp": np.where(is_ul, 0, errp * ratio) * unit, "is_ul": is_ul,
            "sqrt_ts": self.columns["Sqrt_TS_Band"][row].astype(float),
        }
        return {key: value[given] for key, value in points.items()}

    def light_curve(self, row: int) -> Any:
        """The yearly photon flux history (100 MeV-100 GeV) with the catalogue's errors and
        2-sigma upper limits; times in MJD (TT)."""
        import astropy.units as u
        from astropy.table import QTable

        meta = self.header["meta"]
        mjdref = float(meta["MJDREFI"]) + float(meta["MJDREFF"])
        edges = np.asarray(self.header["hist_start_met"], float) / 86400.0 + mjdref
        flux = self.columns["Flux_History"][row].astype(float)
        unc = self.columns["Unc_Flux_History"][row].astype(float)
        sqrt_ts = self.columns["Sqrt_TS_History"][row].astype(float)
        errn, errp = -unc[:, 0], unc[:, 1]
        is_ul = ~np.isfinite(errn)
        k = float(meta.get("ERRUPLIM", 2.0))
        unit = 1 / u.cm**2 / u.s
        t = QTable()
        t["time"] = 0.5 * (edges[:-1] + edges[1:]) * u.d
        t["time_min"] = edges[:-1] * u.d
        t["time_max"] = edges[1:] * u.d
        t["flux"] = flux * unit
        t["flux_errn"] = np.where(is_ul, np.nan, errn) * unit
        t["flux_errp"] = np.where(is_ul, np.nan, errp) * unit
        t["flux_ul"] = np.where(is_ul, flux + k * errp, np.nan) * unit
        t["is_ul"] = is_ul
        t.meta.update({"source": str(self.names[row]), "band": BAND_LABEL,
                       "time_scale": "tt", "time_format": "mjd",
                       "variability_index": float(self.columns["Variability_Index"][row]),
                       "sqrt_ts": [float(x) for x in sqrt_ts],
                       "catalogue": data.CATALOG_RELEASE})
        return t

    # -- gammapy -------------------------------------------------------------------------

    def gammapy_source(self, row: int) -> Any:
        """gammapy's `SourceCatalogObject4FGL` for this row, from the whole FITS catalogue (read
        once per process: about 0.4 s)."""
        return _gammapy_catalog(str(self.fits_path))[str(self.names[row])]

    def spectral_model(self, row: int) -> Any:
        """gammapy's model of the catalogue spectrum, made by gammapy's own
        `SourceCatalogObject4FGL.spectral_model` from this row of the cache (no FITS read)."""
        from gammapy.catalog import SourceCatalogObject4FGL

        values: dict[str, Any] = {}
        for name, column in self.columns.items():
            if column.ndim != 1:
                continue
            values[name] = self.quantity(name, row) if name in self.units else column[row]
        model = SourceCatalogObject4FGL(data=values).spectral_model()
        for parameter in model.parameters:  # no uncertainty: fixed in the catalogue fit (as
            if not np.isfinite(parameter.error):  # gammapy reads it from the FITS file: 0)
                parameter.error = 0.0
        return model

    def butterfly(self, row: int, energies: Any) -> tuple[Any, Any, Any]:
        """E² dN/dE of the catalogue model at `energies` with its 1-sigma band (lower and upper
        errors, from gammapy's error propagation of the catalogue uncertainties)."""
        import astropy.units as u

        model = self.spectral_model(row)
        energies = u.Quantity(energies)
        dnde, errn, errp = model.evaluate_error(energies)
        e2 = (energies**2).to(u.erg**2)
        unit = u.erg / u.cm**2 / u.s
        return (e2 * dnde).to(unit), (e2 * errn).to(unit), (e2 * errp).to(unit)


def _unit(text: str) -> Any:
    import astropy.units as u

    if not text:
        return u.dimensionless_unscaled
    return u.Unit(text.replace("ph ", "").replace("ph", ""), parse_strict="silent")


@functools.lru_cache(maxsize=4)
def _load(dest: str) -> Catalogue:
    columns, header = data.load_arrays(Path(dest))
    return Catalogue(columns, header, Path(dest))


@functools.lru_cache(maxsize=2)
def _gammapy_catalog(path: str) -> Any:
    import warnings

    from gammapy.catalog import SourceCatalog4FGL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SourceCatalog4FGL(path)
