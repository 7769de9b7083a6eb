"""``GET /metrics``: the core's Prometheus metrics, behind a bearer token.

With ``TASKRA_METRICS_TOKEN`` set, a scraper must send it (``Authorization: Bearer``);
without it, only a client on this machine may read the metrics, and only in development
(the demo): a production deployment behind a reverse proxy would otherwise see every
request as local.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from taskra_core.app import Taskra
from taskra_shopify.http_errors import json_error

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _allowed(request: Request, taskra: Taskra) -> bool:
    token = taskra.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(sent.encode(), token.get_secret_value().encode())
    client = request.client.host if request.client else ""
    return taskra.settings.environment == "development" and client in LOOPBACK


async def metrics_endpoint(request: Request) -> Response:
    """The metrics text, or 401 without the right token."""
    taskra: Taskra = request.app.state.taskra
    if not _allowed(request, taskra):
        return json_error(
            401,
            "MetricsForbidden",
            "Send TASKRA_METRICS_TOKEN as 'Authorization: Bearer <token>' to read /metrics.",
        )
    body = await taskra.metrics.render()
    return Response(
        body, media_type=taskra.metrics.content_type, headers={"Cache-Control": "no-store"}
    )
