"""Fermi-LAT services on the 4FGL-DR4 catalogue (gll_psc_v35.fit): cone search, SED, light curve."""

from .errors import AnalysisError

__all__ = ["AnalysisError"]
