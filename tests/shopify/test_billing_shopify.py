"""Billing through Shopify (App Store installs) and Stripe's webhook endpoint, over real HTTP
through the app: the Billing API against the fake Shopify, ``app_subscriptions/update``
webhooks signed as Shopify signs them, Stripe events signed by the Stripe SDK's helper, and
the billing endpoints of the JSON API with session tokens."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.drafting.types import ModelReply
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import BillingRecord, Draft, JobRecord, Store, WebhookReceipt
from taskra_core.testing import MockModelPlugin, MockReplyModel, make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.fakes.shopify import (
    CLIENT_ID,
    CLIENT_SECRET,
    SHOP,
    FakeShopify,
    mint_id_token,
    sign_webhook,
)
from tests.fakes.stripe import API_KEY, TEST_PLANS, WEBHOOK_SECRET, FakeStripe, signed
from tests.shopify.installing import install

AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
FREE_OF_3 = {"free": {"title": "Free", "price_cents": 0, "included_replies": 3}}


def reply(request: Any) -> ModelReply:
    return ModelReply(
        text="The Skiddaw comes up true to size.",
        model="mock",
        sources=("product:skiddaw-3l-waterproof-jacket-mens",),
        intent="product_question",
        language="en",
        confidence=0.9,
    )


@pytest.fixture
def fake_stripe() -> Any:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
async def running(
    database_url: str, fake_shopify: FakeShopify, fake_stripe: FakeStripe
) -> AsyncIterator[tuple[Taskra, Starlette]]:
    """The app (lifespan running, no in-process worker) for an installed demo store."""
    core = make_test_taskra(
        database_url,
        plugins=[MockModelPlugin(MockReplyModel(reply)), taskra_shopify.plugin],
        reply_model="mock",
        now=AS_OF,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
        stripe_api_key=API_KEY,
        stripe_api_url=fake_stripe.url,
        stripe_webhook_secret=WEBHOOK_SECRET,
        billing_plans={**TEST_PLANS, **FREE_OF_3},
    )
    app = create_app(core, run_worker=False)
    async with app.router.lifespan_context(app):
        await import_store(core, FELLANDFORD)
        await install(core)
        yield core, app


@pytest.fixture
def taskra(running: tuple[Taskra, Starlette]) -> Taskra:
    return running[0]


@pytest.fixture
async def client(running: tuple[Taskra, Starlette]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running[1])
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
        yield c


async def api(client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {mint_id_token(SHOP)}"}
    return await client.request(method, f"/api/v1{path}", headers=headers, **kw)


async def drain(taskra: Taskra) -> None:
    """Run due jobs until none is left (the store sync's next refresh stays scheduled)."""
    while await Worker(taskra).run_until_idle():
        pass
    async with taskra.db.session() as session:
        dead = await session.scalar(select(JobRecord).where(col(JobRecord.state) == "dead"))
    assert dead is None, f"{dead.kind}: {dead.last_error}"


async def store_row(taskra: Taskra) -> Store:
    async with taskra.db.session() as session:
        return (await session.scalars(select(Store).where(col(Store.domain) == SHOP))).one()


async def shopify_webhook(
    client: httpx.AsyncClient, payload: dict[str, Any], webhook_id: str | None = None
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": sign_webhook(body),
        "X-Shopify-Topic": "app_subscriptions/update",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
    }
    return await client.post("/webhooks/shopify", content=body, headers=headers)


async def deliver_shopify(
    client: httpx.AsyncClient, taskra: Taskra, payloads: list[dict[str, Any]]
) -> None:
    for payload in payloads:
        assert (await shopify_webhook(client, payload)).status_code == 200
    await drain(taskra)


async def message(taskra: Taskra, n: int) -> None:
    store = await store_row(taskra)
    assert store.id is not None
    await taskra.inbox.receive(
        store.id,
        InboundMessage(
            channel="email",
            from_email=f"shopper{n}@example.com",
            text=f"Does the Skiddaw jacket come up big? ({n})",
            subject=f"Sizing {n}",
        ),
    )
    await drain(taskra)


async def drafts(taskra: Taskra) -> list[Draft]:
    async with taskra.db.session() as session:
        return list(await session.scalars(select(Draft).order_by(col(Draft.id))))


# --- Shopify Billing API ---------------------------------------------------------------------


async def test_shopify_subscribe_hit_cap_upgrade_and_continue(
    client: httpx.AsyncClient, taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """The acceptance path through Shopify: the API starts a test subscription with a
    recurring and a capped usage line item; approval (webhook) sets Starter; replies beyond
    the 5 included are charged as usage records up to the cap, then drafting stops with the
    reason; an in-app upgrade to Pro replaces the subscription and drafting continues."""
    response = await api(client, "POST", "/billing/subscribe", json={"plan": "starter"})
    assert response.status_code == 200, response.text
    started = response.json()
    assert started["provider"] == "shopify"
    assert started["url"].startswith(f"https://{SHOP}/admin/charges/")
    [pending] = fake_shopify.billing.subscriptions.values()
    assert (pending.status, pending.test, pending.name) == ("PENDING", True, "Taskra Starter")
    assert pending.replacement == "APPLY_IMMEDIATELY"
    assert pending.return_url.startswith("https://admin.shopify.com/store/fellandford/apps/")
    details = [i["plan"]["pricingDetails"] for i in pending.line_items]
    assert details[0]["price"] == {"amount": "19", "currencyCode": "USD"}
    assert details[1]["cappedAmount"] == {"amount": "0.08", "currencyCode": "USD"}
    assert (await store_row(taskra)).plan == "free"  # not before the merchant approves

    await deliver_shopify(client, taskra, fake_shopify.billing.approve(pending.id))
    assert (await store_row(taskra)).plan == "starter"

    for n in range(8):
        await message(taskra, n)
    found = await drafts(taskra)
    assert [d.model for d in found] == ["mock"] * 7 + ["none"]
    assert found[7].escalation_reasons[0].startswith("allowance_exhausted: the Starter plan's 5")
    charged = [r["idempotencyKey"] for r in pending.usage]
    assert charged == [f"taskra-draft-{found[5].id}", f"taskra-draft-{found[6].id}"]
    async with taskra.db.session() as session:
        kinds = [
            (r.kind, r.amount_cents)
            for r in await session.scalars(select(BillingRecord).order_by(col(BillingRecord.id)))
        ]
    assert kinds == [("subscription", 1900), ("usage_charge", 4), ("usage_charge", 4)]

    response = await api(client, "POST", "/billing/subscribe", json={"plan": "pro"})
    assert response.status_code == 200, response.text
    upgrade = next(s for s in fake_shopify.billing.subscriptions.values() if s.id != pending.id)
    assert upgrade.trial_days == 0
    # Delivered newest first: order of arrival must not matter.
    await deliver_shopify(client, taskra, list(reversed(fake_shopify.billing.approve(upgrade.id))))
    assert (await store_row(taskra)).plan == "pro"
    await message(taskra, 99)
    assert (await drafts(taskra))[-1].model == "mock"
    state = (await api(client, "GET", "/billing")).json()
    assert state["plan"]["name"] == "pro"
    assert state["subscription"]["provider"] == "shopify"
    assert state["allowance"]["ai_replies"] == 8
    assert [r["kind"] for r in state["records"]].count("usage_charge") == 2


async def test_a_declined_change_keeps_the_plan_and_replays_change_nothing(
    client: httpx.AsyncClient, taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """Declining an upgrade leaves the live plan; a replayed webhook is stored once; a stale
    update (older ``updated_at``) after a cancellation does not revive the plan."""
    await api(client, "POST", "/billing/subscribe", json={"plan": "starter"})
    [first] = fake_shopify.billing.subscriptions.values()
    [approved] = fake_shopify.billing.approve(first.id)
    await deliver_shopify(client, taskra, [approved])
    await api(client, "POST", "/billing/subscribe", json={"plan": "pro"})
    second = next(s for s in fake_shopify.billing.subscriptions.values() if s.id != first.id)
    await deliver_shopify(client, taskra, fake_shopify.billing.decline(second.id))
    assert (await store_row(taskra)).plan == "starter"

    webhook_id = str(uuid.uuid4())
    for _ in range(2):
        assert (await shopify_webhook(client, approved, webhook_id)).status_code == 200
    await drain(taskra)
    async with taskra.db.session() as session:
        receipts = list(
            await session.scalars(
                select(WebhookReceipt).where(col(WebhookReceipt.delivery_id) == webhook_id)
            )
        )
    assert len(receipts) == 1

    response = await api(client, "POST", "/billing/subscribe", json={"plan": "free"})
    assert response.json()["url"] is None
    assert first.status == "CANCELLED"
    await deliver_shopify(client, taskra, [fake_shopify.billing.cancelled_payload(first.id)])
    assert (await store_row(taskra)).plan == "free"
    await deliver_shopify(client, taskra, [approved])  # the old ACTIVE, redelivered late
    assert (await store_row(taskra)).plan == "free"


async def test_returning_from_confirmation_applies_the_active_subscription(
    client: httpx.AsyncClient, taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """If the merchant is back before the webhook, the active subscription Shopify reports
    (currentAppInstallation) is applied; the webhook arriving later changes nothing more."""
    from taskra_shopify.billing import ShopifyBilling

    await api(client, "POST", "/billing/subscribe", json={"plan": "pro"})
    [pending] = fake_shopify.billing.subscriptions.values()
    payloads = fake_shopify.billing.approve(pending.id)
    provider = taskra.billing.providers.get("shopify")
    assert isinstance(provider, ShopifyBilling)
    await provider.refresh(taskra, await store_row(taskra))
    assert (await store_row(taskra)).plan == "pro"
    await deliver_shopify(client, taskra, payloads)
    assert (await store_row(taskra)).plan == "pro"


async def test_agents_cannot_change_the_plan(
    client: httpx.AsyncClient, taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """A staff member recorded as an agent gets 403 and no subscription is created."""
    from taskra_core.models import Account

    fake_shopify.staff.add(SHOP, "555", "agent@fellandford.test")
    token = mint_id_token(SHOP, sub="555")
    headers = {"Authorization": f"Bearer {token}"}
    first = await client.get("/api/v1/billing", headers=headers)
    assert first.status_code == 200, first.text
    async with taskra.db.transaction() as session:
        account = await session.scalar(
            select(Account).where(col(Account.email) == "agent@fellandford.test")
        )
        assert account is not None
        account.role = "agent"
    response = await client.post("/api/v1/billing/subscribe", json={"plan": "pro"}, headers=headers)
    assert response.status_code == 403
    assert fake_shopify.billing.subscriptions == {}


# --- Stripe's webhook endpoint ---------------------------------------------------------------


async def test_stripe_webhook_endpoint_verifies_and_deduplicates(
    client: httpx.AsyncClient, taskra: Taskra, fake_stripe: FakeStripe
) -> None:
    """POST /webhooks/stripe: a bad signature is 400 and stores nothing; a signed event is
    200 and applied; the same event again is 200, marked duplicate, applied once."""
    response = await api(
        client, "POST", "/billing/subscribe", json={"plan": "starter", "provider": "stripe"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["url"].startswith(fake_stripe.url)
    [session_id] = fake_stripe.checkout_sessions
    events = fake_stripe.complete_checkout(session_id)

    body, headers = signed(events[1], secret="whsec_forged")
    bad = await client.post("/webhooks/stripe", content=body, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "StripeSignatureInvalid"
    async with taskra.db.session() as session:
        assert list(await session.scalars(select(WebhookReceipt))) == []

    for event in events:
        body, headers = signed(event)
        ok = await client.post("/webhooks/stripe", content=body, headers=headers)
        assert ok.json() == {"received": True, "duplicate": False}
    body, headers = signed(events[2])
    # A replay of an event already stored: still one event.
    again = await client.post("/webhooks/stripe", content=body, headers=headers)
    assert again.json() == {"received": True, "duplicate": True}
    await drain(taskra)
    assert (await store_row(taskra)).plan == "starter"
    portal = await api(client, "POST", "/billing/portal")
    assert portal.json()["url"] == fake_stripe.portal_sessions[0]["url"]
    async with taskra.db.session() as session:
        invoices = list(await session.scalars(select(BillingRecord)))
    assert [(r.provider, r.status) for r in invoices] == [("stripe", "paid")]


# --- pages, onboarding and unsubscribing -----------------------------------------------------


async def usage_page(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    """The usage page as Shopify admin loads it (a document request with an ID token)."""
    query = {"shop": SHOP, "host": "abc", "id_token": mint_id_token(SHOP), **params}
    return await client.get("/usage", params=query)


async def test_usage_page_shows_plan_forecast_and_plans_to_move_to(
    client: httpx.AsyncClient, taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """The page shows the plan, replies against the allowance with the month's forecast,
    and a button per other plan; back from Shopify's confirmation page (?billing=shopify)
    the approved plan is shown at once; and the kept outbox shows the welcome email."""
    await message(taskra, 1)
    page = await usage_page(client)
    assert page.status_code == 200, page.text
    html = page.text
    assert "You are on the <strong>Free</strong> plan" in html
    assert 'data-billing="replies">1 of 3 included (33%)<' in html
    assert 'data-billing="forecast">about 2 replies, 0.00 USD<' in html
    assert 'data-action="billing" data-path="/api/v1/billing/subscribe" data-plan="pro"' in html
    assert "Welcome to Taskra" in html  # the outbox (no Resend key)

    await api(client, "POST", "/billing/subscribe", json={"plan": "pro"})
    [pending] = fake_shopify.billing.subscriptions.values()
    fake_shopify.billing.approve(pending.id)  # webhook not delivered yet
    back = await usage_page(client, billing="shopify")
    assert "You are on the <strong>Pro</strong> plan" in back.text
    assert "billed through Shopify (active)" in back.text


async def test_install_queues_the_onboarding_sequence_once(taskra: Taskra) -> None:
    """Installing queues welcome (now), connect-email and enable-chat (later), once per
    installation: a second app load adds nothing."""
    from taskra_core.notifications import NOTIFY_JOB

    await install(taskra)
    async with taskra.db.session() as session:
        jobs = list(
            await session.scalars(
                select(JobRecord)
                .where(col(JobRecord.kind) == NOTIFY_JOB)
                .order_by(col(JobRecord.run_after))
            )
        )
    assert [j.payload["kind"] for j in jobs] == ["welcome", "connect_email", "enable_chat"]
    assert jobs[1].run_after - jobs[0].run_after >= timedelta(hours=23)


async def test_one_click_unsubscribe_link(client: httpx.AsyncClient, taskra: Taskra) -> None:
    """GET shows a button and changes nothing (link scanners); POST with the signed link
    unsubscribes; a forged token is 400 and changes nothing."""
    from taskra_core.notifications import set_service_updates, unsubscribe_url

    store = await store_row(taskra)
    assert store.id is not None
    await set_service_updates(taskra, store.id, True)
    path = unsubscribe_url(taskra, store.id).split("://", 1)[1].split("/", 1)[1]
    shown = await client.get(f"/{path}")
    assert shown.status_code == 200
    assert '<button type="submit">Unsubscribe</button>' in shown.text
    assert (await store_row(taskra)).settings["service_updates"] is True
    forged = await client.post(f"/notifications/unsubscribe?store={store.id}&token=forged")
    assert forged.status_code == 400
    assert (await store_row(taskra)).settings["service_updates"] is True
    done = await client.post(f"/{path}", content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert "data-unsubscribed" in done.text
    assert (await store_row(taskra)).settings["service_updates"] is False
