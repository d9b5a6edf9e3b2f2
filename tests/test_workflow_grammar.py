"""Every annotation form MMODA notebooks use, read without executing anything."""

from __future__ import annotations

import json
import textwrap

import pytest

from astroflow import Workflow
from astroflow.errors import AnnotationError
from astroflow.ontology.model import ODA
from astroflow.workflow.annotations import parse_annotation, parse_statement

MMODA_PARAMETERS = textwrap.dedent('''
    from __future__ import annotations

    # oda:version "v0.1.1"
    # oda:reference "https://doi.org/10.1051/0004-6361/202037805"
    # oda:oda_token_access oda:InOdaContext .

    src_name = "Crab"  # oda:AstrophysicalObject
    ra = 265.97  # oda:PointOfInterestRA
    dec = -29.74  # http://odahub.io/ontology#PointOfInterestDEC
    T1 = "2017-03-06T13:26:48.000"  #http://odahub.io/ontology#StartTime
    T2 = 57819.0  # oda:EndTime ; oda:format oda:MJD
    nbins = 100  # oda:Integer ; oda:lower_limit 35 ; oda:upper_limit 800
    band = "g"  # oda:String ; oda:allowed_value "b", "g", "r"
    band2 = "r"  # oda:String ; oda:allowed_values "b", "g", "r" .
    radius = 3.0  # oda:AngleDegrees ; oda:unit unit:arcmin
    labelled = 1.5  # oda:Float ; oda:label "Threshold" ; oda:description "Detection threshold" ; oda:group "Detection"
    path = ""  # oda:POSIXPath, oda:optional
    url = "http://example.org/x.fits"  # oda:FileURL ; oda:optional
    opt: float | None = None
    flag = False  # oda:Boolean ; oda:allowed_value "False", "True"
    pairs = {
        "a": [1, 2],  # a comment inside the value
        "b": [3, 4],
    }
    lst = [1,
           2,
           3]
    text = """line one
    line two"""
    wrapped = (
        "x"  # oda:String ; oda:label "Wrapped"
    )
    plain = 7  # a plain remark becomes the description
    count: int = 3
    %matplotlib inline
''')


def test_every_mmoda_form(notebook):
    wf = Workflow.from_path(notebook(MMODA_PARAMETERS, outputs="a = 1\nlst",
                                     markdown="# Grammar\nAll the forms."))
    p = wf.parameters
    assert wf.title == "Grammar" and wf.description == "All the forms."
    assert wf.metadata["version"] == "v0.1.1"
    assert wf.metadata["reference"].startswith("https://doi.org/")
    assert wf.token_access is True
    assert p["src_name"].type is str and p["src_name"].role == "object_name"
    assert p["ra"].type is float and p["ra"].ontology.uri == ODA + "PointOfInterestRA"
    assert p["ra"].role == "ra" and p["ra"].unit == "deg"
    assert p["dec"].role == "dec"
    assert p["T1"].role == "start_time" and p["T1"].type is str
    assert p["T2"].role == "end_time" and p["T2"].format == "mjd" and p["T2"].type is float
    assert (p["nbins"].type, p["nbins"].minimum, p["nbins"].maximum) == (int, 35, 800)
    assert p["band"].enum == ("b", "g", "r") and p["band2"].enum == ("b", "g", "r")
    assert p["radius"].unit == "arcmin"
    assert p["labelled"].label == "Threshold"
    assert p["labelled"].description == "Detection threshold"
    assert p["labelled"].group == "Detection"
    assert p["path"].optional and p["path"].role == "file"
    assert p["url"].optional and p["url"].role == "url"
    assert p["opt"].type is float and p["opt"].optional and p["opt"].default is None
    assert p["flag"].type is bool and p["flag"].enum == (False, True)
    assert p["pairs"].type is dict and p["pairs"].default == {"a": [1, 2], "b": [3, 4]}
    assert p["lst"].type is list and p["lst"].default == [1, 2, 3]
    assert p["text"].default == "line one\nline two"
    assert p["wrapped"].label == "Wrapped"
    assert p["plain"].type is int and p["plain"].description == "a plain remark becomes the description"
    assert p["count"].type is int
    assert list(wf.outputs) == ["a", "lst"]


def test_outputs_cell_annotated_and_bare(notebook):
    wf = Workflow.from_path(notebook(
        "x = 1.0",
        outputs="result = lc  # oda:LightCurve\ntab = t  # oda:ODAAstropyTable\n"
                "pic = fig  # http://odahub.io/ontology#ODAPictureProduct\nscalar = 2.0  # oda:Float\n"
                "a\nlst\n"))
    o = wf.outputs
    assert o["result"].type == "lightcurve"
    assert o["tab"].type == "table"
    assert o["pic"].type == "picture"
    assert o["scalar"].type == "scalar"
    assert o["a"].ontology is None and o["a"].type == "auto"
    assert "lst" in o


def test_jupytext_percent_notebook(tmp_path):
    path = tmp_path / "flow.py"
    path.write_text(textwrap.dedent('''
        # %% [markdown]
        # # Percent flow
        # Reads the percent format.

        # %% tags=["parameters"]
        ra = 10.0  # oda:PointOfInterestRA
        n = 3  # oda:Integer

        # %%
        y = ra * n

        # %% tags=["outputs"]
        y  # oda:Float
    '''))
    wf = Workflow.from_path(path)
    assert wf.title == "Percent flow"
    assert list(wf.parameters) == ["ra", "n"]
    assert wf.outputs["y"].type == "scalar"


def test_unannotated_types_from_default(notebook):
    wf = Workflow.from_path(notebook("a = 1\nb = 2.5\nc = 'x'\nd = True\ne = [1]\nf = {'k': 1}\ng = 2 * 3.0"))
    types = {n: p.type for n, p in wf.parameters.items()}
    assert types == {"a": int, "b": float, "c": str, "d": bool, "e": list, "f": dict, "g": str}
    # a default that is no literal is its source text, as nb2workflow reads it
    assert (wf.parameters["g"].default, wf.parameters["g"].expression) == ("2 * 3.0", True)


@pytest.mark.parametrize(("source", "reason"), [
    ("x = 1.0  # oda:Float ; oda:lower_limit 'a'", "must be a number"),
    ("x = 'abc'  # oda:Float", "contradicts"),
    ("x = 10  # oda:String", "contradicts"),
    ("x = True  # oda:Integer", "contradicts"),
    ("x = 3.0  # oda:Integer", "contradicts"),
    ("x: int = 2.5", "contradicts"),
    ("x: str = 1.0  # oda:Float", "type hint says str"),
    ("x = 1.0  # oda:LightCurve", "not a parameter class"),
    ("x = 1000  # oda:Integer ; oda:upper_limit 800", "above the upper limit"),
    ("x = 'q'  # oda:String ; oda:allowed_value 'a', 'b'", "not among the allowed values"),
    ("x = 'q'  # oda:String ; oda:lower_limit 3", "applies to numbers"),
    ("x = None", "nothing says its type"),
    ("x: float = foo()", "is an expression"),
    ("x = 1.0  # oda:Float ; oda:unit unit:notaunit", "notaunit"),
    ("x = 1.0  # oda:Float ; oda:label", "needs a value"),
    ("x, y = 1, 2", "one plain name"),
    ("x = (1.0", "syntax error"),
])
def test_annotation_errors_name_line_and_reason(notebook, source, reason):
    path = notebook("a = 1\n" + source)
    with pytest.raises(AnnotationError) as info:
        Workflow.from_path(path)
    assert reason in str(info.value)
    assert info.value.line == 2
    assert "line 2" in str(info.value)


def test_missing_parameters_cell(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    path = tmp_path / "untagged.ipynb"
    nbformat.write(nb, path)
    wf = Workflow.from_path(path)  # a service without inputs, as nb2workflow serves it
    assert wf.parameters == {} and wf.parameters_cell == -1


def test_inspection_never_executes(notebook, tmp_path):
    marker = tmp_path / "executed"
    wf = Workflow.from_path(notebook(
        f"import os\nos.system('touch {marker}')\nx = 1.0  # oda:Float",
        outputs=f"y = open('{marker}', 'w')  # oda:Float"))
    assert list(wf.parameters) == ["x"]
    assert not marker.exists()


def test_annotation_parser_units():
    ann = parse_annotation('# oda:POSIXPath, oda:optional ; oda:label "A; b" ; oda:lower_limit -1.5e2 .')
    assert ann.classes == ["oda:POSIXPath"] and ann.optional
    assert ann.predicates == {"label": ["A; b"], "lower_limit": [-150.0]}
    assert parse_statement("# oda:oda_token_access oda:InOdaContext .") == (
        "oda_token_access", ["oda:InOdaContext"])
    assert parse_statement("# catalog_URL = 'x'  # oda:String") is None
    assert parse_annotation("# <http://odahub.io/ontology#Float>").classes == [ODA + "Float"]


def test_describe_json_shape(notebook):
    wf = Workflow.from_path(notebook("ra = 1.0  # oda:PointOfInterestRA\nn = 2  # oda:Integer ; oda:lower_limit 1",
                                     outputs="n  # oda:Integer"))
    info = json.loads(json.dumps(wf.describe()))
    p = info["parameters"][0]
    for key in ("name", "type", "ontology", "default", "unit", "minimum", "maximum", "enum",
                "optional", "description"):
        assert key in p
    assert info["parameters"][1]["minimum"] == 1
    assert info["outputs"] == [{"name": "n", "type": "scalar", "ontology": ODA + "Integer",
                                "label": None, "description": None}]


def test_unrelated_classes_complete_each_other(notebook):
    wf = Workflow.from_path(notebook("r = 2.0  # oda:Float, oda:arcmin"))
    assert wf.parameters["r"].type is float and wf.parameters["r"].unit == "arcmin"
