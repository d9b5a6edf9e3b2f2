"""Uploaded input files: content-addressed in the artifact store, referred to as ``upload://``.

A file parameter (ontology role ``file``, e.g. ``oda:POSIXPath``) travels through the API as
a reference ``upload://<sha256>/<file name>``: requests stay small JSON, the same file gives
the same cache key, and the server never lets a caller name a path on its own disk. Just
before a job runs, the reference becomes a real path inside the job's folder.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from astroflow.errors import AstroflowError
from astroflow.jobs.artifacts import ArtifactStore

SCHEME = "upload://"
_REF = re.compile(r"^upload://([0-9a-f]{64})/([^/\\]{1,200})$")
CHUNK = 1 << 20


class UploadError(AstroflowError):
    """An upload reference that cannot be used."""


class UploadTooLarge(UploadError):
    """A file over the server's upload limit (413)."""


@dataclass(frozen=True)
class Upload:
    sha256: str
    filename: str
    size: int

    @property
    def ref(self) -> str:
        return f"{SCHEME}{self.sha256}/{self.filename}"

    @property
    def relative(self) -> str:
        return f"uploads/{self.sha256}/{self.filename}"


def safe_filename(name: str | None) -> str:
    base = Path(name or "upload").name
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "_", base).lstrip(".") or "upload"
    return cleaned[:200]


def parse_ref(value: object) -> Upload | None:
    """The upload a parameter value refers to, or None when it is not an upload reference."""
    if not isinstance(value, str):
        return None
    match = _REF.match(value)
    return Upload(match.group(1), match.group(2), -1) if match else None


def store_upload(artifacts: ArtifactStore, chunks: Iterator[bytes], filename: str | None,
                 limit: int) -> Upload:
    """Stream an upload to the store, hashing it on the way; refuse it past ``limit`` bytes."""
    digest = hashlib.sha256()
    size = 0
    uploads = artifacts.cache / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=uploads, delete=False, prefix=".part-") as tmp:
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"the file is larger than the {limit // (1 << 20)} MiB "
                                         "upload limit")
                digest.update(chunk)
                tmp.write(chunk)
        except BaseException:
            tmp.close()
            Path(tmp.name).unlink(missing_ok=True)
            raise
    upload = Upload(digest.hexdigest(), safe_filename(filename), size)
    final = artifacts.cache / upload.relative
    final.parent.mkdir(parents=True, exist_ok=True)
    Path(tmp.name).replace(final)
    artifacts.commit_file(upload.relative)
    return upload


def materialise(artifacts: ArtifactStore, ref: str, job_dir: Path) -> Path:
    """Put the referenced upload in the job's ``inputs/`` folder; its path is what the notebook gets."""
    upload = parse_ref(ref)
    if upload is None:
        raise UploadError(f"{ref!r} is not an upload reference")
    source = artifacts.shared_path(upload.relative)
    if not source.exists():
        raise UploadError(f"upload {upload.sha256[:12]}… ({upload.filename}) is not in the store; "
                          "upload the file again")
    target = job_dir / "inputs" / upload.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copyfile(source, target)
    return target.resolve()
