"""Engine overhead: astroflow's warm execution against papermill, same notebooks, same run.

Two three-cell notebooks (parameters, compute, outputs): a trivial one, and one that imports
``astropy.coordinates``. Each runs N times through `Workflow.run` on a warm `LocalExecutor`
(the whole path: validation, injection, fork, cells, products, executed notebook) and through
``papermill.execute_notebook`` (a fresh Jupyter kernel per run, as MMODA's nb2workflow does).

    .venv/bin/python bench/engine_overhead.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from scratch import default_scratch

from astroflow import Workflow
from astroflow.execution import LocalExecutor

NOTEBOOKS = {
    "trivial": ("x = 1.0  # oda:Float\nn = 3  # oda:Integer", "y = x * n"),
    "astropy.coordinates": (
        "ra = 83.63  # oda:PointOfInterestRA\ndec = 22.01  # oda:PointOfInterestDEC",
        "from astropy.coordinates import SkyCoord\ny = float(SkyCoord(ra, dec, unit='deg').galactic.l.deg)",
    ),
}


def write(folder: Path, name: str, parameters: str, compute: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(compute),
        nbformat.v4.new_code_cell("y  # oda:Float", metadata={"tags": ["outputs"]}),
    ]
    repo = folder / name.replace(".", "_")  # the notebook in a folder of its own, as in a repo
    repo.mkdir()
    path = repo / f"{repo.name}.ipynb"
    nbformat.write(nb, path)
    return path


def time_astroflow(path: Path, runs: int, executor: LocalExecutor, scratch: Path) -> list[float]:
    wf = Workflow.from_path(path)
    wf.run({}, job_dir=scratch / "warmup", executor=executor)  # first use preloads imports
    times = []
    for i in range(runs):
        start = time.perf_counter()
        result = wf.run({}, job_dir=scratch / f"af-{path.stem}-{i}", executor=executor)
        times.append(time.perf_counter() - start)
        assert result.status == "done", result.error
    return times


def time_papermill(path: Path, runs: int, scratch: Path) -> list[float]:
    import papermill

    times = []
    for i in range(runs):
        start = time.perf_counter()
        papermill.execute_notebook(str(path), str(scratch / f"pm-{path.stem}-{i}.ipynb"),
                                   parameters={}, progress_bar=False, kernel_name="python3")
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--scratch", type=Path, default=default_scratch(),
                        help="folder for the run's files (see bench/scratch.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp, LocalExecutor() as executor:
        scratch = Path(tmp)
        (scratch / "repos").mkdir()
        print(f"{'notebook':<22}{'astroflow median':>18}{'papermill median':>18}{'ratio':>9}")
        for name, (parameters, compute) in NOTEBOOKS.items():
            path = write(scratch / "repos", name, parameters, compute)
            ours = time_astroflow(path, args.runs, executor, scratch)
            theirs = time_papermill(path, args.runs, scratch)
            a, p = statistics.median(ours), statistics.median(theirs)
            print(f"{name:<22}{a * 1e3:>15.1f} ms{p * 1e3:>15.1f} ms{p / a:>8.0f}×")
            print(f"{'':<22}{'(min ' + format(min(ours) * 1e3, '.1f') + ' ms)':>18}"
                  f"{'(min ' + format(min(theirs) * 1e3, '.1f') + ' ms)':>18}")


if __name__ == "__main__":
    main()
