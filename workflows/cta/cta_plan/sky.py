"""The source's spectral model: a user power law / log-parabola / cut-off power law, or the
4FGL-DR4 model of the nearest catalogue source extrapolated to CTAO energies."""

from __future__ import annotations

import os
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from .errors import AnalysisError

MODELS = ("power_law", "log_parabola", "cutoff_power_law", "4fgl")
CATALOG_FILE = "gll_psc_v35.fit"
REFERENCE = 1 * u.TeV


def spectral_model(kind: str, amplitude: float, index: float, beta: float = 0.0,
                   cutoff_TeV: float = 10.0):
    """A gammapy spectral model; `amplitude` is dN/dE at 1 TeV in cm-2 s-1 TeV-1."""
    from gammapy.modeling.models import (
        ExpCutoffPowerLawSpectralModel,
        LogParabolaSpectralModel,
        PowerLawSpectralModel,
    )

    if kind not in MODELS or kind == "4fgl":
        raise AnalysisError(f"model_source {kind!r} is not one of {', '.join(MODELS)}")
    if not (np.isfinite(amplitude) and amplitude > 0):
        raise AnalysisError(f"amplitude {amplitude!r} must be a positive dN/dE at 1 TeV "
                            "(cm-2 s-1 TeV-1)")
    if not -1 <= index <= 6:
        raise AnalysisError(f"index {index!r} is outside -1..6")
    amp = amplitude * u.Unit("cm-2 s-1 TeV-1")
    if kind == "power_law":
        return PowerLawSpectralModel(index=index, amplitude=amp, reference=REFERENCE)
    if kind == "log_parabola":
        if not 0 <= beta <= 2:
            raise AnalysisError(f"beta {beta!r} is outside 0..2")
        # gammapy's form: (E/E0)^(-alpha - beta ln(E/E0)), natural logarithm.
        return LogParabolaSpectralModel(alpha=index, beta=beta, amplitude=amp,
                                        reference=REFERENCE)
    if not cutoff_TeV > 0:
        raise AnalysisError(f"cutoff {cutoff_TeV!r} TeV must be positive")
    return ExpCutoffPowerLawSpectralModel(index=index, amplitude=amp, reference=REFERENCE,
                                          lambda_=1 / (cutoff_TeV * u.TeV))


def catalog_path(data_root: Path | None = None) -> Path:
    if data_root is None:
        root = os.environ.get("ASTROFLOW_DATA_DIR")
        if root:
            data_root = Path(root)
        else:
            from astroflow.datadir import default_data_dir

            data_root = default_data_dir()
    return Path(data_root) / "fermi-lat" / CATALOG_FILE


def from_4fgl(ra_deg: float, dec_deg: float, max_separation_deg: float = 0.5,
              data_root: Path | None = None):
    """(model, source name, separation deg) of the 4FGL-DR4 source nearest to the position.

    The catalogue's own spectral model (power law, log-parabola or PLEC4) is used as is
    above its fitted range: an extrapolation, which the product says.
    """
    path = catalog_path(data_root)
    if not path.is_file():
        raise AnalysisError(f"model_source '4fgl' needs the 4FGL-DR4 catalogue at {path}: run "
                            "`astroflow data fetch fermi-lat` first")
    catalog = _catalog(str(path))
    target = SkyCoord(ra_deg, dec_deg, unit="deg")
    separation = catalog.positions.separation(target).deg
    row = int(np.argmin(separation))
    if separation[row] > max_separation_deg:
        raise AnalysisError(f"no 4FGL-DR4 source within {max_separation_deg:g} deg of RA "
                            f"{ra_deg:g}, Dec {dec_deg:g} (nearest: "
                            f"{catalog.table['Source_Name'][row].strip()} at "
                            f"{separation[row]:.2f} deg)")
    source = catalog[row]
    return source.spectral_model(), source.name, float(separation[row])


_CATALOGS: dict[str, object] = {}


def _catalog(path: str):
    if path not in _CATALOGS:
        from gammapy.catalog import SourceCatalog4FGL

        _CATALOGS[path] = SourceCatalog4FGL(path)
    return _CATALOGS[path]
