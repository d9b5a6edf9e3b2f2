"""A replay server speaking the SPI-ACS ``genlc`` protocol on 127.0.0.1, serving the recorded
reply (tests/data, written by make_spiacs_fixture.py)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from make_spiacs_fixture import FIXTURE, HALF_SPAN, T0

SERVICE = Path(__file__).resolve().parents[1]
RECORDED_PATH = f"/genlc/ACS/{T0}/{HALF_SPAN:.3f}"


class ReplayHandler(BaseHTTPRequestHandler):
    """The recorded reply for its request; for any other time range the reply the real
    service gives where it has no data (HTTP 400 with the generator's message)."""

    plain = False   # serve the text itself instead of the JSON-encoded string
    delay = 0.0

    def do_GET(self):  # noqa: N802 - http.server's name
        time.sleep(self.delay)
        path = unquote(self.path.split("?")[0])
        prefix = self.server.prefix
        if path == prefix + RECORDED_PATH:
            body = gzip.decompress(FIXTURE.read_bytes())
            if self.plain:
                body = json.loads(body).encode()
            self._reply(200, body, "text/plain" if self.plain else "application/json")
        elif path.startswith(prefix + "/genlc/ACS/"):
            self._reply(400, b"dump lc exceptions:NoData('No Data (at this time?)  in 0 ScW')",
                        "text/html; charset=utf-8")
        else:
            self._reply(404, b"not found", "text/plain")

    def _reply(self, code, body, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_replay(plain: bool = False, delay: float = 0.0) -> tuple[str, ThreadingHTTPServer]:
    """A replay server in a thread; returns its base URL (ending like the real base,
    ``.../integralhk/api/v1.0``) and the server (``shutdown()`` it)."""
    handler = type("Handler", (ReplayHandler,), {"plain": plain, "delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.prefix = "/gw/integralhk/api/v1.0"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}{server.prefix}", server


