"""JSON lines over raw pipe file descriptors: the language of the controller and the warm parent.

Both sides use unbuffered ``os.read``/``os.write`` so that a selector can tell exactly when
something is waiting, and nothing sits forgotten in a userspace buffer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

# The job folder, as the controller, the warm parent and the run all see it.
SPEC_FILE = "spec.pickle"
RESULT_FILE = "result.json"
NOTEBOOK_FILE = "executed.ipynb"
LOG_FILE = "stdout.log"
PRODUCTS_DIR = "products"
# Figures in a run become PNG outputs of the cell that drew them, as in Jupyter.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def encode(kind: str, **fields: Any) -> bytes:
    """One message: a JSON object with its ``type`` first, ending in a newline."""
    return json.dumps({"type": kind, **fields}, default=str, separators=(",", ":")).encode() + b"\n"


def send(fd: int, kind: str, **fields: Any) -> None:
    """Write one message whole, even if the pipe accepts it in pieces."""
    view = memoryview(encode(kind, **fields))
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LineReader:
    """Splits what arrives on a non-blocking fd into decoded JSON messages."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._pending = b""
        self.closed = False

    def read(self) -> list[dict[str, Any]]:
        """Everything complete that can be read now; sets `closed` on end of file."""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not chunk:
                self.closed = True
                break
            self._pending += chunk
            if len(chunk) < 65536:
                break
        return list(self._messages())

    def _messages(self) -> Iterator[dict[str, Any]]:
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                yield message


def drain(fd: int) -> None:
    """Read a non-blocking wake-up pipe empty (its bytes only mean "look again")."""
    try:
        while os.read(fd, 4096):
            continue
    except BlockingIOError:
        return
