"""Zone-less times in the parameters' JSON Schema: a pattern validators accept, not date-time.

On main before this change a time string parameter was ``format: date-time``, which RFC 3339
requires to carry a zone: ``2008-04-06T00:00:00`` (astronomers' ISOT, UTC implied), each
service's own default, failed a validator that checks formats."""

from __future__ import annotations

import re

import pytest
from astropy.time import Time
from jsonschema import Draft202012Validator

from astroflow.workflow.model import Parameter
from astroflow.workflow.schema import TIME_PATTERN, workflow_schema
from astroflow.workflow.validation import ValidationError, validate

PARAMETERS = {"T1": Parameter("T1", str, "2008-04-06T00:00:00", format="isot"),
              "T2": Parameter("T2", str, "2008-04-06 00:00:00", format="iso", optional=True),
              "T3": Parameter("T3", float, 54562.0, format="mjd")}
ACCEPTED = ("2008-04-06T00:00:00", "2008-04-06T00:00:00.123456", "2008-04-06T00:00:00Z",
            "2008-04-06", "2008-4-6T1:2:3", "2008-04-06 12:30:00", "54562", "54562.25",
            " 2008-04-06T00:00 ")
REFUSED = ("yesterday", "2008/04/06", "2008-04-06T12", "06-04-2008", "2008-04-06T00:00:00+01:00x",
           "54562,5", "")


def test_the_schema_is_valid_and_its_defaults_pass_with_format_checks():
    schema = workflow_schema("t", None, PARAMETERS)
    Draft202012Validator.check_schema(schema)
    props = schema["properties"]
    assert "format" not in props["T1"] and "format" not in props["T2"]
    assert props["T1"]["pattern"] == TIME_PATTERN and props["T1"]["x-time-format"] == "isot"
    assert "pattern" not in props["T3"]  # a number
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert not list(validator.iter_errors({name: p.default for name, p in PARAMETERS.items()}))
    assert not list(validator.iter_errors({"T2": None}))


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_pattern_takes_what_the_server_takes(text):
    assert re.search(TIME_PATTERN, text)
    assert Time(validate(PARAMETERS, {"T1": text})["T1"]).isot.startswith("2008-04-06")


@pytest.mark.parametrize("text", REFUSED)
def test_the_pattern_refuses_what_the_server_refuses(text):
    assert not re.search(TIME_PATTERN, text)
    with pytest.raises(ValidationError):
        validate(PARAMETERS, {"T1": text})
