"""Requests in flight, so the job worker inside ``taskra serve`` can let a burst through.

One process serving requests and running jobs shares one CPU: a webhook burst answered while
the worker drafts replies is answered slowly. The worker asks :meth:`Traffic.busy` and holds
back new jobs while requests are being served (for at most ``TASKRA_WORKER_YIELD_SECONDS``
at a time); jobs are durable, so they run right after. Long-held requests (the live-update
stream, the chat widget's long poll) do not count: they wait, they do not work.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

HELD_OPEN = ("/api/v1/events", "/proxy/chat/poll")


class Traffic:
    """A count of requests being served."""

    def __init__(self) -> None:
        self.in_flight = 0

    def busy(self) -> bool:
        return self.in_flight > 0


class CountRequests:
    """ASGI middleware keeping :class:`Traffic` up to date."""

    def __init__(self, app: ASGIApp, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(HELD_OPEN):
            await self.app(scope, receive, send)
            return
        self.traffic.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.traffic.in_flight -= 1
