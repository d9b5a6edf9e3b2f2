"""Each notebook through astroflow.Workflow: done with its products, or a clear AnalysisError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from astroflow import Workflow
from astroflow.products.sed import is_sed, validate

HERE = Path(__file__).resolve().parents[1]


def _run(data_root, notebook, values, tmp_path):
    wf = Workflow.from_path(HERE / notebook)
    return wf.run(values, job_dir=tmp_path / notebook, time_limit=120,
                  env={"ASTROFLOW_DATA_DIR": str(data_root)})


def _product(result, name):
    return next(p for p in result.products if p.name == name)


def _error(result) -> str:
    error = result.error
    return str(getattr(error, "evalue", None) or (error or {}).get("evalue", error))


def test_cone_search(data_root, tmp_path):
    result = _run(data_root, "cone_search.py", {"RA": 83.633, "DEC": 22.0145, "radius": 3.0},
                  tmp_path)
    assert result.status == "done", result.error
    assert {p.name for p in result.products} == {"sources", "sky_map", "n_sources"}
    table = Table.read(next(Path(tmp_path).rglob("sources.ecsv")))
    assert table["name"][0] == "4FGL J0534.5+2200" and len(table) == 5
    assert {"name", "class", "association", "energy_flux", "photon_flux", "spectral_model",
            "index", "significance", "variability_index", "ra", "dec",
            "separation"} <= set(table.colnames)
    assert np.all(np.diff(table["separation"]) >= 0)
    assert next(Path(tmp_path).rglob("sky_map.png")).stat().st_size > 10_000


def test_cone_search_empty(data_root, tmp_path):
    result = _run(data_root, "cone_search.py", {"RA": 0.0, "DEC": -89.0, "radius": 0.1},
                  tmp_path)
    assert result.status == "failed" and "no 4FGL source within 0.1 deg" in _error(result)


def test_source_sed(data_root, tmp_path):
    result = _run(data_root, "source_sed.py", {"src_name": "Mrk 421", "RA": 166.1138,
                                               "DEC": 38.2088}, tmp_path)
    assert result.status == "done", result.error
    assert {"sed", "sed_plot", "energy_flux", "spectral_index"} <= {p.name for p in
                                                                     result.products}
    sed = Table.read(next(Path(tmp_path).rglob("sed.ecsv")))
    validate(sed)
    assert is_sed(sed) and sed.meta["source"] == "4FGL J1104.4+3812"
    assert (sed["kind"] == "point").sum() == 8 and (sed["kind"] == "model").sum() == 30
    model = sed[sed["kind"] == "model"]
    assert np.all(model["e2dnde_errn"] > 0) and np.all(model["e2dnde_errp"] > 0)
    assert set(sed["instrument"]) == {"Fermi-LAT"} and set(sed["messenger"]) == {"gamma-rays"}


def test_source_sed_by_position_and_unknown_name(data_root, tmp_path):
    result = _run(data_root, "source_sed.py", {"src_name": "Not A Source", "RA": 0.0,
                                               "DEC": -89.0, "match_by": "name"}, tmp_path)
    assert result.status == "failed"
    assert "no 4FGL-DR4 source is named or associated with 'Not A Source'" in _error(result)


def test_light_curve(data_root, tmp_path):
    result = _run(data_root, "light_curve.py", {"src_name": "", "RA": 77.3582, "DEC": 5.6931,
                                                "T1": "2017-01-01T00:00:00",
                                                "T2": "2018-06-01T00:00:00",
                                                "restrict_to_range": True}, tmp_path)
    assert result.status == "done", result.error
    lc = _product(result, "light_curve")
    assert lc.type == "lightcurve"
    table = Table.read(next(Path(tmp_path).rglob("light_curve.ecsv")))
    assert len(table) == 2 and table.meta["source"] == "4FGL J0509.4+0542"
    assert {"time", "time_min", "time_max", "flux", "flux_errn", "flux_errp", "flux_ul",
            "is_ul"} <= set(table.colnames)
