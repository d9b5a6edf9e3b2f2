"""``POST /api/v1/uploads``: input files for file parameters, kept in the artifact store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from astroflow.jobs.uploads import CHUNK, UploadTooLarge, store_upload
from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.platform import Platform

router = APIRouter(prefix="/api/v1", tags=["uploads"])


@router.post("/uploads", status_code=201)
async def upload(request: Request, file: UploadFile = File(...), p: Platform = Depends(platform),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    """Store a file; pass the returned ``ref`` as the value of a file parameter."""
    limit = p.config.upload_limit
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise UploadTooLarge(f"the file is larger than the {limit // (1 << 20)} MiB upload limit")

    def chunks():
        while data := file.file.read(CHUNK):
            yield data

    stored = await run_in_threadpool(store_upload, p.artifacts, chunks(), file.filename, limit)
    return {"ref": stored.ref, "filename": stored.filename, "size": stored.size,
            "sha256": stored.sha256}
