"""``astroflow serve``: configuration, start-up report, uvicorn."""

from __future__ import annotations

import os
import sys
from typing import Any

from astroflow.server import logs
from astroflow.server.config import ServerConfig
from astroflow.server.isolation import hide_server_process

SWITCH_INTERVAL = 0.001  # seconds; CPython's default is 0.005


def serve(**flags: Any) -> int:
    import uvicorn

    from astroflow.server.app import create_app
    from astroflow.server.platform import Platform

    logs.configure()
    hide_server_process()
    config = ServerConfig.from_env(**flags)
    # Workflows find their data (e.g. `astroflow data fetch icecube`) under the same folder.
    os.environ["ASTROFLOW_DATA_DIR"] = str(config.data_dir.resolve())
    platform = Platform.build(config)
    url = f"http://{config.host}:{config.port}"
    print(f"astroflow {_version()} serving {len(platform.catalog)} services at {url}", file=sys.stderr)
    for service in platform.catalog.services.values():
        print(f"  {service.name:<24} {service.version}  {service.workflow.path}", file=sys.stderr)
    for path, reason in platform.catalog.problems:
        print(f"  not served: {path}: {reason}", file=sys.stderr)
    print(f"  store: {config.redacted_db()}  artifacts: {config.store_root}  "
          f"workers: {config.workers}", file=sys.stderr)
    print(f"  API docs: {url}/docs", file=sys.stderr)
    app = create_app(config, platform)
    # The server's threads hand work on (a run ended: start the next) far more than they
    # compute; a thread waking for that should not wait the default 5 ms for the GIL.
    sys.setswitchinterval(float(os.environ.get("ASTROFLOW_SWITCH_INTERVAL", SWITCH_INTERVAL)))
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
    return 0


def _version() -> str:
    from astroflow import __version__

    return __version__
