"""The group commit's batching: which deliveries share a transaction.

Correctness over HTTP (every acknowledged delivery stored, duplicates once) is in
``test_webhooks.py``; here the batcher is driven directly, to see its transactions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.models import WebhookReceipt
from taskra_core.testing import make_test_taskra
from taskra_shopify.webhook_batch import Incoming, ReceiptBatcher

SHOP = "batch.myshopify.com"


def incoming() -> Incoming:
    return Incoming(
        shop=SHOP,
        topic="app/scopes_update",
        webhook_id=str(uuid.uuid4()),
        event_id=None,
        triggered_at=None,
        api_version="2026-10",
        received_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        payload={"id": 1},
        error=None,
    )


@pytest.fixture
async def core(database_url: str) -> AsyncIterator[Taskra]:
    taskra = make_test_taskra(
        database_url, plugins=[taskra_shopify.plugin], shopify_api_secret="s" * 32
    )
    await taskra.startup()
    try:
        yield taskra
    finally:
        await taskra.shutdown()


@pytest.fixture
def transactions(core: Taskra, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each transaction the batcher writes (the database call is observed and
    still made)."""
    sizes: list[int] = []
    run = core.db.run_transaction

    async def counted(work: Callable[[Any], Any]) -> Any:
        before = await stored(core)
        result = await run(work)
        sizes.append(await stored(core) - before)
        return result

    monkeypatch.setattr(core.db, "run_transaction", counted)
    return sizes


async def stored(core: Taskra) -> int:
    async with core.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookReceipt)) or 0)


async def test_deliveries_arriving_together_share_one_transaction(
    core: Taskra, transactions: list[int]
) -> None:
    """Deliveries submitted within the same turns of the event loop are written together,
    without any fixed wait: one transaction for twenty."""
    batcher = ReceiptBatcher(core)
    await batcher.start()
    try:
        await asyncio.gather(*(batcher.submit(incoming()) for _ in range(20)))
    finally:
        await batcher.stop()
    assert transactions == [20]


async def test_a_delivery_arriving_during_a_write_goes_in_the_next_batch(
    core: Taskra, transactions: list[int]
) -> None:
    """There is no fixed wait: a few quiet turns of the event loop after a delivery, its
    batch is being written, and one that comes then is written in the next transaction.
    Each is acknowledged only once stored."""
    batcher = ReceiptBatcher(core)
    await batcher.start()
    try:
        first = asyncio.ensure_future(batcher.submit(incoming()))
        for _ in range(10):  # the batcher wakes, sees two quiet turns, takes the batch
            await asyncio.sleep(0)
        assert not first.done()  # being written: not acknowledged yet
        second = asyncio.ensure_future(batcher.submit(incoming()))
        await asyncio.gather(first, second)
    finally:
        await batcher.stop()
    assert transactions == [1, 1]
    assert await stored(core) == 2


async def test_a_lone_delivery_is_written_after_a_few_quiet_turns(
    core: Taskra, transactions: list[int]
) -> None:
    """With ``quiet_turns`` turns of the loop and no company, a delivery is written alone."""
    batcher = ReceiptBatcher(core, quiet_turns=5)
    await batcher.start()
    try:
        await batcher.submit(incoming())
        await batcher.submit(incoming())
    finally:
        await batcher.stop()
    assert transactions == [1, 1]
