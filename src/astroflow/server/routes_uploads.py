"""``POST /api/v1/uploads``: input files for file parameters, kept in the artifact store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from astroflow.errors import AstroflowError
from astroflow.jobs.uploads import CHUNK, UploadTooLarge, store_upload
from astroflow.server.auth import AuthError, Caller
from astroflow.server.deps import caller, platform
from astroflow.server.openapi import errors
from astroflow.server.platform import Platform
from astroflow.server.schemas import Upload, ok

router = APIRouter(prefix="/api/v1", tags=["uploads"])

_MULTIPART = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


@router.post("/uploads", status_code=201, openapi_extra=_MULTIPART, response_model=None,
             responses={**ok(Upload, 201), **errors(400, 401, 413, 422)})
async def upload(request: Request, p: Platform = Depends(platform),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    """Store a file; pass the returned ``ref`` as the value of a file parameter.

    The body is parsed here, after the token check, not by ``File(...)``: FastAPI would read
    and spool the whole body before any check ran. Its size is bounded as it arrives
    (`astroflow.server.edge.BodyLimit`), so an oversized file is cut off at the limit.
    """
    if p.config.auth.configured and who.sub is None:  # not only the key serve made itself
        raise AuthError("uploads need a token (Authorization: Bearer) on this server")
    limit = p.config.upload_limit
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise AstroflowError("send the file as multipart/form-data, in a field named 'file'")
    async with request.form(max_files=1, max_fields=10) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise AstroflowError("no file: send it as multipart/form-data in a field named "
                                 "'file'")
        if file.size is not None and file.size > limit:
            raise UploadTooLarge(f"the file is larger than the {limit // (1 << 20)} MiB "
                                 "upload limit")

        def chunks() -> Any:
            while data := file.file.read(CHUNK):
                yield data

        stored = await run_in_threadpool(store_upload, p.artifacts, chunks(), file.filename,
                                         limit)
    return {"ref": stored.ref, "filename": stored.filename, "size": stored.size,
            "sha256": stored.sha256}
