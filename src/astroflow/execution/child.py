"""What a forked run does, from ``fork()`` to ``os._exit``.

The warm parent calls `prepare` once (the IPython shell is built before any fork, so each run
inherits it) and `run_forked` in every child. The child isolates itself (own session so a kill
reaches its ``!cmd`` grandchildren, stdout/stderr into the job's log), runs the code cells,
writes the executed notebook after every cell, turns the declared outputs into products and
leaves ``result.json`` for the controller.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from astroflow.compat.oda_runtime import know_jfif, oda_context
from astroflow.execution.progress import FD_VARIABLE, JOB_VARIABLE, PID_VARIABLE
from astroflow.execution.protocol import (
    INLINE_BACKEND,
    LOG_FILE,
    NOTEBOOK_FILE,
    PRODUCTS_DIR,
    RESULT_FILE,
)
from astroflow.execution.sandbox.apply import enter_sandbox, prepare_sandbox
from astroflow.execution.sandbox.cgroups import RunGroup
from astroflow.execution.sandbox.limits import exception_reason
from astroflow.execution.sandbox.policy import format_size
from astroflow.execution.shell import CellOutputs, CellStream, NotebookShell, build_shell
from astroflow.execution.spec import ErrorKind, RunError, RunSpec
from astroflow.execution.workdir import clear_outputs, discard, scratch_dir, write_json
from astroflow.products.pictures import figure_png

_shell: NotebookShell | None = None
# Between cells the executed notebook is saved when a cell showed something, or when this
# long has passed: quiet, quick cells (parameters, imports) cost no write.
SAVE_INTERVAL = 0.25


def prepare() -> NotebookShell:
    """Build the shell once in the warm parent (and make figures inline) before any fork."""
    global _shell
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    _load_libc()
    if _shell is None:
        _shell = build_shell()
        prepare_sandbox()
        know_jfif()  # reads the system's mime.types once here, not in every oda_api run
    return _shell


def share_figure_rendering(shell: NotebookShell) -> None:
    """Inline figures are shown as their products are stored (PNG, dpi 100, tight box), so
    one drawing serves both (`pictures.figure_png`). matplotlib_inline registers its own
    formatter whenever pyplot makes a figure, and shows the cell's figures after it
    (``post_execute``); ours is put back first thing in that event, before they are shown."""
    if shell.display_formatter is None:
        return
    formatter = shell.display_formatter.formatters["image/png"]

    def ours() -> None:
        figure_module = sys.modules.get("matplotlib.figure")
        if figure_module is not None:
            formatter.for_type(figure_module.Figure, figure_png)

    ours()
    shell.events.callbacks["post_execute"].insert(0, ours)


def run_forked(spec_path: Path, job_id: str, progress_fd: int, parent_fds: tuple[int, ...],
               parent_pid: int, group: RunGroup | None = None) -> NoReturn:
    """Body of the forked child; never returns. ``group`` is the cgroup made for it."""
    started = time.perf_counter()
    code = 0
    try:
        _isolate(parent_fds, parent_pid)
        spec: RunSpec = pickle.loads(Path(spec_path).read_bytes())
        Path(spec_path).unlink(missing_ok=True)  # read once: not a result, nothing to keep
        job_dir = Path(spec.job_dir)
        _redirect_output(job_dir / LOG_FILE)
        enter_sandbox(spec.sandbox, job_dir, spec.source_dir, group)
        work = scratch_dir(job_dir, spec.source_dir)
        _enter(work, spec, job_id, progress_fd)
        shell = prepare()
        share_figure_rendering(shell)
        shell.user_ns["_dh"] = [work]
        with oda_context(work, spec.notebook, spec.env):  # oda_api's ProgressReporter, get_context
            # A server's run hides the server's folders; a local `astroflow run` (no sandbox)
            # shows its own user their paths as they are.
            paths = ServerPaths.of_run(work, spec) if spec.sandbox is not None else None
            outcome = NotebookRun(spec, shell, job_dir, paths).execute(work)
        if not spec.keep_scratch:
            os.chdir(job_dir)
            discard(work)  # here, beside the run, rather than in the server after it
            discard(job_dir / "tmp")  # its temporary files, when /tmp was not its own
        outcome["duration"] = time.perf_counter() - started
        write_json(job_dir / RESULT_FILE, outcome)
    except BaseException as exc:  # noqa: BLE001 - a child must always leave a result
        code = 1
        _report_crash(spec_path, exc, time.perf_counter() - started)
    finally:
        _flush()
        _drop_empty_log(spec_path)
        os._exit(code)


def _drop_empty_log(spec_path: Path) -> None:
    """A run that printed nothing leaves no log file (the log route reads none as empty)."""
    log = Path(spec_path).parent / LOG_FILE
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:
            log.unlink()


def _isolate(parent_fds: tuple[int, ...], parent_pid: int) -> None:
    """Own session and process group, no inherited control pipes, default signals, and a
    /proc entry of its own again (the warm parent hides its own from runs)."""
    os.setsid()
    _die_with_parent(parent_pid)
    if _libc:
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd in parent_fds:
        with contextlib.suppress(OSError):
            os.close(fd)


_libc: Any = None  # ctypes.CDLL once loaded, False when it cannot be
PR_SET_DUMPABLE = 4


def _load_libc() -> None:
    """Load libc once in the warm parent, so each run's prctl costs a call, not a dlopen."""
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False  # tried: no C library here


def _die_with_parent(parent_pid: int) -> None:
    """Linux: if the warm parent dies, the kernel kills this run too."""
    _load_libc()
    if not _libc:
        return
    pr_set_pdeathsig = 1
    _libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _redirect_output(log: Path) -> None:
    """fd 1 and 2 into the job's log, so nothing a subprocess prints reaches the controller."""
    log.parent.mkdir(parents=True, exist_ok=True)
    _flush()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.reconfigure(line_buffering=True)


def _enter(work: Path, spec: RunSpec, job_id: str, progress_fd: int) -> None:
    """Working directory, import path and environment of the run."""
    os.chdir(work)
    paths = [str(work)]
    if spec.source_dir is not None:
        paths.insert(0, str(Path(spec.source_dir).resolve()))
    sys.path[:0] = paths
    sys.argv = [""]
    # The server's own credentials never reach a notebook; a caller's token arrives only
    # through spec.env, for workflows that declare token access.
    for secret in ("ASTROFLOW_TOKEN", "ODA_TOKEN", "ASTROFLOW_JWT_SECRET", "ASTROFLOW_JWT_PRIVATE_KEY"):
        os.environ.pop(secret, None)
    os.environ.update({
        FD_VARIABLE: str(progress_fd),
        PID_VARIABLE: str(os.getpid()),
        JOB_VARIABLE: job_id,
        "ASTROFLOW_JOB_DIR": str(Path(spec.job_dir).resolve()),
    })
    os.environ.update({str(k): str(v) for k, v in spec.env.items()})


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _report_crash(spec_path: Path, exc: BaseException, duration: float) -> None:
    """Leave a result saying the runner itself failed, if the job folder is reachable."""
    text = "".join(traceback.format_exception(exc))
    print(text, file=sys.__stderr__)
    error = RunError("crashed", type(exc).__name__, f"the run failed outside the notebook: {exc}",
                     text, None)
    with contextlib.suppress(OSError):
        write_json(Path(spec_path).parent / RESULT_FILE,
                   {"status": "failed", "error": error.to_dict(), "products": [],
                    "duration": duration})


def is_analysis_error(exc: BaseException) -> bool:
    """An ``AnalysisError`` from astroflow or any class of that name (MMODA notebooks)."""
    return any(cls.__name__ == "AnalysisError" for cls in type(exc).__mro__)


class NotebookRun:
    """Runs the code cells of one notebook in the shell and collects its products."""

    def __init__(self, spec: RunSpec, shell: NotebookShell, job_dir: Path,
                 paths: ServerPaths | None = None) -> None:
        self.spec = spec
        self.shell = shell
        self.job_dir = job_dir
        self.notebook = spec.notebook
        self.paths = paths or ServerPaths(())
        self._saved_at = time.monotonic()

    def execute(self, work: Path) -> dict[str, Any]:
        error = self._run_cells()
        products: list[dict[str, Any]] = []
        if error is None:
            products, error = self._write_products(work)
        if error is None:
            error = self._check_output()
        return {"status": "done" if error is None else "failed",
                "error": None if error is None else self.paths.hide_in(error.to_dict()),
                "products": products}

    def _run_cells(self) -> RunError | None:
        shell = self.shell
        cells = clear_outputs(self.notebook).get("cells", [])
        display_ids: dict[str, list[dict]] = {}
        # No save yet: if the run is killed before anything worth keeping, the executor
        # writes the notebook as it stood at the start.
        saved = sys.stdout, sys.stderr
        sys.stdout = CellStream(shell, "stdout", sys.__stdout__)
        sys.stderr = CellStream(shell, "stderr", sys.__stderr__)
        try:
            for index, cell in enumerate(cells):
                if cell.get("cell_type") != "code":
                    continue
                source = _source(cell)
                if not source.strip():
                    continue
                shell.cell = CellOutputs(cell["outputs"], display_ids)
                result = shell.run_notebook_cell(source, cell_id=cell.get("id"))
                cell["execution_count"] = result.execution_count
                exc = result.error_before_exec or result.error_in_exec
                if exc is not None:
                    return self._error(exc, cell, index)
                last = index == len(cells) - 1  # the final save follows at once
                if not last and (cell["outputs"] or time.monotonic() - self._saved_at >= SAVE_INTERVAL):
                    self._save_notebook()  # something worth keeping should the run be killed
        finally:
            shell.cell = None
            sys.stdout, sys.stderr = saved
            self._save_notebook()
        return None

    def _error(self, exc: BaseException, cell: dict[str, Any], index: int) -> RunError:
        shown = [out for out in cell["outputs"] if out["output_type"] == "error"]
        if shown:
            text = "\n".join(shown[-1]["traceback"])
        else:
            text = "".join(traceback.format_exception(exc))
        limit = exception_reason(exc, self.spec.sandbox.limits) if self.spec.sandbox else None
        if limit is not None:
            return RunError(limit[0], type(exc).__name__, limit[1], text, index)
        kind: ErrorKind = "analysis" if is_analysis_error(exc) else "bug"
        return RunError(kind, type(exc).__name__, str(exc), text, index)

    def _check_output(self) -> RunError | None:
        """The job folder as a whole within the output limit (each file is held to it as
        it is written, by RLIMIT_FSIZE)."""
        limit = self.spec.sandbox.limits.output if self.spec.sandbox else None
        if limit is None:
            return None
        size = _folder_size(self.job_dir)
        if size <= limit:
            return None
        return RunError("output_limit", "OutputLimitExceeded",
                        f"output limit exceeded: the run wrote {format_size(size)}, more than "
                        f"the {format_size(limit)} allowed")

    def _write_products(self, work: Path) -> tuple[list[dict[str, Any]], RunError | None]:
        """Each declared output through the products API; their records (the manifest
        entries) go into ``result.json``, the one record of the run kept in its folder.

        An output that is ``None`` is left out: MMODA notebooks set optional products to
        ``None`` when they are not made, and nb2workflow serves them without those.
        """
        from astroflow.products import ProductError, manifest_entries, write_product

        namespace = self.shell.user_ns
        folder = self.job_dir / PRODUCTS_DIR
        written = []
        reserved: set[str] = set()  # file names taken, formats made later included
        folder.mkdir(exist_ok=True)
        try:
            for output in self.spec.outputs:
                if output.name not in namespace:
                    return [], RunError("bug", "NameError",
                                        f"output {output.name!r} is not defined by the notebook")
                value = namespace[output.name]
                if value is None:
                    continue  # an optional product not made: left out, as nb2workflow does
                parts = _product_list(value)
                for suffix, part in parts or [("", value)]:
                    written.append(write_product(output.name + suffix, part, folder,
                                                 output.ontology, title=output.title,
                                                 description=output.description, cwd=work,
                                                 reserved=reserved))
            entries = manifest_entries(written)
        except ProductError as exc:
            return [], RunError("bug", type(exc).__name__, str(exc))
        except Exception as exc:  # noqa: BLE001 - a product that fails is the run's bug
            return [], RunError("bug", type(exc).__name__,
                                f"outputs could not be written: {exc}",
                                "".join(traceback.format_exception(exc)))
        _drop_if_empty(folder)
        return entries, None

    def _save_notebook(self) -> None:
        """The executed notebook as it stands, so a killed run leaves what ran."""
        self.paths.hide_in_outputs(self.notebook)
        write_json(self.job_dir / NOTEBOOK_FILE, self.notebook)
        self._saved_at = time.monotonic()


def _drop_if_empty(folder: Path) -> None:
    """No stored product file (one scalar, say): no ``products/`` folder either."""
    with contextlib.suppress(OSError):
        folder.rmdir()


def _product_list(value: Any) -> list[tuple[str, Any]] | None:
    """``[("_0", p0), ("_1", p1), ...]`` for a list of oda_api products, else None.

    MMODA's nb2workflow plugin makes one product of each element of such an output
    (``NB2WProduct._init_as_list``); here each becomes ``<output>_<i>``."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    if not all(type(v).__module__.startswith("oda_api") for v in value):
        return None
    return [(f"_{i}", v) for i, v in enumerate(value)]


class ServerPaths:
    """The server's own folders, as they must not appear in what a run returns.

    A notebook's printouts and errors name files by absolute path (``os.path.abspath``, a
    ``FileNotFoundError``): the run's folder becomes ``.``, the job's folder and the data and
    cache folders their variable's name, the Python installation ``<python>``. Applied to the
    error a run reports and to the text outputs of the executed notebook (never to products:
    those are the notebook's data).
    """

    def __init__(self, pairs: Any) -> None:
        # Longest first: the run's folder lies inside the job's, which lies in the data's.
        self.pairs = sorted({(str(p), r) for p, r in pairs if len(str(p)) > 4},
                            key=lambda pr: -len(pr[0]))

    @classmethod
    def of_run(cls, work: Path, spec: RunSpec) -> ServerPaths:
        import site
        import sysconfig

        pairs: list[tuple[Any, str]] = []

        def add(path: Any, shown: str) -> None:
            if path:
                pairs.append((Path(path), shown))
                with contextlib.suppress(OSError):
                    pairs.append((Path(path).resolve(), shown))

        add(work, ".")
        if spec.source_dir is not None:
            add(spec.source_dir, ".")  # its files are linked into the run's folder
        add(spec.job_dir, "$ASTROFLOW_JOB_DIR")
        for variable in ("ASTROFLOW_CACHE_DIR", "ASTROFLOW_DATA_DIR"):
            add(os.environ.get(variable), "$" + variable)
        for folder in {*site.getsitepackages(), sysconfig.get_path("purelib")}:
            add(folder, "<site-packages>")
        if sys.prefix not in ("/", "/usr", "/usr/local"):
            add(sys.prefix, "<python>")
        return cls(pairs)

    def hide(self, text: str) -> str:
        for path, shown in self.pairs:
            if path in text:
                text = text.replace(path, shown)
        return text

    def hide_in(self, value: Any) -> Any:
        """``value`` with every string in it (in lists and dicts) hidden."""
        if isinstance(value, str):
            return self.hide(value)
        if isinstance(value, list):
            return [self.hide_in(v) for v in value]
        if isinstance(value, dict):
            return {k: self.hide_in(v) for k, v in value.items()}
        return value

    def hide_in_outputs(self, notebook: dict[str, Any]) -> None:
        """Hide the paths in the text outputs of ``notebook``'s cells, in place (pictures
        and other binary data are left alone)."""
        if not self.pairs:
            return
        for cell in notebook.get("cells", []):
            for out in cell.get("outputs", ()):
                for key in ("text", "evalue", "traceback"):
                    if key in out:
                        out[key] = self.hide_in(out[key])
                data = out.get("data")
                if isinstance(data, dict):
                    for mime, content in data.items():
                        if mime.startswith("text/") or mime.endswith("json"):
                            data[mime] = self.hide_in(content)


def _folder_size(folder: Path) -> int:
    total = 0
    stack = [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)
