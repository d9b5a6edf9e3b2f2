"""The sweep: what the storage policy allows to go, and removing it (`astroflow gc` and the
server's periodic run share it).

Safe while jobs run: only ended jobs are candidates, and a job's files go only after one
guarded UPDATE marked it expired, which fails for a job used (downloaded, joined) within
``in_use_grace`` seconds; a process's own downloads in progress (``in_use``) are skipped
too. The record stays, says "expired: resubmit to recompute", and no longer answers
identical requests, which therefore run again.

Steps, in order: measure (record stored sizes not known yet), ended (failed and cancelled
jobs' files), age (done jobs past their service's ``max_age``), uploads, size (derived files,
then whole results, least recently used first, while the store is over ``max_bytes``, below
``min_free``, or was found full), leftovers (scratch of ended runs, files of expired jobs).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroflow.jobs.artifacts import ArtifactStore, folder_usage, remove_folder
from astroflow.jobs.store import JobStore
from astroflow.jobs.uploads import parse_ref
from astroflow.lifecycle import ledger
from astroflow.lifecycle.policy import StoragePolicy

MEASURE_BATCH = 20_000   # sizes recorded per sweep for jobs that ended before they were kept
PART_MAX_AGE = 86400.0   # an upload's partial file left by a dropped connection
DERIVED = "derived"
LEFTOVER_WINDOW = 86400.0  # the server's sweep looks for leftovers among jobs this recent


@dataclass
class Removal:
    """One thing the sweep removed (or, dry, would remove)."""

    kind: str      # ended | age | upload | derived | lru | scratch | leftover
    target: str    # a job id, or a path relative to the store
    bytes: int
    files: int


@dataclass
class Report:
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)
    measured: int = 0          # jobs whose stored size was recorded
    skipped_in_use: int = 0    # candidates left because they were being used
    stored_bytes: int = 0      # results and derived files kept, after the sweep
    seconds: float = 0.0
    complete: bool = True      # False: the lease was lost and the sweep stopped early

    @property
    def freed(self) -> int:
        return sum(r.bytes for r in self.removals)

    def summary(self) -> dict[str, dict[str, int]]:
        kinds: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "bytes": 0,
                                                                "files": 0})
        for r in self.removals:
            kinds[r.kind]["count"] += 1
            kinds[r.kind]["bytes"] += r.bytes
            kinds[r.kind]["files"] += r.files
        return dict(kinds)

    def as_dict(self, items: bool = True) -> dict[str, Any]:
        record: dict[str, Any] = {
            "dry_run": self.dry_run, "freed_bytes": self.freed,
            "freed_files": sum(r.files for r in self.removals), "by_kind": self.summary(),
            "measured": self.measured, "skipped_in_use": self.skipped_in_use,
            "stored_bytes": self.stored_bytes, "seconds": round(self.seconds, 3),
            "complete": self.complete}
        if items:
            record["removed"] = [r.__dict__ for r in self.removals]
        return record


class _LeaseLost(Exception):
    """The sweep's lease went to another process: stop where we are."""


@dataclass
class Sweeper:
    store: JobStore
    artifacts: ArtifactStore
    policy: StoragePolicy
    in_use: Callable[[str], bool] = lambda _job_id: False  # downloads in progress here
    keep_lease: Callable[[], bool] = lambda: True           # renews the lease; False: lost it
    clock: Callable[[], float] = time.time
    leftover_window: float = LEFTOVER_WINDOW  # `astroflow gc`: every ended job (inf)

    def run(self, dry_run: bool = False, need_bytes: int = 0) -> Report:
        """Apply the policy once; ``need_bytes``: free at least this much (the store was
        found full) even if no size limit asks for it."""
        report = Report(dry_run=dry_run)
        started = time.monotonic()
        try:
            for step in (self._measure, self._ended, self._age, self._uploads):
                step(report)
                self._renew()
            self._size(report, need_bytes)
            self._renew()
            self._leftovers(report)
        except _LeaseLost:
            report.complete = False
        total, _ = ledger.stored_total(self.store.engine)
        report.stored_bytes = total + sum(size for *_, size in self._derived_files())
        if dry_run:  # what would be kept
            report.stored_bytes = max(0, report.stored_bytes - report.freed)
        report.seconds = time.monotonic() - started
        return report

    def _renew(self) -> None:
        if not self.keep_lease():
            raise _LeaseLost

    # -- steps ------------------------------------------------------------------------------

    def _measure(self, report: Report) -> None:
        ids = ledger.unmeasured(self.store.engine, MEASURE_BATCH)
        sizes = {job_id: self.artifacts.usage(job_id)[0] for job_id in ids}
        if not report.dry_run:
            ledger.record_sizes(self.store.engine, sizes)
        report.measured = len(sizes)

    def _ended(self, report: Report) -> None:
        age = self.policy.ended_max_age
        if age is None:
            return
        found = ledger.older_than(self.store.engine, ("failed", "cancelled"), {},
                                  self.clock() - age)
        self._expire_jobs(report, "ended", found)

    def _age(self, report: Report) -> None:
        now = self.clock()
        cutoffs = {name: (None if age is None else now - age)
                   for name, age in self.policy.service_max_age.items()}
        default = None if self.policy.max_age is None else now - self.policy.max_age
        found = ledger.older_than(self.store.engine, ("done",), cutoffs, default)
        self._expire_jobs(report, "age", found)

    def _uploads(self, report: Report) -> None:
        age = self.policy.upload_max_age
        if age is None:
            return
        now = self.clock()
        wanted = {ref.sha256 for params in ledger.pending_parameters(self.store.engine)
                  for value in _values(params) if (ref := parse_ref(value)) is not None}
        for relative, size, modified in self.artifacts.stored_files("uploads"):
            parts = relative.split("/")
            partial = parts[-1].startswith(".part-")
            if now - modified < (PART_MAX_AGE if partial else age):
                continue
            if len(parts) >= 3 and parts[1] in wanted:
                report.skipped_in_use += 1
                continue
            if not report.dry_run:
                self.artifacts.remove_file(relative)
            report.removals.append(Removal("upload", relative, size, 1))

    def _size(self, report: Report, need_bytes: int) -> None:
        derived = self._derived_files()
        total = ledger.stored_total(self.store.engine)[0] + sum(f[-1] for f in derived)
        planned = {r.target for r in report.removals} if report.dry_run else set()
        if report.dry_run:  # what the earlier steps would have freed is gone already
            total -= report.freed
        need = max(need_bytes, 0)
        if self.policy.max_bytes is not None:
            need = max(need, total - self.policy.max_bytes)
        if self.policy.min_free is not None and self.artifacts.local:
            free = self.artifacts.free_bytes()
            if free is not None:
                need = max(need, self.policy.min_free - free)
        if need <= 0:
            return
        now, grace = self.clock(), self.policy.in_use_grace
        freed = 0
        for job_id, relative, modified, size in sorted(derived, key=lambda f: f[2]):
            if freed >= need:
                return
            if now - modified < grace or self.in_use(job_id):
                report.skipped_in_use += 1
                continue
            if not report.dry_run:
                self.artifacts.remove_file(relative)
            report.removals.append(Removal("derived", relative, size, 1))
            freed += size
        after: tuple[float, str] | None = None
        while freed < need:
            batch = ledger.least_recently_used(self.store.engine, 200, after)
            if not batch:
                return
            for job_id, stored, used in batch:
                after = (used, job_id)
                if freed >= need:
                    return
                if job_id in planned:
                    continue
                removed = self._expire_jobs(report, "lru", [(job_id, stored)])
                freed += sum(r.bytes for r in removed)
            self._renew()

    def _leftovers(self, report: Report) -> None:
        """Scratch folders of runs that ended lately (their runner died before removing
        them) and the files of jobs expired lately (a sweep stopped between its UPDATE and
        the removal): looked for among jobs that ended or expired within ``leftover_window``,
        so that a sweep with nothing to do costs little however many jobs the store keeps."""
        jobs = os.path.join(self.artifacts.cache, "jobs")
        for job_id, expired in ledger.ended_since(self.store.engine,
                                                  max(0.0, self.clock() - self.leftover_window)):
            folder = os.path.join(jobs, job_id)
            if expired is not None:  # one stat a job: its folder, or its scratch folder
                if os.path.isdir(folder) and not self.in_use(job_id):
                    size, files = (folder_usage(Path(folder)) if report.dry_run
                                   else self.artifacts.remove_job(job_id))
                    if files:
                        report.removals.append(Removal("leftover", job_id, size, files))
            elif os.path.isdir(os.path.join(folder, "work")) and not self.in_use(job_id):
                work = Path(folder, "work")
                size, files = (folder_usage if report.dry_run else remove_folder)(work)
                report.removals.append(Removal("scratch", job_id, size, files))

    # -- helpers -----------------------------------------------------------------------------

    def _expire_jobs(self, report: Report, kind: str,
                     found: list[tuple[str, int | None]]) -> list[Removal]:
        now = self.clock()
        used_before = now - self.policy.in_use_grace
        candidates = []
        for job_id, stored in found:
            if self.in_use(job_id):
                report.skipped_in_use += 1
            else:
                candidates.append((job_id, stored))
        removed: list[Removal] = []
        if report.dry_run:
            for job_id, stored in candidates:
                job = self.store.get(job_id)
                if job is not None and job.last_used is not None and job.last_used >= used_before:
                    report.skipped_in_use += 1
                    continue
                size, files = (stored, -1) if stored is not None else self.artifacts.usage(job_id)
                removed.append(Removal(kind, job_id, size, files))
        else:
            marked = ledger.expire(self.store.engine, [c[0] for c in candidates], now, used_before)
            report.skipped_in_use += len(candidates) - len(marked)
            for job_id in marked:
                size, files = self.artifacts.remove_job(job_id)
                removed.append(Removal(kind, job_id, size, files))
        report.removals += removed
        return removed

    def _derived_files(self) -> list[tuple[str, str, float, int]]:
        """(job id, relative path, last use, bytes) of converted formats kept for kept jobs."""
        found = []
        for job_id in ledger.recently_used(self.store.engine):
            folder = self.artifacts.job_dir(job_id) / DERIVED
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found.append((job_id, f"jobs/{job_id}/{DERIVED}/{entry.name}", st.st_mtime,
                                  st.st_size))
        return found


def _values(parameters: Any) -> list[Any]:
    """Every scalar in a job's parameters (upload references may sit in lists)."""
    stack, found = [parameters], []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
        else:
            found.append(item)
    return found
