"""Progress shown while waiting: a tqdm bar on a terminal or in Jupyter, silence otherwise.

``progress=True`` draws the bar only when someone is watching (standard output is a terminal
or the code runs in a Jupyter kernel), so batch scripts and pipes stay clean. A callable
instead receives the job at each change, for notebooks and GUIs that draw their own.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from astroflow.client.job import Job

ProgressOption = bool | Callable[["Job"], Any] | None


class Display(Protocol):
    def update(self, job: Job) -> None: ...

    def close(self) -> None: ...


def in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def watched() -> bool:
    """Whether a person sees standard output (a terminal or a notebook)."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or in_jupyter()


def _bar(**kwargs: Any) -> Any:
    """A notebook widget bar in Jupyter (when ipywidgets is there), else a text bar."""
    if in_jupyter():
        try:
            from tqdm.notebook import tqdm as widget

            return widget(**kwargs)
        except ImportError:  # no ipywidgets: the text bar works in notebooks too
            pass
    from tqdm import tqdm

    return tqdm(file=sys.stderr, **kwargs)


class Callback:
    """Calls ``fn(job)`` whenever a job's state or progress changes."""

    def __init__(self, fn: Callable[[Job], Any]) -> None:
        self.fn = fn
        self._last: dict[str, tuple] = {}

    def update(self, job: Job) -> None:
        now = (job.state, job.progress)
        if self._last.get(job.id) != now:
            self._last[job.id] = now
            self.fn(job)

    def close(self) -> None:
        """Nothing to close: the callback holds no display of its own."""


class JobBar:
    """One job: percent done, its state and the notebook's stage and message."""

    def __init__(self, job: Job) -> None:
        self.bar = _bar(total=100, desc=f"{job.service} {job.id[:8]}", unit="%",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}")

    def update(self, job: Job) -> None:
        fraction = 1.0 if job.state == "done" else (job.progress.fraction or 0.0)
        self.bar.n = round(100 * min(max(fraction, 0.0), 1.0), 1)
        detail = " ".join(str(x) for x in (job.progress.stage, job.progress.message) if x)
        self.bar.set_postfix_str(f"{job.state}{' · ' + detail if detail else ''}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class BatchBar:
    """Many jobs: how many have ended (running ones count by their fraction) and by state."""

    def __init__(self, service: str, jobs: Sequence[Job], total: int) -> None:
        self.jobs = jobs  # grows while the batch is submitted
        self.bar = _bar(total=total, desc=service, unit="job",
                        bar_format="{desc}: {n:.1f}/{total} jobs|{bar}| {elapsed}{postfix}")

    def update(self, job: Job | None = None) -> None:
        done = 0.0
        for j in self.jobs:
            done += 1.0 if j.ended else min(max(j.progress.fraction or 0.0, 0.0), 1.0)
        states = Counter(j.state for j in self.jobs)
        self.bar.n = round(done, 1)
        self.bar.set_postfix_str(", ".join(f"{n} {s}" for s, n in sorted(states.items())),
                                 refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def job_display(progress: ProgressOption, job: Job) -> Display | None:
    if callable(progress):
        return Callback(progress)
    if progress and watched():
        return JobBar(job)
    return None


def batch_display(progress: ProgressOption, service: str, jobs: Sequence[Job],
                  total: int) -> Display | None:
    if callable(progress):
        return Callback(progress)
    if progress and watched():
        return BatchBar(service, jobs, total)
    return None
