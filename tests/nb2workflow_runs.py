"""nb2workflow running the MMODA-style parity notebooks, recorded for the product comparison.

nb2workflow executes a notebook with papermill in a fresh kernel of its own venv (see
tests/nb2workflow_reference.py) and returns, per declared output, what scrapbook glued:
plain values as they are, ``oda_api`` objects as the JSON text of their ``encode()``, and
for an output naming an existing file also ``<name>_content`` (the file, base64). That dict
is what nb2workflow's ``/api/v1.0/get/<target>`` answers as ``output`` and what a MMODA
dispatcher decodes; astroflow's nb2workflow API must answer the same (compared in
tests/test_nb2workflow_parity.py).

The kernel imports ``nb2workflow.nbadapter`` for its output cell, which loads MMODA's
ontology from the web; a ``sitecustomize`` on the kernel's path reads the local file instead.

Record after changing the notebooks: ``.venv/bin/python tests/nb2workflow_runs.py`` (minutes:
one kernel per notebook) writes tests/data/nb2workflow_runs.json.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nb2workflow_reference as ref

RUNS = ref.REPO / "tests" / "data" / "nb2workflow_runs.json"

# Runs inside nb2workflow's venv: argv = notebook files...; prints JSON.
RUNNER = r'''
import json, logging, os, sys
logging.disable(logging.CRITICAL)
import warnings; warnings.simplefilter("ignore")
from nb2workflow.nbadapter import NotebookAdapter
out = {}
for path in sys.argv[1:]:
    name = os.path.basename(path)[:-len(".ipynb")]
    try:
        nba = NotebookAdapter(path)
        raised = nba.execute({}, progress_bar=False, log_output=False)
        flat = [x for e in raised for x in (e if isinstance(e, list) else [e])]
        out[name] = dict(exceptions=[f"{e.ename}: {e.evalue}" if hasattr(e, "ename")
                                     else f"{type(e).__name__}: {e}" for e in flat],
                         output=None if raised else nba.extract_output())
    except Exception as exc:
        out[name] = dict(exceptions=[type(exc).__name__ + ": " + str(exc)], output=None)
print("NB2WORKFLOW-RUNS:" + json.dumps(out, default=repr, sort_keys=True))
'''

# On the kernel's path: MMODA's ontology from the local file, not the web.
SITECUSTOMIZE = '''
import os
if os.environ.get("NB2W_ONTOLOGY_FILE"):
    import oda_api.ontology_helper as helper
    helper.main_ontology_graph = helper.MainOntologyGraph(os.environ["NB2W_ONTOLOGY_FILE"], "0")
'''

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_notebooks(python: Path, paths: list[Path], timeout: float = 1800,
                  processes: int = 2) -> dict[str, dict[str, Any]]:
    """nb2workflow's execution of each notebook with its defaults, by notebook stem."""
    site = Path(tempfile.mkdtemp(prefix="nb2w-site-"))
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {"PYTHONPATH": str(site), "NB2W_ONTOLOGY_FILE": str(ref.ontology_file())}
    result = ref.run_in_venv(python, RUNNER, [], paths, "NB2WORKFLOW-RUNS:", env, timeout,
                             processes)
    return {name: _tidy(run) for name, run in sorted(result.items())}


def _tidy(run: dict[str, Any]) -> dict[str, Any]:
    """The last line of each exception, without the kernel's colour codes."""
    lines = [_ANSI.sub("", text).strip().splitlines() for text in run["exceptions"]]
    return dict(output=run["output"], exceptions=[s[-1][:300] if s else "" for s in lines])


def comparable(output: dict[str, Any] | None) -> dict[str, Any] | None:
    """One form for both sides: JSON texts (``oda_api`` objects) parsed, floats rounded to
    12 significant digits, and the fields that differ by construction (creation times,
    random identifiers) left out."""
    if output is None:
        return None
    return {name: _plain(_parsed(value)) for name, value in output.items()}


_VOLATILE = {"creation_date", "created", "date", "job_id", "uid", "id"}


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _plain(_parsed(v)) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_plain(_parsed(v)) for v in value]
    return value


def main() -> int:
    python, reason = ref.build_venv()
    if python is None:
        print(reason, file=sys.stderr)
        return 1
    start = time.monotonic()
    wanted = set(sys.argv[1:])  # notebook stems to re-record; all when none given
    paths = [p for p in ref.notebooks() if not wanted or p.stem in wanted]
    runs = run_notebooks(python, paths, processes=min(2, len(paths)))
    ran = time.monotonic() - start
    if wanted and RUNS.is_file():
        runs = dict(sorted({**json.loads(RUNS.read_text())["notebooks"], **runs}.items()))
    RUNS.write_text(json.dumps({"nb2workflow": ref.NB2WORKFLOW_VERSION, "notebooks": runs},
                               indent=1, sort_keys=True) + "\n")
    failed = sorted(name for name, run in runs.items() if run["exceptions"])
    print(f"nb2workflow ran {len(runs)} notebooks in {ran:.0f} s ({len(failed)} raised: "
          f"{', '.join(failed) or 'none'}); wrote {RUNS.relative_to(ref.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
