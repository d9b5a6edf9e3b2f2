"""Turn one notebook output into a product: files in the job's output directory plus a record.

Runs inside the job's own process, right after the notebook finished, once per declared output.
Each product stores one file (or none: a scalar lives in its record); the other formats it
offers are made on first download (:mod:`astroflow.products.stored` says which and why).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from astroflow.ontology.model import ClassInfo
from astroflow.products import atomic, images, oda, pictures, scalars, sources, tables
from astroflow.products.detect import Plan, annotated_type, plan
from astroflow.products.model import TABLE_LIKE, Mismatch, Product, ProductError, default_title
from astroflow.products.naming import MANIFEST_NAME, claim, safe_filename, safe_stem
from astroflow.products.stored import INLINE_TEXT
from astroflow.products.values import type_name


def write_product(name: str, value: Any, outdir: Path, info: ClassInfo | None = None, *,
                  title: str | None = None, description: str | None = None,
                  cwd: Path | None = None, reserved: set[str] | None = None) -> Product:
    """Write ``value`` (the notebook variable ``name``) as a typed product under ``outdir``.

    ``info`` is the resolved ontology class of the output's annotation (``None`` when
    unannotated); ``cwd`` is the notebook's working directory, against which string paths
    are resolved. ``reserved``: file names the job's earlier products took (formats not
    written yet have no file to show it); this product's names are added to it. Raises
    :class:`ProductError` naming the output when the value cannot become the annotated type,
    or no product at all.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    chosen, reason = plan(value, info, name=name, cwd=cwd)
    if reason is not None:
        assert info is not None
        raise ProductError(f"output {name!r} is annotated as {info.curie} "
                           f"({annotated_type(info)}) but {reason}")
    title = title or default_title(name)
    writer = _Writer(name, outdir, explicit=annotated_type(info) is not None, title=title,
                     reserved=reserved)
    try:
        files, meta, unit = writer.write(chosen)
    except BaseException as exc:
        writer.discard()  # a failed product leaves no stray files behind
        if isinstance(exc, ProductError | KeyboardInterrupt | SystemExit):
            raise
        if isinstance(exc, Mismatch):
            raise ProductError(f"output {name!r}: {exc}") from exc
        raise ProductError(f"output {name!r}: writing it as a {chosen.type} failed: "
                           f"{type(exc).__name__}: {exc}") from exc
    if chosen.fallback:
        meta["python_type"] = type_name(value)
    if reserved is not None:
        reserved.update(writer.taken)
    own = oda.own_fields(value)
    if own is not None:
        meta["oda"] = own
    return Product(
        name=name,
        type=chosen.type,
        title=title,
        files=files,
        unit=unit,
        description=description,
        ontology=info.uri if info is not None else None,
        meta=meta,
        derived=writer.derived,
    )


class _Writer:
    """Names and writes the files of one product."""

    def __init__(self, name: str, outdir: Path, explicit: bool, title: str,
                 reserved: set[str] | None = None) -> None:
        self.outdir = outdir
        self.title = title
        self.stem = safe_stem(name)
        self.explicit = explicit  # annotated: files take the output's name
        self.reserved = set(reserved or ())  # names earlier products took
        self.taken: set[str] = set()    # names this product claimed
        self.derived: list[str] = []    # formats named but made on first download
        self.in_place: set[str] = set()  # files that were already there (never discarded)

    def discard(self) -> None:
        """Remove the files this product created."""
        for filename in self.taken - self.in_place:
            (self.outdir / filename).unlink(missing_ok=True)
        self.derived = []

    def fresh(self, ext: str) -> str:
        """A new file name ``<stem>.<ext>`` that clashes with nothing in the directory."""
        filename = claim(self.outdir, f"{self.stem}.{ext}", self.taken | self.reserved)
        self.taken.add(filename)
        return filename

    def place(self, source: Path, keep_name: bool) -> str:
        """Bring a source file into the directory; returns its name there.

        Files already in the directory stay where they are; others are copied under their own
        base name (``keep_name``) or under the output's name with the source's suffixes.
        """
        if (source.parent.resolve() == self.outdir.resolve() and source.name != MANIFEST_NAME
                and safe_filename(source.name) == source.name):
            self.taken.add(source.name)
            self.in_place.add(source.name)
            return source.name
        base = safe_filename(source.name)
        if not keep_name:
            suffixes = base.partition(".")[2]
            base = f"{self.stem}.{suffixes}" if suffixes else self.stem
        filename = claim(self.outdir, base, self.taken | self.reserved)
        self.taken.add(filename)
        atomic.copy_file(source, self.outdir / filename)
        return filename

    def write(self, p: Plan) -> tuple[dict[str, str], dict[str, Any], str | None]:
        if p.type in TABLE_LIKE:
            return self.table(p)
        return getattr(self, p.type)(p)

    def scalar(self, p: Plan) -> tuple[dict[str, str], dict[str, Any], str | None]:
        filename = self.fresh("json")  # written from the record when asked for
        self.derived.append("json")
        return {"json": filename}, p.payload.meta(), p.payload.unit

    def text(self, p: Plan) -> tuple[dict[str, str], dict[str, Any], str | None]:
        meta = scalars.text_meta(p.payload)
        if p.source is not None:
            return {"txt": self.place(p.source, keep_name=not self.explicit)}, meta, None
        filename = self.fresh("txt")
        if len(p.payload.encode("utf-8")) <= INLINE_TEXT:  # kept in the record, as a scalar
            self.derived.append("txt")
            return {"txt": filename}, {**meta, "text": p.payload}, None
        scalars.write_text_product(p.payload, self.outdir / filename)
        return {"txt": filename}, meta, None

    def table(self, p: Plan) -> tuple[dict[str, str], dict[str, Any], str | None]:
        files: dict[str, str] = {}
        formats: tuple[str, ...] = ("ecsv", "fits", "vot")
        if p.source is not None and not self.explicit:
            key = sources.suffix_key(p.source, "table")
            key = "fits" if images.is_fits_path(p.source) else key
            files[key] = self.place(p.source, keep_name=True)
            formats = () if key == "ecsv" else ("ecsv",)
        taken = self.taken | self.reserved
        try:
            written, meta, derived = tables.write_table(p.payload, self.stem, self.outdir,
                                                        taken, formats, lazy=not files)
        finally:  # what it wrote is this product's, to discard should it fail
            self.taken |= taken - self.reserved
        self.derived += derived
        files.update(written)
        meta.update(p.roles)
        if p.json_form:
            meta["json_form"] = p.json_form
        return files, meta, None

    def image(self, p: Plan) -> tuple[dict[str, str], dict[str, Any], str | None]:
        data: images.ImageData = p.payload
        if data.source is not None:
            fits_name = self.place(data.source, keep_name=not self.explicit)
        else:
            fits_name = self.fresh("fits")
        png_name = self.fresh("png")
        self.derived.append("png")
        return images.write_image(data, fits_name, png_name, self.outdir,
                                  title=self.title, lazy=True)

    def picture(self, p: Plan) -> tuple[dict[str, str], dict[str, Any], str | None]:
        if p.source is not None:
            fmt = p.payload
            filename = self.place(p.source, keep_name=not self.explicit)
            head = pictures.read_head(self.outdir / filename)
            size = (self.outdir / filename).stat().st_size
            return {fmt: filename}, pictures.picture_meta(head, fmt, size), None
        data = pictures.figure_png(p.payload) if not isinstance(p.payload, bytes) else p.payload
        fmt = pictures.sniff(data[:4096]) or "png"
        filename = self.fresh(pictures.EXTENSIONS[fmt])
        atomic.write_bytes(self.outdir / filename, data)
        return {fmt: filename}, pictures.picture_meta(data[:65536], fmt, len(data)), None

    def binary(self, p: Plan) -> tuple[dict[str, str], dict[str, Any], str | None]:
        if p.source is not None:
            filename = self.place(p.source, keep_name=not self.explicit)
            meta = {"bytes": (self.outdir / filename).stat().st_size,
                    "original_name": p.source.name}
            return {sources.suffix_key(p.source, "bin"): filename}, meta, None
        filename = self.fresh("bin")
        atomic.write_bytes(self.outdir / filename, p.payload)
        return {"bin": filename}, {"bytes": len(p.payload)}, None

    def file(self, p: Plan) -> tuple[dict[str, str], dict[str, Any], str | None]:
        if p.source is None:
            return self.binary(p)
        filename = self.place(p.source, keep_name=True)
        meta = {"bytes": os.stat(self.outdir / filename).st_size, "original_name": p.source.name}
        return {sources.suffix_key(p.source, "file"): filename}, meta, None
