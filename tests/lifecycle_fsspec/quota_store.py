"""A quota'd fsspec store: fsspec's in-memory filesystem with a capacity, answering a write
past it with ENOSPC, as a full disk or a bucket over its quota does. No tmpfs can be mounted
here (no root), and RLIMIT_FSIZE answers EFBIG (the run's own output limit), not ENOSPC."""

from __future__ import annotations

import errno
import os
from typing import Any

from fsspec.implementations.memory import MemoryFileSystem


class QuotaMemoryFileSystem(MemoryFileSystem):
    protocol = "quotamem"
    store: dict[str, Any] = {}   # its own files, not those of memory://
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith("quotamem://"):
            path = "memory://" + path[len("quotamem://"):]
        return super()._strip_protocol(path)

    @property
    def capacity(self) -> int:
        return int(os.environ.get("ASTROFLOW_TEST_STORE_BYTES", "0") or 0)

    def used(self) -> int:
        return sum(len(f.getbuffer()) for f in self.store.values())

    def put_file(self, lpath: Any, rpath: Any, *args: Any, **kwargs: Any) -> None:
        size = os.path.getsize(lpath)
        if self.capacity and self.used() + size > self.capacity:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(rpath))
        super().put_file(lpath, rpath, *args, **kwargs)


def register() -> None:
    import fsspec

    fsspec.register_implementation("quotamem", QuotaMemoryFileSystem, clobber=True)
