"""astroflow: annotated analysis notebooks as fast, typed, isolated online services.

Importing ``astroflow`` is cheap (notebooks call ``astroflow.progress`` in every job), so
heavy parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astroflow.errors import AnalysisError, AnnotationError, AstroflowError, NotebookError
from astroflow.execution.progress import progress

__version__ = "0.1.0"
__all__ = ["AnalysisError", "AnnotationError", "AstroflowError", "Client", "NotebookError",
           "ValidationError", "Workflow", "progress", "__version__"]

if TYPE_CHECKING:
    from astroflow.client import Client
    from astroflow.workflow import ValidationError, Workflow


def __getattr__(name: str):
    if name in ("Workflow", "ValidationError"):
        import astroflow.workflow as workflow

        return getattr(workflow, name)
    if name == "Client":
        from astroflow.client import Client

        return Client
    raise AttributeError(f"module 'astroflow' has no attribute {name!r}")
