"""Table pages: the portal's ``preview`` of a 100k-row ECSV table, cold (parsed) and warm.

The portal pages through a table a hundred rows at a time (``GET …/products/{name}/preview``
with ``offset``/``limit``/``sort``). Since pages are served from `astroflow.server.table_cache`
only the first page of a file parses it; this prints the time of that cold page, the median
of warm pages (unsorted, sorted ascending, sorted descending, at several offsets) and the
ratio, in-process (no HTTP: the server adds about a millisecond).

    .venv/bin/python bench/table_pages.py [--rows 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from astroflow.products.model import Product
from astroflow.server.preview import preview
from astroflow.server.table_cache import TABLES


def make_table(rows: int, outdir: Path) -> Product:
    rng = np.random.default_rng(1)
    table = Table({"id": np.arange(rows), "ra": rng.uniform(0, 360, rows),
                   "dec": rng.uniform(-90, 90, rows), "flux": rng.lognormal(size=rows),
                   "name": [f"src{i:06d}" for i in range(rows)]})
    table["ra"].unit = table["dec"].unit = "deg"
    table["flux"].unit = "erg cm-2 s-1"
    table.write(outdir / "sources.ecsv", overwrite=True)
    return Product("sources", "table", "Sources", {"ecsv": "sources.ecsv"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outdir = Path(tmp)
        product = make_table(args.rows, outdir)
        start = time.perf_counter()
        preview(product, outdir, offset=0, limit=100)
        cold = time.perf_counter() - start
        warm: dict[str, list[float]] = {"unsorted": [], "sort ascending": [],
                                        "sort descending": []}
        for i in range(args.repeat):
            offset = (i * 7919) % (args.rows - 100)
            for label, sort, descending in (("unsorted", None, False),
                                            ("sort ascending", "flux", False),
                                            ("sort descending", "flux", True)):
                start = time.perf_counter()
                page = preview(product, outdir, offset=offset, limit=100, sort=sort,
                               descending=descending)
                warm[label].append(time.perf_counter() - start)
                assert len(page["rows"]) == 100 and page["nrows"] == args.rows
        assert TABLES.reads == 1, TABLES.reads
    print(f"{args.rows} rows of ECSV, 100-row pages ({args.repeat} warm pages each)")
    print(f"cold page (parse): {cold * 1e3:8.1f} ms")
    for label, times in warm.items():
        median = statistics.median(times)
        print(f"warm {label:<16} {median * 1e3:8.2f} ms median, {max(times) * 1e3:7.2f} ms max,"
              f" ratio cold/warm {cold / median:6.0f}")


if __name__ == "__main__":
    main()
