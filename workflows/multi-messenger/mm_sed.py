"""The multi-messenger SED: sub-jobs of SED-producing services, their `sed` tables combined.

Each listed service is asked for its schema (``GET /api/v1/services/{name}``); the common
parameters (object name, position, time range) fill the parameters it has, found by
ontology class first and by name second, and per-service options (IceCube's spectral index)
the ones named in `SPECIFIC`. Every sub-job is submitted before any is waited for, so they
run in parallel; each one's `sed` output (astroflow-sed/1, read as ECSV) is validated and
combined with `astroflow.products.sed.combine`. A service that is unknown, refuses the
request, fails or times out becomes a row of the status table; only when none gives points
is the whole job an `AnalysisError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

SED_OUTPUT = "sed"
# Ontology class (the part after '#') → the common parameter it takes.
BY_ONTOLOGY = {
    "AstrophysicalObject": "src_name",
    "PointOfInterestRA": "RA",
    "PointOfInterestDEC": "DEC",
    "StartTime": "T1", "StartTimeISOT": "T1", "StartTimeMJD": "T1",
    "EndTime": "T2", "EndTimeISOT": "T2", "EndTimeMJD": "T2",
}
BY_NAME = {"src_name": "src_name", "ra": "RA", "dec": "DEC", "t1": "T1", "t2": "T2",
           "t_start": "T1", "t_stop": "T2", "tstart": "T1", "tstop": "T2"}
# Per-service options: service → {its parameter: the common value it takes}.
SPECIFIC = {"icecube": {"index": "icecube_index"}}
# Fixed per-service values: an SED needs IceCube's limit (or butterfly), not a p-value
# calibrated by background trials (seconds of CPU); the asymptotic one decides between them.
FIXED = {"icecube": {"background_trials": 0}}
ENDED = ("done", "failed", "cancelled")
Progress = Callable[..., None]


@dataclass
class SubJob:
    service: str
    job: Any = None          # astroflow.client.Job once submitted
    state: str = "skipped"   # skipped | unavailable | refused | queued | running | done | failed | cancelled | timeout
    message: str = ""
    table: Any = None        # its SED table once read

    @property
    def job_id(self) -> str:
        return self.job.id if self.job is not None else ""


def service_list(text: str) -> list[str]:
    """Service names from a comma- or space-separated string, in order, without repeats."""
    names = [n.strip() for n in text.replace(",", " ").split()]
    return list(dict.fromkeys(n for n in names if n))


def _class(uri: str | None) -> str:
    return (uri or "").rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _time(value: str, parameter: Any) -> Any:
    """ISOT as given, or as MJD where the parameter is an MJD (ontology or number type)."""
    if _class(parameter.ontology).endswith("MJD") or parameter.type in ("number", "integer"):
        from astropy.time import Time

        return float(Time(value, format="isot", scale="utc").mjd)
    return value


def fill_parameters(service: Any, common: Mapping[str, Any]) -> dict[str, Any]:
    """The values for `service`'s parameters (a client `Service`) from the common ones."""
    values: dict[str, Any] = {}
    specific = SPECIFIC.get(service.name, {})
    for name, parameter in service.parameters.items():
        key = specific.get(name) or BY_ONTOLOGY.get(_class(parameter.ontology)) \
            or BY_NAME.get(name.lower())
        if key is None or key not in common or common[key] is None:
            continue
        value = common[key]
        values[name] = _time(value, parameter) if key in ("T1", "T2") else value
    values.update({k: v for k, v in FIXED.get(service.name, {}).items()
                   if k in service.parameters})
    return values


def sed_output(service: Any) -> str | None:
    """The output holding the service's SED table: ``sed``, else one named ``*sed*``."""
    if SED_OUTPUT in service.outputs:
        return SED_OUTPUT
    return next((n for n in service.outputs if "sed" in n.lower()), None)


def submit_all(client: Any, names: list[str], common: Mapping[str, Any]) -> list[SubJob]:
    """Submit one sub-job per service, none waited for; problems become states."""
    from astroflow.client.errors import ClientError, NotFound, ValidationError

    subs = []
    for name in names:
        sub = SubJob(name)
        subs.append(sub)
        try:
            service = client.service(name)
        except NotFound:
            sub.state, sub.message = "unavailable", f"no service {name!r} on this server"
            continue
        except ClientError as exc:
            sub.state, sub.message = "unavailable", str(exc)
            continue
        if sed_output(service) is None:
            sub.message = f"{name} has no SED output (outputs: {', '.join(service.outputs)})"
            continue
        try:
            sub.job = client.submit(name, fill_parameters(service, common))
        except ValidationError as exc:
            sub.state = "refused"
            sub.message = "; ".join(f"{f}: {r}" for f, _, r in exc.errors) or str(exc)
            continue
        except ClientError as exc:
            sub.state, sub.message = "refused", str(exc)
            continue
        sub.state = sub.job.state
        sub.message = "joined an identical request" if sub.job.cached else ""
    return subs


def wait_all(subs: list[SubJob], timeout: float, progress: Progress,
             poll: float = 1.0) -> None:
    """Wait for every submitted sub-job, reporting their mean progress; cancel at timeout.

    The first pending sub-job is long-polled (the server answers the moment it ends), the
    others read: no sleep stands between a sub-job's end and the combination."""
    deadline = time.monotonic() + timeout
    waiting = [s for s in subs if s.job is not None]
    while True:
        first = True
        for sub in waiting:
            if sub.state not in ENDED:
                sub.job.refresh(wait=poll if first else 0)
                sub.state = sub.job.state
                first = False
        pending = [s for s in waiting if s.state not in ENDED]
        fractions = [1.0 if s.state in ENDED else (s.job.progress.fraction or 0.0)
                     for s in waiting]
        progress(stage="sub-jobs", fraction=0.05 + 0.8 * (np.mean(fractions) if fractions
                                                            else 1.0),
                 message="; ".join(f"{s.service} {s.state}" for s in waiting))
        if not pending:
            return
        if time.monotonic() > deadline:
            for sub in pending:
                try:
                    sub.job.cancel()
                except Exception as exc:  # noqa: BLE001 - the status says what happened
                    sub.message = f"could not cancel: {exc}"
                sub.state = "timeout"
                sub.message = sub.message or f"not done after {timeout:.0f} s: cancelled"
            return


def collect(subs: list[SubJob]) -> None:
    """Read each done sub-job's SED table (ECSV keeps units and the convention's meta)."""
    from astroflow.products import sed

    for sub in subs:
        if sub.job is None:
            continue
        if sub.state in ("failed", "cancelled"):
            error = sub.job.error
            sub.message = error.message if error is not None else sub.state
            continue
        if sub.state != "done":
            continue
        try:
            output = sed_output(sub.job.client.service(sub.service)) or SED_OUTPUT
            table = sub.job.products[output].to_astropy(format="ecsv")
            sed.validate(table)
        except Exception as exc:  # noqa: BLE001 - one bad contribution must not sink the rest
            sub.state, sub.message = "failed", f"its SED table could not be used: {exc}"
            continue
        sub.table = table
        sub.message = sub.message or f"{len(table)} SED rows"


def status_table(subs: list[SubJob], api_url: str) -> Any:
    from astropy.table import Table

    return Table({
        "service": [s.service for s in subs],
        "job_id": [s.job_id for s in subs],
        "state": [s.state for s in subs],
        "message": [s.message for s in subs],
        "rows": [len(s.table) if s.table is not None else 0 for s in subs],
        "url": [f"{api_url}/api/v1/jobs/{s.job_id}" if s.job_id else "" for s in subs],
    })


def combined_sed(subs: list[SubJob]) -> Any:
    from astroflow import AnalysisError
    from astroflow.products import sed

    tables = [s.table for s in subs if s.table is not None]
    if not tables:
        raise AnalysisError("no service gave SED points: " + "; ".join(
            f"{s.service}: {s.state} {s.message}".strip() for s in subs))
    return sed.combine(tables)


MESSENGER_COLOURS = {"gamma-rays": "#1f77b4", "neutrinos": "#d62728"}
OTHER_COLOURS = ("#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _darker(colour: str, step: int) -> tuple[float, float, float]:
    """`colour` mixed with black, 40% more per step (step 0: the colour itself)."""
    from matplotlib.colors import to_rgb

    keep = 0.6 ** step
    return tuple(c * keep for c in to_rgb(colour))


def sed_figure(table: Any, title: str) -> Any:
    """E^2 dN/dE, log-log: points with errors, limits as arrows, models as bands; one hue
    per messenger, each further instrument of a messenger a darker shade of it (Fermi-LAT and
    H.E.S.S. both gamma rays, told apart), one marker per instrument; the notes (neutrino
    flavours) on the plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    e = np.asarray(table["energy"].to_value("TeV"))
    lo, hi = (np.asarray(table[c].to_value("TeV")) for c in ("energy_min", "energy_max"))
    y = np.asarray(table["e2dnde"].to_value("erg cm-2 s-1"))
    yn, yp = (np.asarray(table[c].to_value("erg cm-2 s-1")) for c in ("e2dnde_errn",
                                                                        "e2dnde_errp"))
    kinds, ul = np.asarray(table["kind"]).astype(str), np.asarray(table["is_ul"], bool)
    instruments = np.asarray(table["instrument"]).astype(str)
    messengers = np.asarray(table["messenger"]).astype(str)
    others = iter(OTHER_COLOURS * 4)
    colours: dict[str, str] = {}
    for k, inst in enumerate(dict.fromkeys(instruments)):
        rows = instruments == inst
        messenger = messengers[rows][0]
        base = colours.setdefault(messenger, MESSENGER_COLOURS.get(messenger) or next(others))
        shade = sum(messengers[instruments == i][0] == messenger
                    for i in dict.fromkeys(instruments[:np.argmax(rows)]))
        colour = _darker(base, shade)
        label = f"{inst} ({messenger})"
        marker = "osD^v"[k % 5]
        points = rows & (kinds == "point") & ~ul
        if points.any():
            ax.errorbar(e[points], y[points], xerr=[e[points] - lo[points], hi[points] - e[points]],
                        yerr=[yn[points], yp[points]], fmt=marker, color=colour, ms=5,
                        label=label)
            label = None
        model = rows & (kinds == "model") & ~ul
        if model.any():
            order = np.argsort(e[model])
            ax.fill_between(e[model][order], (y - yn)[model][order], (y + yp)[model][order],
                            color=colour, alpha=0.3)
            ax.plot(e[model][order], y[model][order], color=colour, label=label)
            label = None
        limits = rows & ul
        if limits.any():
            # Point limits keep their band as an x error; a limit over a range is a line.
            if (kinds[limits] == "limit").all() and limits.sum() > 1:
                order = np.argsort(e[limits])
                ax.plot(e[limits][order], y[limits][order], color=colour, ls="--")
            else:
                ax.errorbar(e[limits], y[limits],
                            xerr=[e[limits] - lo[limits], hi[limits] - e[limits]],
                            fmt="none", color=colour)
            ax.errorbar(e[limits], y[limits], yerr=0.4 * y[limits], uplims=True, fmt="none",
                        color=colour, capsize=3)
            ax.plot([], [], color=colour, ls="--", marker="v",
                    label=f"{label} upper limit" if label else f"{inst} upper limit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("E [TeV]")
    ax.set_ylabel(r"$E^2\,dN/dE$ [erg cm$^{-2}$ s$^{-1}$]")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=labels.__getitem__)  # instrument by instrument
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="best", fontsize=8)
    notes = table.meta.get("sed_notes") or {}
    if notes:
        text = "\n".join(f"{k}: {v}" for k, v in notes.items())
        fig.text(0.01, 0.01, text, fontsize=6.5, va="bottom", wrap=True)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.93, bottom=0.12 + 0.035 * len(notes))
    return fig


def run(client: Any, names: list[str], common: Mapping[str, Any], timeout: float,
        progress: Progress, api_url: str = "") -> tuple[Any, Any, list[SubJob]]:
    """Submit, wait, collect, combine: (combined SED, status table, sub-jobs)."""
    progress(stage="submit", fraction=0.0, message=f"submitting {', '.join(names)}")
    subs = submit_all(client, names, common)
    wait_all(subs, timeout, progress)
    progress(stage="combine", fraction=0.9, message="reading the SED tables")
    collect(subs)
    status = status_table(subs, api_url)
    return combined_sed(subs), status, subs
