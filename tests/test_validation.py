"""One validator: coercion of form strings, time formats, limits, every error at once."""

from __future__ import annotations

import pytest

from astroflow import ValidationError, Workflow
from astroflow.workflow import cache_key, canonical_json

PARAMS = """
ra = 83.63  # oda:PointOfInterestRA
dec = 22.01  # oda:PointOfInterestDEC
T1 = "2020-01-01T00:00:00.000"  # oda:StartTimeISOT
T2 = 58849.5  # oda:EndTime ; oda:format oda:MJD
nbins = 100  # oda:Integer ; oda:lower_limit 35 ; oda:upper_limit 800
band = "g"  # oda:String ; oda:allowed_value "b", "g", "r"
radius = 3.0  # oda:Float ; oda:unit unit:arcmin
flag = False  # oda:Boolean
opt: float | None = None
cfg = {"a": 1}
items = [1, 2]
"""


@pytest.fixture
def wf(notebook):
    return Workflow.from_path(notebook(PARAMS))


def test_defaults(wf):
    values = wf.validate({})
    assert values["ra"] == 83.63 and values["nbins"] == 100 and values["opt"] is None


def test_form_strings_are_coerced(wf):
    values = wf.validate({"ra": "10", "nbins": "40", "flag": "true", "opt": "2.5",
                          "cfg": '{"b": [1, 2]}', "items": "[3]", "band": "r"})
    assert values["ra"] == 10.0 and isinstance(values["ra"], float)
    assert values["nbins"] == 40 and isinstance(values["nbins"], int)
    assert values["flag"] is True and values["opt"] == 2.5
    assert values["cfg"] == {"b": [1, 2]} and values["items"] == [3]
    assert wf.validate({"flag": "0"})["flag"] is False
    assert wf.validate({"opt": ""})["opt"] is None


def test_times_convert_between_isot_and_mjd(wf):
    values = wf.validate({"T1": 58849.0, "T2": "2020-01-02T12:00:00"})
    assert values["T1"] == "2020-01-01T00:00:00.000"
    assert values["T2"] == pytest.approx(58850.5)
    assert wf.validate({"T1": "2020-01-01"})["T1"] == "2020-01-01T00:00:00.000"


def test_sexagesimal_and_quantities(wf):
    values = wf.validate({"ra": "05h34m31.94s", "dec": "+22d00m52.2s", "radius": "0.1 deg"})
    assert values["ra"] == pytest.approx(83.633083, abs=1e-5)
    assert values["dec"] == pytest.approx(22.0145, abs=1e-4)
    assert values["radius"] == pytest.approx(6.0)


def test_every_problem_is_reported_at_once(wf):
    with pytest.raises(ValidationError) as info:
        wf.validate({"ra": "abc", "nbins": 10, "band": "z", "flag": "maybe", "T1": "never",
                     "cfg": "{bad", "nosuch": 1, "dec": 95, "opt": True, "items": 3})
    fields = {e.field: e.reason for e in info.value.errors}
    assert set(fields) == {"ra", "nbins", "band", "flag", "T1", "cfg", "nosuch", "dec", "opt", "items"}
    assert "≥ 35" in fields["nbins"]
    assert "one of" in fields["band"]
    assert "unknown parameter" in fields["nosuch"]
    assert "≤ 90" in fields["dec"]
    assert "not a time" in fields["T1"]
    assert all(e.as_dict()["field"] for e in info.value.errors)


@pytest.mark.parametrize(("name", "value"), [
    ("ra", float("nan")), ("ra", float("inf")), ("ra", True), ("nbins", 40.5), ("nbins", "4e1.5"),
    ("ra", None), ("cfg", [1]), ("items", {"a": 1}), ("band", None),
])
def test_rejections(wf, name, value):
    with pytest.raises(ValidationError):
        wf.validate({name: value})


def test_canonical_values_give_one_cache_key(wf):
    a = wf.validate({"ra": "83.63", "nbins": "100", "T1": "2020-01-01T00:00:00", "flag": "no"})
    b = wf.validate({"ra": 83.63, "nbins": 100.0, "T1": 58849, "flag": False})
    assert canonical_json(a) == canonical_json(b)
    assert cache_key("svc", wf.version, a) == cache_key("svc", wf.version, b)
    c = wf.validate({"ra": 83.64})
    assert cache_key("svc", wf.version, a) != cache_key("svc", wf.version, c)


def test_a_default_left_out_and_the_same_value_sent_share_one_cache_key(notebook):
    """Issue 18, 6: the CLI leaves T1 at its default ``…T00:00:00``, the portal sends the
    form's ``…T00:00:00.000``; one request, one key (it ran twice). The notebook still gets
    each value as written (issue 17)."""
    wf = Workflow.from_path(notebook('T1 = "2008-04-06T00:00:00"  # oda:StartTimeISOT\n'
                                     "x = 2  # oda:Float\n"))
    left_out = wf.validate({})
    for sent in ({"T1": "2008-04-06T00:00:00.000"}, {"T1": "2008-04-06T00:00:00"},
                 {"T1": 54562.0}, {"x": 2.0}, {"x": "2"}):
        values = wf.validate(sent)
        assert cache_key("svc", wf.version, values) == cache_key("svc", wf.version, left_out)
    assert left_out["T1"] == "2008-04-06T00:00:00" and left_out["x"] == 2
    assert wf.validate({"T1": "2008-04-06T00:00:00.000"})["T1"] == "2008-04-06T00:00:00.000"
    assert wf.validate(left_out) == left_out


def test_json_schema(wf):
    schema = wf.json_schema()
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert props["nbins"] == {"type": "integer", "default": 100, "minimum": 35, "maximum": 800,
                              "x-ontology": "http://odahub.io/ontology#Integer"}
    assert props["band"]["enum"] == ["b", "g", "r"]
    assert props["radius"]["x-unit"] == "arcmin"
    assert props["ra"]["x-role"] == "ra" and props["ra"]["x-unit"] == "deg"
    assert "format" not in props["T1"] and props["T1"]["x-time-format"] == "isot"  # no RFC 3339
    assert props["opt"]["type"] == ["number", "null"]
    assert props["cfg"]["type"] == "object" and props["items"]["type"] == "array"
