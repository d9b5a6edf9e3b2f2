"""The `astroflow` command as a user runs it: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

EXAMPLE = REPO / "workflows" / "sky-position" / "sky_position.py"


def astroflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "astroflow", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_inspect_table():
    out = astroflow("inspect", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Sky position")
    lines = out.stdout.splitlines()
    row = next(line for line in lines if line.startswith("n_bins"))
    assert "integer" in row and "[2, 1000]" in row and "oda:Integer" in row
    assert any(line.startswith("light_curve") and "lightcurve" in line for line in lines)


def test_inspect_json_contract():
    out = astroflow("inspect", str(EXAMPLE), "--json")
    info = json.loads(out.stdout)
    names = [p["name"] for p in info["parameters"]]
    assert names == ["src_name", "RA", "DEC", "T1", "T2", "rate", "n_bins", "seed"]
    ra = info["parameters"][1]
    assert {"name", "type", "ontology", "default", "unit", "minimum", "maximum", "enum",
            "optional", "description"} <= set(ra)
    assert ra["unit"] == "deg" and ra["ontology"].endswith("#PointOfInterestRA")
    assert {o["name"]: o["type"] for o in info["outputs"]} == {
        "positions": "table", "light_curve": "lightcurve", "figure": "picture", "mean_rate": "scalar"}


def test_inspect_bad_annotation_exit_2(notebook):
    path = notebook("x = 'abc'  # oda:Float")
    out = astroflow("inspect", str(path))
    assert out.returncode == 2
    assert "line 1" in out.stderr and "contradicts" in out.stderr
    assert "Traceback" not in out.stderr


def test_inspect_warns_of_an_unknown_class(notebook):
    """Served as nb2workflow serves it, but a typo most often: the warning says the close one."""
    path = notebook("x = 1.0  # oda:Flaot")
    out = astroflow("inspect", str(path), "--json")
    assert out.returncode == 0, out.stderr
    assert "did you mean oda:Float" in out.stderr
    assert json.loads(out.stdout)["parameters"][0]["type"] == "number"


def test_run_writes_products_and_notebook(tmp_path):
    out_dir = tmp_path / "vela"
    out = astroflow("run", str(EXAMPLE), "-p", "src_name=Vela", "-p", "RA=08h35m20.6s",
                    "-p", "DEC=-45.176", "-p", "n_bins=12", "--out", str(out_dir), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "done"
    assert summary["parameters"]["RA"] == __import__("pytest").approx(128.836, abs=1e-3)
    products = {p["name"]: p for p in summary["products"]}
    assert set(products) == {"positions", "light_curve", "figure", "mean_rate"}
    for product in products.values():
        for filename in product["files"].values():
            assert (out_dir / "products" / filename).is_file()
    executed = json.loads((out_dir / "executed.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "src_name = 'Vela'" in "".join(injected[0]["source"])
    assert any("Vela" in "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert (out_dir / "executed.html").is_file()


def test_run_invalid_values_exit_2_and_list_every_field(tmp_path):
    out = astroflow("run", str(EXAMPLE), "-p", "RA=400", "-p", "n_bins=x", "-p", "nope=1",
                    "--out", str(tmp_path / "o"))
    assert out.returncode == 2
    for field in ("RA", "n_bins", "nope"):
        assert f"  {field} = " in out.stderr
    assert not (tmp_path / "o").exists()


def test_run_analysis_error_exit_3(tmp_path):
    out = astroflow("run", str(EXAMPLE), "-p", "T2=2023-01-01T00:00:00", "--out", str(tmp_path / "o"))
    assert out.returncode == 3, out.stdout + out.stderr
    assert "analysis: the end time" in out.stdout


def test_run_failure_exit_1(notebook, tmp_path):
    path = notebook("x = 1", body="1 / 0")
    out = astroflow("run", str(path), "--out", str(tmp_path / "o"), "--no-html")
    assert out.returncode == 1
    assert "ZeroDivisionError" in out.stdout


def test_run_time_limit(notebook, tmp_path):
    path = notebook("x = 1", body="import time\ntime.sleep(30)")
    out = astroflow("run", str(path), "--out", str(tmp_path / "o"), "--time-limit", "1", "--no-html")
    assert out.returncode == 1
    assert "time limit exceeded" in out.stdout
