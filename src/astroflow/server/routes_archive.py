""""Download all": one zip with a job's products, its executed notebook and its provenance.

The zip is written while it is sent (entries with data descriptors, no temporary file), so a
job with gigabytes of products starts downloading at once and costs the server a buffer.
Its name is stable: ``<service>-<job id>.zip``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from astroflow.execution.protocol import NOTEBOOK_FILE
from astroflow.jobs.model import TERMINAL, Job
from astroflow.products.model import Product, ProductError
from astroflow.products.stored import made_in_memory, product_path
from astroflow.server.auth import Caller
from astroflow.server.deps import caller, platform
from astroflow.server.openapi import READ, BinaryFile, content, errors
from astroflow.server.platform import NotFound, Platform

router = APIRouter(prefix="/api/v1/jobs/{job_id}", tags=["products"])

CHUNK = 1 << 20


@router.get("/archive", response_class=BinaryFile,
            responses={**content("application/zip", description="every file of the job"),
                       **errors(*READ, 410, json_route=False)})
async def job_archive(job_id: str, p: Platform = Depends(platform),
                      who: Caller = Depends(caller)) -> StreamingResponse:
    """A zip of every product in each format it offers (``products/``), the executed notebook
    and the provenance (``provenance.json`` PROV-JSON, ``provenance.provn`` PROV-N,
    ``provenance-summary.json``)."""
    job = await run_in_threadpool(p.job, job_id, who)
    if job.state not in TERMINAL:
        raise NotFound(f"job {job.id} is {job.state}; its archive exists once it has ended")
    await run_in_threadpool(p.job_files, job)  # 410 once the storage policy removed them
    entries = await run_in_threadpool(archive_entries, p, job)
    name = f"{job.service}-{job.id}.zip"
    return StreamingResponse(stream_zip(entries), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def archive_entries(p: Platform, job: Job) -> list[tuple[str, Path | bytes]]:
    """``(name in the zip, file or bytes)`` for everything the archive holds."""
    from astroflow.server import provenance as prov
    from astroflow.server.routes_products import provenance_record

    record, workflow = provenance_record(p, job)  # fetches the products from a remote store
    products_dir = p.artifacts.job_dir(job.id) / "products"
    entries: list[tuple[str, Path | bytes]] = []
    for entry in job.products:
        product = Product.from_dict(entry)
        for filename, key in {name: key for key, name in product.files.items()}.items():
            source: Path | bytes
            try:  # formats made on demand are made now: the archive holds every format
                source = product_path(product, products_dir, key)
            except ProductError:
                continue  # missing: left out, as a missing stored file always was
            except OSError:  # derived/ cannot be written (read-only or full store)
                if key not in product.derived:
                    continue
                source = made_in_memory(product, products_dir, key)
            entries.append((f"products/{Path(filename).name}", source))
    try:
        notebook = p.artifacts.path(job.id, NOTEBOOK_FILE)
    except OSError:
        notebook = None
    if notebook is not None and notebook.is_file():
        entries.append((NOTEBOOK_FILE, notebook))
    document = prov.prov_document(record, workflow, p.config.base_url)
    text = document.serialize(format="json", indent=2)
    assert text is not None  # prov returns None only when given a file to write to
    entries.append(("provenance.json", text.encode()))
    entries.append(("provenance.provn", document.get_provn().encode()))
    summary = prov.summary(record, workflow, notebook)
    entries.append(("provenance-summary.json", json.dumps(summary, indent=2).encode()))
    return entries


class _Pipe:
    """A write-only stream whose bytes the generator takes out as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        """Nothing is buffered here: each write is already handed to the response."""

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def stream_zip(entries: list[tuple[str, Path | bytes]]) -> Iterator[bytes]:
    """The zip of ``entries``, yielded as it is written (compressed, except compressed data)."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[call-overload]
        for name, source in entries:
            packed = name.endswith((".fits.gz", ".gz", ".png", ".jpeg", ".jpg", ".zip"))
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as out:
                if isinstance(source, bytes):
                    out.write(source)
                else:
                    with open(source, "rb") as stream:
                        while block := stream.read(CHUNK):
                            out.write(block)
                            yield pipe.take()
            yield pipe.take()
    yield pipe.take()
