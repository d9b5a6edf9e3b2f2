"""Parsed tables kept in memory, keyed by path, modification time and size.

The portal pages through a table a hundred rows at a time; parsing a 100k-row ECSV for each
page costs ~0.4 s. A table read once is kept until its file changes (another mtime or size
means another key) or until newer tables push it out: the cache is bounded by the bytes of
the tables it holds, least recently used first. Callers must not modify a table they get.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_BUDGET = 256 * 2**20  # bytes of column data kept, over all cached tables

_Key = tuple[str, int, int]


@dataclass
class CachedTable:
    """A parsed table and what was derived from it (by label), with their bytes."""

    table: Any
    nbytes: int
    cache: TableCache | None = None
    derived: dict[Any, np.ndarray] = field(default_factory=dict)

    def memo(self, label: Any, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()`` once per label while the table stays cached."""
        if label not in self.derived:
            value = compute()
            self.derived[label] = value
            if self.cache is not None:
                self.cache._grow(self, int(value.nbytes))
        return self.derived[label]


class TableCache:
    """A least-recently-used cache of parsed tables, bounded by their data's bytes."""

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._tables: OrderedDict[_Key, CachedTable] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.reads = 0  # parses done (tests and benchmarks read it)

    def get(self, path: Path, read: Callable[[Path], Any]) -> Any:
        """The table in ``path``, parsed by ``read`` unless the same file was read before."""
        return self.entry(path, read).table

    def entry(self, path: Path, read: Callable[[Path], Any]) -> CachedTable:
        """`get`, with the table's memo of derived values."""
        stat = os.stat(path)
        key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._tables:
                self._tables.move_to_end(key)
                return self._tables[key]
        table = read(path)  # outside the lock: other tables stay served meanwhile
        entry = CachedTable(table, table_bytes(table))
        with self._lock:
            self.reads += 1
            if entry.nbytes <= self.budget and key not in self._tables:
                self._drop_older(key[0])
                entry.cache = self
                self._tables[key] = entry
                self._bytes += entry.nbytes
                self._shrink()
        return entry

    def _grow(self, entry: CachedTable, nbytes: int) -> None:
        with self._lock:
            if any(e is entry for e in self._tables.values()):
                entry.nbytes += nbytes
                self._bytes += nbytes
                self._shrink()

    def _shrink(self) -> None:
        """Drop least recently used tables until the budget holds (lock held)."""
        while self._bytes > self.budget and self._tables:
            _, dropped = self._tables.popitem(last=False)
            self._bytes -= dropped.nbytes

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._tables)

    def _drop_older(self, path: str) -> None:
        """Versions of the same file read before are stale: free their bytes now."""
        for key in [k for k in self._tables if k[0] == path]:
            self._bytes -= self._tables.pop(key).nbytes


def table_bytes(table: Any) -> int:
    """The bytes of a table's column data (object columns count their pointers only)."""
    total = 0
    for name in getattr(table, "colnames", ()):
        column = table[name]
        nbytes = getattr(column, "nbytes", None)
        if nbytes is None:  # e.g. Time, SkyCoord: count their underlying arrays
            nbytes = sum(getattr(v, "nbytes", 0) for v in vars(column).values())
        total += int(nbytes)
    return max(total, 1)


TABLES = TableCache()
