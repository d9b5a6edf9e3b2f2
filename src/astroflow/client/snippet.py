"""Code that reproduces a request: Python with the client, or the ``astroflow`` command.

Only validated JSON values reach a snippet, and each becomes a literal through ``repr`` of
``str``/``int``/``float``/``bool``/``None`` and of lists and dicts of them; anything else is
refused. Names, URLs and folders are literals too, and comments carry only sanitised ids, so
no parameter value can turn into code. Tokens are never written: the client finds them in
``ASTROFLOW_TOKEN`` or ``~/.config/astroflow/token``.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Mapping
from typing import Any

_SAFE_ID = re.compile(r"[^A-Za-z0-9_.:-]")
_SAFE_DIR = re.compile(r"[^A-Za-z0-9_.-]+")


def python_literal(value: Any) -> str:
    """A Python expression that evaluates to ``value`` (JSON data only)."""
    # Exact types: a subclass could carry a ``repr`` that is not a literal.
    if value is None or type(value) in (bool, int, str):
        return repr(value)
    if type(value) is float:
        if math.isfinite(value):
            return repr(value)
        return f"float({repr(str(value))})"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"only string keys can be rendered, not {type(key).__name__}")
            items.append(f"{key!r}: {python_literal(item)}")
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"{type(value).__name__} is not JSON data and cannot be rendered")


def products_folder(service: str) -> str:
    return (_SAFE_DIR.sub("_", service).strip("._") or "service") + "-products"


def _header(service: str, job_id: str | None, version: str | None, needs_token: bool,
            prefix: str = "# ") -> list[str]:
    name = _SAFE_ID.sub("", service)
    if job_id:
        lines = [f"Reproduces job {_SAFE_ID.sub('', job_id)} of the astroflow service {name}"
                 + (f" (version {_SAFE_ID.sub('', version)})" if version else "") + ":",
                 "an identical request is answered from that job's results."]
    else:
        lines = [f"Runs the astroflow service {name} with these parameters."]
    if needs_token:
        lines.append("This service needs your token: set ASTROFLOW_TOKEN or save it in "
                     "~/.config/astroflow/token.")
    return [prefix + line for line in lines]


def python_snippet(service: str, parameters: Mapping[str, Any], url: str, *,
                   job_id: str | None = None, version: str | None = None,
                   needs_token: bool = False) -> str:
    """Client code that submits the request, waits, saves the products and lists them."""
    if parameters:
        body = ",\n".join(f"    {name!r}: {python_literal(value)}"
                          for name, value in parameters.items())
        call = f"job = client.run({service!r}, {{\n{body},\n}})"
    else:
        call = f"job = client.run({service!r})"
    lines = _header(service, job_id, version, needs_token)
    lines += [
        "from astroflow.client import Client",
        "",
        f"client = Client({url!r})",
        call,
        f"for path in job.save_all({products_folder(service)!r}):",
        "    print(path)",
    ]
    return "\n".join(lines) + "\n"


def shell_argument(name: str, value: Any) -> str:
    """``NAME=VALUE`` for strings and numbers, ``NAME:=JSON`` for null, lists and objects."""
    if type(value) is bool:
        return f"{name}={'true' if value else 'false'}"
    if type(value) is str:
        return f"{name}={value}"
    if type(value) in (int, float) and math.isfinite(value):
        return f"{name}={value!r}"
    python_literal(value)  # refuses anything that is not JSON data
    return f"{name}:={json.dumps(value, allow_nan=False, separators=(',', ':'))}"


def shell_snippet(service: str, parameters: Mapping[str, Any], url: str, *,
                  job_id: str | None = None, version: str | None = None,
                  needs_token: bool = False) -> str:
    """The ``astroflow submit`` command line for the same request."""
    args = ["astroflow", "submit", service]
    for name, value in parameters.items():
        args += ["-p", shell_argument(name, value)]
    args += ["--url", url, "--wait", "--out", products_folder(service)]
    lines = _header(service, job_id, version, needs_token)
    lines.append(" ".join(shlex.quote(a) for a in args))
    return "\n".join(lines) + "\n"
