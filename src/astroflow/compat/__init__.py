"""Compatibility with MMODA: its notebooks run unchanged, its ``oda_api`` client works.

* :mod:`astroflow.compat.oda_runtime` makes ``oda_api``'s ``ProgressReporter`` and
  ``get_context`` work inside astroflow runs (imported by every run: standard library only);
* :mod:`astroflow.compat.dispatcher` is the ``/dispatch-data/...`` facade (``router``) that
  ``oda_api.api.DispatcherAPI`` talks to, over astroflow's own jobs;
* :mod:`astroflow.compat.encoding` writes products in the encodings ``oda_api`` decodes;
* :mod:`astroflow.compat.snippet` renders the ``oda_api`` code for a request.

This package imports nothing itself, so a run that only needs the runtime pays for nothing else.
"""
