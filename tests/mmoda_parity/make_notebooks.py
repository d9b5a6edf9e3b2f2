"""Write the MMODA-style parity notebooks of this folder (run it after changing a form here).

Each notebook is tiny and runs in well under a second: a parameters cell in one of the forms
nb2workflow reads, a cell computing plain outputs from the parameters, an outputs cell.
`tests/test_nb2workflow_parity.py` compares astroflow's reading of each with nb2workflow's
`NotebookAdapter`. Usage: ``python tests/services/mmoda_parity/make_notebooks.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).parent

# name: (title, parameters source or None, body source, outputs source or None, extra cells)
NOTEBOOKS: dict[str, dict] = {
    "plain_types": dict(
        params='n = 10\nx = 2.5\nname = "Crab"\nflag = True\nitems = [1, 2, 3]\nopts = {"a": 1}\n',
        body='total = n * x\nsummary = f"{name} {flag} {len(items)} {sorted(opts)}"\n',
        outputs="total\nsummary\n"),
    "hint_wins_over_class": dict(
        params="e: int = 45  # oda:Energy\nt: float = 60446.5  # oda:StartTimeMJD\n"
               "k: int = 3  # oda:Float\n",
        body="result = e + k\n", outputs="result  # oda:Integer\n"),
    "integer_class_over_float_hint": dict(
        params="n: float = 10  # oda:Integer\nm: float = 10\nw: float = 10.0\n",
        body="s = n + m + w\n", outputs="s\n"),
    "int_default_float_class": dict(
        params="intfloat = 10  # oda:Float\nt0 = 60446  # oda:StartTimeMJD\n",
        body="out = intfloat * 2\n", outputs="out\n"),
    "allowed_values_plural": dict(
        params='band = "g"  # oda:allowed_values "b", "g", "r"\n'
               'level = 2  # oda:allowed_values 1, 2, 3\n',
        body="choice = band * level\n", outputs="choice\n"),
    "allowed_value_singular": dict(
        params='band = "g"  # oda:String ; oda:allowed_value "b", "g", "r"\n'
               'mode = "fast"  # oda:allowed_value "fast", "slow"\n'
               'on = "True"  # oda:String ; oda:allowed_value "True", "False"\n',
        body="choice = band + mode + on\n", outputs="choice\n"),
    "stray_hashes": dict(
        params="intfloat = 10  #  #  oda:Float\nnbins = 4  ## oda:Integer ##\n"
               "scale = 1.5  # # oda:Float ; oda:label \"Scale\"\n",
        body="out = intfloat * nbins * scale\n", outputs="out  #  # oda:Float\n"),
    "no_parameters_cell": dict(
        params=None, body="answer = 42\nwords = 'no inputs'\n", outputs="answer\nwords\n"),
    "no_outputs_cell": dict(
        params="x = 1.5  # oda:Float\n", body="y = x * 2\nprint(y)\n", outputs=None),
    "no_tagged_cells": dict(params=None, body="print('just runs')\n", outputs=None),
    "multiline": dict(
        params='from __future__ import annotations\n\n"""Multiline parameters, type annotations"""\n\n'
               "mline = {'foo': ['bar', 'baz'],     # this comment is ignored\n"
               "         'spam': ['ham', 'eggs']}  # oda:StructuredParameter\n\n"
               "opt: float|None = None\n"
               "otheropt = 5  # oda:optional\n"
               "string_param = '''Foo Bar\nContains = Symbol\n'''  # oda:LongString\n"
               "short_string_param = 'Just a string'  # oda:String\n",
        body="echo = dict(mline=mline, opt=opt, otheropt=otheropt)\n"
             "static_len = len(string_param)\n",
        outputs='static = """Just a static\n            but multiline string"""\necho\nstatic_len\n'),
    "optional_forms": dict(
        params="from typing import Optional, Union\n\n"
               "a: Optional[float] = None\n"
               "b: float | None = None  # oda:Float\n"
               "c: int | None = 3\n"
               "d: 'str | None' = None\n"
               "e = 2.5  # oda:Float, oda:optional\n"
               "f: Optional[int] = None  # oda:Float\n"
               "g: Union[float, None] = None\n"
               "h: Union[int, None] = 4\n",
        body="given = [v for v in (a, b, c, d, e, f, g, h) if v is not None]\ncount = len(given)\n",
        outputs="count\n"),
    "limits": dict(
        params="snr = 5.0  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 100\n"
               "nbins = 10  # oda:Integer ; oda:lower_limit 1\n"
               "width = 3  # oda:limits 1, 30\n"
               "duration = 10.  # oda:TimeIntervalSeconds ; oda:upper_limit 20.\n"
               "depth = 2  # oda:upper_limit 5\n",
        body="product = snr * nbins * width * duration * depth\n", outputs="product\n"),
    "units": dict(
        params="emin = 20.  # oda:Energy ; oda:unit unit:keV\n"
               "emax = 200.  # oda:Energy_keV\n"
               "radius = 3.0  # oda:AngleMinutes\n"
               "size = 2.0  # oda:AngleDegrees\n",
        body="ratio = emax / emin\n", outputs="ratio  # oda:Float\n"),
    "times": dict(
        params="T1 = '2017-03-06T13:26:48.0'  # oda:StartTimeISOT\n"
               "T2 = '2017-03-06T15:32:27.0'  # oda:EndTimeISOT\n"
               "mjd = 60446.5  # oda:StartTimeMJD\n",
        body="span = T1 + '/' + T2\n", outputs="span  # oda:String\n"),
    "sky_position": dict(
        params="src_name = 'Crab'  # http://odahub.io/ontology#AstrophysicalObject\n"
               "RA = 83.628700  # http://odahub.io/ontology#PointOfInterestRA\n"
               "DEC = 22.014700  # http://odahub.io/ontology#PointOfInterestDEC\n"
               "Radius = 2.5  # http://odahub.io/ontology#AngleDegrees\n",
        body="where = f'{src_name} {RA:.3f} {DEC:.3f} r={Radius}'\n", outputs="where\n"),
    "labels": dict(
        params='nbins = 10  # oda:Integer ; oda:label "Number of bins" ; '
               'oda:description "How many bins the range is cut into" .\n'
               'scale = 1.0  # oda:label "Scale"\n'
               "mode = 'a'  # oda:String ; oda:label 'Mode' .\n",
        body="out = nbins * scale\n",
        outputs='out  # oda:Float ; oda:label "Scaled bins"\n'),
    "full_uri_classes": dict(
        params="x = 1.0  # http://odahub.io/ontology#Float\n"
               "n = 2  # <http://odahub.io/ontology#Integer>\n"
               "s = 'a'  # http://odahub.io/ontology#String ; oda:label \"S\"\n",
        body="out = x * n\n", outputs="out  # http://odahub.io/ontology#Float\n"),
    "plain_comments": dict(
        params="nbins = 10  # number of bins\nthreshold = 3.5  # sigma, above background\n"
               "label = 'x'  # a note: not an annotation\n",
        body="out = nbins * threshold\n", outputs="out  # the product of both\n"),
    "notebook_statements": dict(
        params='# oda:oda_token_access oda:InOdaContext .\n# oda:version "v0.1.1"\n'
               "# oda:reference https://doi.org/10.1051/0004-6361/202037850\n"
               "a = 10\n",
        body="b = a + 1\n", outputs="b\n"),
    "multiple_parameter_cells": dict(
        params="x = 1.0  # oda:Float\n", extra_params="y = 2  # oda:Integer\nz = 'q'\n",
        body="total = x + y\n", outputs="total\n"),
    "outputs_forms": dict(
        params="n = 5\n",
        body="from astropy.table import Table\n"
             "table = Table({'a': list(range(n))})\n"
             "text = 'n=' + str(n)\nvalue = n * 2\nmissing = None\n",
        outputs="table  # oda:ODAAstropyTable\ntext  # oda:ODATextProduct\n"
                "value: int = 0  # oda:Integer\nstatic_text = 'fixed'\nmissing\n"),
    "oda_api_objects": dict(
        params="n = 4  # oda:Integer ; oda:label \"Rows\"\nsrc_name = 'Crab'  # oda:AstrophysicalObject\n",
        body="import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
             "import numpy as np\nfrom astropy.table import Table\n"
             "from oda_api.data_products import ODAAstropyTable, PictureProduct\n"
             "t = Table({'time': np.arange(n) + 60000.5, 'flux': np.linspace(1.0, 2.0, n)})\n"
             "t['flux'].unit = 'cm-2 s-1'\n"
             "t.meta['src_name'] = src_name\n"
             "lc_table = ODAAstropyTable(t, name='lc')\n"
             "fig = plt.figure(figsize=(2, 2))\nplt.plot(t['time'], t['flux'])\n"
             "plt.savefig('lc.png', metadata={'Software': None})\nplt.close(fig)\n"
             "picture = PictureProduct.from_file('lc.png')\n"
             "peak = float(np.max(t['flux']))\n",
        outputs="lc_table  # oda:ODAAstropyTable\npicture  # oda:ODAImage\n"
                "peak  # oda:Float\n"),
    "file_references": dict(
        params='fits_file_url = "https://fits.gsfc.nasa.gov/samples/testkeys.fits"  '
               '# oda:FileURL ; oda:label "Test url" ; oda:description "Description test url" .\n'
               'fits_file_path = "test.fits"  # oda:POSIXPath, oda:optional\n'
               'opt_path: str | None = None  # oda:POSIXPath\n',
        body="names = [str(fits_file_url), str(fits_file_path), str(opt_path)]\n",
        outputs="names\n"),
    "booleans": dict(
        params="flag = True  # oda:Boolean\noff = False\nmaybe: bool | None = None\n"
               "yes = True  # oda:Boolean ; oda:label \"Yes\"\n",
        body="state = f'{flag} {off} {maybe} {yes}'\n", outputs="state\n"),
    "structured": dict(
        params="a = 'baz'\nlst = ['b', 'c', 'd']\ndct = {'foo': [1, 2, 3], 'bar': [4, 5, 6]}\n"
               "spec = {'x': 1}  # oda:StructuredParameter\n",
        body="", outputs="a\nlst\ndct\n"),
    "trailing_dot_and_spacing": dict(
        params="x = 1.0  # oda:Float .\nn = 2  #oda:Integer\ny = 20.  # oda:Float;oda:upper_limit 30.\n"
               "m = 7  # oda:Integer ; oda:lower_limit 0 .\n",
        body="out = x + n + y + m\n", outputs="out\n"),
    "multiline_assignment": dict(
        params="values = [1,\n          2,\n          3]  # oda:StructuredParameter\n"
               "text = ('a'\n        'b')  # oda:String\n"
               "weights = {'a': 1.0,  # weight of a\n           'b': 2.0}\n",
        body="out = sum(values)\n", outputs="out\n"),
    "hint_forms": dict(
        params="a: 'float' = 1.5\nb: int = 2\nc: str = 'x'\nd: bool = False\n"
               "e: list = [1]\nf: dict = {}\ng: float = 2.5  # oda:Float\n",
        body="out = a + b\n", outputs="out\n"),
    "imports_in_parameters": dict(
        params="import math\n\nangle = 30.0  # oda:AngleDegrees\nsteps = 4\n",
        body="out = math.sin(math.radians(angle)) * steps\n", outputs="out  # oda:Float\n"),
    "energy_range": dict(
        params="E1_keV = 28.0  # oda:Energy_keV ; oda:lower_limit 15 ; oda:upper_limit 800\n"
               "E2_keV = 40.0  # oda:Energy_keV\n"
               "emin: int = 100  # oda:Energy ; oda:unit unit:GeV\n",
        body="band = E2_keV - E1_keV\n", outputs="band  # oda:Float\n"),
    "unknown_classes": dict(
        params='mission = "INTEGRAL"  # oda:MyCustomMission\n'
               "count = 3  # http://example.org/onto#Count\n"
               "width: float = 2  # oda:SomeWidth ; oda:label \"Width\"\n",
        body="res = mission * count\n", outputs="res  # oda:MyCustomProduct\n"),
    "expression_defaults": dict(
        params="import math\n\nseconds = 2 * 60\nangle = math.pi / 4\n"
               "name = 'src' + '_1'  # oda:String\nscale: str = str(1.5)\n",
        body="out = f'{seconds}|{angle:.4f}|{name}|{scale}'\n", outputs="out\n"),
    "stale_injected_cell": dict(
        params="ra = 83.6  # oda:PointOfInterestRA\nradius = 2.0  # oda:AngleDegrees\n",
        injected="# Parameters\nradius = 5.0\nextra = 'left by papermill'\n",
        body="where = f'{ra} {radius} {extra}'\n", outputs="where\n"),
}


def build(name: str, spec: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    title = name.replace("_", " ").capitalize()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {title}\n\nParity notebook: {title}."))
    if spec.get("params") is not None:
        cell = nbformat.v4.new_code_cell(spec["params"].rstrip("\n"))
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    if spec.get("extra_params"):
        nb.cells.append(nbformat.v4.new_markdown_cell("More parameters:"))
        cell = nbformat.v4.new_code_cell(spec["extra_params"].rstrip("\n"))
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    if spec.get("injected"):  # a cell a past papermill run left in the notebook
        cell = nbformat.v4.new_code_cell(spec["injected"].rstrip("\n"))
        cell.metadata["tags"] = ["injected-parameters"]
        nb.cells.append(cell)
    if spec.get("body"):
        nb.cells.append(nbformat.v4.new_code_cell(spec["body"].rstrip("\n")))
    if spec.get("outputs") is not None:
        cell = nbformat.v4.new_code_cell(spec["outputs"].rstrip("\n"))
        cell.metadata["tags"] = ["outputs"]
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:20]}-{i}"
    return nb


def main() -> None:
    for old in HERE.glob("*.ipynb"):
        old.unlink()
    for name, spec in NOTEBOOKS.items():
        nbformat.write(build(name, spec), HERE / f"{name}.ipynb")
    print(f"wrote {len(NOTEBOOKS)} notebooks to {HERE}")


if __name__ == "__main__":
    main()
