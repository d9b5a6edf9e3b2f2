"""An IPython shell that records what each cell shows as nbformat outputs.

Notebooks rely on IPython semantics (magics, ``!cmd``, ``display()``, the value of the last
expression, inline matplotlib), so cells run through `InteractiveShell.run_cell`; only the
places where IPython would print to a terminal are redirected into the cell's output list.
The warm parent builds one shell before it forks, so every run inherits it ready-made.
"""

from __future__ import annotations

import base64
import codecs
import io
import os
import shutil
import subprocess
import sys
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.text import LSString, SList
from traitlets import Type
from traitlets.config import Config

_TEXT_MIMES = ("text/", "application/javascript", "image/svg+xml")


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
    def encoding(self) -> str:
        return "utf-8"


class CellDisplayHook(DisplayHook):
    """The value of a cell's last expression becomes its ``execute_result``."""

    def write_output_prompt(self) -> None:
        """No ``Out[n]:`` prompt: the result goes into the notebook, not onto a terminal."""

    def write_format_data(self, format_dict: dict, md_dict: dict | None = None) -> None:
        cell = self.shell.cell
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
            assert process.stdout is not None
            while chunk := process.stdout.read1(65536):
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
