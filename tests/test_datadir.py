"""Data preparation is serialised between processes (`astroflow.datadir.preparing`)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from astroflow.datadir import preparing

HOLD = r"""
import sys, time
from astroflow.datadir import preparing
with preparing(sys.argv[1]):
    print("held", flush=True)
    time.sleep(1.5)
"""


def test_a_second_process_waits_for_the_first_to_finish(tmp_path: Path) -> None:
    folder = tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with preparing(folder):
            waited = time.monotonic() - start
            assert holder.poll() is not None or waited >= 1.0
        assert waited >= 1.0, f"took the lock after {waited:.2f} s while another held it"
    finally:
        holder.wait(timeout=30)
    start = time.monotonic()
    with preparing(folder):  # free again at once once the holder is gone
        assert time.monotonic() - start < 0.5
    assert (tmp_path / "release.lock").is_file() and not folder.exists()
