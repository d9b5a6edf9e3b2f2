"""An IPython shell that records what each cell shows as nbformat outputs.

Notebooks rely on IPython semantics (magics, ``!cmd``, ``display()``, the value of the last
expression, inline matplotlib), so cells run through `InteractiveShell.run_cell`; only the
places where IPython would print to a terminal are redirected into the cell's output list.
The warm parent builds one shell before it forks, so every run inherits it ready-made.
"""

from __future__ import annotations

import ast
import base64
import codecs
import io
import os
import re
import shutil
import subprocess
import sys
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult, InteractiveShell
from IPython.utils.text import LSString, SList
from traitlets import Type
from traitlets.config import Config

_TEXT_MIMES = ("text/", "application/javascript", "image/svg+xml")

# Anything IPython would rewrite before Python sees it: magics, ``!cmd``, ``x = !cmd``,
# ``obj?`` help, pasted prompts. A cell with none of these is plain Python.
_IPYTHON_SYNTAX = re.compile(r"^\s*(?:[%!?]|>>>|\.\.\.|In \[)|=\s*[%!]|\?\s*$", re.MULTILINE)


def _json_data(data: dict[str, Any]) -> dict[str, Any]:
    """Mime bundle as nbformat stores it: binary payloads base64-encoded."""
    clean: dict[str, Any] = {}
    for mime, value in data.items():
        if isinstance(value, bytes | bytearray):
            if mime.startswith(_TEXT_MIMES):
                value = bytes(value).decode("utf-8", "replace")
            else:
                value = base64.b64encode(value).decode("ascii")
        clean[mime] = value
    return clean


class CellOutputs:
    """The output list of the cell being run, filled the way Jupyter fills it."""

    def __init__(self, outputs: list[dict[str, Any]], display_ids: dict[str, list[dict]]) -> None:
        self.outputs = outputs
        self._display_ids = display_ids
        self._clear_pending = False

    def _add(self, output: dict[str, Any]) -> dict[str, Any]:
        if self._clear_pending:
            self.outputs.clear()
            self._clear_pending = False
        self.outputs.append(output)
        return output

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.outputs[-1] if self.outputs and not self._clear_pending else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self._add({"output_type": "stream", "name": name, "text": text})

    def display(self, data: dict, metadata: dict | None, transient: dict | None,
                update: bool) -> None:
        display_id = (transient or {}).get("display_id")
        bundle = {"data": _json_data(data), "metadata": metadata or {}}
        if update and display_id is not None:
            for output in self._display_ids.get(display_id, []):
                output.update(bundle)
            return
        output = self._add({"output_type": "display_data", **bundle})
        if display_id is not None:
            self._display_ids.setdefault(display_id, []).append(output)

    def result(self, count: int, data: dict, metadata: dict | None) -> None:
        self._add({"output_type": "execute_result", "execution_count": count,
                   "data": _json_data(data), "metadata": metadata or {}})

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        self._add({"output_type": "error", "ename": ename, "evalue": evalue,
                   "traceback": traceback})

    def clear(self, wait: bool) -> None:
        if wait:
            self._clear_pending = True
        else:
            self.outputs.clear()


class CellStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` during a run: into the cell, and on to the run's log."""

    def __init__(self, shell: NotebookShell, name: str, log: io.TextIOBase | None) -> None:
        self._shell = shell
        self.name = name
        self._log = log

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        cell = self._shell.cell
        if cell is not None:
            cell.stream(self.name, text)
        if self._log is not None:
            self._log.write(text)
        return len(text)

    def flush(self) -> None:
        if self._log is not None:
            self._log.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        """The run's log: code that hands ``sys.stdout`` to a subprocess writes there."""
        if self._log is None:
            raise io.UnsupportedOperation("fileno")
        return self._log.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # fixed: the log is written as UTF-8
        return "utf-8"


class CellDisplayHook(DisplayHook):
    """The value of a cell's last expression becomes its ``execute_result``."""

    def write_output_prompt(self) -> None:
        """No ``Out[n]:`` prompt: the result goes into the notebook, not onto a terminal."""

    def write_format_data(self, format_dict: dict, md_dict: dict | None = None) -> None:
        cell = self.shell.cell if self.shell is not None else None
        if cell is not None:
            cell.result(self.prompt_count, format_dict, md_dict)

    def finish_displayhook(self) -> None:
        self._is_active = False


class CellDisplayPublisher(DisplayPublisher):
    """``display(...)`` and inline figures become ``display_data`` outputs."""

    def publish(self, data: dict, metadata: dict | None = None, source: Any = None, *,
                transient: dict | None = None, update: bool = False, **kwargs: Any) -> None:
        self._validate_data(data, metadata)
        cell = self.shell.cell
        if cell is not None:
            cell.display(data, metadata, transient, update)

    def clear_output(self, wait: bool = False) -> None:
        cell = self.shell.cell
        if cell is not None:
            cell.clear(wait)


class NotebookShell(InteractiveShell):
    """InteractiveShell whose terminal-facing parts write nbformat outputs instead."""

    displayhook_class = Type(CellDisplayHook)
    display_pub_class = Type(CellDisplayPublisher)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell: CellOutputs | None = None

    def run_notebook_cell(self, source: str, cell_id: str | None = None) -> ExecutionResult:
        """Run one notebook cell as ``run_cell(source, store_history=True)`` does.

        Plain-Python cells (most of them) take a shorter road with the same observable
        steps: execution count, input history, the four events, the ``In``/``Out`` names,
        the last expression's display, tracebacks. In a freshly forked run every object
        IPython's full machinery touches costs a copied memory page, so this halves the cost
        of a short cell. Anything else (magics, ``!cmd``, top-level ``await``, syntax errors,
        AST transformers) goes through `run_cell` itself.
        """
        if (_IPYTHON_SYNTAX.search(source) or source[:1].isspace() or self.ast_transformers
                or self.trio_runner):
            return self.run_cell(source, store_history=True, cell_id=cell_id)
        count = self.execution_count
        steps = self._compile_plain(source, count)
        if steps is None:  # IPython reports the syntax error (or runs top-level await)
            return self.run_cell(source, store_history=True, cell_id=cell_id)
        info = ExecutionInfo(source, True, False, True, cell_id, None, transformed_cell=source)
        result = ExecutionResult(info)
        result.execution_count = count
        self.execution_count += 1
        try:
            self.events.trigger("pre_execute")
            self.events.trigger("pre_run_cell", info)
            if self.history_manager is not None:
                self.history_manager.store_inputs(count, source, source)
            with self.builtin_trap, self.display_trap:
                self.displayhook.exec_result = result
                try:
                    self._exec_steps(steps, result)
                finally:
                    self.displayhook.exec_result = None
            self.last_execution_succeeded = result.error_in_exec is None
            self.last_execution_result = result
        finally:
            self.events.trigger("post_execute")
            self.events.trigger("post_run_cell", result)
        return result

    def _compile_plain(self, source: str, count: int) -> list[Any] | None:
        """The cell as code objects: all but a final expression, then that expression in
        ``single`` mode so that the display hook shows its value; None if it does not compile."""
        try:
            body = ast.parse(source).body
            last = body.pop() if body and isinstance(body[-1], ast.Expr) else None
            name = self.compile.cache(source, count, raw_code=source)
            steps = [self.compile(ast.Module(body, []), name, "exec")]
            if last is not None:
                steps.append(self.compile(ast.Interactive([last]), name, "single"))
        except (SyntaxError, ValueError, OverflowError, MemoryError):
            return None
        return steps

    def _exec_steps(self, steps: list[Any], result: ExecutionResult) -> None:
        """Execute compiled parts of a cell as `run_code` does, stopping at the first error."""
        saved_hook, sys.excepthook = sys.excepthook, self.excepthook
        self.sys_excepthook = saved_hook
        try:
            for code in steps:
                exec(code, self.user_global_ns, self.user_ns)
        except SystemExit as exc:
            result.error_in_exec = exc
            self.showtraceback(exception_only=True)
        except BaseException as exc:  # noqa: BLE001 - as IPython: the cell's error is its output
            result.error_in_exec = exc
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # not this frame
            self.showtraceback((type(exc), exc, tb), running_compiled_code=True)
        finally:
            sys.excepthook = saved_hook

    def _showtraceback(self, etype: type, evalue: BaseException, stb: list[str]) -> None:
        text = self.InteractiveTB.stb2text(stb)
        if self.cell is not None:
            self.cell.error(etype.__name__, str(evalue), list(stb))
        print(text, file=sys.__stderr__, flush=True)

    def enable_gui(self, gui: str | None = None) -> None:
        """A batch run has no event loop: only inline figures make sense."""
        if gui not in (None, "inline"):
            raise UsageError(f"GUI event loop {gui!r} is not available when a notebook runs "
                             "as a job; use `%matplotlib inline`")

    def system(self, cmd: str) -> None:
        """``!cmd``: output goes into the cell as it comes.

        Unlike IPython's pexpect version, the command stays in the run's process group, so
        killing the run kills the command too.
        """
        if cmd.rstrip().endswith("&"):
            raise OSError("Background processes not supported.")
        command = self.var_expand(cmd, depth=1)
        with subprocess.Popen(command, shell=True, executable=_shell_program(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) as process:
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            stdout = process.stdout
            assert isinstance(stdout, io.BufferedReader)  # a pipe opened in binary mode
            while chunk := stdout.read1(65536):
                sys.stdout.write(decoder.decode(chunk))
            sys.stdout.write(decoder.decode(b"", final=True))
            code = process.wait()
        self.user_ns["_exit_code"] = code
        if self.system_raise_on_error and code != 0:
            raise subprocess.CalledProcessError(code, cmd)

    def getoutput(self, cmd: str, split: bool = True, depth: int = 0) -> SList | LSString:
        """``x = !cmd``: the output as IPython's string list, from the same process group."""
        if cmd.rstrip().endswith("&"):
            raise OSError("Background processes not supported.")
        command = self.var_expand(cmd, depth=depth + 1)
        done = subprocess.run(command, shell=True, executable=_shell_program(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        self.user_ns["_exit_code"] = done.returncode
        if self.system_raise_on_error and done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, cmd)
        out = done.stdout.decode("utf-8", "replace")
        return SList(out.splitlines()) if split else LSString(out)


def _shell_program() -> str:
    """The user's shell, as IPython uses for ``!cmd``; ``/bin/sh`` if it cannot be found."""
    return shutil.which(os.environ.get("SHELL", "sh")) or "/bin/sh"


def build_shell() -> NotebookShell:
    """The process-wide shell: no history database (no thread, no file), no colours."""
    config = Config()
    config.HistoryManager.enabled = False
    config.HistoryManager.hist_file = ":memory:"
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Context"
    config.InteractiveShell.autocall = 0
    config.InteractiveShell.cache_size = 1000
    shell = NotebookShell.instance(config=config)
    _warm_up(shell)
    return shell


def _warm_up(shell: NotebookShell) -> None:
    """Run one throwaway cell so each run does not pay IPython's first-cell setup again.

    It halves the cost of a trivial run; the traces it leaves are wiped so that the first
    real cell still sees a fresh namespace with ``execution_count`` 1.
    """
    name = "_astroflow_warm_up"
    shell.run_cell(f"{name} = 0\n{name}", store_history=False)
    namespace = shell.user_ns
    for key in (name, f"_{shell.execution_count - 1}"):
        namespace.pop(key, None)
    namespace["_oh"].clear()
    for key in ("_", "__", "___"):
        setattr(shell.displayhook, key, "")
        namespace[key] = ""
