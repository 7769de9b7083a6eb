"""The web shell: lifespan, health endpoints, plugin routes, in-process worker."""

from __future__ import annotations

import gc
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from taskra_core import hookimpl
from taskra_core.jobs import JobContext
from taskra_core.models import JobRecord
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app


class Channel:
    """A plugin contributing a route and a job kind, as a channel plugin would."""

    __name__ = "test-channel"

    def __init__(self) -> None:
        self.handled: list[int] = []

    @hookimpl
    def register_routes(self) -> list[Any]:
        async def hello(request: Request) -> PlainTextResponse:
            return PlainTextResponse("hello from a plugin")

        async def traffic(request: Request) -> PlainTextResponse:
            return PlainTextResponse(str(request.app.state.traffic.in_flight))

        return [
            Route("/channels/test/hello", hello),
            Route("/channels/test/traffic", traffic),
        ]

    @hookimpl
    def register_jobs(self, register: Any) -> None:
        register("test.handle", self.handle)

    async def handle(self, ctx: JobContext) -> None:
        self.handled.append(ctx.job.id)


def _app(database_url: str, plugin: Channel, **kwargs: Any) -> Any:
    taskra = make_test_taskra(database_url, plugins=[plugin], load_entrypoints=True)
    return taskra, create_app(taskra, **kwargs)


def test_hook_register_routes(database_url: str) -> None:
    """A plugin's routes are served by the app."""
    _, app = _app(database_url, Channel(), run_worker=False)
    with TestClient(app) as client:
        response = client.get("/channels/test/hello")
    assert response.status_code == 200
    assert response.text == "hello from a plugin"


def test_health_and_readiness(database_url: str) -> None:
    """/healthz answers while up; /readyz reports ready once the core started."""
    _, app = _app(database_url, Channel(), run_worker=False)
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readiness_fails_when_the_database_is_gone(tmp_path: Any) -> None:
    """/readyz is 503 when the database cannot be reached."""
    url = f"sqlite+aiosqlite:///{tmp_path}/missing-dir/x.db"
    taskra = make_test_taskra(url, auto_migrate=False)
    app = create_app(taskra, run_worker=False)
    client = TestClient(app)  # no lifespan: the core never started
    response = client.get("/readyz")
    assert response.status_code == 503


def test_serve_runs_jobs_in_process(database_url: str) -> None:
    """Jobs enqueued while the app runs are executed by its in-process worker."""
    plugin = Channel()
    taskra, app = _app(database_url, plugin)
    with TestClient(app) as client:

        async def enqueue() -> int:
            async with taskra.db.transaction() as session:
                return await taskra.jobs.enqueue(session, "test.handle", {})

        job_id = client.portal.call(enqueue)  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while not plugin.handled and time.monotonic() < deadline:
            time.sleep(0.02)

        async def state() -> str:
            async with taskra.db.session() as session:
                job = await session.get(JobRecord, job_id)
                assert job is not None
                return job.state

        assert client.portal.call(state) == "done"  # type: ignore[union-attr]
    assert plugin.handled == [job_id]


def test_requests_in_flight_are_counted_for_the_in_process_worker(database_url: str) -> None:
    """While a request is being served it counts as traffic (the in-process worker holds
    back new jobs then); once answered, nothing is in flight."""
    _, app = _app(database_url, Channel(), run_worker=False)
    with TestClient(app) as client:
        during = client.get("/channels/test/traffic")
        assert during.text == "1"
        assert app.state.traffic.busy() is False


def test_a_serving_app_freezes_its_start_up_heap_and_a_test_app_does_not(
    database_url: str,
) -> None:
    """With ``freeze_heap`` (what ``taskra serve`` passes) the objects alive once the app has
    started move to the collector's permanent generation, so full collections stop walking
    them; by default (tests build many apps in one process) nothing is frozen."""
    gc.unfreeze()
    try:
        _, app = _app(database_url, Channel(), run_worker=False)
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_freeze_count() == 0
        _, app = _app(database_url, Channel(), run_worker=False, freeze_heap=True)
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
