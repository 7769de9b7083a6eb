"""Shopify's three mandatory privacy webhooks, end to end: a signed delivery to
``POST /webhooks/shopify``, the real worker, and what is left afterwards. The HMAC checks
(401 on a bad signature) are proven in test_webhooks.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from starlette.applications import Starlette

from taskra_core import hookimpl
from taskra_core.app import Taskra
from taskra_core.inbox.messages import InboundMessage
from taskra_core.mail import OutboxMailer
from taskra_core.models import (
    BillingRecord,
    Customer,
    JobRecord,
    PrivacyRequest,
    Store,
    WebhookReceipt,
)
from taskra_core.privacy import ledger as privacy_ledger
from taskra_core.privacy.ledger import ERASED_SUBJECT
from taskra_shopify.app import create_app
from tests.core.test_privacy import rows_mentioning
from tests.fakes.shopify import SHOP, FakeShopify, mint_id_token
from tests.shopify.installing import install
from tests.shopify.test_webhooks import _taskra, delivery, post, run_jobs

JOHN = "john.privacy@example.com"
MARKER = "wallabyparka"


@pytest.fixture
async def running(
    database_url: str, fake_shopify: FakeShopify
) -> AsyncIterator[tuple[Taskra, Starlette]]:
    core = _taskra(database_url, fake_shopify)
    app = create_app(core, run_worker=False)
    async with app.router.lifespan_context(app):
        yield core, app


@pytest.fixture
def taskra(running: tuple[Taskra, Starlette]) -> Taskra:
    return running[0]


@pytest.fixture
async def client(running: tuple[Taskra, Starlette]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running[1])
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
        yield c


@pytest.fixture
async def store(taskra: Taskra) -> Store:
    """The installed shop with one customer who wrote in (and got an AI draft)."""
    installed = await install(taskra)
    assert installed.id is not None
    await taskra.inbox.receive(
        installed.id,
        InboundMessage(
            channel="email",
            from_email=JOHN,
            from_name="John Quincy",
            subject="Jacket",
            text=f"Is the {MARKER} waterproof?",
        ),
    )
    await run_jobs(taskra)
    return installed


def customer_payload(topic: str) -> dict[str, object]:
    customer = {"id": 191167, "email": JOHN, "phone": "555-625-1199"}
    if topic == "customers/data_request":
        return {
            "shop_domain": SHOP,
            "customer": customer,
            "orders_requested": [],
            "data_request": {"id": 9999},
        }
    return {"shop_domain": SHOP, "customer": customer, "orders_to_redact": []}


async def ledger(taskra: Taskra) -> list[PrivacyRequest]:
    async with taskra.db.session() as session:
        return list(await session.scalars(select(PrivacyRequest).order_by(col(PrivacyRequest.id))))


async def test_data_request_compiles_an_export_and_tells_the_merchant(
    client: httpx.AsyncClient, taskra: Taskra, store: Store
) -> None:
    """customers/data_request: the customer's data is compiled as JSON, downloadable by the
    shop's staff (API and admin page), the merchant is emailed (without the customer's
    details), and the ledger shows the request completed."""
    body, headers = delivery("customers/data_request", customer_payload("customers/data_request"))
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)

    [request] = await ledger(taskra)
    assert (request.kind, request.outcome, request.subject) == ("access", "completed", JOHN)
    assert request.completed_at is not None
    export_id = request.result["export_id"]
    auth = {"Authorization": f"Bearer {mint_id_token(SHOP)}"}
    listed = (await client.get("/api/v1/privacy/requests", headers=auth)).json()
    assert listed["requests"][0]["download"] == f"/api/v1/privacy/exports/{export_id}"
    response = await client.get(listed["requests"][0]["download"], headers=auth)
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    document = response.json()
    assert document["customer"]["email"] == JOHN
    assert MARKER in json.dumps(document)

    mailer = taskra.mailer
    assert isinstance(mailer, OutboxMailer)
    [email] = [e for e in mailer.outbox if "privacy request" in e.subject]
    async with taskra.db.session() as session:
        shop = await session.get(Store, store.id)
    assert shop is not None
    assert shop.email  # the shop's contact email, synced from Shopify
    assert email.to == shop.email
    assert "/privacy-requests" in email.text
    assert JOHN not in email.text
    assert MARKER not in email.text


async def test_customer_redact_erases_the_customer_everywhere(
    client: httpx.AsyncClient, taskra: Taskra, store: Store
) -> None:
    """customers/redact: no table keeps the customer's email, name or message text (the
    webhook receipts included); the ledger keeps an anonymous, completed row; a repeated
    delivery is harmless."""
    body, headers = delivery("customers/data_request", customer_payload("customers/data_request"))
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)
    body, headers = delivery("customers/redact", customer_payload("customers/redact"))
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)

    def mentions(text: str) -> bool:
        return JOHN in text or MARKER in text or "quincy" in text or "191167" in text

    assert await rows_mentioning(taskra, mentions) == []
    requests = await ledger(taskra)
    assert [(r.kind, r.subject, r.outcome) for r in requests] == [
        ("access", ERASED_SUBJECT, "completed"),
        ("erasure", ERASED_SUBJECT, "completed"),
    ]
    assert requests[1].result["erased"]["messages"] == 1  # the question (drafts are not messages)

    # The same delivery again (Shopify retries), then the same request as a new delivery.
    assert (await post(client, body, headers)).status_code == 200
    body, headers = delivery("customers/redact", customer_payload("customers/redact"))
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)
    requests = await ledger(taskra)
    assert [r.outcome for r in requests] == ["completed", "completed", "nothing_held"]
    assert await rows_mentioning(taskra, mentions) == []


async def test_shop_redact_erases_the_shop_but_keeps_billing_records(
    client: httpx.AsyncClient, taskra: Taskra, store: Store
) -> None:
    """shop/redact: the store and everything of it is gone, except its billing records
    (UK tax law: 7 years), which keep the shop's domain, and the completed ledger row."""
    async with taskra.db.transaction() as session:
        session.add(
            BillingRecord(
                store_id=store.id,
                provider="shopify",
                kind="invoice",
                external_id="inv-1",
                amount_cents=1900,
                occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    body, headers = delivery("shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)

    async with taskra.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Store)) == 0
        assert await session.scalar(select(func.count()).select_from(Customer)) == 0
        assert await session.scalar(select(func.count()).select_from(WebhookReceipt)) == 0
        [record] = list(await session.scalars(select(BillingRecord)))
    assert (record.store_id, record.data["shop_domain"], record.amount_cents) == (
        None,
        SHOP,
        1900,
    )
    assert await rows_mentioning(taskra, lambda t: MARKER in t or JOHN in t) == []
    [request] = await ledger(taskra)
    assert (request.kind, request.subject, request.outcome) == ("erasure", SHOP, "completed")

    # A repeat after the shop is gone is acknowledged and recorded as nothing held.
    body, headers = delivery("shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)
    assert [r.outcome for r in await ledger(taskra)] == ["completed", "nothing_held"]


class LateRequestProbe:
    """A plugin whose part of a shop erasure is to add, from a transaction of its own, a
    privacy request for the shop while the erasure runs: what a ``customers/redact``
    handled at that moment does."""

    __name__ = "late-request-probe"

    def __init__(self) -> None:
        self.attempt: asyncio.Task[None] | None = None
        self.landed_during_erasure: bool | None = None

    @hookimpl
    async def erase_subject_data(
        self, taskra: Taskra, store: Store, customer: Customer | None
    ) -> str | None:
        if customer is not None:
            return None
        assert store.id is not None
        self.attempt = asyncio.create_task(self._open_request(taskra, store.id))
        await asyncio.sleep(0.5)  # ample time to commit, were nothing holding the store
        self.landed_during_erasure = self.attempt.done() and self.attempt.exception() is None
        return "late-request-probe"

    async def _open_request(self, taskra: Taskra, store_id: int) -> None:
        async with taskra.db.transaction() as session:
            privacy_ledger.open_request(
                session,
                store_id=store_id,
                kind="erasure",
                subject="late.customer@example.com",
                source="shopify webhook",
                now=taskra.clock.now(),
            )


async def test_shop_erasure_holds_the_store_until_it_is_gone(
    database_url: str, fake_shopify: FakeShopify
) -> None:
    """While shop/redact erases a store, no new privacy request can attach to it: one that
    committed between the erasure's read of the ledger and its delete of the store would
    vanish in the cascade and leave its job with nothing to answer. The late request waits
    for the erasure, then fails on the deleted store (its delivery's receipt and job went
    with the shop); nothing is left half-done."""
    probe = LateRequestProbe()
    core = _taskra(database_url, fake_shopify, probe)
    app = create_app(core, run_worker=False)
    async with app.router.lifespan_context(app):
        await install(core)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
            body, headers = delivery("shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
            assert (await post(c, body, headers)).status_code == 200
        await run_jobs(core)

        assert probe.attempt is not None
        assert probe.landed_during_erasure is False
        with pytest.raises(IntegrityError):
            await probe.attempt
        [request] = await ledger(core)
        assert (request.store_id, request.subject, request.outcome) == (None, SHOP, "completed")
        async with core.db.session() as session:
            states = list(await session.scalars(select(col(JobRecord.state))))
        assert not {"dead", "queued", "running"} & set(states)
