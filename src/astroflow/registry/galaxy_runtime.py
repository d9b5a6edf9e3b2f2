"""Runtime of the Galaxy tools astroflow writes: Galaxy's inputs JSON in, product files out.

This file is copied next to every generated script as ``_astroflow_galaxy.py`` and imported by
it, so a Galaxy job needs only the workflow's own requirements, never astroflow itself (it is
not a conda package). It imports only the standard library at import time; astropy,
numpy and matplotlib are imported when an output needs them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DATASETS_DIR = "datasets"   # where the tool's command links input datasets under typed names
TRUE_WORDS = {"true", "yes", "1", "on"}
FALSE_WORDS = {"false", "no", "0", "off", ""}


class InputError(ValueError):
    """A value in the inputs JSON that the declared parameter cannot take."""


# -- starting the script ---------------------------------------------------------------------

def begin(argv: list[str]) -> tuple[Path, Path]:
    """(inputs JSON, output folder) from ``script.py INPUTS_JSON [OUTPUT_DIR]``.

    Also makes plotting headless and error reports readable: Galaxy shows stderr to the user.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.excepthook = _report_error
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write(f"usage: {Path(argv[0]).name} INPUTS_JSON [OUTPUT_DIR]\n")
        raise SystemExit(2)
    out = Path(argv[2]) if len(argv) > 2 else Path("outputs")
    out.mkdir(parents=True, exist_ok=True)
    return Path(argv[1]), out


def _report_error(kind: type[BaseException], error: BaseException, trace: Any) -> None:
    """An analysis that says no is a message, not a traceback; anything else keeps its trace."""
    if kind.__name__ in ("AnalysisError", "InputError"):
        sys.stderr.write(f"{kind.__name__}: {error}\n")
        return
    sys.__excepthook__(kind, error, trace)


def install_astroflow_shim() -> None:
    """Provide the two names notebooks use from astroflow (``progress``, ``AnalysisError``).

    Installed in place of any real astroflow so the tool behaves the same on every Galaxy
    server: progress reports go to stderr, analysis errors end the job with their message.
    """
    module = types.ModuleType("astroflow")

    class AnalysisError(Exception):
        """The analysis cannot give a result for these inputs."""

    def progress(stage: str | None = None, fraction: float | None = None,
                 message: str | None = None, **extra: Any) -> None:
        parts = [p for p in (stage, None if fraction is None else f"{100 * fraction:.0f}%",
                             message) if p]
        if parts:
            sys.stderr.write("progress: " + " ".join(str(p) for p in parts) + "\n")

    module.AnalysisError = AnalysisError  # type: ignore[attr-defined]
    module.progress = progress  # type: ignore[attr-defined]
    module.__version__ = "galaxy"  # type: ignore[attr-defined]
    sys.modules["astroflow"] = module


def start_ipython(namespace: dict[str, Any]) -> None:
    """An IPython shell whose namespace is the script's, for cells that use magics.

    Magics such as ``%time x = f()`` then define ``x`` where the rest of the script sees it.
    """
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.instance(user_ns=namespace)


def display(*values: Any, **_: Any) -> None:
    """``display()`` outside a notebook: the text form goes to the job's stdout."""
    for value in values:
        print(value)


# -- inputs ----------------------------------------------------------------------------------

def read_inputs(path: str | Path, parameters: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Values of the declared parameters only, converted to their declared types.

    ``parameters`` maps each name to its spec: ``type`` (float, int, bool, str, list, dict),
    ``default``, ``optional``, ``enum``, ``minimum``, ``maximum``, ``section`` (the Galaxy
    section holding it) and ``data`` (a dataset input). A name missing from the JSON keeps its
    notebook default; anything else in the JSON is ignored.
    """
    document = json.loads(Path(path).read_text())
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, spec in parameters.items():
        scope = document
        if spec.get("section"):
            scope = document.get(spec["section"]) or {}
        if name not in scope:
            values[name] = spec.get("default")
            continue
        try:
            value = convert(scope[name], spec)
            if spec.get("data") and isinstance(value, str) and value:
                value = dataset_path(name, value)
            values[name] = value
        except InputError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise InputError("; ".join(problems))
    return values


def convert(value: Any, spec: Mapping[str, Any]) -> Any:
    """One JSON value as the declared type, with the declared limits and allowed values."""
    kind = spec.get("type", "str")
    if isinstance(value, Mapping) and spec.get("data"):
        value = value.get("path")  # richer data_style: keep the path
    if value is None or (value == "" and kind != "str"):
        if spec.get("default") == "":
            return ""
        if spec.get("optional"):
            return None
        raise InputError("a value is required")
    converted = _as_type(value, kind)
    allowed = spec.get("enum")
    if allowed is not None and converted not in allowed:
        raise InputError(f"{converted!r} is not one of {list(allowed)}")
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is not None and converted < low:
        raise InputError(f"{converted!r} is below the lower limit {low}")
    if high is not None and converted > high:
        raise InputError(f"{converted!r} is above the upper limit {high}")
    return converted


def _as_type(value: Any, kind: str) -> Any:
    try:
        if kind == "float":
            if isinstance(value, bool):
                raise InputError(f"expected a number, got {value!r}")
            number = float(value)
            if math.isnan(number):
                raise InputError("NaN is not a number the workflow can use")
            return number
        if kind == "int":
            if isinstance(value, bool):
                raise InputError(f"expected an integer, got {value!r}")
            if isinstance(value, float):
                if not value.is_integer():
                    raise InputError(f"expected an integer, got {value!r}")
                return int(value)
            return int(str(value).strip())
        if kind == "bool":
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise InputError(f"expected true or false, got {value!r}")
        if kind in ("list", "dict"):
            parsed = json.loads(value) if isinstance(value, str) else value
            wanted = list if kind == "list" else dict
            if not isinstance(parsed, wanted):
                raise InputError(f"expected a JSON {'array' if kind == 'list' else 'object'}")
            return parsed
        return value if isinstance(value, str) else str(value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read {value!r} as {kind}") from None


def dataset_path(name: str, path: str) -> str:
    """The link the tool's command made for an input dataset, else its plain path.

    Galaxy stores datasets as ``dataset_N.dat``; readers that choose a format by file
    suffix (``Table.read``) need the link ``datasets/<name>/<dataset name>`` instead.
    """
    folder = Path(DATASETS_DIR) / name
    links = sorted(folder.iterdir()) if folder.is_dir() else []
    return str(links[0]) if len(links) == 1 else path


# -- outputs ---------------------------------------------------------------------------------

def write_outputs(namespace: Mapping[str, Any], outputs: list[Mapping[str, Any]],
                  outdir: str | Path) -> list[Path]:
    """Write each declared output to the file the tool XML collects.

    ``outputs`` lists ``name``, ``file`` (relative to ``outdir``) and ``writer``: table, image
    (FITS), picture (PNG), json, text, file (copy or bytes) or auto (decided by the value).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in outputs:
        name = spec["name"]
        if name not in namespace:
            raise NameError(f"the notebook did not define its output {name!r}")
        target = outdir / spec["file"]
        WRITERS[spec["writer"]](namespace[name], target)
        written.append(target)
    return written


def write_table(value: Any, target: Path) -> None:
    """A FITS binary table: units, descriptions and metadata survive, unlike CSV."""
    if hasattr(value, "write_fits_file"):  # oda_api products know how to write themselves
        value.write_fits_file(str(target))
        return
    table = as_table(value)
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)  # long metadata keys become HIERARCH cards
        table.write(target, format="fits", overwrite=True)


def as_table(value: Any) -> Any:
    from astropy.table import Table

    if isinstance(value, Table):
        return value
    inner = getattr(value, "table", None)  # oda_api ODAAstropyTable
    if isinstance(inner, Table):
        return inner
    if type(value).__name__ == "DataFrame":
        return Table.from_pandas(value)
    if isinstance(value, (str, Path)) and Path(value).is_file():
        return Table.read(value)
    if isinstance(value, list) and value and all(isinstance(row, Mapping) for row in value):
        return Table(rows=value)
    return Table(value)


def write_image(value: Any, target: Path) -> None:
    """A FITS image; an array, an HDU, an HDU list, CCDData or a FITS file the notebook wrote."""
    if hasattr(value, "write_fits_file"):
        value.write_fits_file(str(target))
        return
    if isinstance(value, (str, Path)) and Path(value).is_file():
        shutil.copyfile(value, target)
        return
    from astropy.io import fits

    if isinstance(value, fits.HDUList):
        value.writeto(target, overwrite=True)
        return
    if isinstance(value, fits.PrimaryHDU):
        fits.HDUList([value]).writeto(target, overwrite=True)
        return
    if isinstance(value, fits.ImageHDU):
        fits.HDUList([fits.PrimaryHDU(), value]).writeto(target, overwrite=True)
        return
    if hasattr(value, "to_hdu"):  # CCDData
        value.to_hdu().writeto(target, overwrite=True)
        return
    import numpy as np

    header = fits.Header()
    unit = getattr(value, "unit", None)
    if unit is not None and hasattr(value, "value"):
        header["BUNIT"] = str(unit)
        value = value.value
    fits.PrimaryHDU(np.asarray(value), header=header).writeto(target, overwrite=True)


def write_picture(value: Any, target: Path) -> None:
    """A PNG: a matplotlib figure, a PIL image, PNG bytes or a picture file the notebook wrote."""
    if hasattr(value, "savefig"):
        value.savefig(target, format="png", dpi=100, bbox_inches="tight")
        return
    if hasattr(value, "write_file"):  # oda_api PictureProduct
        value.write_file(str(target))
        return
    if isinstance(value, (bytes, bytearray)):
        target.write_bytes(bytes(value))
        return
    if isinstance(value, (str, Path)) and Path(value).is_file():
        shutil.copyfile(value, target)
        return
    if hasattr(value, "save"):  # PIL
        value.save(target, format="PNG")
        return
    figure = getattr(value, "figure", None) or getattr(value, "get_figure", lambda: None)()
    if figure is not None and hasattr(figure, "savefig"):  # an Axes
        figure.savefig(target, format="png", dpi=100, bbox_inches="tight")
        return
    raise TypeError(f"cannot write a {type(value).__name__} as a PNG picture")


def write_json(value: Any, target: Path) -> None:
    """A JSON document holding the bare value, so Galaxy can parse it as a workflow parameter."""
    target.write_text(json.dumps(plain(value), allow_nan=True) + "\n")


def write_text(value: Any, target: Path) -> None:
    text = value if isinstance(value, str) else str(plain(value))
    target.write_text(text if text.endswith("\n") else text + "\n")


def write_file(value: Any, target: Path) -> None:
    """A file the notebook wrote (its path), raw bytes, or an object that writes itself."""
    if isinstance(value, (bytes, bytearray)):
        target.write_bytes(bytes(value))
    elif isinstance(value, (str, Path)) and Path(value).is_file():
        shutil.copyfile(value, target)
    elif hasattr(value, "write_file"):
        value.write_file(str(target))
    elif hasattr(value, "write_fits_file"):
        value.write_fits_file(str(target))
    else:
        raise TypeError(f"output is a {type(value).__name__}, not a file path or bytes")


def write_auto(value: Any, target: Path) -> None:
    """An unannotated output: the format follows the value (Galaxy sniffs the result)."""
    module = type(value).__module__
    if hasattr(value, "savefig"):
        write_picture(value, target)
    elif module.startswith("astropy.table") or type(value).__name__ == "DataFrame":
        write_table(value, target)
    elif module.startswith("astropy.io.fits") or hasattr(value, "write_fits_file"):
        write_image(value, target)
    elif isinstance(value, (bytes, bytearray)):
        write_file(value, target)
    elif module == "numpy" and getattr(value, "ndim", 0) >= 2:
        write_image(value, target)
    elif isinstance(value, str):
        write_text(value, target)
    else:
        write_json(value, target)


def plain(value: Any) -> Any:
    """JSON-ready form of numpy scalars and arrays, quantities, times and containers."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if type(value).__module__.startswith("astropy.time"):
        return plain(value.isot)
    if hasattr(value, "unit") and hasattr(value, "value"):  # Quantity: the number, unit dropped
        return plain(value.value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value.tolist())
    return str(value)


WRITERS = {"table": write_table, "image": write_image, "picture": write_picture,
           "json": write_json, "text": write_text, "file": write_file, "auto": write_auto}
