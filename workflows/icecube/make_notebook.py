"""Build `icecube.ipynb` (run: python make_notebook.py). The notebook is committed too."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

INTRO = """\
# IceCube neutrino point source: flux upper limit or measurement

Unbinned point-source likelihood on IceCube's public muon-track releases: those present in
the data folder (`astroflow data fetch icecube --source PATH|URL`): the 10-year release, the
real 3-year all-sky release, or a synthetic release in the 10-year layout; `auto` takes the
10-year release if present, else the 3-year one. The default T1/T2 are the 3-year release's
span (2010-06-01 to 2013-05-02). T1/T2 beyond the release's seasons are clamped to their
span: the summary's `t_start`/`t_stop` are the span analysed, with its `livetime`, beside the
request (`t_start_requested`, `t_stop_requested`) and the release's `data_span`
(`time_range_note` says what was clamped). `background_trials` is a maximum: the summary
says how many ran and why they stopped.
For a position, time range and power-law index it gives TS, n_s, the flux
normalisation at 1 TeV (nu_mu + nubar_mu) or its upper limit, the p-value, a TS map, a
per-season light curve, the events near the source and its contribution to the
multi-messenger SED (`sed`, convention astroflow-sed/1). Method: `README.md` and
`icecube_ps/likelihood.py`."""

PARAMETERS = """\
src_name = "TXS 0506+056"  # oda:AstrophysicalObject ; oda:description "Name of the source, shown in the products (its position comes from RA and Dec)"
RA = 77.358  # oda:PointOfInterestRA ; oda:description "Right ascension (ICRS) of the source, in degrees"
DEC = 5.693  # oda:PointOfInterestDEC ; oda:description "Declination (ICRS) of the source, in degrees"
T1 = "2010-06-01T00:00:00"  # oda:StartTimeISOT ; oda:description "Start (UTC). The analysis uses the overlap with the release's data (3-year release: 2010-06-01 to 2013-05-02)"
T2 = "2013-05-03T00:00:00"  # oda:EndTimeISOT ; oda:description "End (UTC). The summary states the span analysed and its livetime"
index = 2.0  # oda:Float ; oda:lower_limit 1.0 ; oda:upper_limit 4.0 ; oda:label "Spectral index" ; oda:description "Index gamma of the assumed power law, dN/dE proportional to E^-gamma"
fit_index = False  # oda:Boolean ; oda:label "Fit the index" ; oda:description "Also fit gamma (free index); the upper limit stays at the assumed index"
confidence_level = 0.9  # oda:Float ; oda:lower_limit 0.5 ; oda:upper_limit 0.9999 ; oda:label "Confidence level" ; oda:description "Confidence level of the upper limits (0.9 is 90%)"
upper_limit_method = "calibrated"  # oda:String ; oda:allowed_value "calibrated", "profile", "neyman" ; oda:label "Upper-limit method" ; oda:description "calibrated: profile likelihood, threshold from signal trials (about 1 s); profile: milliseconds; neyman: a Neyman belt (seconds)"
ts_map_radius = 2.0  # oda:AngleDegrees ; oda:label "TS map radius" ; oda:description "Half-width of the TS map around the source, in degrees"
background_trials = 1000  # oda:Integer ; oda:lower_limit 0 ; oda:upper_limit 100000 ; oda:label "Background trials (maximum)" ; oda:description "At most this many RA-scrambled trials calibrate the p-value; they stop once 20 reach the observed TS (the summary says how many ran). 0: asymptotic p-value only"
data_release = "auto"  # oda:String ; oda:allowed_value "auto", "10year", "3year", "synthetic" ; oda:label "Data release" ; oda:description "auto: the 10-year release if installed here, else the 3-year one; a release not installed is refused, naming those that are\""""

def setup_cell(names: str) -> str:
    """The setup cell of this repository's notebooks: find `icecube_ps` (also when run from
    elsewhere than the workflow folder), import `names` from it, and the platform's
    progress report (a no-op outside astroflow)."""
    return f"""\
import sys
from pathlib import Path

try:
    import icecube_ps  # noqa: F401
except ImportError:  # run from elsewhere than the workflow folder
    for candidate in (Path.cwd(), Path.cwd() / "workflows" / "icecube"):
        if (candidate / "icecube_ps").is_dir():
            sys.path.insert(0, str(candidate))
            break
    import icecube_ps  # noqa: F401

from icecube_ps import {names}

try:
    from astroflow import progress
except ImportError:
    progress = lambda **k: None  # noqa: E731"""


SETUP = setup_cell("AnalysisError, data, service")

RUN = """\
progress(stage="data", fraction=0.0, message=f"loading the {data_release} release")
if not 1.0 <= index <= 4.0:
    raise AnalysisError(f"index {index} is outside the tabulated range [1, 4]")
release = data.load(data_release, fetch_missing=False, log=lambda m: progress(
    stage="data", fraction=0.0, message=m))
products = service.run(release, src_name, RA, DEC, T1, T2, index=index, fit_index=fit_index,
                       confidence_level=confidence_level, ts_map_radius=ts_map_radius,
                       background_trials=background_trials,
                       upper_limit_method=upper_limit_method, progress=progress)
summary_table = products.summary
fig = products.figure
ts_hdu = products.ts_map
lc_table = products.light_curve
near_events = products.events
sed_points = products.sed
summary_table"""

OUTPUTS = """\
summary = summary_table  # oda:ODAAstropyTable
spectrum_plot = fig  # oda:ODAPictureProduct
ts_map = ts_hdu  # oda:Image
season_lc = lc_table  # oda:LightCurve
events = near_events  # oda:ODAAstropyTable
sed = sed_points  # oda:Spectrum"""


def service_notebook(intro: str, parameters: str, setup: str, run: str, outputs: str,
                     prefix: str) -> nbformat.NotebookNode:
    """A service notebook of this repository: introduction, tagged parameters, setup, run
    and tagged outputs cells, with stable cell ids `<prefix>-<n>`."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        new_markdown_cell(intro),
        new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        new_code_cell(setup),
        new_code_cell(run),
        new_code_cell(outputs, metadata={"tags": ["outputs"]}),
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{prefix}-{i}"
    return nb


def build() -> nbformat.NotebookNode:
    return service_notebook(INTRO, PARAMETERS, SETUP, RUN, OUTPUTS, "icecube")


if __name__ == "__main__":
    out = Path(__file__).with_name("icecube.ipynb")
    nbformat.write(build(), out)
    print(f"wrote {out}")
