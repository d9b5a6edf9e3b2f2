"""``astroflow serve``: configuration, start-up report, uvicorn, and a stop that drains."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn

from astroflow.server import logs
from astroflow.server.config import ServerConfig
from astroflow.server.isolation import hide_server_process

SWITCH_INTERVAL = 0.001  # seconds; CPython's default is 0.005


def serve(**flags: Any) -> int:
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
    # Open requests (long polls, event streams) may hold the stop no longer than the drain.
    server = DrainingServer(uvicorn.Config(
        app, host=config.host, port=config.port, log_level="warning", access_log=False,
        timeout_graceful_shutdown=max(1, round(config.drain_grace))), platform)
    with contextlib.suppress(KeyboardInterrupt):  # the SIGINT uvicorn raises again at the end
        server.run()
    return 0


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping as a rollout needs: the first SIGTERM (or SIGINT) starts
    the drain at once, so no job is claimed while open requests end; a second one skips the
    rest of the grace. Jobs still running then go back to the queue, never cancelled."""

    def __init__(self, config: uvicorn.Config, platform: Any) -> None:
        super().__init__(config)
        self.platform = platform

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.platform.runner.hurry()
            self.force_exit = True  # stop waiting for open requests too
        else:
            self.platform.begin_drain()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        # A forced exit skips the lifespan's shutdown; after the lifespan this does nothing.
        self.platform.close()


def _version() -> str:
    from astroflow import __version__

    return __version__
