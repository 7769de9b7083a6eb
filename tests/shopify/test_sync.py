"""Store sync against the fake Shopify over real HTTP: install, initial sync, throttling.

The store is installed through the fake's token exchange (as in test_tokens); sync jobs run
through a real worker. What a sync writes is compared with what ``taskra store import``
makes of the same demo data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.search import search_knowledge
from taskra_core.knowledge.store_folder import read_store_folder
from taskra_core.models import JobRecord, KnowledgeItem, KnowledgePassage, Store
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.sync_jobs import latest_sync
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, FakeShopify, rate_limited, throttled
from tests.shopify.installing import install

DEMO = read_store_folder(FELLANDFORD)
DEMO_CATALOG = {d.source_id: d for d in DEMO.documents if d.kind in ("product", "policy")}


def make_taskra(
    database_url: str, fake: FakeShopify, clock: ManualClock, **overrides: Any
) -> Taskra:
    settings = {"shopify_throttle_wait_seconds": 5.0, "shopify_bulk_poll_seconds": 5.0}
    return make_test_taskra(
        database_url,
        plugins=[taskra_shopify.plugin],
        clock=clock,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake.origin,
        **(settings | overrides),
    )


@pytest.fixture
def fake_shopify() -> Iterator[FakeShopify]:
    """The fake Shopify with a Shopify Plus restore rate (1000 points/s), so page-by-page
    syncs rarely wait; the throttling tests make their own, slower buckets."""
    with FakeShopify(restore_rate=1000.0) as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def taskra(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock
) -> AsyncIterator[Taskra]:
    async with make_taskra(database_url, fake_shopify, clock) as core:
        yield core


async def run_jobs(taskra: Taskra, clock: ManualClock, rounds: int = 6) -> None:
    """Run every due job; then let a few seconds pass (retries, polls) and run again."""
    for _ in range(rounds):
        await Worker(taskra).run_until_idle()
        clock.advance(6)


async def items(taskra: Taskra, store_id: int) -> dict[str, KnowledgeItem]:
    async with taskra.db.session() as session:
        query = select(KnowledgeItem).where(col(KnowledgeItem.store_id) == store_id)
        return {item.source_id: item for item in await session.scalars(query)}


async def passages(taskra: Taskra, store_id: int) -> dict[str, list[tuple[str, str]]]:
    async with taskra.db.session() as session:
        query = (
            select(KnowledgePassage)
            .where(col(KnowledgePassage.store_id) == store_id)
            .order_by(col(KnowledgePassage.ordinal))
        )
        out: dict[str, list[tuple[str, str]]] = {}
        for passage in await session.scalars(query):
            out.setdefault(passage.source_id, []).append((passage.text, passage.keywords))
    return out


async def search(taskra: Taskra, store_id: int, text: str) -> list[str]:
    async with taskra.db.session() as session:
        hits = await search_knowledge(session, taskra.db.dialect, store_id, text, k=5)
    return [hit.source_id for hit in hits]


async def jobs_of(taskra: Taskra, kind: str) -> list[JobRecord]:
    async with taskra.db.session() as session:
        query = select(JobRecord).where(col(JobRecord.kind) == kind).order_by(col(JobRecord.id))
        return list(await session.scalars(query))


async def assert_matches_import(taskra: Taskra, store_id: int) -> None:
    """The store holds exactly the demo's products and policies, with the same text and
    passages (so search and drafting see what an import gives), and its shop profile."""
    synced = await items(taskra, store_id)
    assert set(synced) == set(DEMO_CATALOG)
    found = await passages(taskra, store_id)
    for source_id, document in DEMO_CATALOG.items():
        assert (synced[source_id].title, synced[source_id].body) == (
            document.title,
            document.body,
        ), source_id
        assert found[source_id] == [(p.text, p.keywords) for p in document.passages], source_id
    async with taskra.db.session() as session:
        store = await session.get(Store, store_id)
    assert store is not None
    assert (store.name, store.email, store.currency) == (
        DEMO.shop.name,
        DEMO.shop.email,
        DEMO.shop.currency,
    )


# --- initial sync ------------------------------------------------------------------------


async def test_install_syncs_the_catalog_through_pages(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """A small catalog (under the bulk threshold) syncs page by page right after install:
    the demo's products and policies become searchable, identical to an import; the job
    records its result and the next policy refresh is scheduled."""
    store = await install(taskra)
    assert store.id is not None
    await run_jobs(taskra, clock, rounds=1)
    await assert_matches_import(taskra, store.id)
    assert "product:skiddaw-3l-waterproof-jacket-mens" in await search(
        taskra, store.id, "skiddaw waterproof jacket"
    )
    assert "policy:REFUND_POLICY" in await search(taskra, store.id, "refund return policy")
    status = await latest_sync(taskra, store.id)
    assert status is not None
    assert status["state"] == "done"
    assert status["result"]["method"] == "pages"
    assert status["result"]["products"] == len(fake_shopify.products)
    (policies,) = await jobs_of(taskra, "shopify.policies")
    assert policies.state == "queued"
    assert policies.run_after > clock.now()
    assert not fake_shopify.bulk_operations


async def test_a_second_sync_writes_nothing(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """Re-running the sync on unchanged data adds, updates and removes nothing."""
    store = await install(taskra)
    assert store.id is not None
    await run_jobs(taskra, clock, rounds=1)
    before = {k: v.updated_at for k, v in (await items(taskra, store.id)).items()}
    async with taskra.db.transaction() as session:
        await taskra.jobs.enqueue(
            session, "shopify.sync", {"shop": store.domain}, store_id=store.id
        )
    clock.advance(60)
    await run_jobs(taskra, clock, rounds=1)
    status = await latest_sync(taskra, store.id)
    assert status is not None
    assert (status["result"]["added"], status["result"]["updated"]) == (0, 0)
    assert status["result"]["removed"] == 0
    assert {k: v.updated_at for k, v in (await items(taskra, store.id)).items()} == before


async def test_large_catalogs_sync_through_a_bulk_operation(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """Above the threshold the sync submits a bulk query; the poll job follows it until it
    completes, and the apply job rebuilds products (variants from ``__parentId`` lines)
    from the downloaded JSONL: the same knowledge as an import."""
    async with make_taskra(database_url, fake_shopify, clock, shopify_bulk_threshold=10) as core:
        store = await install(core)
        assert store.id is not None
        await run_jobs(core, clock)
        (operation,) = fake_shopify.bulk_operations.values()
        assert operation.status == "COMPLETED"
        assert any("__parentId" in line for line in operation.lines)
        await assert_matches_import(core, store.id)
        (apply,) = await jobs_of(core, "shopify.sync.apply")
        assert apply.state == "done"
        assert apply.payload["result"]["method"] == "bulk"
        assert fake_shopify.requests_to("/bulk/")


async def test_products_gone_from_shopify_are_removed_by_a_full_sync(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """A product deleted in Shopify while no webhook arrived is removed by the next sync."""
    store = await install(taskra)
    assert store.id is not None
    await run_jobs(taskra, clock, rounds=1)
    fake_shopify.delete_product("skiddaw-3l-waterproof-jacket-mens")
    async with taskra.db.transaction() as session:
        await taskra.jobs.enqueue(
            session, "shopify.sync", {"shop": store.domain}, store_id=store.id
        )
    clock.advance(60)
    await run_jobs(taskra, clock, rounds=1)
    synced = await items(taskra, store.id)
    assert "product:skiddaw-3l-waterproof-jacket-mens" not in synced
    assert len(synced) == len(DEMO_CATALOG) - 1


# --- throttling --------------------------------------------------------------------------


async def test_rate_limits_and_throttles_are_waited_out(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """A 429 with Retry-After and a THROTTLED answer mid-sync are waited out in the job:
    the sync still completes on its first attempt."""
    store = await install(taskra)
    assert store.id is not None
    fake_shopify.inject(
        "graphql", rate_limited(0.2), throttled(requested=100, available=80, restore_rate=400)
    )
    await run_jobs(taskra, clock, rounds=1)
    (job,) = await jobs_of(taskra, "shopify.sync")
    assert (job.state, job.attempts) == ("done", 1)
    await assert_matches_import(taskra, store.id)


async def test_the_leaky_bucket_throttles_and_the_sync_still_completes(
    database_url: str, clock: ManualClock
) -> None:
    """With a small bucket that restores slowly, the fake answers THROTTLED by itself (as
    Shopify does when the requested cost exceeds what is left); the sync waits and ends."""
    with FakeShopify(bucket_size=1000, restore_rate=400.0) as fake:
        async with make_taskra(database_url, fake, clock) as core:
            store = await install(core)
            assert store.id is not None
            await run_jobs(core, clock, rounds=1)
            assert fake.counts["throttled"] > 0
            (job,) = await jobs_of(core, "shopify.sync")
            assert job.state == "done"
            await assert_matches_import(core, store.id)


async def test_a_long_throttle_retries_the_job_later(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """A wait longer than TASKRA_SHOPIFY_THROTTLE_WAIT_SECONDS fails the attempt with
    ShopifyUnavailable; the job is retried later and succeeds, never dead."""
    async with make_taskra(
        database_url, fake_shopify, clock, shopify_throttle_wait_seconds=3.0
    ) as core:
        store = await install(core)
        assert store.id is not None
        fake_shopify.inject("graphql", rate_limited(30))
        await Worker(core).run_until_idle()
        (job,) = await jobs_of(core, "shopify.sync")
        assert job.state == "queued"
        assert "429" in (job.last_error or "")
        await run_jobs(core, clock)
        (job,) = await jobs_of(core, "shopify.sync")
        assert (job.state, job.attempts) == ("done", 2)
        await assert_matches_import(core, store.id)
