"""The reference side of bench/iact.py: gammapy's own tutorial-style analyses, written out plainly.

What a gammapy user types from the tutorials for the same observations: DataStore →
SpectrumDatasetMaker + ReflectedRegionsBackgroundMaker + SafeMaskMaker per observation → Fit
of a power law → FluxPointsEstimator; and MapDatasetMaker + SafeMaskMaker + FoVBackgroundMaker
per observation, stacked, RingBackgroundMaker, ExcessMapEstimator. No caches: every request
reduces every observation again, as a notebook run does.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import Datasets, MapDataset, SpectrumDataset
from gammapy.estimators import ExcessMapEstimator, FluxPointsEstimator
from gammapy.makers import (
    FoVBackgroundMaker,
    MapDatasetMaker,
    ReflectedRegionsBackgroundMaker,
    RingBackgroundMaker,
    SafeMaskMaker,
    SpectrumDatasetMaker,
)
from gammapy.maps import MapAxis, RegionGeom, WcsGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from regions import CircleSkyRegion


def exclusion_mask(position: SkyCoord, width: float = 5.0, radius: float = 0.3):
    geom = WcsGeom.create(skydir=position, binsz=0.02, width=width, frame="icrs")
    return ~geom.region_mask([CircleSkyRegion(position, radius * u.deg)])


def spectrum(release: str, obs_ids: list[int], position: SkyCoord, *, on_radius: float = 0.11,
             e_min: float = 0.5, e_max: float = 30.0, n_points: int = 6) -> dict:
    """The tutorial 1-D analysis: fitted index and amplitude, and the flux points table."""
    observations = DataStore.from_dir(release).get_observations(obs_ids)
    energy_axis = MapAxis.from_energy_bounds(0.1, 100, nbin=10, per_decade=True, unit="TeV",
                                             name="energy")
    true_axis = MapAxis.from_energy_bounds(0.05, 150, nbin=20, per_decade=True, unit="TeV",
                                           name="energy_true")
    geom = RegionGeom.create(region=CircleSkyRegion(position, on_radius * u.deg),
                             axes=[energy_axis])
    empty = SpectrumDataset.create(geom=geom, energy_axis_true=true_axis)
    maker = SpectrumDatasetMaker(selection=["counts", "exposure", "edisp"],
                                 containment_correction=True)
    background = ReflectedRegionsBackgroundMaker(exclusion_mask=exclusion_mask(position))
    safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
    datasets = Datasets()
    for obs in observations:
        dataset = maker.run(empty.copy(name=str(obs.obs_id)), obs)
        dataset = background.run(dataset, obs)
        datasets.append(safe.run(dataset, obs))
    model = SkyModel(spectral_model=PowerLawSpectralModel(index=2.5, amplitude="1e-11 cm-2 s-1 TeV-1",
                                                         reference=1 * u.TeV), name="source")
    datasets.models = [model]
    result = Fit().run(datasets=datasets)
    edges = np.geomspace(e_min, e_max, n_points + 1) * u.TeV
    points = FluxPointsEstimator(energy_edges=edges, source="source", selection_optional=["ul"]
                                 ).run(datasets=datasets)
    spectral = model.spectral_model
    return {"success": bool(result.success), "index": float(spectral.index.value),
            "index_err": float(spectral.index.error),
            "amplitude": float(spectral.amplitude.value),
            "amplitude_err": float(spectral.amplitude.error),
            "n_points": len(points.to_table(sed_type="e2dnde"))}


def significance_map(release: str, obs_ids: list[int], position: SkyCoord, *,
                     width: float = 2.0, binsz: float = 0.02, e_min: float = 1.0,
                     e_max: float = 10.0, correlation_radius: float = 0.1) -> dict:
    """The tutorial ring-background significance map around `position` (the service's
    default energy range, ring and correlation radius)."""
    observations = DataStore.from_dir(release).get_observations(obs_ids)
    energy_axis = MapAxis.from_energy_bounds(e_min, e_max, nbin=1, unit="TeV", name="energy")
    geom = WcsGeom.create(skydir=position, binsz=binsz, width=width, frame="icrs",
                          axes=[energy_axis])
    true_axis = MapAxis.from_energy_bounds(0.3, 100, nbin=12, unit="TeV", name="energy_true")
    stacked = MapDataset.create(geom=geom, energy_axis_true=true_axis, name="stacked")
    maker = MapDatasetMaker()
    safe = SafeMaskMaker(methods=["offset-max"], offset_max=2.5 * u.deg)
    mask = ~geom.to_image().region_mask([CircleSkyRegion(position, 0.3 * u.deg)])
    fov = FoVBackgroundMaker(method="scale", exclusion_mask=mask)
    for obs in observations:
        dataset = maker.run(stacked.copy(name=f"obs-{obs.obs_id}"), obs)
        dataset = safe.run(dataset, obs)
        stacked.stack(fov.run(dataset))
    ring = RingBackgroundMaker(r_in=0.5 * u.deg, width=0.3 * u.deg, exclusion_mask=mask)
    on_off = ring.run(stacked.to_image())
    maps = ExcessMapEstimator(correlation_radius=Angle(correlation_radius, "deg"),
                              selection_optional=[]).run(on_off)
    sqrt_ts = maps["sqrt_ts"].data
    return {"max_significance": float(np.nanmax(sqrt_ts)), "shape": list(sqrt_ts.shape[-2:])}
