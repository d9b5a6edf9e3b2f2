"""The stacked on/off spectrum of a request, kept between requests.

A warm spectrum request used to read every observation's reduced dataset, restrict each to
the energy range and stack them: 0.45 s for ten DR1 runs, a fifth of the request. The stack
depends only on those datasets (their cache keys) and the energy range, so it is cached
beside them under a digest of both; a request that hits it reads one file.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
from gammapy.datasets import SpectrumDatasetOnOff
from regions import CircleSkyRegion

from .reduction import default_cache_dir, observation_keys, reduce_observations, write_atomically
from .selection import Selection
from .spectrum import Counts, counts, restrict_energy, stack

CODE_VERSION = "hess-spectrum-stack/1"


@dataclass(frozen=True)
class StackedSpectrum:
    """What the spectrum service needs from the reduction: the stack, its counts summary,
    which observations it holds and which were dropped (and why)."""

    stacked: SpectrumDatasetOnOff
    summary: Counts
    obs_ids: list[str]
    dropped: dict[int, str]
    reduced: tuple[int, ...] = ()  # reduced by this request (empty when read from the cache)
    from_cache: bool = False


def stack_key(keys: list[str], e_min: u.Quantity, e_max: u.Quantity) -> str:
    payload = {"code": CODE_VERSION, "observations": keys,
               "energy": [round(float(e_min.to_value(u.TeV)), 9),
                          round(float(e_max.to_value(u.TeV)), 9)]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read(path: Path) -> StackedSpectrum | None:
    try:
        value = pickle.loads(path.read_bytes())
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None
    return value if isinstance(value, StackedSpectrum) else None


def stacked_spectrum(selection: Selection, release: str | Path, on_region: CircleSkyRegion,
                     e_min: u.Quantity, e_max: u.Quantity, *, cache_dir: Path | None = None,
                     progress: Callable[[int, int], None] | None = None) -> StackedSpectrum:
    """The stack of the selected observations in [e_min, e_max], from the cache when this
    exact stack was made before, else reduced (each observation from its own cache where
    possible), restricted, stacked and kept."""
    cache_dir = cache_dir or default_cache_dir()
    keys = [key for key, _mask in observation_keys(selection, release, on_region).values()]
    path = cache_dir / f"stacked-{stack_key(keys, e_min, e_max)[:32]}.pickle"
    if path.is_file() and (hit := _read(path)) is not None:
        return StackedSpectrum(hit.stacked, hit.summary, hit.obs_ids, hit.dropped,
                               from_cache=True)
    reduction = reduce_observations(selection, release, on_region, cache_dir=cache_dir,
                                    progress=progress)
    datasets = restrict_energy(reduction.datasets, e_min, e_max)
    result = StackedSpectrum(stack(datasets), counts(datasets), list(reduction.datasets.names),
                             dict(reduction.dropped), tuple(reduction.reduced))
    try:
        write_atomically(result, path)
    except OSError as exc:  # a read-only cache costs speed, never the answer
        print(f"stacked spectrum not cached: {exc}")
    return result
