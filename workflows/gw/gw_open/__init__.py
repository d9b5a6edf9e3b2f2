"""Gravitational-wave open data (GWOSC) services: event search, sky maps, strain."""

from .errors import AnalysisError

__all__ = ["AnalysisError"]
