"""Table pages come from parsed tables cached by path, mtime and size (LRU by bytes).

On main before this change every page parsed the whole file again (no `table_cache`)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.table import Table

from astroflow.products.model import Product
from astroflow.products.tables import read_table_file
from astroflow.server.preview import PreviewError, preview
from astroflow.server.table_cache import TABLES, TableCache, table_bytes


def _write(path, values, mtime=None):
    Table({"x": np.asarray(values, dtype=float)}).write(path, overwrite=True)
    if mtime is not None:
        os.utime(path, ns=(mtime, mtime))


def test_pages_parse_once_and_a_changed_file_is_read_again(tmp_path):
    _write(tmp_path / "t.ecsv", [3.0, 1.0, 2.0], mtime=10**18)
    product = Product("t", "table", "T", {"ecsv": "t.ecsv"})
    reads = TABLES.reads
    first = preview(product, tmp_path, sort="x")
    assert [r[0] for r in first["rows"]] == [1.0, 2.0, 3.0]
    assert preview(product, tmp_path, offset=1, limit=1)["rows"] == [[1.0]]
    assert TABLES.reads == reads + 1  # the second page used the parsed table
    # Same size, another mtime (a job re-run writes the same name): read again, sorted anew.
    _write(tmp_path / "t.ecsv", [9.0, 7.0, 8.0], mtime=10**18 + 1)
    again = preview(product, tmp_path, sort="x", descending=True)
    assert [r[0] for r in again["rows"]] == [9.0, 8.0, 7.0]
    assert TABLES.reads == reads + 2
    with pytest.raises(PreviewError, match="cannot sort by 'y'"):
        preview(product, tmp_path, sort="y")


def test_the_cache_is_bounded_by_bytes_least_recently_used_first(tmp_path):
    paths = [tmp_path / f"t{i}.ecsv" for i in range(3)]
    for path in paths:
        _write(path, range(1000))  # 8000 bytes of data each
    one = table_bytes(read_table_file(paths[0]))
    cache = TableCache(budget=2 * one)
    cache.get(paths[0], read_table_file)
    cache.get(paths[1], read_table_file)
    cache.get(paths[0], read_table_file)  # t0 is now the most recently used
    cache.get(paths[2], read_table_file)  # over budget: t1 goes
    assert (len(cache), cache.nbytes, cache.reads) == (2, 2 * one, 3)
    cache.get(paths[0], read_table_file)
    assert cache.reads == 3
    cache.get(paths[1], read_table_file)
    assert cache.reads == 4
    # A derived sort order counts in the budget too: memoising one evicts the older table.
    entry = cache.entry(paths[1], read_table_file)
    assert list(entry.memo("order", lambda: np.arange(1000))[:3]) == [0, 1, 2]
    assert len(cache) == 1 and cache.nbytes == one + 8000
    # A table larger than the whole budget is served, not kept.
    small = TableCache(budget=100)
    assert len(small.get(paths[0], read_table_file)) == 1000 and len(small) == 0
