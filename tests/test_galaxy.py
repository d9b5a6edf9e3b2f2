"""Galaxy tools from notebooks: tool XML checked by galaxy-tool-util's own linter (offline
linters), and the generated scripts run for real on a Galaxy-style inputs JSON."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astroflow.errors import AstroflowError
from astroflow.registry import galaxy_runtime
from astroflow.registry.galaxy import (
    add_command,
    build_tools,
    galaxy_command,
    run_command,
    service_notebooks,
)
from astroflow.registry.galaxy_docs import markdown_to_rst, reference_citation
from astroflow.registry.galaxy_requirements import CondaRequirement, tool_requirements

lint = pytest.importorskip("galaxy.tool_util.lint")
from galaxy.tool_util.linters.help import rst_invalid  # noqa: E402
from galaxy.tool_util.parser import get_tool_source  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SERVICES = REPO / "tests" / "services"
# Warnings a generated tool may carry: facts of the repository, not defects of the generator.
ACCEPTED_WARNINGS = {"RequirementVersionMissing", "CitationsMissing", "TestsMissing"}

KINDS_NOTEBOOK = '''\
# %% [markdown]
# # Spectral fit
# Fits a *power law* to the `catalogue`; see [the paper](https://example.org/paper).

# %% tags=["parameters"]
# oda:version "v1.4.2"
# oda:reference "https://doi.org/10.1051/0004-6361/201322068"
# oda:reference "https://arxiv.org/abs/2101.00001"
index = 2.0  # oda:Float ; oda:lower_limit -5 ; oda:upper_limit 5 ; oda:label "Photon index" ; oda:group "Model"
norm = 1e-12  # oda:Float ; oda:unit unit:erg ; oda:group "Model"
n_steps = 10  # oda:Integer ; oda:lower_limit 1.5 ; oda:upper_limit 100 ; oda:description "Steps of the fit"
verbose = False  # oda:Boolean
band = "g"  # oda:String ; oda:allowed_value "b", "g", "r"
scale = 1.0  # oda:Float ; oda:allowed_value 0.5, 1.0, 2.0
threshold = None  # oda:Float, oda:optional
catalogue = "data/sources.ecsv"  # oda:POSIXPath ; oda:label "Source catalogue"
remote = ""  # oda:FileURL
energies = [1.0, 10.0]  # oda:List
token = ""  # oda:Token
flag: bool | None = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import yaml
from astropy.table import Table

import astroflow

sources = Table.read(catalogue)
if len(sources) == 0:
    raise astroflow.AnalysisError("empty catalogue")
astroflow.progress(stage="fit", fraction=0.5)
flux = scale * norm * np.asarray(sources["energy"]) ** (-index)
result = Table({"energy": sources["energy"], "flux": flux}, meta={"band": band})
result["flux"].unit = "erg"
figure, ax = plt.subplots()
ax.plot(result["energy"], result["flux"])
summary = yaml.safe_dump({"band": band, "n_steps": n_steps, "verbose": verbose,
                          "threshold": threshold, "remote": remote, "energies": energies,
                          "flag": flag, "token": token}, sort_keys=True)
image = np.arange(12.0).reshape(3, 4) * index
best = float(flux.sum())
extras = {"n": n_steps}

# %% tags=["outputs"]
result  # oda:ODAAstropyTable
figure  # oda:ODAPictureProduct
summary  # oda:ODATextProduct
image  # oda:Image
best  # oda:Float
band  # oda:String
extras
'''

ECSV = """\
# %ECSV 1.0
# ---
# datatype:
# - {name: energy, datatype: float64}
# schema: astropy-2.0
energy
1.0
2.0
4.0
"""

README = """\
Spectral fit
============

A *workflow* for `power_law_` fits, with [docs](https://example.org/docs).

## Usage
1. upload a catalogue
2. run it:
   with defaults
    - nested point
    - another one

### Options

| name | meaning |
|------|---------|
| index | photon index |

    astroflow run spectral_fit.py --out /tmp/x

```python
print("hello")
```

> Quoted *note* with a|pipe and trailing_ underscore.
"""


# -- helpers ---------------------------------------------------------------------------------

def lint_messages(xml_path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) from every offline linter of galaxy-tool-util (XSD included)."""
    context = lint.LintContext(level=lint.LintLevel.SILENT, skip_types=list(lint.NETWORK_LINTERS))
    lint.lint_tool_source_with(context, get_tool_source(str(xml_path)))
    errors = [f"{m.linter}: {m.message}" for m in context.error_messages]
    warnings = [f"{m.linter}: {m.message}" for m in context.warn_messages]
    return errors, warnings


def assert_lints_clean(xml_path: Path) -> list[str]:
    errors, warnings = lint_messages(xml_path)
    assert errors == [], f"{xml_path.name}: {errors}"
    unexpected = [w for w in warnings if w.split(":")[0] not in ACCEPTED_WARNINGS]
    assert unexpected == [], f"{xml_path.name}: {unexpected}"
    return warnings


def run_script(tool_dir: Path, script: str, inputs: dict, workdir: Path,
               links: dict[str, Path] | None = None) -> subprocess.CompletedProcess:
    """Run a generated script the way the tool's command does, in a clean job folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name, source in (links or {}).items():  # what the command's `ln -s` lines make
        (workdir / "datasets" / name).mkdir(parents=True)
        (workdir / "datasets" / name / source.name).symlink_to(source)
    (workdir / "inputs.json").write_text(json.dumps(inputs))
    return subprocess.run([sys.executable, str(tool_dir / script), "inputs.json", "outputs"],
                          cwd=workdir, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("ASTROFLOW")})


def make_kinds_repo(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "spectral_fit.py").write_text(KINDS_NOTEBOOK)
    (root / "data" / "sources.ecsv").write_text(ECSV)
    (root / "requirements.txt").write_text(
        "# the analysis\nnumpy==1.26.4\nastropy>=6.0\nmatplotlib\nPyYAML==6.0.*\n"
        "-e git+https://example.org/x.git#egg=x\n")
    (root / "citations.bib").write_text(
        "% comment\n@article{crab2014,\n  title = {The {Crab} nebula},\n  year = {2014}\n}\n"
        "@comment{not a citation}\n")
    (root / "README.md").write_text(README)
    (root / "test_spectral_fit.py").write_text("# %% tags=['parameters']\nx = 1\n")
    return root


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=Test", "-c",
                           "user.email=test@example.org", "-c", "commit.gpgsign=false", *args],
                          capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


# -- the bundled example -------------------------------------------------------------------

@pytest.fixture(scope="module")
def sky_tool(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sky-tool")
    written = galaxy_command(REPO / "workflows" / "sky-position", out)
    assert written == [out / "sky_position.xml"]
    return out


def test_sky_position_tool_is_valid_galaxy_xml(sky_tool):
    warnings = assert_lints_clean(sky_tool / "sky_position.xml")
    # Only the unpinned requirements of requirements.txt and the missing citations remain.
    assert {w.split(":")[0] for w in warnings} <= {"RequirementVersionMissing", "CitationsMissing"}
    tool = ET.parse(sky_tool / "sky_position.xml").getroot()
    assert tool.get("id") == "sky_position" and tool.get("name") == "Sky position"
    assert tool.get("version").endswith("+galaxy0") and tool.get("profile")
    requirements = {r.text: r.get("version") for r in tool.iter("requirement")}
    assert set(requirements) == {"python", "numpy", "astropy", "matplotlib"}
    assert requirements["python"] == "3.11"
    command = tool.find("command").text
    assert "$__tool_directory__/sky_position.py" in command and "'$inputs'" in command
    configfile = tool.find("configfiles/inputs")
    assert (configfile.get("name"), configfile.get("filename")) == ("inputs", "inputs.json")
    inputs = {p.get("name"): p for p in tool.find("inputs").iter("param")}
    assert list(inputs) == ["src_name", "RA", "DEC", "T1", "T2", "rate", "n_bins", "seed"]
    assert (inputs["RA"].get("type"), inputs["RA"].get("min"), inputs["RA"].get("max")) == \
        ("float", "0.0", "360.0")
    assert inputs["RA"].get("value") == "83.633" and "unit: deg" in inputs["RA"].get("help")
    assert inputs["n_bins"].get("type") == "integer" and inputs["n_bins"].get("min") == "2"
    assert inputs["n_bins"].get("label") == "Time bins"
    assert inputs["rate"].get("help") == "Mean count rate in counts per hour"
    assert inputs["T1"].get("type") == "text" and inputs["T1"].get("value").startswith("2024")
    outputs = {d.get("name"): d for d in tool.find("outputs")}
    assert {n: d.get("format") for n, d in outputs.items()} == {
        "positions": "fits", "light_curve": "fits", "figure": "png", "mean_rate": "json"}
    assert outputs["figure"].get("from_work_dir") == "outputs/figure.png"
    test = tool.find("tests/test")
    assert test.get("expect_num_outputs") == "4"
    assert {o.get("name") for o in test.iter("output")} == set(outputs)
    assert test.find("output[@name='positions']/assert_contents/has_size").get("min") == "2880"
    help_text = tool.find("help").text
    assert "simulated photon-counting light curve" in help_text   # the notebook's description
    assert "sky-position\n============" in help_text              # the README, as RST
    assert not rst_invalid(help_text)
    assert (sky_tool / "sky_position.py").is_file() and (sky_tool / "_astroflow_galaxy.py").is_file()


def test_sky_position_script_runs_on_galaxy_inputs(sky_tool, tmp_path):
    inputs = {"src_name": "Vela", "RA": 128.8, "DEC": -45.2, "T1": "2024-01-01T00:00:00",
              "T2": "2024-01-02T00:00:00", "rate": 10, "n_bins": 6, "seed": 3,
              "not_a_parameter": "ignored"}
    done = run_script(sky_tool, "sky_position.py", inputs, tmp_path / "job")
    assert done.returncode == 0, done.stderr
    assert "progress: coordinates 30%" in done.stderr  # astroflow.progress without astroflow
    out = tmp_path / "job" / "outputs"
    positions = Table.read(out / "positions.fits")
    assert list(positions["frame"]) == ["icrs", "galactic", "ecliptic"]
    assert positions["lon"][0] == pytest.approx(128.8) and positions["lat"][0] == pytest.approx(-45.2)
    assert str(positions["lon"].unit) == "deg"
    assert positions.meta["OBJECT"] == "Vela" and positions.meta["constellation"] == "Vela"
    curve = Table.read(out / "light_curve.fits")
    assert len(curve) == 6 and str(curve["rate"].unit) == "1 / h"
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mean_rate = json.loads((out / "mean_rate.json").read_text())
    assert isinstance(mean_rate, float) and mean_rate > 0
    # Equal bins: the mean rate is the mean of the light curve the script wrote.
    assert mean_rate == pytest.approx(float(np.mean(curve["rate"])), rel=1e-9)


def test_script_rejects_bad_values_with_a_message(sky_tool, tmp_path):
    done = run_script(sky_tool, "sky_position.py", {"RA": 400.0, "n_bins": "many"}, tmp_path / "j")
    assert done.returncode != 0
    assert "InputError: RA: 400.0 is above the upper limit 360" in done.stderr
    assert "n_bins: cannot read 'many' as int" in done.stderr
    assert "Traceback" not in done.stderr
    analysis = run_script(sky_tool, "sky_position.py", {"T1": "2024-01-02T00:00:00",
                                                        "T2": "2024-01-01T00:00:00"}, tmp_path / "a")
    assert analysis.returncode != 0
    assert "AnalysisError: the end time" in analysis.stderr and "Traceback" not in analysis.stderr


# -- every parameter kind ------------------------------------------------------------------

@pytest.fixture(scope="module")
def kinds_tool(tmp_path_factory) -> tuple[Path, Path]:
    repo = make_kinds_repo(tmp_path_factory.mktemp("kinds-repo") / "spectral-fit")
    out = tmp_path_factory.mktemp("kinds-tool")
    written = galaxy_command(repo, out)
    assert written == [out / "spectral_fit.xml"]  # the test_* notebook is no tool
    return repo, out


def test_every_parameter_kind_becomes_the_right_galaxy_param(kinds_tool):
    _, out = kinds_tool
    assert_lints_clean(out / "spectral_fit.xml")
    tool = ET.parse(out / "spectral_fit.xml").getroot()
    assert tool.get("version") == "1.4.2+galaxy0"  # oda:version "v1.4.2"
    inputs = tool.find("inputs")
    section = inputs.find("section")
    assert (section.get("name"), section.get("title")) == ("model", "Model")
    assert [p.get("name") for p in section.iter("param")] == ["index", "norm"]
    p = {e.get("name"): e for e in inputs.iter("param")}
    assert "token" not in p  # Galaxy cannot supply an MMODA token
    assert (p["index"].get("type"), p["index"].get("min"), p["index"].get("max"),
            p["index"].get("label")) == ("float", "-5", "5", "Photon index")
    assert p["norm"].get("value") == "1e-12" and p["norm"].get("help") == "unit: erg"
    # An integer's limits are the integers inside the declared ones.
    assert (p["n_steps"].get("type"), p["n_steps"].get("min"), p["n_steps"].get("max")) == \
        ("integer", "2", "100")
    assert p["n_steps"].get("help") == "Steps of the fit"
    assert (p["verbose"].get("type"), p["verbose"].get("checked")) == ("boolean", "false")
    assert p["band"].get("type") == "select"
    assert [(o.get("value"), o.get("selected")) for o in p["band"]] == \
        [("b", None), ("g", "true"), ("r", None)]
    assert [(o.get("value"), o.get("selected")) for o in p["scale"]] == \
        [("0.5", None), ("1.0", "true"), ("2.0", None)]
    assert (p["threshold"].get("type"), p["threshold"].get("optional"),
            p["threshold"].get("value")) == ("float", "true", "")
    assert (p["catalogue"].get("type"), p["catalogue"].get("format"),
            p["catalogue"].get("label")) == ("data", "data", "Source catalogue")
    assert p["remote"].get("type") == "text"
    assert p["remote"].find("validator").get("type") == "regex"
    pattern = p["remote"].find("validator").text
    assert re.match(pattern, "https://example.org/a.fits") and re.match(pattern, "")
    assert not re.match(pattern, "not a url")
    assert (p["energies"].get("type"), p["energies"].get("value")) == ("text", "[1.0, 10.0]")
    assert (p["flag"].get("type"), p["flag"].get("optional")) == ("select", "true")
    outputs = {d.get("name"): d.get("format") for d in tool.find("outputs")}
    assert outputs == {"result": "fits", "figure": "png", "summary": "txt", "image": "fits",
                       "best": "json", "band_out": "txt", "extras": None}
    assert tool.find("outputs/data[@name='extras']").get("auto_format") == "true"
    requirements = {r.text: r.get("version") for r in tool.iter("requirement")}
    assert requirements == {"python": "3.11", "numpy": "1.26.4", "astropy": None,
                            "matplotlib": None, "pyyaml": "6.0"}
    citations = [(c.get("type"), c.text) for c in tool.find("citations")]
    assert citations[0][0] == "bibtex" and citations[0][1].startswith("@article{crab2014,")
    assert ("doi", "10.1051/0004-6361/201322068") in citations
    assert ("doi", "10.48550/arXiv.2101.00001") in citations and len(citations) == 3
    test = tool.find("tests/test")
    assert test.find("param").attrib == {"name": "catalogue", "value": "sources.ecsv"}
    assert (out / "test-data" / "sources.ecsv").read_text() == ECSV


def test_help_from_readme_is_valid_rst(kinds_tool):
    _, out = kinds_tool
    help_text = ET.parse(out / "spectral_fit.xml").getroot().find("help").text
    assert not rst_invalid(help_text)
    assert help_text.startswith("Fits a *power law* to the ``catalogue``; see "
                                "`the paper <https://example.org/paper>`__.")
    assert "Usage\n-----" in help_text and "Options\n~~~~~~~" in help_text
    assert "    | index | photon index |" in help_text          # table kept as literal
    assert "    astroflow run spectral_fit.py --out /tmp/x" in help_text
    assert '    print("hello")' in help_text


def test_markdown_conversion_never_produces_invalid_rst():
    samples = [README, "# A\n### C skips a level\n## B\n#### D\n", "* a\n  * b\n    * c\n* d\n",
               "text_ with *unbalanced and `code` and | pipes", "1) one\n2) two\n\npara",
               "Title\n-----\n\n  indented paragraph\ncontinued\n", "- item\ncontinued lazily\n"]
    for sample in samples:
        rst = markdown_to_rst(sample)
        assert not rst_invalid(rst), (sample, rst)


def test_kinds_script_reads_sections_datasets_and_types(kinds_tool, tmp_path):
    repo, out = kinds_tool
    dataset = tmp_path / "dataset_7.dat"  # how Galaxy names the uploaded sources.ecsv
    shutil.copyfile(repo / "data" / "sources.ecsv", dataset)
    inputs = {"model": {"index": 1, "norm": 2e-12}, "n_steps": 20, "verbose": True,
              "band": "r", "scale": "2.0", "threshold": None, "catalogue": str(dataset),
              "remote": "", "energies": "[1, 2, 3]", "flag": "false", "token": "injected?"}
    link = tmp_path / "sources.ecsv"
    link.symlink_to(dataset)
    done = run_script(out, "spectral_fit.py", inputs, tmp_path / "job", {"catalogue": link})
    assert done.returncode == 0, done.stderr
    results = tmp_path / "job" / "outputs"
    table = Table.read(results / "result.fits")
    assert list(table["energy"]) == [1.0, 2.0, 4.0]
    assert table["flux"] == pytest.approx(2.0 * 2e-12 * np.array([1.0, 2.0, 4.0]) ** -1.0)
    assert str(table["flux"].unit) == "erg" and table.meta["BAND"] == "r"
    import yaml

    summary = yaml.safe_load((results / "summary.txt").read_text())
    assert summary == {"band": "r", "n_steps": 20, "verbose": True, "threshold": None,
                       "remote": "", "energies": [1, 2, 3], "flag": False, "token": ""}
    image = fits.getdata(results / "image.fits")
    assert image.shape == (3, 4) and image[2, 3] == 11.0
    assert json.loads((results / "best.json").read_text()) == pytest.approx(table["flux"].sum())
    assert (results / "band.txt").read_text() == "r\n"
    assert json.loads((results / "extras.dat").read_text()) == {"n": 20}
    assert (results / "figure.png").read_bytes()[:4] == b"\x89PNG"


def test_command_template_renders_with_cheetah(kinds_tool):
    """Galaxy's own template engine: the dataset link gets a shell-safe name with a suffix."""
    from Cheetah.Template import Template

    _, out = kinds_tool
    command = ET.parse(out / "spectral_fit.xml").getroot().find("command").text

    class Dataset:  # what Galaxy's dataset wrapper exposes to a template
        def __init__(self, identifier: str, ext: str) -> None:
            self.element_identifier, self.ext = identifier, ext

        def __str__(self) -> str:
            return "/galaxy/files/dataset_7.dat"

    def render(identifier: str, ext: str) -> str:
        return str(Template(command, searchList=[{
            "catalogue": Dataset(identifier, ext), "inputs": "/job/inputs.json",
            "__tool_directory__": "/tools/spectral"}]))

    shown = render("sources.ecsv", "txt")
    assert "ln -s '/galaxy/files/dataset_7.dat' 'datasets/catalogue/sources.ecsv'" in shown
    assert "python '/tools/spectral/spectral_fit.py' '/job/inputs.json' 'outputs'" in shown
    assert "'datasets/catalogue/Sky_position__result.fits'" in render("Sky position: result", "fits")
    assert "'datasets/catalogue/a___rm_-rf___.fits'" in render("a'; rm -rf /;", "fits")


# -- the test services and repository handling -----------------------------------------------

def test_every_test_service_notebook_becomes_a_valid_tool(tmp_path):
    repo = tmp_path / "basics"
    shutil.copytree(SERVICES / "basics", repo)
    (repo / "test_quick.py").write_text("# %% tags=['parameters']\nx = 1.0\n")
    out = tmp_path / "tools"
    written = galaxy_command(repo, out)
    assert [p.name for p in written] == [f"{p.stem}.xml" for p in sorted(
        (SERVICES / "basics").glob("*.py"))]
    for xml_path in written:
        assert_lints_clean(xml_path)
    quick = ET.parse(out / "quick.xml").getroot()
    assert quick.find("outputs/data[@name='table']").get("format") == "fits"
    # A parameter and an output of the same name cannot share a Cheetah variable.
    limited = ET.parse(out / "limited.xml").getroot()
    assert [d.get("name") for d in limited.find("outputs")] == ["seconds_out"]
    filestat = ET.parse(out / "filestat.xml").getroot()
    catalogue = filestat.find("inputs/param[@name='catalogue']")
    assert (catalogue.get("type"), catalogue.get("optional")) == ("data", "true")
    assert "#if $catalogue" in filestat.find("command").text
    [hidden] = galaxy_command(SERVICES / "private" / "hidden.py", tmp_path / "private")
    assert_lints_clean(hidden)


def test_a_bad_notebook_writes_nothing(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(SERVICES / "basics", repo)
    (repo / "broken.py").write_text("# %% tags=['parameters']\nx = 'abc'  # oda:Float\n")
    with pytest.raises(AstroflowError, match="broken.py"):
        galaxy_command(repo, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mmoda_notebook_path_and_filename_pattern(tmp_path):
    repo = tmp_path / "repo"
    (repo / "nb").mkdir(parents=True)
    for name in ("quick.py", "slow.py"):
        shutil.copyfile(SERVICES / "basics" / name, repo / "nb" / name)
    (repo / "mmoda.yaml").write_text("notebook_path: nb\nfilename_pattern: 'q*'\n")
    (repo / "requirements.txt").write_text("astropy==6.1.0\n")
    assert [p.name for p in service_notebooks(repo)] == ["quick.py"]
    [xml_path] = galaxy_command(repo, tmp_path / "out")
    assert xml_path.name == "quick.xml"
    # A notebook given alone finds its repository (and requirements) through notebook_path.
    [alone] = galaxy_command(repo / "nb" / "slow.py", tmp_path / "alone")
    for path in (xml_path, alone):
        versions = {r.text: r.get("version") for r in ET.parse(path).getroot().iter("requirement")}
        assert versions["astropy"] == "6.1.0"


def test_versions_follow_git_tags_and_commits(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copyfile(SERVICES / "basics" / "quick.py", repo / "quick.py")
    (repo / "requirements.txt").write_text("astropy\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    [tool] = build_tools(repo)
    assert tool.version == "0.0.dev1+galaxy0"
    head = git(repo, "rev-parse", "HEAD")
    assert f"at commit {head[:12]}" in tool.xml and f"at commit {head[:12]}" in tool.script
    git(repo, "tag", "v1.2.0")
    assert build_tools(repo)[0].version == "1.2.0+galaxy0"
    (repo / "README.md").write_text("# Quick\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "docs")
    assert build_tools(repo)[0].version == "1.2.0.post1+galaxy0"
    assert build_tools(repo, version="2.0")[0].version == "2.0+galaxy0"
    assert build_tools(repo, version="2.0+galaxy3")[0].version == "2.0+galaxy3"
    # A commit id is no orderable version: the Git-derived one is kept.
    assert build_tools(repo, version=head[:12])[0].version == "1.2.0.post1+galaxy0"
    # Outside Git: the notebook's content version.
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copyfile(SERVICES / "basics" / "quick.py", loose / "quick.py")
    [plain] = build_tools(loose / "quick.py")
    assert re.fullmatch(r"0\.0\.0\+[0-9a-f]{12}\.galaxy0", plain.version)
    assert build_tools(loose, version="abc123def456")[0].version == "0.0.0+abc123def456.galaxy0"


def test_magics_run_in_a_shell_sharing_the_script_namespace(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Magic\nUses IPython syntax."),
        nbformat.v4.new_code_cell("%matplotlib inline\nx = 2  # oda:Integer",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("%time y = x * 3\nlisting = !echo from-shell\nz = y + 1\n"
                                  "word = listing[0]"),
        nbformat.v4.new_code_cell("z  # oda:Integer\nword  # oda:String",
                                  metadata={"tags": ["outputs"]}),
    ]
    nbformat.write(nb, tmp_path / "magic.ipynb")
    [tool] = build_tools(tmp_path / "magic.ipynb")
    assert "# %matplotlib inline  # display-only magic" in tool.script
    assert "get_ipython().run_line_magic('time', 'y = x * 3')" in tool.script
    assert "ipython" in {r.name for r in tool.requirements.packages}
    out = tmp_path / "tools"
    galaxy_command(tmp_path / "magic.ipynb", out)
    assert_lints_clean(out / "magic.xml")
    done = run_script(out, "magic.py", {"x": 5}, tmp_path / "job")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "job" / "outputs" / "z.json").read_text()) == 16
    assert (tmp_path / "job" / "outputs" / "word.txt").read_text() == "from-shell\n"


# -- pieces ----------------------------------------------------------------------------------

def test_requirements_from_environment_pyproject_and_imports(tmp_path, caplog):
    (tmp_path / "environment.yml").write_text(textwrap.dedent("""\
        channels: [conda-forge]
        dependencies:
          - python=3.10
          - conda-forge::healpy=1.16.6
          - scipy>=1.10
          - pip
          - pip:
            - oda-api==1.2.3
            - torch
        """))
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["numpy==1.26.*", "requests; python_version < \'3\'"]\n')
    found = tool_requirements(tmp_path, {"numpy", "os", "yaml", "sklearn.cluster", "mystery_lib",
                                         "astroflow", "mylocal"}, extra=["astropy"],
                              local={"mylocal"})
    packages = {r.name: r.version for r in found.packages}
    assert packages == {"python": "3.10", "healpy": "1.16.6", "scipy": None, "oda-api": "1.2.3",
                        "pytorch": None, "numpy": "1.26", "pyyaml": None, "scikit-learn": None,
                        "astropy": None}
    assert found.packages[0] == CondaRequirement("python", "3.10")
    assert found.unresolved_imports == ["mystery_lib"]
    assert "mystery_lib" in caplog.text


def test_unresolved_imports_and_local_modules(tmp_path):
    repo = tmp_path / "repo"
    (repo / "helpers").mkdir(parents=True)
    (repo / "helpers" / "__init__.py").write_text("def double(v):\n    return 2 * v\n")
    (repo / "requirements.txt").write_text("\n")
    (repo / "twice.py").write_text(textwrap.dedent("""\
        # %% tags=["parameters"]
        v = 2.0  # oda:Float

        # %%
        from helpers import double
        try:
            import mystery_lib  # noqa
        except ImportError:
            pass
        w = double(v)

        # %% tags=["outputs"]
        w  # oda:Float
        """))
    [tool] = build_tools(repo)
    assert tool.requirements.unresolved_imports == ["mystery_lib"]
    assert any("mystery_lib" in w for w in tool.warnings)
    out = tmp_path / "tools"
    galaxy_command(repo, out)
    assert (out / "helpers" / "__init__.py").is_file()
    done = run_script(out, "twice.py", {"v": 4}, tmp_path / "job")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "job" / "outputs" / "w.json").read_text()) == 8.0


def test_galaxy_help_wins_over_readme(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copyfile(SERVICES / "basics" / "quick.py", repo / "quick.py")
    (repo / "README.md").write_text("# Developer notes\nHow to hack on this.\n")
    (repo / "galaxy_help.md").write_text("**What it does**\n\nMultiplies `x` by `n`.\n")
    [tool] = build_tools(repo)
    help_text = ET.fromstring(tool.xml).find("help").text
    assert help_text == "**What it does**\n\nMultiplies ``x`` by ``n``."
    (repo / "galaxy_help.rst").write_text("Written in *RST* already.\n")
    assert ET.fromstring(build_tools(repo)[0].xml).find("help").text == "Written in *RST* already."


@pytest.mark.parametrize(("reference", "expected"), [
    ("https://doi.org/10.1051/0004-6361/201322068", ("doi", "10.1051/0004-6361/201322068")),
    ("doi:10.3847/1538-4357/ab1234", ("doi", "10.3847/1538-4357/ab1234")),
    ("10.5281/zenodo.123456", ("doi", "10.5281/zenodo.123456")),
    ("https://arxiv.org/pdf/2301.01234v2.pdf", ("doi", "10.48550/arXiv.2301.01234")),
])
def test_references_become_doi_citations(reference, expected):
    citation = reference_citation(reference, "x")
    assert (citation.type, citation.text) == expected


def test_other_references_become_bibtex_misc():
    citation = reference_citation("https://example.org/method", "sky_ref1")
    assert citation.type == "bibtex"
    assert citation.text.startswith("@misc{sky_ref1,") and "example.org/method" in citation.text


def test_runtime_conversion_of_galaxy_values(tmp_path):
    spec = {"a": {"type": "float", "default": 1.0, "optional": False, "minimum": 0},
            "b": {"type": "int", "default": 1, "optional": True},
            "c": {"type": "bool", "default": False, "optional": False, "section": "opts"},
            "d": {"type": "str", "default": "", "optional": True, "data": True},
            "e": {"type": "float", "default": 1.0, "optional": False, "enum": [0.5, 1.0]}}
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"a": 3, "b": None, "opts": {"c": "true"}, "d": None,
                                "e": "0.5", "undeclared": 1}))
    values = galaxy_runtime.read_inputs(path, spec)
    assert values == {"a": 3.0, "b": None, "c": True, "d": "", "e": 0.5}
    assert type(values["a"]) is float
    path.write_text(json.dumps({"a": -1, "e": "2.0", "b": 1.5, "opts": {"c": "maybe"}}))
    with pytest.raises(galaxy_runtime.InputError) as failed:
        galaxy_runtime.read_inputs(path, spec)
    message = str(failed.value)
    for expected in ("a: -1.0 is below the lower limit 0", "e: 2.0 is not one of [0.5, 1.0]",
                     "b: expected an integer, got 1.5", "c: expected true or false"):
        assert expected in message


def test_cli_wiring(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="astroflow")
    add_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["galaxy", str(SERVICES / "basics" / "quick.py"), "--out",
                              str(tmp_path / "out"), "--version", "3.1"])
    assert run_command(args) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "out" / "quick.xml") in printed and "3.1+galaxy0" in printed
    assert ET.parse(tmp_path / "out" / "quick.xml").getroot().get("version") == "3.1+galaxy0"
