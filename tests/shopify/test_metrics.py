"""``GET /metrics``: Prometheus text, counts only, guarded by TASKRA_METRICS_TOKEN (or, with
no token, open to this machine in development only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskra_core.app import Taskra
from taskra_core.models import Store
from taskra_core.privacy import ledger
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app

TOKEN = "s3cret-scrape-token"


async def scrape(
    database_url: str, *, client: tuple[str, int] = ("127.0.0.1", 5000), **settings: Any
) -> AsyncIterator[tuple[Taskra, httpx.AsyncClient]]:
    core = make_test_taskra(database_url, **settings)
    app = create_app(core, run_worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://taskra.test") as c:
            yield core, c


@pytest.fixture
async def guarded(database_url: str) -> AsyncIterator[tuple[Taskra, httpx.AsyncClient]]:
    async for pair in scrape(database_url, metrics_token=TOKEN, environment="production"):
        yield pair


def samples(text: str) -> dict[str, float]:
    return {
        sample.name + (f"[{sample.labels['state']}]" if "state" in sample.labels else ""): (
            sample.value
        )
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_overdue_privacy_requests_are_reported(
    guarded: tuple[Taskra, httpx.AsyncClient],
) -> None:
    """An open request past its due date shows as overdue; labels carry no personal data."""
    taskra, client = guarded
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        store = Store(domain="m.myshopify.com", created_at=now, updated_at=now)
        session.add(store)
        await session.flush()
        for received in (now - timedelta(days=40), now):
            ledger.open_request(
                session,
                store_id=store.id,
                kind="access",
                subject="metrics.subject@example.com",
                source="email",
                now=received,
            )
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    assert values["taskra_privacy_requests_overdue"] == 1
    assert values["taskra_privacy_requests_open"] == 2
    assert "taskra_jobs[queued]" in values
    assert "example.com" not in response.text
    assert "m.myshopify.com" not in response.text


async def test_a_token_is_required_when_one_is_set(
    guarded: tuple[Taskra, httpx.AsyncClient],
) -> None:
    """Without the token, or with a wrong one, /metrics is 401 and says what to send."""
    _taskra, client = guarded
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "TASKRA_METRICS_TOKEN" in wrong.json()["error"]["message"]


async def test_without_a_token_only_local_development_may_read(database_url: str) -> None:
    """No token: a loopback client in development may read; a remote client may not; in
    production nobody may."""
    async for _core, client in scrape(database_url, environment="development"):
        assert (await client.get("/metrics")).status_code == 200
    async for _core, client in scrape(
        database_url, environment="development", client=("203.0.113.9", 4000)
    ):
        assert (await client.get("/metrics")).status_code == 401
    async for _core, client in scrape(database_url, environment="production"):
        assert (await client.get("/metrics")).status_code == 401


async def test_each_taskra_has_its_own_registry(database_url: str, tmp_path: Any) -> None:
    """Two Taskras in one process keep separate metrics (no global registry)."""
    first = make_test_taskra(database_url)
    second = make_test_taskra(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    assert first.metrics.registry is not second.metrics.registry
    assert first.metrics is first.metrics
