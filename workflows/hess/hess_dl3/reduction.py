"""Per-observation reflected-regions reduction to `SpectrumDatasetOnOff`, cached on disk.

Reducing an observation (reading its events and IRFs, finding the reflected regions) costs
about a second; fitting the reduced dataset costs milliseconds. The reduction of one
observation depends only on the release, the observation, the on-region, the energy axes and
the exclusion mask, so it is computed once on fixed wide energy axes and kept as one file per
observation in the workflow's cache folder (`$ASTROFLOW_CACHE_DIR` in a sandboxed run, else
`$ASTROFLOW_DATA_DIR/hess/cache/spectrum/`). The user's energy range is applied later as a fit
mask, so it does not invalidate the cache. A cache that cannot be written costs speed only.

The files are pickles, not gammapy's FITS serialisation: reading a dataset back from FITS
costs ~0.25 s per observation (the reflected regions' geometry is rebuilt region by region)
and loses the livetime, while a pickle loads in ~15 ms. The key holds the versions of gammapy,
astropy and numpy, so a pickle is only ever read by the code that wrote it.

Files are written to a temporary name in the same folder and renamed into place, so a reader
never sees half a file and two jobs reducing the same observation at once both succeed (the
last rename wins; both wrote the same content).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import astropy
import astropy.units as u
import gammapy
import numpy as np
from astropy.coordinates import SkyCoord
from gammapy.datasets import Datasets, SpectrumDataset, SpectrumDatasetOnOff
from gammapy.makers import ReflectedRegionsBackgroundMaker, SafeMaskMaker, SpectrumDatasetMaker
from gammapy.maps import MapAxis, RegionGeom
from regions import CircleSkyRegion

from .errors import AnalysisError
from .exclusion import exclusion_mask, exclusion_regions
from .selection import Selection, pointings

#: Bump when the reduction's method changes: old cache files are then never read.
CODE_VERSION = "hess-spectrum-reduction/1"

#: Reconstructed energy: 0.1-100 TeV, 10 bins per decade (the user's range is a fit mask).
ENERGY_AXIS = MapAxis.from_energy_bounds(0.1, 100, nbin=10, per_decade=True, unit="TeV",
                                         name="energy")
#: True energy wider than reconstructed, so that migration into the range is modelled.
ENERGY_AXIS_TRUE = MapAxis.from_energy_bounds(0.05, 150, nbin=20, per_decade=True, unit="TeV",
                                              name="energy_true")
#: Safe energy range: where the effective area exceeds 10% of its maximum (as gammapy's
#: H.E.S.S. DR1 tutorials do).
AEFF_PERCENT = 10
#: Margin of the exclusion mask beyond the ring of reflected regions.
MASK_MARGIN = 0.2 * u.deg


def default_cache_dir() -> Path:
    """Where reduced datasets are kept between requests: the workflow's own cache folder when
    astroflow gives one (`$ASTROFLOW_CACHE_DIR`, the folder a sandboxed run may write), else
    `$ASTROFLOW_DATA_DIR/hess/cache/spectrum` (astroflow's default data folder otherwise)."""
    if os.environ.get("ASTROFLOW_CACHE_DIR"):
        return Path(os.environ["ASTROFLOW_CACHE_DIR"]) / "hess-spectrum"
    root = os.environ.get("ASTROFLOW_DATA_DIR")
    if not root:
        from astroflow.datadir import default_data_dir

        root = str(default_data_dir())
    return Path(root) / "hess" / "cache" / "spectrum"


@dataclass(frozen=True)
class Reduction:
    """The reduced datasets of a selection and where they came from."""

    datasets: Datasets
    reduced: list[int]  # observations reduced now (cache misses)
    cached: list[int]  # observations read from the cache
    dropped: dict[int, str]  # observations without background regions, and why


def release_identity(release: str | Path) -> dict[str, object]:
    """What identifies a release's content cheaply: its path and its obs index's stamp."""
    path = Path(release).resolve()
    index = next((path / n for n in ("obs-index.fits.gz", "obs-index.fits")
                  if (path / n).is_file()), path)
    stat = index.stat()
    return {"path": str(path), "obs_index_mtime_ns": stat.st_mtime_ns,
            "obs_index_size": stat.st_size}


def _axis_key(axis: MapAxis) -> list[float]:
    return [round(float(e), 9) for e in axis.edges.to_value(u.TeV)]


def cache_key(identity: dict[str, object], obs_id: int, on_region: CircleSkyRegion,
              mask_digest: str) -> str:
    """A digest of everything the reduction of one observation depends on."""
    centre = on_region.center.icrs
    payload = {
        "code": CODE_VERSION, "versions": [gammapy.__version__, astropy.__version__,
                                           np.__version__],
        "release": identity, "obs_id": int(obs_id),
        "on_region": [round(centre.ra.deg, 7), round(centre.dec.deg, 7),
                      round(on_region.radius.to_value(u.deg), 7)],
        "energy": _axis_key(ENERGY_AXIS), "energy_true": _axis_key(ENERGY_AXIS_TRUE),
        "aeff_percent": AEFF_PERCENT, "exclusion": mask_digest,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _mask_digest(mask) -> str:
    digest = hashlib.sha256(np.packbits(mask.data).tobytes())
    digest.update(mask.geom.wcs.to_header_string().encode())
    return digest.hexdigest()


def write_atomically(dataset: SpectrumDatasetOnOff, path: Path) -> None:
    """Write beside the target and rename: readers see the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(pickle.dumps(dataset, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> SpectrumDatasetOnOff | None:
    """A cached dataset, or None when the file is unreadable (then it is reduced again)."""
    try:
        dataset = pickle.loads(path.read_bytes())
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None
    return dataset if isinstance(dataset, SpectrumDatasetOnOff) else None


def _reduce_one(observation, on_region: CircleSkyRegion, mask) -> SpectrumDatasetOnOff | None:
    """Counts, exposure and energy dispersion in the on-region, off counts from the reflected
    regions; None when no reflected region fits beside the on-region and the exclusions."""
    geom = RegionGeom.create(region=on_region, axes=[ENERGY_AXIS])
    empty = SpectrumDataset.create(geom=geom, energy_axis_true=ENERGY_AXIS_TRUE,
                                   name=str(observation.obs_id))
    maker = SpectrumDatasetMaker(selection=["counts", "exposure", "edisp"],
                                 containment_correction=True)
    dataset = maker.run(empty, observation)
    on_off = ReflectedRegionsBackgroundMaker(exclusion_mask=mask).run(dataset, observation)
    if on_off.counts_off is None or not np.any(on_off.acceptance_off.data > 0):
        return None
    return SafeMaskMaker(methods=["aeff-max"], aeff_percent=AEFF_PERCENT).run(on_off,
                                                                             observation)


def observation_keys(selection: Selection, release: str | Path, on_region: CircleSkyRegion
                     ) -> dict[int, tuple[str, object]]:
    """Each selected observation's cache key and exclusion mask, in selection order (no
    file is read but the release's index)."""
    identity = release_identity(release)
    regions = exclusion_regions(release)
    offsets = pointings(selection.table).separation(on_region.center.icrs)
    keys: dict[int, tuple[str, object]] = {}
    for obs_id, pointing, offset in zip(selection.obs_ids, pointings(selection.table), offsets,
                                        strict=True):
        mask = exclusion_mask(regions, pointing, 2 * (offset + on_region.radius + MASK_MARGIN))
        keys[obs_id] = (cache_key(identity, obs_id, on_region, _mask_digest(mask)), mask)
    return keys


def reduce_observations(selection: Selection, release: str | Path, on_region: CircleSkyRegion,
                        *, cache_dir: Path | None = None,
                        progress: Callable[[int, int], None] | None = None) -> Reduction:
    """One `SpectrumDatasetOnOff` per selected observation, from the cache where possible.

    Observations where no reflected region fits (pointed at the position, or an on-region too
    large for the offset) are dropped with the reason; if none is left, AnalysisError.
    """
    cache_dir = cache_dir or default_cache_dir()
    centre = on_region.center.icrs
    offsets = pointings(selection.table).separation(centre)
    todo: list[tuple[int, Path, object]] = []
    found: dict[int, SpectrumDatasetOnOff] = {}
    cached: list[int] = []
    for obs_id, (key, mask) in observation_keys(selection, release, on_region).items():
        path = cache_dir / f"{obs_id}-{key[:24]}.pickle"
        dataset = _read(path) if path.is_file() else None
        if dataset is not None:
            found[obs_id] = dataset
            cached.append(obs_id)
        else:
            todo.append((obs_id, path, mask))
    reduced: list[int] = []
    dropped: dict[int, str] = {}
    if todo:
        observations = selection.data_store.get_observations(
            [t[0] for t in todo], required_irf=["aeff", "edisp"])
        for n, ((obs_id, path, mask), observation) in enumerate(zip(todo, observations,
                                                                    strict=True)):
            dataset = _reduce_one(observation, on_region, mask)
            if progress:
                progress(n + 1, len(todo))
            if dataset is None:
                dropped[obs_id] = _why_no_background(offsets[selection.obs_ids.index(obs_id)],
                                                     on_region)
                continue
            try:
                write_atomically(dataset, path)
            except OSError as exc:  # a read-only cache costs speed, never the answer
                print(f"reduced dataset of observation {obs_id} not cached: {exc}")
            found[obs_id] = dataset
            reduced.append(obs_id)
    if not found:
        reasons = "; ".join(f"{i}: {r}" for i, r in dropped.items())
        raise AnalysisError(
            f"no background could be measured for the on-region of radius "
            f"{on_region.radius.to_value(u.deg):g} deg at RA {centre.ra.deg:.3f}, Dec "
            f"{centre.dec.deg:.3f} in any of the {len(selection.obs_ids)} observations "
            f"({reasons}). Choose a smaller on-region radius.")
    datasets = Datasets([found[i] for i in selection.obs_ids if i in found])
    return Reduction(datasets, reduced, cached, dropped)


def _why_no_background(offset, on_region: CircleSkyRegion) -> str:
    return (f"pointed {offset.deg:.2f} deg from the position, no reflected region of radius "
            f"{on_region.radius.to_value(u.deg):g} deg fits beside the on-region and the "
            "excluded sources")


def on_region(ra: float, dec: float, radius: float) -> CircleSkyRegion:
    """A circular on-region (degrees)."""
    return CircleSkyRegion(SkyCoord(ra, dec, unit="deg", frame="icrs"), radius * u.deg)
