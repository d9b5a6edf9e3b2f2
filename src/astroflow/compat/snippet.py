"""The ``oda_api`` code for a request, shown beside the astroflow snippet.

The same guarantees as :mod:`astroflow.client.snippet`: values become literals through
`python_literal` (JSON data only), names are literals or checked identifiers, and tokens are
never written (``oda_api`` finds them in ``ODA_TOKEN`` or ``~/.oda-token``).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

from astroflow.client.snippet import python_literal

DISPATCHER_PATH = "/dispatch-data"
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.:-]")
# Keyword arguments ``get_product`` takes for itself: a parameter named so must go in **{...}.
_RESERVED = frozenset({"product", "instrument", "verbose", "product_type", "silent"})


def dispatcher_url(url: str) -> str:
    """The dispatcher URL ``oda_api`` wants for an astroflow server's base URL."""
    base = url.rstrip("/")
    return base if base.endswith(DISPATCHER_PATH) else base + DISPATCHER_PATH


def oda_api_snippet(service: str, parameters: Mapping[str, Any], url: str, *,
                    product: str | None = None, needs_token: bool = False) -> str:
    """Python that runs ``service`` with ``parameters`` through ``oda_api``'s ``DispatcherAPI``.

    ``service`` is the instrument, ``product`` the product type (the service name unless
    given); ``url`` is the server's base URL or its ``/dispatch-data`` URL.
    """
    name = _SAFE_ID.sub("", service)
    lines = [f"# Runs the astroflow service {name} through its MMODA-compatible API "
             "(pip install oda-api)."]
    if needs_token:
        lines.append("# This service needs your token: set ODA_TOKEN or save it in ~/.oda-token.")
    plain, other = [], {}
    for key, value in parameters.items():
        if key in _RESERVED:
            lines.append(f"# get_product() keeps the name {_SAFE_ID.sub('', key)!r} for itself: "
                         "that parameter keeps its default here.")
        elif key.isidentifier() and not keyword.iskeyword(key):
            plain.append(f"    {key}={python_literal(value)},")
        else:
            other[key] = value
    if other:
        plain.append(f"    **{python_literal(other)},")
    lines += [
        "from oda_api.api import DispatcherAPI",
        "",
        f"disp = DispatcherAPI(url={dispatcher_url(url)!r}, instrument={service!r})",
        "data_collection = disp.get_product(",
        f"    instrument={service!r},",
        f"    product={(product or service)!r},",
        *plain,
        ")",
        "data_collection.show()",
    ]
    return "\n".join(lines) + "\n"
