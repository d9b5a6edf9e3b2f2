"""IceCube public point-source data: readers, synthetic releases, unbinned likelihood.

Modules, one concern each:
    layout      file names and headers of the 10-year release
    release     in-memory release, text readers, binary cache
    threeyear   reader (and completion) of the 3-year release
    detector    parametric detector model (truth of synthetic releases)
    synthetic   synthetic releases in the 10-year layout
    data        data manager: local copy, official URL, PyPI (flarestack) fallback
    response    signal yields, energy PDFs and PSF correction from the irfs
    background  background PDFs from the data
    skyindex    fast cone queries
    likelihood  the point-source likelihood, fits and trials
    inject      signal events drawn from the irfs
    limits      flux normalisation, upper limits, p-values
    service     the products of the `icecube` service
"""

from .errors import AnalysisError

__all__ = ["AnalysisError"]
__version__ = "0.1.0"
