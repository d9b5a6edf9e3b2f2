"""A synthetic H.E.S.S. DL3 release in DR1's layout, deterministic from a seed.

`generate_release(dest, seed)` simulates wobble observations of a Crab-like source, a
PKS 2155-304-like flaring blazar, an extended source and empty fields with gammapy (its IRF
classes and MapDatasetEventSampler) and writes ``obs-index.fits.gz``, ``hdu-index.fits.gz``,
``data/*.fits.gz`` (EVENTS, GTI, AEFF, EDISP, PSF, BKG), ``truth.yaml`` (the injected sky
models) and ``truth-lightcurve.ecsv`` (the flaring source's true flux per run).
`gammapy.data.DataStore.from_dir(dest)` reads it as it reads DR1.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import astropy.units as u
from gammapy.modeling.models import Models

from ..errors import AnalysisError
from .observations import plan_field
from .release import (
    GENERATOR_VERSION,
    ORIGIN,
    hdu_index,
    obs_index,
    observation_hdus,
    simulate,
    truth_lightcurve,
    truth_sky,
    write_gzip,
    write_table,
    write_truth,
)
from .sky import FIELDS

__all__ = ["ALL_SOURCES", "DEFAULT_LIVETIME", "DEFAULT_RUNS", "GENERATOR_VERSION", "generate_release",
           "release_parameters", "truth_models"]

ALL_SOURCES = ("crab", "pks2155", "extended", "empty")
#: Runs per field when `n_obs` is not given: 18 in all (the two empty fields take 2 each).
DEFAULT_RUNS = {"crab": 4, "pks2155": 6, "extended": 4, "empty": 2}
#: First obs_id of each field's runs (DR1's are 5-digit; these are 6-digit, never the same).
OBS_ID_BASE = {("crab", 0): 110000, ("pks2155", 0): 120000, ("extended", 0): 130000,
               ("empty", 0): 140000, ("empty", 1): 150000}
#: Runs per field at most: each field numbers its runs within its own block of obs_ids.
MAX_RUNS = 999
DEFAULT_LIVETIME = 0.5 * u.h
MANIFEST = "release.json"


def release_parameters(seed: int, sources: tuple[str, ...], runs: Mapping[str, int],
                       livetime: u.Quantity) -> dict:
    """What identifies a generated release: the same parameters give the same bytes."""
    return {"origin": ORIGIN, "generator_version": GENERATOR_VERSION, "seed": int(seed),
            "sources": list(sources), "n_obs": {k: int(runs[k]) for k in sources},
            "livetime_s": float(u.Quantity(livetime).to_value(u.s))}


def _runs(sources: tuple[str, ...], n_obs: int | Mapping[str, int] | None) -> dict[str, int]:
    if n_obs is None:
        runs = {name: DEFAULT_RUNS[name] for name in sources}
    elif isinstance(n_obs, Mapping):
        unknown = set(n_obs) - set(sources)
        if unknown:
            raise AnalysisError(f"n_obs names {sorted(unknown)}, not among sources {sources}")
        runs = {name: int(n_obs.get(name, DEFAULT_RUNS[name])) for name in sources}
    else:
        runs = dict.fromkeys(sources, int(n_obs))
    bad = {k: v for k, v in runs.items() if not 1 <= v <= MAX_RUNS}
    if bad:
        raise AnalysisError(f"n_obs must be 1 to {MAX_RUNS} per source, got {bad}")
    return runs


def generate_release(dest: Path, seed: int = 0, *,
                     sources: tuple[str, ...] = ALL_SOURCES,
                     n_obs: int | Mapping[str, int] | None = None,
                     livetime: u.Quantity = DEFAULT_LIVETIME) -> Path:
    """Write a synthetic release into `dest` (replacing a synthetic one there) and return it.

    `sources`: any of "crab", "pks2155", "extended", "empty" (two empty fields);
    `n_obs`: runs per field (an int for all, or per source name; default `DEFAULT_RUNS`);
    `livetime`: of each run. The events of run `obs_id` depend only on (`seed`, `obs_id`).
    """
    dest = Path(dest)
    sources = tuple(dict.fromkeys(sources))  # each once, in the order given
    unknown = [s for s in sources if s not in ALL_SOURCES]
    if unknown or not sources:
        raise AnalysisError(f"sources {unknown or 'empty'}: choose among {ALL_SOURCES}")
    runs = _runs(sources, n_obs)
    livetime = u.Quantity(livetime, u.h)
    if livetime <= 0:
        raise AnalysisError(f"livetime must be positive, got {livetime}")
    _check_replaceable(dest)

    plans = []
    for name in sources:
        for i, field in enumerate(FIELDS[name]):
            plans += plan_field(field, runs[name], livetime, OBS_ID_BASE[(name, i)] + 1)

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial."))
    try:
        _write_release(work, plans, seed, sources, runs, livetime)
        # the same parameters give the same bytes: a copy another process just finished
        # is kept as it is (readers may have it open)
        if existing_parameters(dest) != existing_parameters(work):
            _replace(work, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _write_release(work: Path, plans: list, seed: int, sources: tuple[str, ...],
                   runs: dict[str, int], livetime: u.Quantity) -> None:
    (work / "data").mkdir()
    simulated, sizes = [], {}
    for plan in plans:
        observation, run = simulate(plan, seed, sources)
        path = work / "data" / run.file_name
        write_gzip(observation_hdus(observation), path)
        sizes[run.file_name] = path.stat().st_size
        simulated.append(run)
    write_table(obs_index(simulated, seed), work / "obs-index.fits.gz")
    write_table(hdu_index(simulated, seed, sizes), work / "hdu-index.fits.gz")
    write_truth(truth_sky(sources), work / "truth.yaml")
    truth_lightcurve(simulated).write(work / "truth-lightcurve.ecsv", format="ascii.ecsv")
    (work / MANIFEST).write_text(json.dumps(release_parameters(seed, sources, runs, livetime),
                                            indent=1) + "\n")


def _replace(work: Path, dest: Path) -> None:
    """Swap the finished release in with renames (a reader never sees half a release; two
    processes making the same release leave one whole copy)."""
    for _attempt in range(3):
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old."))
            with contextlib.suppress(FileNotFoundError):  # another process moved it first
                dest.rename(old / dest.name)
        try:
            work.rename(dest)
            return
        except OSError:  # another process put its copy there meanwhile: try again
            continue
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
    raise AnalysisError(f"could not put the generated release in place at {dest}")


def _check_replaceable(dest: Path) -> None:
    """Refuse to overwrite a folder that is neither empty nor a synthetic release."""
    if not dest.exists():
        return
    if not dest.is_dir():
        raise AnalysisError(f"dest {dest} is a file, not a folder for the release")
    if any(dest.iterdir()) and not (dest / MANIFEST).is_file():
        raise AnalysisError(f"dest {dest} holds files that are not a synthetic release; "
                            "choose an empty folder")


def existing_parameters(dest: Path) -> dict | None:
    """The parameters a complete synthetic release in `dest` was made with (None if none)."""
    try:
        return json.loads((Path(dest) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def truth_models(release: Path) -> Models:
    """The sky models injected into a synthetic release (its ``truth.yaml``)."""
    path = Path(release) / "truth.yaml"
    if not path.is_file():
        raise AnalysisError(f"{release} has no truth.yaml: it is not a synthetic release")
    return Models.read(path)
