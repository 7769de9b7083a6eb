"""Webhook topic handlers of the store sync, and ``taskra store sync``, against the fake.

Each handler runs inside a real job (a test job kind that hands it a WebhookDelivery built
here, as the webhook dispatch does), with a real worker, over real HTTP to the fake Shopify.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.cli import make_cli
from taskra_core.cli_support import CliState
from taskra_core.clock import ManualClock
from taskra_core.hookspecs import hookimpl
from taskra_core.jobs import JobContext
from taskra_core.models import Store
from taskra_core.plugins import make_plugin_manager
from taskra_core.testing import make_test_settings
from taskra_core.worker import Worker
from taskra_shopify import store_topics
from taskra_shopify.app import create_app
from taskra_shopify.webhook_types import WebhookDelivery
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify
from tests.shopify.test_sync import DEMO_CATALOG, install, items, make_taskra, run_jobs, search
from tests.shopify.test_webhooks import delivery

JACKET = "skiddaw-3l-waterproof-jacket-mens"
TOPICS: dict[str, Callable[..., Any]] = {}
store_topics.register(TOPICS.__setitem__)


class DeliveryJobs:
    """Runs a topic handler in a durable job, as the webhook dispatch does."""

    @hookimpl
    def register_jobs(self, register: Callable[..., None]) -> None:
        register("test.delivery", self.run)

    async def run(self, ctx: JobContext) -> None:
        p = ctx.job.payload
        delivery = WebhookDelivery(
            receipt_id=1,
            shop=p["shop"],
            store_id=ctx.job.store_id,
            topic=p["topic"],
            webhook_id=p["webhook_id"],
            event_id=None,
            triggered_at=datetime.fromisoformat(p["triggered_at"]),
            api_version="2026-10",
            payload=p["payload"],
        )
        await TOPICS[p["topic"]](ctx, delivery)


@pytest.fixture
def fake_shopify() -> Iterator[FakeShopify]:
    """The fake at a Shopify Plus restore rate, so syncs rarely wait (see test_sync)."""
    with FakeShopify(restore_rate=1000.0) as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def taskra(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock
) -> AsyncIterator[Taskra]:
    core = make_taskra(database_url, fake_shopify, clock)
    core.pm.register(DeliveryJobs())
    async with core:
        yield core


async def synced(taskra: Taskra, clock: ManualClock) -> Store:
    store = await install(taskra)
    await run_jobs(taskra, clock, rounds=1)
    return store


async def deliver(
    taskra: Taskra, store: Store, topic: str, payload: dict[str, Any], triggered_at: datetime
) -> None:
    """Deliver ``topic`` and run the job it makes (one run of the worker)."""
    async with taskra.db.transaction() as session:
        await taskra.jobs.enqueue(
            session,
            "test.delivery",
            {
                "shop": store.domain,
                "topic": topic,
                "webhook_id": f"{topic}-{triggered_at.isoformat()}",
                "triggered_at": triggered_at.isoformat(),
                "payload": payload,
            },
            store_id=store.id,
        )
    await Worker(taskra).run_until_idle()


def product_payload(fake: FakeShopify, handle: str) -> dict[str, Any]:
    gid = fake.product_by_handle(handle)["id"]
    return {"id": int(gid.rsplit("/", 1)[1]), "admin_graphql_api_id": gid, "handle": handle}


async def test_a_product_update_is_searchable_after_one_job_run(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """products/update fetches the product from Admin GraphQL and upserts it: its new
    title is found by search as soon as the delivery's job has run."""
    store = await synced(taskra, clock)
    assert store.id is not None
    fake_shopify.update_product(JACKET, title="Skiddaw Stormproof Anorak")
    await deliver(
        taskra, store, "products/update", product_payload(fake_shopify, JACKET), datetime.now(UTC)
    )
    assert f"product:{JACKET}" in await search(taskra, store.id, "stormproof anorak")
    item = (await items(taskra, store.id))[f"product:{JACKET}"]
    assert item.title == "Skiddaw Stormproof Anorak"


async def test_a_stale_update_changes_nothing(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """A delivery triggered before the version already applied reads nothing from Shopify
    and writes nothing, even though the product has changed there since."""
    store = await synced(taskra, clock)
    assert store.id is not None
    fake_shopify.update_product(JACKET, title="Renamed Later")
    before = len(fake_shopify.requests_to("/admin/api/"))
    stale = datetime(2025, 2, 1, tzinfo=UTC)  # before the demo's updatedAt
    await deliver(taskra, store, "products/update", product_payload(fake_shopify, JACKET), stale)
    assert len(fake_shopify.requests_to("/admin/api/")) == before
    item = (await items(taskra, store.id))[f"product:{JACKET}"]
    assert item.title == DEMO_CATALOG[f"product:{JACKET}"].title


async def test_a_created_product_is_added_and_a_deleted_one_removed(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """products/create adds a product Shopify now has; products/delete removes its item
    and passages, so search no longer finds it."""
    store = await synced(taskra, clock)
    assert store.id is not None
    new = dict(fake_shopify.product_by_handle(JACKET))
    new |= {"id": "gid://shopify/Product/999", "handle": "fell-flask", "title": "Fell Flask"}
    new["variants"] = [v | {"id": f"{v['id']}9"} for v in new["variants"]]
    fake_shopify.products.append(new)
    now = datetime.now(UTC)
    await deliver(
        taskra, store, "products/create", product_payload(fake_shopify, "fell-flask"), now
    )
    assert "product:fell-flask" in await search(taskra, store.id, "fell flask")
    payload = product_payload(fake_shopify, "fell-flask")
    fake_shopify.delete_product("fell-flask")
    await deliver(taskra, store, "products/delete", {"id": payload["id"]}, now)
    assert "product:fell-flask" not in await items(taskra, store.id)


async def test_shop_update_refreshes_policies(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """shop/update re-reads the shop: a changed policy body is searchable, a removed
    policy is gone."""
    store = await synced(taskra, clock)
    assert store.id is not None
    fake_shopify.policies[0] = fake_shopify.policies[0] | {"body": "Returns within 365 days."}
    removed = fake_shopify.policies.pop()
    await deliver(taskra, store, "shop/update", {"id": 1}, datetime.now(UTC))
    synced_items = await items(taskra, store.id)
    assert f"policy:{removed['type']}" not in synced_items
    assert "365 days" in synced_items[f"policy:{fake_shopify.policies[0]['type']}"].body


async def test_bulk_operations_finish_completes_the_catalog_sync(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """With a bulk sync running, the bulk_operations/finish webhook applies the finished
    operation right away, before any poll would have."""
    core = make_taskra(database_url, fake_shopify, clock, shopify_bulk_threshold=10)
    core.pm.register(DeliveryJobs())
    async with core:
        store = await install(core)
        assert store.id is not None
        await Worker(core).run_until_idle()  # submits the bulk query, polls later
        assert not [s for s in await items(core, store.id) if s.startswith("product:")]
        (operation_id,) = fake_shopify.finish_bulk_operations()
        payload = {"admin_graphql_api_id": operation_id, "status": "completed", "type": "query"}
        await deliver(core, store, "bulk_operations/finish", payload, datetime.now(UTC))
        await Worker(core).run_until_idle()
        assert set(await items(core, store.id)) == set(DEMO_CATALOG)


def test_cli_sync_shows_progress_and_reports(database_url: str, fake_shopify: FakeShopify) -> None:
    """`taskra store sync --shop D` syncs in-process with a progress bar and prints a
    summary; an unknown or uninstalled store is a clear error that changes nothing."""
    overrides = {
        "shopify_api_key": CLIENT_ID,
        "shopify_api_secret": CLIENT_SECRET,
        "shopify_origin": fake_shopify.origin,
        "shopify_throttle_wait_seconds": 5.0,
    }
    clock = ManualClock(datetime.now(UTC) - timedelta(seconds=1))

    async def installed() -> None:
        async with make_taskra(database_url, fake_shopify, clock) as core:
            await install(core)

    settings = make_test_settings(database_url, **overrides)
    pm = make_plugin_manager(load_entrypoints=False, plugins=[taskra_shopify.plugin])
    cli = make_cli(pm)

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["store", "sync", *args], obj=CliState(settings, pm))

    unknown = run("--shop", "nowhere.myshopify.com")
    assert unknown.exit_code == 1
    assert "No store nowhere.myshopify.com" in unknown.output
    asyncio.run(installed())
    result = run("--shop", SHOP)
    assert result.exit_code == 0, result.output
    assert "Products" in result.stderr
    assert "Synced fellandford.myshopify.com (pages)" in result.stdout
    again = run("--shop", SHOP, "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert (report["added"], report["updated"], report["removed"]) == (0, 0, 0)
    assert report["products"] == len(fake_shopify.products)


async def test_a_signed_product_update_through_the_app_is_searchable_after_one_job_run(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """End to end: Shopify posts a signed products/update to /webhooks/shopify, the app stores
    it and answers 200, and one worker run (the dispatch job) makes the new title searchable;
    the same delivery posted again changes nothing."""
    core = make_taskra(database_url, fake_shopify, clock)
    app = create_app(core, run_worker=False)
    async with app.router.lifespan_context(app):
        store = await synced(core, clock)
        assert store.id is not None
        fake_shopify.update_product(JACKET, title="Skiddaw Stormproof Anorak")
        body, headers = delivery("products/update", product_payload(fake_shopify, JACKET))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as web:
            first = await web.post("/webhooks/shopify", content=body, headers=headers)
            again = await web.post("/webhooks/shopify", content=body, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200)
        assert await Worker(core).run_until_idle() == 1
        assert f"product:{JACKET}" in await search(core, store.id, "stormproof anorak")
