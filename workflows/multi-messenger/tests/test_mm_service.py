"""The multi-messenger SED served for real: `astroflow serve` with IceCube (its 3-year
release), this service and, when it is there, Fermi-LAT; sub-jobs through the server's API."""

from __future__ import annotations

import astropy.units as u
import httpx
import numpy as np
import pytest
from mm_server import FERMI, SOURCES, T1, T2


@pytest.fixture(scope="module")
def jobs(client):
    """Both sources submitted at once, then waited for."""
    names = [s.name for s in client.services()]
    assert "multi-messenger-sed" in names and "icecube" in names
    submitted = {name: client.submit("multi-messenger-sed", src_name=name, RA=ra, DEC=dec,
                                     T1=T1, T2=T2, icecube_index=2.0)
                 for name, (ra, dec) in SOURCES.items()}
    return {name: job.wait(progress=False, timeout=150) for name, job in submitted.items()}


def fermi_serves(client) -> bool:
    return FERMI in {s.name for s in client.services()}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("source", list(SOURCES))
def test_icecube_limit_in_the_combined_sed(client, jobs, source):
    job = jobs[source]
    status = job.products["status"].to_astropy()
    rows = {str(r["service"]): r for r in status}
    assert set(rows) == {FERMI, "icecube"}
    ice = rows["icecube"]
    assert ice["state"] == "done" and ice["job_id"]
    # The sub-job is an ordinary job, visible by its id, with its own products.
    sub = client.job(str(ice["job_id"]))
    assert sub.service == "icecube" and sub.state == "done"
    assert sub.parameters["RA"] == SOURCES[source][0] and sub.parameters["T1"].startswith(T1)
    summary = sub.products["summary"].to_astropy()[0]
    own = sub.products["sed"].to_astropy(format="ecsv")
    combined = job.products["sed"].to_astropy(format="ecsv")
    assert combined.meta["sed_convention"] == "astroflow-sed/1"
    mine = combined[combined["instrument"] == "IceCube"]
    assert len(mine) == len(own) == int(ice["rows"]) and set(mine["messenger"]) == {"neutrinos"}
    assert mine["e2dnde"].to("erg cm-2 s-1").value == pytest.approx(
        own["e2dnde"].to("erg cm-2 s-1").value, rel=1e-6)
    if own["is_ul"][0]:
        # The limit for E^-2 is flat: E^2 times the summary's normalisation at 1 TeV.
        want = (summary["flux_upper_limit"] * u.Unit("TeV-1 cm-2 s-1") * u.TeV**2).to(
            "erg cm-2 s-1").value
        assert np.allclose(mine["e2dnde"].to("erg cm-2 s-1").value, want, rtol=1e-6)
        assert mine["is_ul"].all() and set(mine["kind"]) == {"limit"}
        assert mine["energy_min"].to("GeV").value == pytest.approx(
            np.full(len(mine), summary["e_min"]), rel=1e-6)
    assert "nu_mu + anti-nu_mu" in combined.meta["sed_notes"]["IceCube"]
    fermi = rows[FERMI]
    if fermi_serves(client):
        assert fermi["state"] == "done" and fermi["job_id"]
        points = combined[combined["instrument"] == "Fermi-LAT"]
        assert len(points) > 0 and set(points["messenger"]) == {"gamma-rays"}
        assert client.job(str(fermi["job_id"])).service == FERMI
    else:
        assert fermi["state"] == "unavailable" and not fermi["job_id"]
    assert job.products["sed_plot"].download(format="png").startswith(b"\x89PNG")
    preview = httpx.get(f"{client.url}/api/v1/jobs/{job.id}/products/sed/preview",
                        timeout=30).json()
    assert preview["kind"] == "plotly"
    assert any("IceCube" in (t.get("name") or "") for t in preview["figure"]["data"])


@pytest.mark.timeout(120)
def test_unknown_service_is_a_status_row_and_none_is_an_error(client, jobs):
    ra, dec = SOURCES["TXS 0506+056"]
    common = {"src_name": "TXS 0506+056", "RA": ra, "DEC": dec, "T1": T1, "T2": T2}
    job = client.submit("multi-messenger-sed", services="icecube, no-such-service",
                        **common).wait(progress=False, timeout=60)
    rows = {str(r["service"]): r for r in job.products["status"].to_astropy()}
    assert rows["no-such-service"]["state"] == "unavailable"
    assert rows["icecube"]["state"] == "done"
    failed = client.submit("multi-messenger-sed", services="no-such-service",
                           **common).wait(progress=False, timeout=60, check=False)
    assert failed.state == "failed" and "no service gave SED points" in failed.error.message
