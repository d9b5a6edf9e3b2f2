"""Simulate the planned observations and write them as a DL3 release in DR1's layout.

One observation at a time: its IRFs (from its zenith), a MapDataset around the pointing
(gammapy's MapDatasetMaker), the sources in its field of view, gammapy's event sampler with a
random state drawn from (seed, obs_id) so each run is reproducible on its own; then one
``data/*.fits.gz`` (EVENTS, GTI, AEFF, EDISP, PSF, BKG) gzip-written without a timestamp so
the same seed gives the same bytes, and the two index files DataStore reads.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import yaml
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from gammapy.data import EventList, FixedPointingInfo, Observation
from gammapy.datasets import MapDataset, MapDatasetEventSampler
from gammapy.makers import MapDatasetMaker
from gammapy.maps import MapAxis, WcsGeom
from gammapy.modeling.models import FoVBackgroundModel, Models

from .irfs import RAD, make_irfs
from .observations import (
    DEADTIME_FRACTION,
    HESS_LOCATION,
    MJDREFF,
    MJDREFI,
    REFERENCE_TIME,
    PlannedObservation,
)
from .sky import FIELDS, flare_factor, integral_flux_above, sky_model

GENERATOR_VERSION = "4"  # bump whenever the bytes written change
ORIGIN = "astroflow synthetic"
#: Simulated sky around each pointing: the camera's 5° field in 101 x 101 pixels of 0.05° (a
#: third of the PSF's 68% radius). The sampler draws a point source's true positions uniformly
#: over its pixel: an odd count puts the pointing, hence the wobble targets 0.5°/0.7°/1.0°
#: away along the axes, at pixel centres, so the events are centred on the source.
PIXEL = 0.05 * u.deg
FOV_PIXELS = 101
FOV_WIDTH = FOV_PIXELS * PIXEL
ENERGY_TRUE = MapAxis.from_energy_bounds(0.1, 100, nbin=9, per_decade=True, unit="TeV",
                                         name="energy_true")
ENERGY_RECO = MapAxis.from_energy_bounds(0.1, 100, nbin=9, per_decade=True, unit="TeV",
                                         name="energy")
MIGRA = MapAxis.from_edges(np.linspace(0.2, 3.0, 57), name="migra")
IRF_PIXEL = 0.5 * u.deg
#: DR1's columns, then the detector frame and the sampler's tag of the model that made each
#: event (0: background, then the sources in the order of MMNxxxxx header keys).
EVENT_COLUMNS = ("EVENT_ID", "TIME", "RA", "DEC", "ENERGY", "DETX", "DETY", "MC_ID")


@dataclass(frozen=True)
class SimulatedObservation:
    plan: PlannedObservation
    file_name: str
    n_events: int
    zenith: float
    alt: float
    az: float
    safe_energy_lo: float
    models: Models  # the sources as injected in this run (variable ones at their run's flux)


def random_state(seed: int, obs_id: int) -> np.random.RandomState:
    """Independent stream per (seed, observation): runs can be regenerated one at a time."""
    return np.random.RandomState(np.random.SeedSequence([seed, obs_id]).generate_state(8))


def injected_models(plan: PlannedObservation, sources: tuple[str, ...]) -> Models:
    """The release's sources inside this pointing's field, variable ones scaled to this run."""
    models = []
    for name in sources:
        if name not in FIELDS or name == "empty":
            continue
        model = sky_model(name)
        if plan.pointing.separation(model.position).deg > FOV_WIDTH.to_value(u.deg) / 2:
            continue
        if any(f.variable for f in FIELDS[name]) and plan.field.name == name:
            model.spectral_model.amplitude.value *= float(
                flare_factor(plan.run_index, plan.n_runs))
        models.append(model)
    return Models(models)


def safe_energy_threshold(aeff) -> u.Quantity:
    """Lowest energy with 10% of the maximum on-axis effective area (DR1's safe-range rule)."""
    energy = aeff.axes["energy_true"].center
    area = aeff.evaluate(energy_true=energy, offset=0.5 * u.deg)
    return energy[np.argmax(area >= 0.1 * area.max())]


def simulation_geom(pointing: SkyCoord) -> WcsGeom:
    """The sky and reconstructed-energy grid of a run, centred on its pointing."""
    return WcsGeom.create(skydir=pointing, npix=FOV_PIXELS, binsz=PIXEL, frame="icrs",
                          proj="TAN", axes=[ENERGY_RECO])


def simulate(plan: PlannedObservation, seed: int, sources: tuple[str, ...]
             ) -> tuple[Observation, SimulatedObservation]:
    """One run: IRFs at its zenith, the expected counts of its field (sources + background
    IRF) on the simulation grid, and events drawn from them by gammapy's sampler."""
    zenith = plan.zenith
    irfs = make_irfs(zenith)
    observation = Observation.create(
        FixedPointingInfo(fixed_icrs=plan.pointing), location=HESS_LOCATION,
        obs_id=plan.obs_id, tstart=plan.tstart, tstop=plan.tstop, irfs=irfs,
        deadtime_fraction=DEADTIME_FRACTION, reference_time=REFERENCE_TIME)
    geom = simulation_geom(plan.pointing)
    empty = MapDataset.create(geom, energy_axis_true=ENERGY_TRUE, migra_axis=MIGRA,
                              rad_axis=RAD, binsz_irf=IRF_PIXEL, name=f"obs-{plan.obs_id}")
    dataset = MapDatasetMaker(selection=["exposure", "background", "psf", "edisp"]).run(
        empty, observation)
    models = injected_models(plan, sources)
    dataset.models = list(models) + [FoVBackgroundModel(dataset_name=dataset.name)]
    sampler = MapDatasetEventSampler(random_state=random_state(seed, plan.obs_id))
    events = sampler.run(dataset, observation)
    events = _as_dr1_events(events, plan)
    observation.events = events
    altaz = plan.altaz
    return observation, SimulatedObservation(
        plan, f"hess_dl3_synthetic_obs_id_{plan.obs_id:06d}.fits.gz", len(events.table),
        float(zenith.deg), float(altaz.alt.deg), float(altaz.az.deg),
        float(safe_energy_threshold(irfs["aeff"]).to_value(u.TeV)), models)


def _as_dr1_events(events: EventList, plan: PlannedObservation) -> EventList:
    """The sampler's list with DR1's header keys (and none that change from run to run)."""
    table = events.table
    order = [c for c in EVENT_COLUMNS if c in table.colnames]
    table = table[order]
    meta = table.meta
    meta.pop("CREATED", None)
    altaz = plan.altaz
    meta.update({
        "ORIGIN": ORIGIN, "TELESCOP": "HESS", "INSTRUME": "H.E.S.S. Phase I (synthetic)",
        "CREATOR": f"astroflow hess_dl3.synthetic {GENERATOR_VERSION}",
        "OBJECT": plan.field.object_name,
        "RA_OBJ": float(plan.field.position.ra.deg), "DEC_OBJ": float(plan.field.position.dec.deg),
        "ALT_PNT": float(altaz.alt.deg), "AZ_PNT": float(altaz.az.deg),
        "N_TELS": 4, "TELLIST": "1,2,3,4", "EV_CLASS": "std",
        "MJDREFI": MJDREFI, "MJDREFF": MJDREFF, "TIMESYS": "TT",
        "GEOLON": float(HESS_LOCATION.lon.deg), "GEOLAT": float(HESS_LOCATION.lat.deg),
        "ALTITUDE": float(HESS_LOCATION.height.to_value(u.m)),
    })
    return EventList(table)


def observation_hdus(observation: Observation) -> fits.HDUList:
    """EVENTS, GTI, AEFF, EDISP, PSF, BKG under DR1's extension names, without creation
    dates (gammapy stamps CREATED; the same seed must give the same bytes)."""
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = ORIGIN
    primary.header["CREATOR"] = f"astroflow hess_dl3.synthetic {GENERATOR_VERSION}"
    events_hdu = observation.events.to_table_hdu(format="gadf")
    events_hdu.header.update(observation.pointing.to_fits_header(
        time_ref=observation.events.time_ref))
    gti_hdu = observation.gti.to_table_hdu(format="gadf")
    gti_hdu.header.update({"MJDREFI": MJDREFI, "MJDREFF": MJDREFF, "TIMESYS": "TT",
                           "TIMEUNIT": "s", "HDUCLASS": "GADF", "HDUCLAS1": "GTI"})
    hdus = [primary, events_hdu, gti_hdu]
    for name in ("aeff", "edisp", "psf", "bkg"):
        table = getattr(observation, name).to_table(format="gadf-dl3")
        for column in table.itercols():  # single precision, as DR1 stores its IRFs
            if column.dtype == np.float64:
                table[column.name] = column.astype(np.float32)
        hdus.append(fits.table_to_hdu(table))
        hdus[-1].name = name.upper()
    for hdu in hdus:
        for key in ("CREATED", "DATE"):
            hdu.header.remove(key, ignore_missing=True, remove_all=True)
    return fits.HDUList(hdus)


def write_gzip(hdus: fits.HDUList, path: Path) -> None:
    """Gzip-written with no timestamp in the gzip header, through a `.partial` file."""
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                   mtime=0, compresslevel=6) as f:
        f.write(buffer.getvalue())
    partial.replace(path)


def obs_index(runs: list[SimulatedObservation], seed: int) -> Table:
    """DR1's obs-index columns and header (site, time reference), marked synthetic."""
    rows = []
    for run in runs:
        plan = run.plan
        tstart = (plan.tstart - REFERENCE_TIME).to_value(u.s)
        tstop = (plan.tstop - REFERENCE_TIME).to_value(u.s)
        start_iso, stop_iso = plan.tstart.tt.isot, plan.tstop.tt.isot
        galactic = plan.pointing.galactic
        target = plan.field.position
        rows.append({
            "OBS_ID": plan.obs_id, "RA_PNT": plan.pointing.ra.deg,
            "DEC_PNT": plan.pointing.dec.deg, "GLON_PNT": galactic.l.deg,
            "GLAT_PNT": galactic.b.deg, "ZEN_PNT": run.zenith, "ALT_PNT": run.alt,
            "AZ_PNT": run.az, "OBJECT": plan.field.object_name, "RA_OBJ": target.ra.deg,
            "DEC_OBJ": target.dec.deg,
            "OFFSET_OBJ": plan.pointing.separation(target).deg,
            "ONTIME": plan.ontime.to_value(u.s), "LIVETIME": plan.livetime.to_value(u.s),
            "DEADC": 1 - DEADTIME_FRACTION, "TSTART": tstart, "TSTOP": tstop,
            "DATE-OBS": start_iso[:10], "TIME-OBS": start_iso[11:19],
            "DATE-END": stop_iso[:10], "TIME-END": stop_iso[11:19], "N_TELS": 4,
            "TELLIST": "1,2,3,4", "QUALITY": 0, "EVENT_COUNT": run.n_events,
            "TARGET_NAME": plan.field.object_name, "TARGET_OFFSET":
                plan.pointing.separation(target).deg,
            "SAFE_ENERGY_LO": run.safe_energy_lo, "SAFE_ENERGY_HI": 100.0,
        })
    table = Table(rows=rows)
    units = {"RA_PNT": "deg", "DEC_PNT": "deg", "GLON_PNT": "deg", "GLAT_PNT": "deg",
             "ZEN_PNT": "deg", "ALT_PNT": "deg", "AZ_PNT": "deg", "RA_OBJ": "deg",
             "DEC_OBJ": "deg", "OFFSET_OBJ": "deg", "ONTIME": "s", "LIVETIME": "s",
             "TSTART": "s", "TSTOP": "s", "TARGET_OFFSET": "deg", "SAFE_ENERGY_LO": "TeV",
             "SAFE_ENERGY_HI": "TeV"}
    for name, unit in units.items():
        table[name].unit = unit
    table.meta.update({
        "EXTNAME": "OBS_INDEX", "HDUCLASS": "GADF",
        "HDUDOC": "https://github.com/open-gamma-ray-astro/gamma-astro-data-formats",
        "HDUVERS": "0.2", "HDUCLAS1": "INDEX", "HDUCLAS2": "OBS",
        "MJDREFI": MJDREFI, "MJDREFF": MJDREFF, "TIMEUNIT": "s", "TIMESYS": "TT",
        "TIMEREF": "local", "GEOLON": float(HESS_LOCATION.lon.deg),
        "GEOLAT": float(HESS_LOCATION.lat.deg),
        "ALTITUDE": float(HESS_LOCATION.height.to_value(u.m)),
        **_provenance(seed)})
    return table


def hdu_index(runs: list[SimulatedObservation], seed: int, sizes: dict[str, int]) -> Table:
    rows = []
    kinds = (("events", "events", "EVENTS"), ("gti", "gti", "GTI"),
             ("aeff", "aeff_2d", "AEFF"), ("edisp", "edisp_2d", "EDISP"),
             ("psf", "psf_table", "PSF"), ("bkg", "bkg_2d", "BKG"))
    for run in runs:
        for hdu_type, hdu_class, hdu_name in kinds:
            rows.append({"OBS_ID": run.plan.obs_id, "HDU_TYPE": hdu_type,
                         "HDU_CLASS": hdu_class, "FILE_DIR": "data",
                         "FILE_NAME": run.file_name, "HDU_NAME": hdu_name,
                         "SIZE": sizes[run.file_name]})
    table = Table(rows=rows)
    table.meta.update({
        "EXTNAME": "HDU_INDEX", "HDUCLASS": "GADF",
        "HDUDOC": "https://github.com/open-gamma-ray-astro/gamma-astro-data-formats",
        "HDUVERS": "0.2", "HDUCLAS1": "INDEX", "HDUCLAS2": "HDU", **_provenance(seed)})
    return table


def _provenance(seed: int) -> dict:
    return {"ORIGIN": ORIGIN, "SEED": int(seed), "GENVERS": GENERATOR_VERSION,
            "COMMENT": "Synthetic H.E.S.S.-like DL3 release (not real data), made by "
                       "astroflow's hess_dl3.synthetic with gammapy's IRF classes and "
                       "MapDatasetEventSampler."}


def write_table(table: Table, path: Path) -> None:
    """An index table, gzip-written without a timestamp (same inputs, same bytes)."""
    write_gzip(fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(table)]), path)


def truth_lightcurve(runs: list[SimulatedObservation]) -> Table:
    """Per run and variable source: the true integral flux above 1 TeV during that run."""
    rows = []
    for run in runs:
        for model in run.models:
            if not any(f.variable for f in FIELDS.get(model.name, ())):
                continue
            rows.append({"obs_id": run.plan.obs_id, "time_min": run.plan.tstart.tt.mjd,
                         "time_max": run.plan.tstop.tt.mjd, "source": model.name,
                         "flux": integral_flux_above(model).to_value("cm-2 s-1")})
    table = Table(rows=rows, names=("obs_id", "time_min", "time_max", "source", "flux"),
                  dtype=(int, float, float, str, float))
    table["time_min"] = Time(table["time_min"], format="mjd", scale="tt")
    table["time_max"] = Time(table["time_max"], format="mjd", scale="tt")
    table["flux"].unit = "cm-2 s-1"
    table.meta["description"] = ("True integral flux above 1 TeV of each variable source "
                                 "during each observation of its field")
    return table


def write_truth(models: Models, path: Path) -> None:
    """gammapy's model YAML without its creation date (same seed, same bytes); Models.read
    reads it."""
    from gammapy.utils.scripts import YAML_FORMAT

    data = {**models.to_dict(), "metadata": {
        "creator": f"astroflow hess_dl3.synthetic {GENERATOR_VERSION}", "origin": ORIGIN}}
    path.write_text(yaml.safe_dump(data, **{**YAML_FORMAT, "sort_keys": False}))


def truth_sky(sources: tuple[str, ...]) -> Models:
    """The injected sources (steady state; a variable one's run fluxes are in the light curve)."""
    return Models([sky_model(name) for name in sources if name in ("crab", "pks2155",
                                                                     "extended")])


