"""The executor, with real warm parents and real forked runs."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import nbformat.v4 as v4
import pytest

from astroflow.execution import (
    LocalExecutor,
    OutputSpec,
    Progress,
    RunSpec,
    notebook_html,
    progress,
)
from astroflow.ontology.model import ODA, ClassInfo

pytestmark = pytest.mark.timeout(60)

FAST_PRELOAD = ("astroflow.execution.child",)


def notebook(*sources: str) -> dict:
    """A plain-JSON nbformat v4 notebook with one code cell per source."""
    return json.loads(v4.writes(v4.new_notebook(cells=[v4.new_code_cell(s) for s in sources])))


def executed(result) -> dict:
    """The executed notebook, checked against the nbformat schema."""
    data = json.loads(result.notebook_path.read_text())
    nbformat.validate(nbformat.from_dict(data))
    return data


def outputs(result, index: int) -> list[dict]:
    return executed(result)["cells"][index]["outputs"]


def gone(pid: int) -> bool:
    """True once the process no longer exists (or is a zombie nobody has reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _no_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture(scope="module")
def executor():
    with LocalExecutor(max_parallel=2) as ex:
        yield ex


@pytest.fixture
def job(tmp_path):
    counter = iter(range(1000))
    return lambda: tmp_path / f"job{next(counter)}"


# -- outputs of cells ---------------------------------------------------------------------


def test_stdout_display_and_result_are_cell_outputs(executor, job):
    result = executor.run(RunSpec(notebook(
        "import sys\nx = 41\nprint('hello', x)\nprint('careful', file=sys.stderr)",
        "from IPython.display import display, HTML\ndisplay(HTML('<b>bold</b>'))",
        "x + 1",
        "x + 2;",
    ), [], job()))
    assert result.status == "done", result.error
    assert result.error is None
    streams = {o["name"]: o["text"] for o in outputs(result, 0)}
    assert streams == {"stdout": "hello 41\n", "stderr": "careful\n"}
    [shown] = outputs(result, 1)
    assert shown["output_type"] == "display_data"
    assert shown["data"]["text/html"] == "<b>bold</b>"
    [value] = outputs(result, 2)
    assert value["output_type"] == "execute_result"
    assert value["data"]["text/plain"] == "42"
    assert value["execution_count"] == 3
    assert outputs(result, 3) == []  # a trailing semicolon hides the value, as in Jupyter
    counts = [cell["execution_count"] for cell in executed(result)["cells"]]
    assert counts == [1, 2, 3, 4]
    assert "hello 41" in (result.job_dir / "stdout.log").read_text()


def test_shell_commands_and_magics(executor, job):
    result = executor.run(RunSpec(notebook(
        "%matplotlib inline",
        "!echo hi",
        "files = !echo one; echo two\nprint(list(files))",
        "%%bash\necho from-bash",
        "import subprocess, sys\nsubprocess.run(['echo', 'to-log'], stdout=sys.stdout)",
    ), [], job()))
    assert result.status == "done", result.error
    assert outputs(result, 1) == [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
    assert outputs(result, 2)[0]["text"] == "['one', 'two']\n"
    assert "from-bash" in outputs(result, 3)[0]["text"]
    assert "to-log" in (result.job_dir / "stdout.log").read_text()


@pytest.mark.parametrize("magic", ["", "%matplotlib inline\n"])
def test_matplotlib_figure_becomes_png(executor, job, magic):
    result = executor.run(RunSpec(notebook(
        magic + "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('light curve');",
        "fig, ax = plt.subplots()\nax.plot([0, 1])\nplt.close(fig)",
        "print(len(plt.get_fignums()))",
    ), [], job()))
    assert result.status == "done", result.error
    [figure] = outputs(result, 0)
    assert figure["output_type"] == "display_data"
    png = figure["data"]["image/png"]
    assert isinstance(png, str) and png.startswith("iVBORw0KGgo")  # base64 of the PNG magic
    assert outputs(result, 1) == []  # closed before the end of the cell: not shown
    assert outputs(result, 2)[0]["text"] == "0\n"  # figures are closed after each cell


def test_display_update_and_clear_output(executor, job):
    result = executor.run(RunSpec(notebook(
        "h = display('first', display_id=True)",
        "h.update('second')",
        "from IPython.display import clear_output\nprint('old')\nclear_output()\nprint('new')",
        "print('old')\nclear_output(wait=True)\nprint('new')",
    ), [], job()))
    assert result.status == "done", result.error
    assert outputs(result, 0)[0]["data"]["text/plain"] == "'second'"
    assert outputs(result, 1) == []
    for index in (2, 3):
        assert outputs(result, index) == [
            {"output_type": "stream", "name": "stdout", "text": "new\n"}]


# -- failures -----------------------------------------------------------------------------


def test_error_stops_the_run(executor, job):
    nb = notebook("a = 1", "b = a / 0", "print('never')")
    nb["cells"].insert(0, json.loads(json.dumps(v4.new_markdown_cell("# Crab light curve"))))
    result = executor.run(RunSpec(nb, [], job()))
    assert result.status == "failed"
    error = result.error
    assert (error.kind, error.ename, error.evalue, error.cell) == (
        "bug", "ZeroDivisionError", "division by zero", 2)
    assert "b = a / 0" in error.traceback
    cells = executed(result)["cells"]
    assert cells[2]["outputs"][0]["output_type"] == "error"
    assert cells[3]["execution_count"] is None and cells[3]["outputs"] == []


def test_syntax_error_is_a_bug(executor, job):
    result = executor.run(RunSpec(notebook("def f(:\n    pass"), [], job()))
    assert result.status == "failed"
    assert (result.error.kind, result.error.ename, result.error.cell) == ("bug", "SyntaxError", 0)


@pytest.mark.parametrize("source", [
    "from astroflow.errors import AnalysisError\n"
    "class NoData(AnalysisError):\n    pass\n"
    "raise NoData('no data in this time range')",
    "class AnalysisError(Exception):\n    pass\n"
    "raise AnalysisError('no data in this time range')",
])
def test_analysis_error_is_a_result_for_the_user(executor, job, source):
    result = executor.run(RunSpec(notebook("x = 1", source), [], job()))
    assert result.status == "failed"
    assert result.error.kind == "analysis"
    assert result.error.evalue == "no data in this time range"
    assert result.error.cell == 1


def test_time_limit_kills_the_run_and_its_commands(executor, job):
    spec = RunSpec(notebook(
        "print('started')",
        "!sh -c 'echo $$ > sleeper.pid; exec sleep 60'",
    ), [], job(), time_limit=1.0)
    began = time.monotonic()
    handle = executor.submit(spec)
    result = handle.wait(20)
    assert time.monotonic() - began < 10
    assert result.status == "failed"
    assert result.error.kind == "time_limit"
    assert result.error.evalue == "time limit exceeded (1 s)"
    sleeper = int((result.job_dir / "work" / "sleeper.pid").read_text())
    for pid in (handle.pid, sleeper):  # not even a zombie: the warm parent reaps orphans
        assert wait_until(lambda pid=pid: _no_process(pid))
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # What ran before the kill is kept.
    assert outputs(result, 0)[0]["text"] == "started\n"
    assert json.loads((result.job_dir / "result.json").read_text())["status"] == "failed"


def test_cancel_kills_the_run(executor, job, tmp_path):
    flag = tmp_path / "running"
    handle = executor.submit(RunSpec(notebook(
        f"open({str(flag)!r}, 'w').close()",
        "import time\ntime.sleep(60)",
    ), [], job()))
    assert wait_until(flag.exists)
    handle.cancel()
    result = handle.wait(10)
    assert result.status == "cancelled"
    assert result.error.kind == "cancelled"
    assert wait_until(lambda: gone(handle.pid))


def test_cancel_before_start_and_while_waiting(job):
    with LocalExecutor(preload=FAST_PRELOAD, max_parallel=1) as ex:
        first = ex.submit(RunSpec(notebook("import time\ntime.sleep(60)"), [], job()))
        first.cancel()  # most likely before the warm parent has even forked it
        queued = ex.submit(RunSpec(notebook("import time\ntime.sleep(60)"), [], job()))
        later = ex.submit(RunSpec(notebook("print('ran')"), [], job()))
        queued.cancel()
        assert first.wait(20).status == "cancelled"
        assert queued.wait(5).status == "cancelled"
        assert later.wait(20).status == "done"


def test_relative_job_dir(executor, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = executor.run(RunSpec(notebook("print('here')"), [], Path("jobs/relative")))
    assert result.status == "done", result.error
    assert result.job_dir == tmp_path / "jobs" / "relative"
    assert outputs(result, 0)[0]["text"] == "here\n"


def test_a_run_that_kills_itself_has_crashed(executor, job):
    result = executor.run(RunSpec(notebook(
        "import os, signal", "os.kill(os.getpid(), signal.SIGKILL)"), [], job()))
    assert result.status == "failed"
    assert result.error.kind == "crashed"
    assert "SIGKILL" in result.error.evalue


def test_missing_output_variable_is_a_bug(executor, job):
    result = executor.run(RunSpec(notebook("x = 1"), [OutputSpec("spectrum", None)], job()))
    assert result.status == "failed"
    assert result.error.kind == "bug"
    assert "spectrum" in result.error.evalue


# -- environment of a run -----------------------------------------------------------------


def test_source_folder_environment_and_preload(executor, job, tmp_path):
    source = tmp_path / "repo"
    (source / "data").mkdir(parents=True)
    (source / "data" / "catalog.txt").write_text("Crab\n")
    (source / "helpers.py").write_text("SOURCE = 'Crab'\n")
    result = executor.run(RunSpec(notebook(
        "import os, sys\nprint(open('data/catalog.txt').read().strip())",
        "import helpers\nprint(helpers.SOURCE)",
        "open('new.txt', 'w').write('scratch')\nprint(os.environ['TELESCOPE'])",
        "print(os.environ['ASTROFLOW_JOB_DIR'])",
        "print('wave' in sys.modules)",
    ), [], job(), source_dir=source, env={"TELESCOPE": "INTEGRAL"}, preload=("wave",)))
    assert result.status == "done", result.error
    texts = [outputs(result, i)[0]["text"].strip() for i in range(5)]
    assert texts == ["Crab", "Crab", "INTEGRAL", str(result.job_dir), "True"]
    assert not (source / "new.txt").exists()
    assert (result.job_dir / "work" / "new.txt").read_text() == "scratch"


def test_progress_reaches_the_caller_while_the_run_goes_on(executor, job, tmp_path):
    seen: list[Progress] = []
    heard = tmp_path / "heard"

    def on_progress(report: Progress) -> None:
        seen.append(report)
        if report.stage == "fit":
            heard.write_text("yes")

    result = executor.run(RunSpec(notebook(
        "import astroflow\n"
        "astroflow.progress('download', 0.1, 'fetching events')\n"
        "astroflow.progress('fit', 0.5, substage='model', subfraction=0.25, chi2=1.5)",
        # The run only ends once the caller has heard the second report.
        "import os, time\n"
        f"while not os.path.exists({str(heard)!r}):\n    time.sleep(0.01)\n"
        "astroflow.progress('done', 1.0)",
    ), [], job(), time_limit=15), on_progress)
    assert result.status == "done", result.error
    assert [(p.stage, p.fraction) for p in seen] == [("download", 0.1), ("fit", 0.5), ("done", 1.0)]
    assert seen[0].message == "fetching events"
    assert (seen[1].substage, seen[1].subfraction, seen[1].extra) == ("model", 0.25, {"chi2": 1.5})


def test_progress_outside_a_run_does_nothing():
    progress("stage", 0.5, "nothing listens")
    code = ("import sys; from astroflow.execution.progress import progress; progress('x', 0.1); "
            "assert 'IPython' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


# -- the process pool ---------------------------------------------------------------------


def test_parallel_runs_respect_max_parallel(executor, job):
    cell = "import time\nstart = time.time()\ntime.sleep(0.4)\nprint(start, time.time())"
    handles = [executor.submit(RunSpec(notebook(cell), [], job())) for _ in range(4)]
    results = [h.wait(30) for h in handles]
    assert all(r.status == "done" for r in results), [r.error for r in results]
    spans = [tuple(map(float, outputs(r, 0)[0]["text"].split())) for r in results]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 2


def test_executor_survives_its_warm_parent_dying(job, tmp_path):
    flag = tmp_path / "running"
    with LocalExecutor(preload=FAST_PRELOAD) as ex:
        first = ex.submit(RunSpec(notebook(
            f"open({str(flag)!r}, 'w').close()\nimport time\ntime.sleep(60)"), [], job()))
        assert wait_until(flag.exists)
        zygote_pid = ex.warm_parents()[()]
        os.kill(zygote_pid, signal.SIGKILL)
        result = first.wait(10)
        assert result.status == "failed" and result.error.kind == "crashed"
        assert wait_until(lambda: gone(first.pid))
        again = ex.run(RunSpec(notebook("print('again')"), [], job()))
        assert again.status == "done", again.error
        assert ex.warm_parents()[()] != zygote_pid


def test_close_cancels_what_is_still_going(job, tmp_path):
    flag = tmp_path / "running"
    ex = LocalExecutor(preload=FAST_PRELOAD, max_parallel=1)
    going = ex.submit(RunSpec(notebook(
        f"open({str(flag)!r}, 'w').close()\nimport time\ntime.sleep(60)"), [], job()))
    waiting = ex.submit(RunSpec(notebook("1"), [], job()))
    assert wait_until(flag.exists)
    ex.close()
    assert going.wait(10).status == "cancelled"
    assert waiting.wait(10).status == "cancelled"
    assert wait_until(lambda: gone(going.pid))


def test_warm_runs_are_fast(executor, job):
    spec = notebook("x = 1", "print(x)", "x + 1")
    executor.run(RunSpec(spec, [], job()))
    times = []
    for _ in range(20):
        began = time.perf_counter()
        result = executor.run(RunSpec(json.loads(json.dumps(spec)), [], job()))
        times.append(time.perf_counter() - began)
        assert result.status == "done"
    coordinates = []
    for _ in range(5):
        began = time.perf_counter()
        executor.run(RunSpec(notebook(
            "import astropy.coordinates as c, astropy.units as u",
            "c.SkyCoord(83.63 * u.deg, 22.01 * u.deg).galactic"), [], job()))
        coordinates.append(time.perf_counter() - began)
    print(f"\nmedian of 20 trivial warm runs: {statistics.median(times) * 1000:.1f} ms; "
          f"with astropy.coordinates: {statistics.median(coordinates) * 1000:.1f} ms")


# -- products and export ------------------------------------------------------------------


def _scalar(name: str, python_type: type) -> ClassInfo:
    return ClassInfo(uri=ODA + name, name=name, kind="parameter", python_type=python_type)


def test_outputs_become_products(executor, job):
    pytest.importorskip("astroflow.products", reason="products API not available")
    from astroflow.products import Product

    result = executor.run(RunSpec(notebook("flux = 1.5e-11", "source = 'Crab'"), [
        OutputSpec("flux", _scalar("Float", float), title="Flux", description="integral flux"),
        OutputSpec("source", _scalar("String", str)),
    ], job()))
    assert result.status == "done", result.error
    assert [type(p) for p in result.products] == [Product, Product]
    flux, source = result.products
    assert (flux.name, flux.type, flux.title, flux.description) == (
        "flux", "scalar", "Flux", "integral flux")
    assert (source.name, source.type) == ("source", "scalar")
    for product in result.products:  # a scalar's value is in its record, its file made later
        assert product.derived == ["json"] and "value" in product.meta
    stored = json.loads((result.job_dir / "result.json").read_text())
    assert [p["name"] for p in stored["products"]] == ["flux", "source"]
    # The run's record is result.json alone: no manifest, no spec, no empty log, no products/.
    left = sorted(p.name for p in result.job_dir.iterdir() if p.name != "work")  # scratch
    assert left == ["executed.ipynb", "result.json"]


def figure_cells(draws: Path) -> tuple[str, ...]:
    """Two figures, each noting its drawings in `draws`; the second changes after it was
    shown."""
    note = "lambda _e, name={!r}: open(" + repr(str(draws)) + ", 'a').write(name + '\\n')"
    return (
        "import matplotlib.pyplot as plt\n"
        "shown, ax = plt.subplots()\nax.plot([1, 10, 100], [3, 1, 2])\nax.set_yscale('log')\n"
        f"shown.canvas.mpl_connect('draw_event', {note.format('shown')});",
        "changed, ax2 = plt.subplots()\nax2.plot([0, 1])\n"
        f"changed.canvas.mpl_connect('draw_event', {note.format('changed')});",
        "ax2.set_title('changed after it was shown');",
        f"open({str(draws)!r}, 'a').write('cells-done\\n');",
    )


@pytest.mark.parametrize("magic", ["", "%matplotlib inline\n"])
def test_a_shown_figure_is_stored_as_shown_and_drawn_once(executor, job, magic, tmp_path):
    """The notebook's inline picture and the stored product are one drawing (the same
    bytes, drawn once); a figure changed after it was shown is drawn again for its product."""
    import base64

    from astroflow.ontology import Ontology

    picture = Ontology.default().resolve("oda:ODAPictureProduct")
    draws = tmp_path / "draws.txt"
    result = executor.run(RunSpec(notebook(magic.strip() or "pass", *figure_cells(draws)), [
        OutputSpec("shown", picture), OutputSpec("changed", picture)], job()))
    assert result.status == "done", result.error
    [shown_inline] = outputs(result, 1)
    [changed_inline] = outputs(result, 2)
    stored = {p.name: (result.job_dir / "products" / p.files["png"]).read_bytes()
              for p in result.products}
    assert base64.b64decode(shown_inline["data"]["image/png"]) == stored["shown"]
    assert base64.b64decode(changed_inline["data"]["image/png"]) != stored["changed"]
    during, after = draws.read_text().split("cells-done")
    assert "shown" in during and "changed" in during  # drawn to be shown
    # stored: the shown figure as it was drawn, the changed one drawn again
    assert "shown" not in after and "changed" in after


def test_figure_png_draws_an_unchanged_figure_once():
    import matplotlib

    matplotlib.use("agg")
    from matplotlib.figure import Figure

    from astroflow.products.pictures import figure_png

    figure = Figure()
    axes = figure.subplots()
    axes.plot([1, 2], [2, 1])
    draws = []
    figure.canvas.mpl_connect("draw_event", lambda _event: draws.append(1))
    first = figure_png(figure)
    drawn = len(draws)
    assert drawn >= 1 and figure_png(figure) is first and len(draws) == drawn
    axes.set_title("a change")
    assert figure_png(figure) != first and len(draws) > drawn


def test_unwritable_output_is_a_bug(executor, job):
    pytest.importorskip("astroflow.products", reason="products API not available")
    result = executor.run(RunSpec(notebook("flux = 'not a number'"), [
        OutputSpec("flux", _scalar("Float", float))], job()))
    assert result.status == "failed"
    assert result.error.kind == "bug"
    assert "flux" in result.error.evalue


def test_notebook_html(executor, job):
    result = executor.run(RunSpec(notebook("print('to the page')"), [], job()))
    page = notebook_html(result.notebook_path)
    assert page == result.notebook_path.with_suffix(".html")
    assert "to the page" in page.read_text()



LEAN_CELLS = [
    "x = 1.0\nn = 3", "y = x * n", "y", "y;", "print('hi')\nz = 5\nz",
    "def f():\n    return 1/0\nf()", "In[-1], _", "import sys\nsys.exit(3)",
    "from __future__ import annotations\ndef g(a: Undefined): pass\ng.__annotations__",
    "g.__annotations__", "1 +", "for i in range(2):\n    i",
    "from IPython.display import display\ndisplay({'a': 1}, raw=True)\n2",
    "raise ValueError('bad')", "%time w = 1", "q = !echo hi\nq",
]

COMPARE = """
import json, sys
from astroflow.execution.shell import CellOutputs, build_shell
cells = json.loads(sys.argv[1])
shell = build_shell()
def run(how):
    shell.execution_count = 1
    shell.user_ns["Out"].clear()
    seen = []
    for source in cells:
        outputs = []
        shell.cell = CellOutputs(outputs, {})
        result = how(source)
        error = result.error_in_exec or result.error_before_exec
        seen.append([result.execution_count, type(error).__name__ if error else None, outputs])
    return seen
full = run(lambda s: shell.run_cell(s, store_history=True))
lean = run(shell.run_notebook_cell)
print(json.dumps({"full": full, "lean": lean}, default=str))
"""


def test_plain_cells_take_a_shorter_road_to_the_same_outputs():
    """`run_notebook_cell` gives what `run_cell` gives: counts, errors, displays, tracebacks."""
    done = subprocess.run([sys.executable, "-c", COMPARE, json.dumps(LEAN_CELLS)],
                          capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(done.stdout.splitlines()[-1])
    for source, full, lean in zip(LEAN_CELLS, seen["full"], seen["lean"], strict=True):
        for run in (full, lean):  # %time prints its timing: not comparable text
            for output in run[2]:
                if output.get("name") == "stdout" and "Wall time" in output.get("text", ""):
                    output["text"] = "<timing>"
        assert lean == full, source
    assert seen["lean"][5][2][0]["traceback"][2].startswith("Cell In[6], line 3")


def test_runs_fork_from_a_warm_parent_holding_their_imports(job):
    """A run that imports nothing heavy forks from a small parent; one importing yaml from a
    parent that has it; past the limit the least recently used idle parent is retired."""
    probe = "import sys\nprint(sorted(m for m in ('yaml', 'packaging') if m in sys.modules))"
    with LocalExecutor(preload=FAST_PRELOAD, max_warm_parents=2) as ex:
        plain = ex.run(RunSpec(notebook(probe), [], job()))
        with_yaml = ex.run(RunSpec(notebook(probe), [], job(), preload=("yaml", "os")))
        assert outputs(plain, 0)[0]["text"] == "[]\n"
        assert outputs(with_yaml, 0)[0]["text"] == "['yaml']\n"
        assert set(ex.warm_parents()) == {(), ("yaml",)}
        ex.run(RunSpec(notebook(probe), [], job(), preload=("packaging.version",)))
        assert wait_until(lambda: set(ex.warm_parents()) == {("yaml",), ("packaging",)})


def test_a_workflow_preloads_what_its_own_modules_import(tmp_path):
    from astroflow.workflow import Workflow

    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("import yaml\nfrom . import inner\n")
    (tmp_path / "helpers" / "inner.py").write_text("from packaging.version import Version\n")
    nb = v4.new_notebook(cells=[v4.new_code_cell("x = 1  # oda:Integer",
                                                 metadata={"tags": ["parameters"]}),
                                v4.new_code_cell("import helpers\nimport json")])
    nbformat.write(nb, tmp_path / "flow.ipynb")
    imports = Workflow.from_path(tmp_path / "flow.ipynb").imports
    assert {"yaml", "packaging.version", "json"} <= set(imports)
    assert not {"helpers", "helpers.inner"} & set(imports)


def test_runs_waiting_in_a_dead_warm_parent_run_again(job, tmp_path):
    """With one slot the next run already waits inside the warm parent; if that parent dies
    the run going fails as crashed, and the waiting one runs in the new parent."""
    flag = tmp_path / "running"
    with LocalExecutor(preload=FAST_PRELOAD, max_parallel=1) as ex:
        first = ex.submit(RunSpec(notebook(
            f"open({str(flag)!r}, 'w').close()\nimport time\ntime.sleep(60)"), [], job()))
        second = ex.submit(RunSpec(notebook("print('second')"), [], job()))
        assert wait_until(flag.exists)
        os.kill(ex.warm_parents()[()], signal.SIGKILL)
        assert first.wait(10).error.kind == "crashed"
        result = second.wait(20)
        assert result.status == "done", result.error
        assert outputs(result, 0)[0]["text"] == "second\n"


def test_what_every_warm_parent_has_makes_no_profile_of_its_own():
    from astroflow.execution.local import warm_profile

    assert warm_profile(["IPython.display", "os.path", "astroflow", "json"]) == ()
    assert warm_profile(["numpy.linalg", "IPython", "astropy.io.fits", "numpy"]) == (
        "astropy", "numpy")


def test_an_abandoned_run_leaves_its_folder_to_the_new_owner(notebook, tmp_path):
    """A replica that lost its job to another stops its run without writing a result into
    the folder the new run uses (a "cancelled" result.json would overwrite the new one)."""
    from astroflow import Workflow
    from astroflow.execution import LocalExecutor

    path = notebook("seconds = 30.0", "import time\ntime.sleep(seconds)", "seconds")
    job_dir = tmp_path / "job"
    with LocalExecutor(max_parallel=1) as executor:
        handle = executor.submit(Workflow.from_path(path).run_spec({}, job_dir=job_dir))
        deadline = time.monotonic() + 20
        while handle.pid is None and time.monotonic() < deadline:
            time.sleep(0.02)
        (job_dir / "result.json").write_text('{"status": "done", "by": "the new owner"}')
        handle.abandon()
        result = handle.wait(10)
    assert result.status == "cancelled" and result.error.ename == "Abandoned"
    assert "the new owner" in (job_dir / "result.json").read_text()
