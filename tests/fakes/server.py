"""A threaded HTTP server on 127.0.0.1 for the fakes of remote services."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # join handler threads on close: no socket outlives a test
    block_on_close = True
    request_queue_size = 128  # the default backlog of 5 drops connections under load


class LocalServer:
    """Serves one handler class on a free port until :meth:`stop`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return "http://{}:{}".format(*self._server.server_address[:2])

    def start(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None
