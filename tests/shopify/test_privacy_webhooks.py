"""Shopify's three mandatory privacy webhooks, end to end: a signed delivery to
``POST /webhooks/shopify``, the real worker, and what is left afterwards. The HMAC checks
(401 on a bad signature) are proven in test_webhooks.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette

from taskra_core.app import Taskra
from taskra_core.inbox.messages import InboundMessage
from taskra_core.mail import OutboxMailer
from taskra_core.models import BillingRecord, Customer, PrivacyRequest, Store, WebhookReceipt
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
