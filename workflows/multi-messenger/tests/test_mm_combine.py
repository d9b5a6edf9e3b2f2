"""The combination logic without a server: parameters, sub-job outcomes, the table, the plot."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import astropy.units as u
import mm_sed
import numpy as np
import pytest

from astroflow import AnalysisError
from astroflow.client.services import Output, Parameter
from astroflow.products import sed

ODA = "http://odahub.io/ontology#"
COMMON = {"src_name": "TXS 0506+056", "RA": 77.358, "DEC": 5.693,
          "T1": "2008-08-04T00:00:00", "T2": "2018-07-10T00:00:00", "icecube_index": 2.5}


def service(name, params, outputs=("sed",)):
    return SimpleNamespace(name=name, parameters={p.name: p for p in params},
                           outputs={o: Output(o, "spectrum") for o in outputs})


def test_parameters_filled_by_ontology_then_name():
    icecube = service("icecube", [
        Parameter("src_name", "string", ontology=ODA + "AstrophysicalObject"),
        Parameter("RA", "number", ontology=ODA + "PointOfInterestRA"),
        Parameter("DEC", "number", ontology=ODA + "PointOfInterestDEC"),
        Parameter("T1", "string", ontology=ODA + "StartTimeISOT"),
        Parameter("T2", "string", ontology=ODA + "EndTimeISOT"),
        Parameter("index", "number"), Parameter("background_trials", "integer")])
    assert mm_sed.fill_parameters(icecube, COMMON) == {
        "src_name": "TXS 0506+056", "RA": 77.358, "DEC": 5.693, "T1": COMMON["T1"],
        "T2": COMMON["T2"], "index": 2.5, "background_trials": 0}  # the limit, no trials
    # Another service: its own names, times in MJD, no index.
    fermi = service("source-sed", [
        Parameter("source", "string", ontology=ODA + "AstrophysicalObject"),
        Parameter("ra", "number"), Parameter("dec", "number"),
        Parameter("tstart", "number", ontology=ODA + "StartTimeMJD"),
        Parameter("T2", "number"), Parameter("index", "number")])
    values = mm_sed.fill_parameters(fermi, COMMON)
    assert values == {"source": "TXS 0506+056", "ra": 77.358, "dec": 5.693,
                      "tstart": pytest.approx(54682.0), "T2": pytest.approx(58309.0)}


def test_service_list_and_sed_output():
    assert mm_sed.service_list(" source-sed, icecube icecube,,x ") == ["source-sed", "icecube",
                                                                         "x"]
    assert mm_sed.sed_output(service("a", [], ("summary", "sed"))) == "sed"
    assert mm_sed.sed_output(service("a", [], ("summary", "nu_sed_points"))) == "nu_sed_points"
    assert mm_sed.sed_output(service("a", [], ("summary",))) is None


def gamma_table():
    return sed.sed_table(energy=[1e-3, 1e-2, 1e-1] * u.TeV, e2dnde=[3e-12, 2e-12, 1e-12],
                         e2dnde_errn=[3e-13, 3e-13, 0], e2dnde_errp=[3e-13, 3e-13, 0],
                         energy_min=[5e-4, 5e-3, 5e-2] * u.TeV,
                         energy_max=[2e-3, 2e-2, 2e-1] * u.TeV, is_ul=[False, False, True],
                         messenger="gamma-rays", instrument="Fermi-LAT")


def neutrino_table():
    e = np.geomspace(2.0, 4000.0, 5) * u.TeV
    return sed.sed_table(energy=e, energy_min=np.full(5, 2.0) * u.TeV,
                         energy_max=np.full(5, 4000.0) * u.TeV, e2dnde=np.full(5, 2e-12),
                         is_ul=True, kind="limit", messenger="neutrinos", instrument="IceCube",
                         note="per-flavour flux: nu_mu + anti-nu_mu")


@dataclass
class FakeJob:
    id: str
    states: list = field(default_factory=lambda: ["running", "done"])
    cancelled: bool = False

    @property
    def state(self):
        return self.states[0]

    def refresh(self, wait: float = 0):
        if len(self.states) > 1:
            self.states.pop(0)
        elif wait:
            time.sleep(wait)  # as the server's long poll holds while the job runs

    @property
    def progress(self):
        return SimpleNamespace(fraction=0.5)

    def cancel(self):
        self.cancelled = True


def test_wait_reports_progress_and_cancels_at_timeout():
    slow = mm_sed.SubJob("slow", FakeJob("j1", ["running"] * 100), "queued")
    quick = mm_sed.SubJob("quick", FakeJob("j2"), "queued")
    reports = []
    mm_sed.wait_all([slow, quick], timeout=0.05, progress=lambda **k: reports.append(k),
                    poll=0.02)
    assert quick.state == "done" and slow.state == "timeout" and slow.job.cancelled
    assert "cancelled" in slow.message and all(0 <= r["fraction"] <= 1 for r in reports)
    assert "quick done" in reports[-1]["message"]


def test_status_and_combination_keep_failures_apart():
    good = mm_sed.SubJob("icecube", FakeJob("j1"), "done", table=neutrino_table())
    gone = mm_sed.SubJob("source-sed", None, "unavailable", "no service 'source-sed'")
    status = mm_sed.status_table([good, gone], "http://h:1")
    assert list(status["state"]) == ["done", "unavailable"]
    assert list(status["job_id"]) == ["j1", ""] and status["url"][0] == "http://h:1/api/v1/jobs/j1"
    combined = mm_sed.combined_sed([good, gone])
    assert set(combined["instrument"]) == {"IceCube"}
    with pytest.raises(AnalysisError, match="source-sed: unavailable"):
        mm_sed.combined_sed([gone])


def test_figure_draws_both_messengers(tmp_path):
    combined = sed.combine([gamma_table(), neutrino_table()])
    fig = mm_sed.sed_figure(combined, "TXS 0506+056")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("Fermi-LAT" in t for t in labels) and any("IceCube" in t for t in labels)
    assert any("nu_mu + anti-nu_mu" in t.get_text() for t in fig.texts)
    fig.savefig(tmp_path / "sed.png")
