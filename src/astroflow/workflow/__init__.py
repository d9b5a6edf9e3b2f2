"""Notebooks as typed workflows: reading, annotations, parameters, validation, injection."""

from astroflow.workflow.model import Output, Parameter
from astroflow.workflow.validation import FieldError, ValidationError, cache_key, canonical_json
from astroflow.workflow.workflow import Workflow

__all__ = ["FieldError", "Output", "Parameter", "ValidationError", "Workflow", "cache_key",
           "canonical_json"]
