"""GRB / transient detection on any light curve: readers (FITS, ECSV, CSV, INTEGRAL SPI-ACS),
background, Bayesian blocks, excess significance, T90."""

from grb_detect.errors import AnalysisError
from grb_detect.lightcurve import LightCurve

__all__ = ["AnalysisError", "LightCurve"]
