"""Where each job's files live: a local folder by default, any fsspec URL for scale.

The executor always writes into a local folder (products are written atomically there by
the job's own process). With a local store that folder is the final place; with a remote
URL (``s3://…``, ``memory://…``) the folder is uploaded before the job is marked done, and
files are fetched back into a local cache when served.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from astroflow.execution.protocol import RESULT_FILE


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

    # -- storage lifecycle (astroflow.lifecycle): sizes and removal --------------------------

    def usage(self, job_id: str) -> tuple[int, int]:
        """(bytes, files) the job's results take in the store: its scratch folder, its
        ``derived/`` cache of converted formats (evicted on their own) and the run's record
        (removed once the database holds it, `drop_run_record`) aside."""
        if self.local:
            return folder_usage(self.job_dir(job_id), skip=("work", "derived", RESULT_FILE))
        remote = f"{self.base}/jobs/{job_id}"
        try:
            found = self.fs.find(remote, detail=True)
        except FileNotFoundError:
            return 0, 0
        sizes = [int(info.get("size") or 0) for path, info in found.items()
                 if info.get("type", "file") == "file" and "/derived/" not in path
                 and not path.endswith(f"/{RESULT_FILE}")]
        return sum(sizes), len(sizes)

    def drop_run_record(self, job_id: str) -> None:
        """Remove the run's ``result.json`` once the job's record is in the database: it is
        read only to recover a run whose server died before recording it, so a recorded job
        keeps its notebook and products alone (one file fewer a job)."""
        with contextlib.suppress(OSError):
            self.remove_file(f"jobs/{job_id}/{RESULT_FILE}")

    def remove_job(self, job_id: str) -> tuple[int, int]:
        """Remove every file of the job (store and local cache); returns (bytes, files) freed."""
        local = self.job_dir(job_id)
        if self.local:  # one walk that counts as it removes
            return remove_folder(local)
        freed = self.usage(job_id)
        remote = f"{self.base}/jobs/{job_id}"
        if self.fs.exists(remote):
            self.fs.rm(remote, recursive=True)
        remove_folder(local)  # the local cache copy: not counted twice
        return freed

    def stored_files(self, prefix: str) -> list[tuple[str, int, float]]:
        """(relative path, bytes, modified epoch) of every stored file under ``prefix``
        (e.g. ``uploads``), for expiry by age."""
        if self.local:
            root = self.root / prefix
            return [(p.relative_to(self.root).as_posix(), st.st_size, st.st_mtime)
                    for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                    for st in (p.stat(),)] if root.is_dir() else []
        try:
            found = self.fs.find(f"{self.base}/{prefix}", detail=True)
        except FileNotFoundError:
            return []
        files = []
        for path, info in found.items():
            if info.get("type", "file") != "file":
                continue
            relative = path.removeprefix(self.base.rstrip("/") + "/")
            files.append((relative, int(info.get("size") or 0), _modified(info)))
        return files

    def remove_file(self, relative: str) -> None:
        """Remove one stored file (and its local copy)."""
        local = self.cache / relative
        if not self.local:
            remote = f"{self.base}/{relative}"
            if self.fs.exists(remote):
                self.fs.rm(remote)
        local.unlink(missing_ok=True)

    def free_bytes(self) -> int | None:
        """Free space where the job folders are written (None when it cannot be told)."""
        try:
            return shutil.disk_usage(self.cache).free
        except OSError:
            return None


def folder_usage(folder: Path, skip: tuple[str, ...] = ()) -> tuple[int, int]:
    """(bytes, files) under a local folder, without following links; ``skip`` names
    top-level entries left out (the run's scratch, the derived formats, the run's record)."""
    total = files = 0
    stack = [(folder, True)]
    while stack:
        current, top = stack.pop()
        try:
            entries = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not (top and entry.name in skip):
                    stack.append((Path(entry.path), False))
            elif entry.is_file(follow_symlinks=False) and not (top and entry.name in skip):
                total += entry.stat(follow_symlinks=False).st_size
                files += 1
    return total, files


def remove_folder(folder: Path) -> tuple[int, int]:
    """Remove a local folder and everything in it, links not followed; (bytes, files) freed."""
    total = files = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0, 0
    except NotADirectoryError:
        size = os.lstat(folder).st_size
        os.unlink(folder)
        return size, 1
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            size, count = remove_folder(Path(entry.path))
        else:
            size, count = entry.stat(follow_symlinks=False).st_size, 1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        total += size
        files += count
    with contextlib.suppress(FileNotFoundError, OSError):
        os.rmdir(folder)
    return total, files


def _modified(info: dict) -> float:
    """A stored file's modification time from an fsspec ``info`` record (keys vary by
    backend: ``mtime``, ``LastModified``, ``created``)."""
    import datetime

    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0
