"""``create_app(taskra)``: the Starlette application, composed explicitly.

Plugin routes first (so they win), then the shell's own. The lifespan starts the core, the
webhook batcher (group commit of receipts, ``app.state.webhook_batcher``) and, unless told
not to, an in-process job worker, and shuts them down in reverse order.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from taskra_core.app import Taskra
from taskra_core.errors import DatabaseError, TaskraError
from taskra_core.settings import Settings
from taskra_core.worker import Worker
from taskra_shopify import hookspecs
from taskra_shopify.api import api_routes
from taskra_shopify.billing_routes import billing_routes
from taskra_shopify.http_errors import error_response, json_error
from taskra_shopify.login import login_routes
from taskra_shopify.metrics import metrics_endpoint
from taskra_shopify.pages import page_routes
from taskra_shopify.pages.privacy import privacy_routes
from taskra_shopify.pages.render import STATIC_DIR, templates_for
from taskra_shopify.password import password_routes
from taskra_shopify.security import SecurityHeaders
from taskra_shopify.session_token import BOUNCE_PATH, bounce_page
from taskra_shopify.traffic import CountRequests, Traffic
from taskra_shopify.webhook_batch import ReceiptBatcher
from taskra_shopify.webhooks import webhook_routes

log = logging.getLogger(__name__)


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process is up and serving."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the core started and its database answers."""
    taskra: Taskra = request.app.state.taskra
    if not taskra.started:
        return JSONResponse({"status": "starting"}, status_code=503)
    try:
        await taskra.db.ping()
    except DatabaseError:
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no route, or not this method): JSON in the API's error
    shape under ``/api/``, where clients parse every answer; plain text elsewhere."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        kind = "NotFound" if exc.status_code == 404 else "MethodNotAllowed"
        response: Response = json_error(exc.status_code, kind, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def taskra_error(request: Request, exc: Exception) -> JSONResponse:
    """Plugin routes raise Taskra's errors; this is where they become HTTP statuses. An
    error answer is never cached (the storefront chat goes through Shopify's proxy)."""
    assert isinstance(exc, TaskraError)
    response = error_response(exc)
    if response.status_code == 500:
        log.error("request failed", exc_info=exc, extra={"path": request.url.path})
    response.headers["Cache-Control"] = "no-store"
    return response


def plugin_routes(taskra: Taskra) -> list[BaseRoute]:
    # The shell's hookspecs arrive through its entry point; an embedder who built the plugin
    # manager without entry points still gets them.
    taskra.hooks.ensure_hookspecs(hookspecs)
    routes: list[BaseRoute] = []
    for contributed in taskra.hooks.collect_sync("register_routes", taskra=taskra):
        routes.extend(contributed)
    return routes


def create_app(taskra: Taskra, *, run_worker: bool = True, freeze_heap: bool = False) -> Starlette:
    """Build the web app around ``taskra``; it is started by the app's lifespan.

    ``freeze_heap`` (for a serving process, not for tests that build many apps in one): once
    started, move every object alive to the garbage collector's permanent generation. The
    modules, routes, templates and SQL compiled at start-up are some 150,000 objects that
    live as long as the process, and every full collection walked all of them: pauses of
    up to 90 ms, several a minute under a webhook burst (bench/ingest.py), which set the
    p99 latency.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await taskra.startup()
        batcher: ReceiptBatcher = app.state.webhook_batcher
        await batcher.start()
        worker: Worker | None = None
        task: asyncio.Task[Any] | None = None
        if run_worker:
            worker = Worker(taskra, busy=traffic.busy)
            task = asyncio.create_task(worker.run(), name="taskra-worker")
        if freeze_heap:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            # Deliveries already taken are written (and answered) before the core closes.
            await batcher.stop()
            if worker is not None and task is not None:
                worker.stop()
                await task
            await taskra.shutdown()

    routes: list[BaseRoute] = [
        *plugin_routes(taskra),
        # Early: the busiest route (Shopify's bursts) should not be matched against all.
        *webhook_routes(),
        *billing_routes(),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *privacy_routes(),
        *page_routes(),
        Route(BOUNCE_PATH, bounce_page),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        *login_routes(),
        *password_routes(),
        *api_routes(),
    ]
    traffic = Traffic()
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(CountRequests, traffic=traffic), Middleware(SecurityHeaders)],
        exception_handlers={TaskraError: taskra_error, HTTPException: http_error},
    )
    app.state.taskra = taskra
    app.state.traffic = traffic
    app.state.webhook_batcher = ReceiptBatcher(taskra)
    app.state.templates = templates_for(taskra)
    return app


def app_from_env() -> Starlette:
    """Factory for multi-process serving: each process reads the environment itself."""
    from taskra_core.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.environment, settings.log_level)
    return create_app(Taskra(settings), freeze_heap=True)
