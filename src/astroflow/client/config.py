"""Where the server is and who the caller is, when the code does not say.

The URL comes from ``ASTROFLOW_URL`` (default ``http://127.0.0.1:8000``); the token from
``ASTROFLOW_TOKEN`` or the file ``~/.config/astroflow/token`` (``$XDG_CONFIG_HOME`` is
honoured), so scripts and generated snippets never carry a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def server_url(url: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The server's base URL without a trailing slash (or a trailing ``/api/v1``)."""
    url = (url or environ.get("ASTROFLOW_URL") or DEFAULT_URL).strip()
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    return url


def token_path(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "astroflow" / "token"


def find_token(token: str | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The explicit token, else ``ASTROFLOW_TOKEN``, else the token file; ``""`` means none."""
    if token is not None:
        return token.strip() or None
    if environ.get("ASTROFLOW_TOKEN", "").strip():
        return environ["ASTROFLOW_TOKEN"].strip()
    path = token_path(environ)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None
