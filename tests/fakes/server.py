"""A threaded HTTP server on 127.0.0.1 for the fakes of remote services, and :class:`Outage`,
the fakes' switch for a service that is down for a while."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Generic, TypeVar

F = TypeVar("F")


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


class Outage(Generic[F]):
    """A remote service that is down for a while: between :meth:`begin` and :meth:`end`, each
    request a fake receives gets the next of the given failures, in turn and over again
    (``begin(server_error(503), rate_limited())`` alternates the two). Calling :meth:`begin`
    again starts the next phase of the same outage (errors, then timeouts, then slow
    answers); :meth:`end` is the recovery. What a failure is (a status, a delay, a dropped
    connection) is each fake's own ``Failure``; answers queued one by one with a fake's other
    methods still come first.

    :attr:`served` lists the failure each request got, in order, so a test can check that
    every phase was really seen (``len(outage.served)`` before and after a phase).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: tuple[F, ...] = ()
        self._turn = 0
        self.served: list[F] = []

    def begin(self, *failures: F) -> None:
        """Answer every request with ``failures``, in turn, from now until :meth:`end`."""
        with self._lock:
            self._failures, self._turn = tuple(failures), 0

    def end(self) -> None:
        """The service is back: requests are answered normally again."""
        self.begin()

    def next(self) -> F | None:
        """The failure for the request being served, or ``None`` when the service is up."""
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures[self._turn % len(self._failures)]
            self._turn += 1
            self.served.append(failure)
            return failure
