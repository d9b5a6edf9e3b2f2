"""The one user-facing error of this workflow."""

from __future__ import annotations

try:  # inside astroflow: its own class, so both read the same way
    from astroflow import AnalysisError as _Base
except ImportError:  # pragma: no cover - the package used on its own
    _Base = Exception


class AnalysisError(_Base):
    """The data cannot answer this request (unreadable file, archive unreachable, empty range).

    astroflow (and MMODA) treat any exception *named* ``AnalysisError`` as a user-facing
    result rather than a bug, so the service reports the message as is.
    """
