"""Files and bytes a job leaves in its folder, before and after every format was downloaded.

A real `astroflow serve` process runs ``--jobs`` distinct jobs of four one-output notebooks
(a number, a short text, a 100-row table, a 64×64 image), then each job's folder is measured:
files, their bytes, and the disk they take (blocks, folders included). Then every format of
every product is downloaded once and the folders are measured again: formats made on demand
land in each job's ``derived/`` folder.

    .venv/bin/python bench/job_files.py [--jobs 20]

To measure another revision, run this file with an interpreter whose ``astroflow`` is that
revision (its ``tests/server_process.py`` is imported from ``--tests``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

_HEAD = ('# %% [markdown]\n# # {title}\n# One output.\n\n# %% tags=["parameters"]\n'
         'x = 1.0  # oda:Float\n\n# %%\n')
NOTEBOOKS = {
    "scalar": _HEAD.format(title="Scalar") + 'y = x * 2\n\n# %% tags=["outputs"]\ny  # oda:Float\n',
    "text": _HEAD.format(title="Text")
    + 'msg = f"x is {x}"\n\n# %% tags=["outputs"]\nmsg  # oda:ODATextProduct\n',
    "table": _HEAD.format(title="Table")
    + 'from astropy.table import Table\n\ncat = Table({"i": list(range(100)), '
      '"f": [x * i for i in range(100)]})\ncat["f"].unit = "mJy"\n\n'
      '# %% tags=["outputs"]\ncat  # oda:ODAAstropyTable\n',
    "image": _HEAD.format(title="Image")
    + 'import numpy as np\n\nsky = np.arange(64 * 64, dtype=float).reshape(64, 64) * x\n\n'
      '# %% tags=["outputs"]\nsky  # oda:Image\n',
}


def usage(folders: list[Path]) -> tuple[float, float, float]:
    """Mean files, kB of their content and KiB of disk (blocks, folders too) a job."""
    files, sizes, disk = [], [], []
    for folder in folders:
        found = [p for p in folder.rglob("*") if p.is_file()]
        files.append(len(found))
        sizes.append(sum(p.stat().st_size for p in found))
        disk.append(sum(p.stat().st_blocks * 512 for p in [folder, *folder.rglob("*")]))
    return statistics.mean(files), statistics.mean(sizes) / 1000, statistics.mean(disk) / 1024


def measure(http: httpx.Client, data: Path, kind: str, jobs: int) -> str:
    """One kind of job: run ``jobs`` of them, measure, download every format, measure."""
    api = "/api/v1"
    ids = [http.post(f"{api}/services/{kind}/jobs", json={"parameters": {"x": i + 0.5}})
           .json()["id"] for i in range(jobs)]
    for job_id in ids:
        state = http.get(f"{api}/jobs/{job_id}", params={"wait": 60}).json()["state"]
        assert state == "done", f"{kind} job {job_id} is {state}"
    time.sleep(0.3)  # the last run's process leaves its folder
    folders = [next(data.rglob(f"jobs/{job_id}")) for job_id in ids]
    before = usage(folders)
    example = sorted(str(p.relative_to(folders[0])) for p in folders[0].rglob("*") if p.is_file())
    for job_id in ids:
        for product in http.get(f"{api}/jobs/{job_id}").json()["products"]:
            for fmt in product["formats"]:
                reply = http.get(f"{api}/jobs/{job_id}/products/{product['name']}",
                                 params={"format": fmt})
                assert reply.status_code == 200, (kind, fmt, reply.text[:300])
    after = usage(folders)
    return (f"{kind:7s} {before[0]:.1f} files, {before[1]:.2f} kB ({before[2]:.0f} KiB on disk) "
            f"a job; every format downloaded: {after[0]:.1f} files, {after[1]:.2f} kB "
            f"({after[2]:.0f} KiB)   {', '.join(example)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="jobs of each kind")
    parser.add_argument("--tests", type=Path, default=Path(__file__).parents[1] / "tests",
                        help="folder of the server_process.py to use")
    args = parser.parse_args()
    sys.path.insert(0, str(args.tests))
    from server_process import ServerProcess

    with tempfile.TemporaryDirectory() as tmp:
        services = Path(tmp) / "services"
        services.mkdir()
        for name, text in NOTEBOOKS.items():
            (services / f"{name}.py").write_text(text)
        data = Path(tmp) / "data"
        server = ServerProcess(data, services=[services])
        with server.running(), httpx.Client(base_url=server.url, timeout=60) as http:
            print(f"{args.jobs} jobs of each kind")
            for kind in NOTEBOOKS:
                print(measure(http, data, kind, args.jobs))


if __name__ == "__main__":
    main()
