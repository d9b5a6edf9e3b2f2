"""Where each job's files live: a local folder by default, any fsspec URL for scale.

The executor always writes into a local folder (products are written atomically there by
the job's own process). With a local store that folder is the final place; with a remote
URL (``s3://…``, ``memory://…``) the folder is uploaded before the job is marked done, and
files are fetched back into a local cache when served.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class ArtifactStore:
    def __init__(self, root: str | Path, cache: Path | None = None) -> None:
        text = str(root)
        self.local = "://" not in text or text.startswith("file://")
        if self.local:
            self.root = Path(text.removeprefix("file://")).resolve()
            self.root.mkdir(parents=True, exist_ok=True)
            self.cache = self.root
        else:
            import fsspec

            self.url = text.rstrip("/")
            self.fs, self.base = fsspec.core.url_to_fs(self.url)
            self.cache = Path(cache or Path.home() / ".cache" / "astroflow" / "artifacts").resolve()
            self.cache.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root) if self.local else self.url!r})"

    def job_dir(self, job_id: str) -> Path:
        """The local folder a job's process writes into."""
        return self.cache / "jobs" / job_id

    @property
    def jobs_prefix(self) -> str:
        """``job_dir(id)`` is this string followed by the id (the store builds it in SQL)."""
        return f"{self.cache / 'jobs'}{os.sep}"

    def commit(self, job_id: str) -> None:
        """Make the job's files durable in the store (upload them when the store is remote)."""
        if self.local:
            return
        local = self.job_dir(job_id)
        for path in sorted(p for p in local.rglob("*") if p.is_file() and not p.is_symlink()):
            relative = path.relative_to(local)
            if relative.parts[0] == "work":
                continue  # the scratch folder of the run, not a result
            target = f"{self.base}/jobs/{job_id}/{relative.as_posix()}"
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(path), target)

    def path(self, job_id: str, relative: str) -> Path:
        """A local path to one of the job's files, fetched from a remote store if needed."""
        return self.shared_path(f"jobs/{job_id}/{relative}")

    def commit_file(self, relative: str) -> None:
        """Make one file of the local cache durable in the store (e.g. an upload)."""
        if not self.local:
            target = f"{self.base}/{relative}"
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(self.cache / relative), target)

    def shared_path(self, relative: str) -> Path:
        """A local path to a stored file, fetched into the cache from a remote store if needed."""
        local = self.cache / relative
        if self.local or local.exists():
            return local
        remote = f"{self.base}/{relative}"
        if not self.fs.exists(remote):
            return local  # the caller reports it missing
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(local.name + ".part")
        self.fs.get_file(remote, str(partial))
        partial.replace(local)
        return local

    def discard_scratch(self, job_id: str) -> None:
        """Remove the run's scratch folder if the run could not (it was killed)."""
        work = self.job_dir(job_id) / "work"
        if os.path.lexists(work):
            shutil.rmtree(work, ignore_errors=True)
