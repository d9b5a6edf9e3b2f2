"""The notebook through astroflow.Workflow: done with its products, or a clear AnalysisError."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from astroflow import Workflow
from astroflow.products.sed import is_sed, validate

HERE = Path(__file__).resolve().parents[1]
NOTEBOOK = "cta_observation_plan.py"
CRAB_LIKE = {"model_source": "log_parabola", "amplitude": 3.85e-11, "index": 2.51,
             "beta": 0.104}


def _run(data_root, values, tmp_path, name="run"):
    wf = Workflow.from_path(HERE / NOTEBOOK)
    return wf.run(values, job_dir=tmp_path / name, time_limit=120,
                  env={"ASTROFLOW_DATA_DIR": str(data_root)})


def _error(result) -> str:
    error = result.error
    return str(getattr(error, "evalue", None) or (error or {}).get("evalue", error))


def _outputs(result) -> dict:
    return {p.name: p for p in result.products}


def test_plan_parametrised(empty_data_root, tmp_path):
    start = time.perf_counter()
    result = _run(empty_data_root, {"src_name": "PKS 2155-304", "RA": 329.717,
                                    "DEC": -30.2256, "site": "South", "zenith": 20.0,
                                    "livetime": 2.0, "model_source": "power_law",
                                    "amplitude": 3e-12, "index": 3.3, "alpha": 0.1},
                  tmp_path)
    elapsed = time.perf_counter() - start
    assert result.status == "done", result.error
    assert {"simulated_spectrum", "sensitivity_curve", "plan_plot", "significance",
            "livetime_5sigma", "irf_source"} <= set(_outputs(result)), elapsed
    sed = Table.read(next(Path(tmp_path).rglob("simulated_spectrum.ecsv")))
    validate(sed)
    assert is_sed(sed) and set(sed["instrument"]) == {"CTAO-South"}
    assert set(sed["kind"]) == {"model", "point"}
    assert sed.meta["irf_source"].startswith("parametrised (gammapy ")
    assert sed.meta["alpha"] == 0.1
    sens = Table.read(next(Path(tmp_path).rglob("sensitivity_curve.ecsv")))
    assert sens["e2dnde"].unit == "erg / (s cm2)" and len(sens) >= 15
    assert set(sens["criterion"]) <= {"significance", "gamma", "bkg"}
    assert next(Path(tmp_path).rglob("plan_plot.png")).stat().st_size > 20_000


def test_plan_prod5_north_zenith_note(prod5_data_root, tmp_path):
    result = _run(prod5_data_root, {"site": "North", "zenith": 40.0, "livetime": 0.5,
                                     **CRAB_LIKE}, tmp_path)
    assert result.status == "done", result.error
    irf = _outputs(result)["irf_source"]
    text = str(getattr(irf, "value", None) or irf)
    sens = Table.read(next(Path(tmp_path).rglob("sensitivity_curve.ecsv")))
    assert sens.meta["irf_source"] == "prod5 v0.1 North 20deg 4LSTs09MSTs 180000s", text
    sed = Table.read(next(Path(tmp_path).rglob("simulated_spectrum.ecsv")))
    assert set(sed["instrument"]) == {"CTAO-North"}
    assert sed.meta["zenith_note"].startswith("zenith 40 deg requested: the IRFs used are "
                                              "those of 20 deg")
    points = sed[(sed["kind"] == "point") & ~sed["is_ul"]]
    model = np.interp(np.log(points["energy"]), np.log(sed["energy"][sed["kind"] == "model"]),
                      sed["e2dnde"][sed["kind"] == "model"])
    # Asimov counts fitted back: the points lie on the model within their errors
    assert np.all(np.abs(points["e2dnde"] - model) < 2 * points["e2dnde_errn"] + 0.05 * model)


def test_never_reaching_zenith_is_refused(empty_data_root, tmp_path):
    result = _run(empty_data_root, {"src_name": "Polaris-ish", "RA": 37.95, "DEC": 70.0,
                                    "site": "South", "zenith": 60.0}, tmp_path)
    assert result.status == "failed"
    assert "Polaris-ish (Dec +70.00 deg) never reaches zenith 60 deg from CTAO-South" \
        in _error(result)


def test_4fgl_without_catalogue_names_the_fetch(empty_data_root, tmp_path):
    result = _run(empty_data_root, {"model_source": "4fgl", "site": "North"}, tmp_path)
    assert result.status == "failed"
    assert "run `astroflow data fetch fermi-lat` first" in _error(result)


def test_plan_from_4fgl_extrapolation(catalogue_data_root, tmp_path):
    result = _run(catalogue_data_root, {"src_name": "PKS 2155-304", "RA": 329.717,
                                        "DEC": -30.2256, "site": "South", "livetime": 1.0,
                                        "model_source": "4fgl"}, tmp_path)
    assert result.status == "done", result.error
    sed = Table.read(next(Path(tmp_path).rglob("simulated_spectrum.ecsv")))
    assert sed.meta["model"].startswith("4FGL-DR4 4FGL J2158.8-3013 (0.00 deg away), its "
                                        "LogParabolaSpectralModel extrapolated")
    assert "EBL absorption not applied" in sed.meta["ebl"]
