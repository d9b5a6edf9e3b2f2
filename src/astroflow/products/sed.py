"""The SED table convention: how any service contributes points to a multi-messenger SED.

A service joins the multi-messenger SED by producing one table output in this form (any
number of rows; annotate it ``# oda:ODAAstropyTable`` or ``# oda:Spectrum``):

==================  ================  =====================================================
column              unit              meaning
==================  ================  =====================================================
``energy``          TeV (any energy)  the point's reference energy
``energy_min``      like ``energy``   lower edge of the band (or the limit's energy range)
``energy_max``      like ``energy``   upper edge
``e2dnde``          erg cm-2 s-1      E² dN/dE (for an upper limit: the limit)
``e2dnde_errn``     like ``e2dnde``   1-sigma error below (0 for a limit)
``e2dnde_errp``     like ``e2dnde``   1-sigma error above (0 for a limit)
``is_ul``           (bool)            True: ``e2dnde`` is an upper limit
``kind``            (str)             ``point`` (flux point), ``model`` (a curve, e.g. the
                                      butterfly's centre, with its band in the errors) or
                                      ``limit`` (an upper limit over a range)
``messenger``       (str)             ``gamma-rays``, ``neutrinos``, …
``instrument``      (str)             ``Fermi-LAT``, ``IceCube``, …
==================  ================  =====================================================

Table ``meta["sed_convention"] = "astroflow-sed/1"`` marks it; ``meta["sed_note"]`` may say
what the plot must state (e.g. the neutrino flavour convention). Any energy and flux units
astropy can convert are accepted; `combine` brings every table to TeV and erg cm-2 s-1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

CONVENTION = "astroflow-sed/1"
ENERGY_UNIT = "TeV"
FLUX_UNIT = "erg cm-2 s-1"
ENERGY_COLUMNS = ("energy", "energy_min", "energy_max")
FLUX_COLUMNS = ("e2dnde", "e2dnde_errn", "e2dnde_errp")
KINDS = ("point", "model", "limit")


class SEDError(ValueError):
    """A table that does not follow the convention; the message names the column."""


def sed_table(*, energy: Any, e2dnde: Any, messenger: str, instrument: str,
              energy_min: Any = None, energy_max: Any = None, e2dnde_errn: Any = None,
              e2dnde_errp: Any = None, is_ul: Any = None, kind: str | Sequence[str] = "point",
              note: str | None = None) -> Any:
    """An SED table in the convention, from astropy Quantities (or plain numbers in TeV and
    erg cm-2 s-1)."""
    import astropy.units as u
    from astropy.table import QTable

    energy_q = _quantity(energy, ENERGY_UNIT)
    n = len(np.atleast_1d(energy_q))
    flux = _quantity(e2dnde, FLUX_UNIT)
    zeros = np.zeros(n) * flux.unit
    table = QTable()
    table["energy"] = np.atleast_1d(energy_q)
    table["energy_min"] = np.atleast_1d(_quantity(energy_min, ENERGY_UNIT)
                                        if energy_min is not None else energy_q)
    table["energy_max"] = np.atleast_1d(_quantity(energy_max, ENERGY_UNIT)
                                        if energy_max is not None else energy_q)
    table["e2dnde"] = np.atleast_1d(flux)
    table["e2dnde_errn"] = (np.atleast_1d(_quantity(e2dnde_errn, FLUX_UNIT))
                            if e2dnde_errn is not None else zeros)
    table["e2dnde_errp"] = (np.atleast_1d(_quantity(e2dnde_errp, FLUX_UNIT))
                            if e2dnde_errp is not None else zeros)
    table["is_ul"] = (np.zeros(n, bool) if is_ul is None
                      else np.broadcast_to(np.asarray(is_ul, bool), (n,)).copy())
    kinds = [kind] * n if isinstance(kind, str) else list(kind)
    table["kind"] = kinds
    table["messenger"] = [messenger] * n
    table["instrument"] = [instrument] * n
    table.meta["sed_convention"] = CONVENTION
    if note:
        table.meta["sed_note"] = note
    for name in ENERGY_COLUMNS:
        table[name] = table[name].to(u.Unit(ENERGY_UNIT), equivalencies=u.spectral())
    for name in FLUX_COLUMNS:
        table[name] = table[name].to(u.Unit(FLUX_UNIT))
    validate(table)
    return table


def _quantity(value: Any, unit: str) -> Any:
    import astropy.units as u

    if isinstance(value, u.Quantity):
        return value
    return np.asarray(value, float) * u.Unit(unit)


def is_sed(table: Any) -> bool:
    return getattr(table, "meta", {}).get("sed_convention") == CONVENTION


def validate(table: Any) -> None:
    """Raise `SEDError` naming the first column that breaks the convention."""
    import astropy.units as u

    for name in (*ENERGY_COLUMNS, *FLUX_COLUMNS, "is_ul", "kind", "messenger", "instrument"):
        if name not in table.colnames:
            raise SEDError(f"SED table has no column {name!r} (convention {CONVENTION})")
    for names, unit in ((ENERGY_COLUMNS, ENERGY_UNIT), (FLUX_COLUMNS, FLUX_UNIT)):
        for name in names:
            column_unit = getattr(table[name], "unit", None)
            if column_unit is None:
                raise SEDError(f"SED column {name!r} has no unit (expected one like {unit})")
            try:
                (1 * u.Unit(column_unit)).to(unit, equivalencies=u.spectral())
            except u.UnitConversionError:
                raise SEDError(f"SED column {name!r} is in {column_unit}, which does not "
                               f"convert to {unit}") from None
    bad = sorted(set(map(str, table["kind"])) - set(KINDS))
    if bad:
        raise SEDError(f"SED column 'kind' has {bad}; allowed: {', '.join(KINDS)}")
    values = np.asarray(_plain(table["e2dnde"]), float)
    if np.any(~np.isfinite(values)) or np.any(values < 0):
        raise SEDError("SED column 'e2dnde' must be finite and not negative")


def _plain(column: Any) -> Any:
    return getattr(column, "value", column)


def combine(tables: Iterable[Any]) -> Any:
    """One table from several SED tables, in TeV and erg cm-2 s-1, notes kept by instrument."""
    import astropy.units as u
    from astropy.table import QTable, vstack

    parts, notes = [], {}
    for table in tables:
        validate(table)
        part = QTable(table, copy=True)
        for name in ENERGY_COLUMNS:
            part[name] = u.Quantity(part[name]).to(ENERGY_UNIT, equivalencies=u.spectral())
        for name in FLUX_COLUMNS:
            part[name] = u.Quantity(part[name]).to(FLUX_UNIT)
        for name in ("kind", "messenger", "instrument"):
            part[name] = [str(v) for v in part[name]]
        if table.meta.get("sed_note"):
            notes[str(part["instrument"][0]) if len(part) else "?"] = table.meta["sed_note"]
        part.meta = {}
        parts.append(part)
    if not parts:
        raise SEDError("no SED tables to combine")
    combined = vstack(parts, metadata_conflicts="silent")
    combined.meta["sed_convention"] = CONVENTION
    if notes:
        combined.meta["sed_notes"] = notes
    return combined
