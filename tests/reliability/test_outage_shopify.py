"""An outage of Shopify's Admin API against a real ``taskra serve``, while product and shop
webhooks are applied and order look-ups are made for drafts: webhooks are still
acknowledged and stored once, the catalog ends as Shopify has it with nothing duplicated,
drafts made meanwhile say order data is unavailable and go to a person, and look-ups work
again after the recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.models import (
    KnowledgeItem,
    KnowledgePassage,
    Store,
    WebhookReceipt,
)
from taskra_core.testing import TEST_SECRET_KEY, make_test_taskra
from tests.fakes import shopify as fake_shopify_
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify
from tests.reliability.outages import (
    RETRYING,
    at_least,
    count,
    drafts,
    jobs_of,
    outage_server,
    outbound,
    phase,
    raw_from,
    until,
)
from tests.reliability.test_crash import Load, send, wait_idle
from tests.shopify.installing import install
from tests.shopify.test_webhooks import delivery

pytestmark = pytest.mark.reliability


# --- Shopify ---------------------------------------------------------------------------------

DAN = "Dan Whitfield <dan.whitfield@example.com>"  # owns #1031 in the demo
PRIYA = "Priya Raman <priya.raman84@example.com>"  # owns #1001, #1003, #1007, #1038
EDITED = [
    "skiddaw-3l-waterproof-jacket-mens",
    "catbells-packable-rain-jacket",
    "helvellyn-800-down-jacket",
    "langdale-grid-fleece-hoodie",
    "borrowdale-merino-200-crew",
    "coniston-stretch-walking-trousers",
]


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    """The fake at a Shopify Plus restore rate, so the install's sync rarely waits."""
    with FakeShopify(restore_rate=1000.0) as fake:
        yield fake


async def catalog(core: Taskra, store_id: int) -> dict[str, tuple[str, int]]:
    """Source id -> (title, number of passages) of the store's knowledge."""
    async with core.db.session() as session:
        items = list(
            await session.scalars(
                select(KnowledgeItem).where(col(KnowledgeItem.store_id) == store_id)
            )
        )
        rows = await session.execute(
            select(KnowledgePassage.source_id, func.count())  # type: ignore[call-overload]
            .where(col(KnowledgePassage.store_id) == store_id)
            .group_by(KnowledgePassage.source_id)
        )
        passages = {str(source): int(k) for source, k in rows.all()}
    return {item.source_id: (item.title, passages.get(item.source_id, 0)) for item in items}


def asked_for(fake: FakeShopify, word: str) -> set[str]:
    """Product ids named in Admin GraphQL requests whose query mentions ``word``."""
    found = set()
    for request in fake.requests_to("/admin/api/"):
        body = request.body if isinstance(request.body, dict) else {}
        if word in str(body.get("query", "")):
            found.add(str((body.get("variables") or {}).get("id")))
    return found


async def test_a_shopify_outage_delays_catalog_updates_and_applies_each_once(
    env: dict[str, str], database_url: str, shopify: FakeShopify, tmp_path: Path
) -> None:
    """The store is installed (token exchange) and its catalog synced while Shopify is up.
    Then Shopify's Admin API answers 502, 503, 429 and THROTTLED while the merchant edits 6
    products (2 of them twice) and renames the shop: Shopify's products/update and
    shop/update webhooks (each delivered twice) reach the server, and two customers ask
    "where is my order?". Then Admin API requests hang for a second and the connection
    breaks, or are answered slowly (slower than the order look-up's timeout); then Shopify
    recovers.

    Every webhook and email is acknowledged at once; each delivery is stored once; after the
    recovery every edited product's knowledge has Shopify's latest title, no knowledge item
    or passage is duplicated, the shop has its new name, and no job is dead. The drafts made
    during the outage say order data is unavailable and go to a person (none is sent), and an
    order question after the recovery is answered from Shopify again."""
    fake = shopify
    installer = make_test_taskra(
        database_url,
        plugins=[taskra_shopify.plugin],
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake.origin,
    )
    async with installer:
        store = await install(installer)
    assert store.id is not None
    graphql = fake.outages["graphql"]
    server = outage_server(
        env,
        tmp_path,
        {
            # Nothing is killed here: a lease longer than the install's catalog sync.
            "TASKRA_JOB_LEASE_SECONDS": "60",
            "TASKRA_SHOPIFY_ORIGIN": fake.origin,
            "TASKRA_SECRET_KEY": TEST_SECRET_KEY,  # the installed store's tokens are sealed with it
            "TASKRA_SHOPIFY_ORDERS_TIMEOUT_SECONDS": "0.5",
            "TASKRA_SHOPIFY_ORDERS_CACHE_SECONDS": "0",  # every draft asks Shopify
            # A job waits out Shopify's failures in-process for at most this long per attempt
            # (then retries with backoff), so the outage does not hold the worker's slots long.
            "TASKRA_SHOPIFY_THROTTLE_WAIT_SECONDS": "1",
        },
    )
    server.start()
    try:
        core = make_test_taskra(database_url)
        async with core:
            await wait_idle(core, horizon=RETRYING)  # the install's catalog sync, with Shopify up
            assert [j.state for j in await jobs_of(core, "shopify.sync")] == ["done"]
            before = await catalog(core, store.id)
            graphql.begin(
                fake_shopify_.server_error(502),
                fake_shopify_.server_error(503),
                fake_shopify_.rate_limited(0.5),
                fake_shopify_.throttled(requested=150, available=100, restore_rate=100.0),
            )
            webhooks: list[tuple[bytes, dict[str, str]]] = []
            originals = {h: fake.product_by_handle(h)["title"] for h in EDITED}
            titles: dict[str, str] = {}
            for round_, handles in enumerate((EDITED, EDITED[:2]), start=2):
                for handle in handles:
                    product = fake.product_by_handle(handle)
                    title = f"{originals[handle]} (edition {round_})"
                    fake.update_product(handle, title=title)
                    titles[f"product:{handle}"] = title
                    gid = product["id"]
                    payload = {"id": int(gid.rsplit("/", 1)[1]), "admin_graphql_api_id": gid}
                    webhooks.append(delivery("products/update", payload))
            fake.shop_data["name"] = "Fell & Ford Outfitters"
            webhooks.append(delivery("shop/update", {"domain": SHOP, "name": "Fell & Ford"}))
            load = Load()
            load.emails += [
                raw_from(DAN, "Where is my order?", "My order"),
                raw_from(PRIYA, "Where is my order? It has been a week.", "Order status"),
            ]
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                acks = [
                    await client.post("/webhooks/shopify", content=body, headers=headers)
                    for body, headers in [*webhooks, *webhooks]  # Shopify delivers twice
                ]
            await send(server.url, load.requests(), load)
            gids = {fake.product_by_handle(h)["id"] for h in EDITED}
            await until(lambda: gids <= asked_for(fake, "product("), "every product asked for")
            await until(lambda: at_least(drafts(core), 2), "a draft for each order question")
            await phase(
                graphql, fake_shopify_.timed_out(1.0), fake_shopify_.delayed(1.0), requests=6
            )
            graphql.end()
            states = await wait_idle(core, horizon=RETRYING)
            after = await catalog(core, store.id)
            during = await drafts(core)
            async with core.db.session() as session:
                receipts = await session.execute(
                    select(WebhookReceipt.delivery_id, func.count())  # type: ignore[call-overload]
                    .where(col(WebhookReceipt.source) == "shopify")
                    .group_by(WebhookReceipt.delivery_id)
                )
                per_delivery = {str(k): int(v) for k, v in receipts.all()}
                renamed = await session.get(Store, store.id)
            sent_during = await count(core, outbound())
            webhook_jobs = await jobs_of(core, "shopify.webhook")
            # Shopify is back: a new order question is answered from its orders.
            later = Load()
            later.emails.append(raw_from(DAN, "Where is my order #1031?", "Tracking please"))
            await send(server.url, later.requests(), later)
            await wait_idle(core, horizon=RETRYING)
            last = (await drafts(core))[-1]
    finally:
        graphql.end()
        server.stop()
    assert [a.status_code for a in acks] == [200] * len(acks), [a.text for a in acks]
    assert len(load.acked) == 2
    assert len(later.acked) == 1
    assert states.get("dead", 0) == 0, (states, server.output())
    ids = [headers["X-Shopify-Webhook-Id"] for _, headers in webhooks]
    assert all(per_delivery.get(i) == 1 for i in ids), per_delivery
    assert len(webhook_jobs) == len(ids), "a repeated delivery queued its work again"
    assert all(j.state == "done" for j in webhook_jobs)
    assert any(j.attempts > 1 for j in webhook_jobs), "the outage was never seen"
    assert all(before[f"product:{h}"][0] == title for h, title in originals.items())
    assert set(after) == set(before), "knowledge items were added or lost"
    for source_id, (title, passages) in after.items():
        assert passages == before[source_id][1], f"{source_id}: passages duplicated or lost"
        assert title == titles.get(source_id, before[source_id][0]), source_id
    assert renamed is not None
    assert renamed.name == "Fell & Ford Outfitters"
    assert len(during) == 2
    for draft in during:
        assert draft.state == "escalated", draft.state
        assert any(r.startswith("orders_unavailable") for r in draft.escalation_reasons)
    assert sent_during == 0
    assert last.message_id not in {d.message_id for d in during}
    assert not any(r.startswith("orders_unavailable") for r in last.escalation_reasons)
    assert "order:#1031" in last.sources, last.sources
    served = graphql.served
    assert {f.status for f in served if not f.delay} >= {502, 503, 429, 200}
    assert any(f.drop for f in served)
    assert any(f.delay and not f.drop for f in served)
