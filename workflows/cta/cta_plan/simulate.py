"""Expected counts of one observation: a gammapy ``SpectrumDataset`` made from the IRFs, then
an ON-OFF dataset (``SpectrumDatasetOnOff``, OFF exposure 1/alpha times the ON) with Asimov or
Poisson counts, fitted back to give the simulated spectrum.

The ON region follows the PSF: its radius is the 68% containment radius at each reconstructed
energy (as in gammapy's CTA sensitivity tutorial), so the exposure is scaled by 0.68 and the
background by the ON region's solid angle at that energy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from .errors import AnalysisError
from .irfs import IRFSet
from .visibility import location

RECO_EDGES_TEV = 10 ** np.round(np.arange(-1.6, 2.21, 0.2), 1)  # 25 GeV - 158 TeV, 5/decade
TRUE_RANGE_TEV = (0.01, 10**2.3)  # 10 GeV - 199.5 TeV: where the prod5 tables end
TRUE_PER_DECADE = 40
CONTAINMENT = 0.68
REGION_RADIUS = 0.1 * u.deg  # nominal; rescaled to the 68% radius per energy
WOBBLE_OFFSET = 0.5 * u.deg
ALPHA = 0.2  # ON/OFF exposure ratio: five OFF regions


@dataclass
class Prediction:
    """A SpectrumDataset of the observation and the ON radius used in each energy bin."""

    dataset: object  # gammapy SpectrumDataset (exposure, edisp, background; no counts)
    on_radius: u.Quantity
    livetime: u.Quantity
    offset: u.Quantity


def energy_axes():
    from gammapy.maps import MapAxis

    reco = MapAxis.from_energy_edges(RECO_EDGES_TEV * u.TeV, name="energy")
    true = MapAxis.from_energy_bounds(*TRUE_RANGE_TEV, unit="TeV", nbin=TRUE_PER_DECADE,
                                      per_decade=True, name="energy_true")
    return reco, true


def predict(irf_set: IRFSet, position: SkyCoord, livetime: u.Quantity,
            offset: u.Quantity = WOBBLE_OFFSET) -> Prediction:
    """The dataset of a `livetime` observation of `position`, pointed `offset` away from it."""
    from gammapy.data import FixedPointingInfo, Observation
    from gammapy.datasets import SpectrumDataset
    from gammapy.makers import SpectrumDatasetMaker
    from gammapy.maps import RegionGeom
    from regions import CircleSkyRegion

    if not livetime > 0 * u.s:
        raise AnalysisError(f"livetime {livetime:g} must be positive")
    reco, true = energy_axes()
    pointing = position.icrs.directional_offset_by(0 * u.deg, offset)
    geom = RegionGeom.create(CircleSkyRegion(position.icrs, REGION_RADIUS), axes=[reco])
    empty = SpectrumDataset.create(geom=geom, energy_axis_true=true)
    observation = Observation.create(pointing=FixedPointingInfo(fixed_icrs=pointing),
                                     livetime=livetime, irfs=irf_set.irfs,
                                     location=location(irf_set.site))
    maker = SpectrumDatasetMaker(selection=["exposure", "edisp", "background"],
                                 containment_correction=False)
    dataset = maker.run(empty, observation)
    dataset.exposure *= CONTAINMENT
    on_radius = irf_set.irfs["psf"].containment_radius(
        fraction=CONTAINMENT, energy_true=reco.center, offset=offset)
    factor = (1 - np.cos(on_radius)) / (1 - np.cos(REGION_RADIUS))
    dataset.background *= factor.to_value(u.one).reshape((-1, 1, 1))
    return Prediction(dataset, on_radius.to(u.deg), livetime.to(u.h), offset)


def counts(prediction: Prediction, model) -> tuple[np.ndarray, np.ndarray]:
    """(signal, background) expected counts per reconstructed-energy bin for `model`."""
    from gammapy.modeling.models import SkyModel

    dataset = prediction.dataset.copy(name="counts")
    dataset.models = [SkyModel(spectral_model=model.copy(), name="source")]
    signal = dataset.npred_signal().data[:, 0, 0]
    background = dataset.npred_background().data[:, 0, 0]
    return np.asarray(signal, float), np.asarray(background, float)


def on_off(prediction: Prediction, model, mode: str = "asimov", seed: int = 0,
           alpha: float = ALPHA):
    """The ON-OFF dataset with `model`: counts equal to the prediction (``asimov``) or drawn
    from it (``poisson``, with `seed`)."""
    from gammapy.datasets import SpectrumDatasetOnOff
    from gammapy.modeling.models import SkyModel

    if mode not in ("asimov", "poisson"):
        raise AnalysisError(f"simulation {mode!r} is not 'asimov' or 'poisson'")
    if not 0 < alpha <= 1:
        raise AnalysisError(f"alpha {alpha!r} must be in (0, 1]")
    base = prediction.dataset.copy(name="simulated")
    base.models = [SkyModel(spectral_model=model.copy(), name="source")]
    background = base.npred_background()
    dataset = SpectrumDatasetOnOff.from_spectrum_dataset(
        dataset=base, acceptance=1, acceptance_off=1 / alpha)
    dataset.models = [SkyModel(spectral_model=model.copy(), name="source")]
    if mode == "asimov":
        dataset.counts = dataset.npred_signal() + background
        dataset.counts_off = background / alpha
    else:
        dataset.fake(npred_background=background, random_state=int(seed))
    return dataset


def fit_back(dataset):
    """Fit the model's free parameters to the simulated counts (the result says whether it
    converged; the caller reports it)."""
    from gammapy.modeling import Fit

    return Fit().run([dataset])


#: The bands are fitted in parallel (gammapy forks one process per job): they are
#: independent, and they are most of a request's time.
N_JOBS = max(1, min(2, os.cpu_count() or 1))


def flux_points(dataset, edges: u.Quantity):
    """Simulated flux points: the norm of the fitted model per energy band with its
    (parabolic) 1-sigma error and TS. Profiled upper limits cost ~1 s per band, so none are
    computed here (the caller states limits as norm + 2 sigma)."""
    from gammapy.estimators import FluxPointsEstimator

    estimator = FluxPointsEstimator(energy_edges=edges, source="source",
                                    selection_optional=[], n_jobs=N_JOBS)
    return estimator.run([dataset])
