"""The environment a warm parent (and so every run) starts with: an allow-list.

Why an allow-list, not a deny-list of known secrets: an operator's environment holds
credentials under names nobody can list in advance (``PGPASSWORD``, ``AWS_SECRET_ACCESS_KEY``,
a CI token); a run gets only what a notebook needs to work, and what the operator names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

_ALLOWED = re.compile(
    r"^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|TMPDIR|SHELL|PWD"
    r"|PYTHONHASHSEED|PYTHONIOENCODING|PYTHONUTF8|PYTHONDONTWRITEBYTECODE|PYTHONWARNINGS"
    r"|VIRTUAL_ENV|CONDA_PREFIX|CONDA_DEFAULT_ENV"
    r"|OMP_NUM_THREADS|OPENBLAS_NUM_THREADS|MKL_NUM_THREADS|NUMEXPR_NUM_THREADS"
    r"|VECLIB_MAXIMUM_THREADS|MPLBACKEND|MPLCONFIGDIR|XDG_CACHE_HOME|XDG_CONFIG_HOME"
    r"|XDG_DATA_HOME|ASTROPY_CONFIGDIR|ASTROPY_CACHEDIR"
    r"|(?i:http_proxy|https_proxy|no_proxy|all_proxy)"
    r"|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE"
    r"|ASTROFLOW_DATA_DIR|ASTROFLOW_SANDBOX_.*)$")
# Names the operator adds (comma-separated), e.g. a workflow's data source variable.
PASS_VARIABLE = "ASTROFLOW_RUN_ENV"


def run_environment(environ: Mapping[str, str] | None = None,
                    extra: Iterable[str] = ()) -> dict[str, str]:
    """The allowed part of ``environ``, plus the variables named in ``extra`` and in
    ``$ASTROFLOW_RUN_ENV``; nothing else of the server's environment reaches a run."""
    environ = os.environ if environ is None else environ
    passed = {name.strip() for name in environ.get(PASS_VARIABLE, "").split(",") if name.strip()}
    passed |= set(extra)
    return {name: value for name, value in environ.items()
            if (_ALLOWED.match(name) or name in passed) and not _looks_secret(name, passed)}


def _looks_secret(name: str, passed: set[str]) -> bool:
    """Even an allowed pattern never carries the server's own keys."""
    return name not in passed and bool(re.search(r"SECRET|PASSWORD|PRIVATE_KEY|TOKEN", name))
