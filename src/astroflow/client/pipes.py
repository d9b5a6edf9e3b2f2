"""A command whose reader went away (``astroflow … --json | head``) ends quietly.

Unix tools die of SIGPIPE without a word; Python ignores the signal and raises
`BrokenPipeError` instead, at the print that failed or at the final flush of stdout. The
server shares the ``astroflow`` command, so the signal stays ignored (a closed socket must
not kill it): the error is caught around the command and its final flush.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool the signal ended


def quiet_on_broken_pipe(command: Callable[[], int]) -> int:
    """Run ``command``; a reader that closed the pipe gives `EXIT_BROKEN_PIPE` and no
    traceback, also from the interpreter's own flush of stdout at exit."""
    try:
        try:
            return command()
        finally:  # also after SystemExit (``--help | head``): the buffered rest fails here
            sys.stdout.flush()
    except BrokenPipeError:
        # Nothing more can reach the reader: send what is still buffered nowhere, so the
        # interpreter's flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
        return EXIT_BROKEN_PIPE
