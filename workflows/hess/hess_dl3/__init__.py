"""H.E.S.S. services on GADF DL3 data with gammapy: spectrum, sky maps, light curve."""

from .errors import AnalysisError

__all__ = ["AnalysisError"]
