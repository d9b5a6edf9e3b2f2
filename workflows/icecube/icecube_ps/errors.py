"""The one user-facing error of this workflow."""

from __future__ import annotations


class AnalysisError(Exception):
    """The analysis cannot give a result for these inputs (no data, no events in the window).

    astroflow (and MMODA) treat any exception *named* ``AnalysisError`` as a user-facing
    result rather than a bug, so the service reports the message as is.
    """
