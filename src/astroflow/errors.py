"""Exceptions shared by every layer.

`AnalysisError` is the one notebook authors raise: it marks a user-facing analysis result
("no data in this time range") rather than a bug, and the platform reports it as such.
"""

from __future__ import annotations


class AstroflowError(Exception):
    """Base class of astroflow's own errors."""


class AnalysisError(Exception):
    """Raised by a workflow when the analysis cannot give a result for these inputs.

    Any exception class *named* ``AnalysisError`` counts too, so MMODA notebooks that
    define their own keep working.
    """


class UnknownClass(AstroflowError, KeyError):
    """An ontology term that astroflow's ontology does not define."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown ontology class"


class AnnotationError(AstroflowError):
    """A notebook annotation that cannot be accepted; carries the line and the reason."""

    def __init__(self, reason: str, *, line: int | None = None, name: str | None = None,
                 cell: int | None = None) -> None:
        self.reason = reason
        self.line = line
        self.name = name
        self.cell = cell
        where = []
        if cell is not None:
            where.append(f"cell {cell}")
        if line is not None:
            where.append(f"line {line}")
        prefix = ", ".join(where)
        subject = f"{name}: " if name else ""
        super().__init__(f"{prefix}: {subject}{reason}" if prefix else f"{subject}{reason}")


class NotebookError(AstroflowError):
    """A notebook that cannot be read as a workflow (missing cells, bad syntax, bad format)."""
