"""``POST /webhooks/shopify`` over real HTTP through the app, signed exactly as Shopify signs.

Deliveries go through the ASGI app with its lifespan running (so the group-commit batcher
is live); jobs run with a real Worker; install goes through the fake Shopify.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette

import taskra_shopify.plugin
from taskra_core import hookimpl
from taskra_core.app import Taskra
from taskra_core.drafting.service import DRAFT_JOB
from taskra_core.errors import StartupError
from taskra_core.inbox.messages import InboundMessage
from taskra_core.jobs import JobContext
from taskra_core.models import JobRecord, PrivacyRequest, Store, WebhookReceipt
from taskra_core.testing import due_jobs, make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from taskra_shopify.webhook_batch import job_key
from taskra_shopify.webhook_dispatch import WEBHOOK_JOB
from taskra_shopify.webhook_handlers import PRIVACY_JOB
from taskra_shopify.webhook_types import WebhookDelivery
from tests.fakes.shopify import (
    CLIENT_ID,
    CLIENT_SECRET,
    SHOP,
    FakeShopify,
    sign_webhook,
)
from tests.shopify.installing import install

OLD_SECRET = "taskra-old-client-secret-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
CUSTOM_TOPIC = "orders/paid"


class CustomTopic:
    """A third-party plugin handling a topic of its own."""

    __name__ = "custom-topic"

    def __init__(self) -> None:
        self.deliveries: list[WebhookDelivery] = []

    @hookimpl
    def register_webhook_topics(self, register: Callable[..., None]) -> None:
        register(CUSTOM_TOPIC, self.handle)

    async def handle(self, ctx: JobContext, delivery: WebhookDelivery) -> None:
        self.deliveries.append(delivery)


def _taskra(database_url: str, fake: FakeShopify, *plugins: object, **overrides: Any) -> Taskra:
    return make_test_taskra(
        database_url,
        plugins=[*plugins, taskra_shopify.plugin],
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake.origin,
        **overrides,
    )


@pytest.fixture
def custom() -> CustomTopic:
    return CustomTopic()


@pytest.fixture
async def running(
    database_url: str, fake_shopify: FakeShopify, custom: CustomTopic
) -> AsyncIterator[tuple[Taskra, Starlette]]:
    """The app with its lifespan running (core started, batcher live), no in-process worker."""
    core = _taskra(
        database_url,
        fake_shopify,
        custom,
        shopify_api_secret_previous=OLD_SECRET,
        webhook_max_bytes=4096,
    )
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


def delivery(
    topic: str,
    payload: Any,
    *,
    secret: str = CLIENT_SECRET,
    webhook_id: str | None = None,
    event_id: str | None = None,
    triggered_at: datetime | None = None,
    shop: str = SHOP,
    raw: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A body and the headers Shopify sends with it."""
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": sign_webhook(body, secret),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Triggered-At": (triggered_at or datetime.now(UTC)).isoformat(),
    }
    return body, headers


async def post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/webhooks/shopify", content=body, headers=headers)


async def receipts(taskra: Taskra) -> list[WebhookReceipt]:
    async with taskra.db.session() as session:
        return list(await session.scalars(select(WebhookReceipt).order_by(col(WebhookReceipt.id))))


async def jobs(taskra: Taskra, kind: str) -> list[JobRecord]:
    async with taskra.db.session() as session:
        return list(await session.scalars(select(JobRecord).where(col(JobRecord.kind) == kind)))


async def store_row(taskra: Taskra) -> Store:
    async with taskra.db.session() as session:
        return (await session.scalars(select(Store).where(col(Store.domain) == SHOP))).one()


async def run_jobs(taskra: Taskra) -> None:
    """Run jobs until none is due, including those the jobs themselves enqueue."""
    while await Worker(taskra).run_until_idle():
        pass


# --- verification ----------------------------------------------------------------------------


async def test_signed_delivery_is_stored_and_acknowledged(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """A delivery signed with the client secret gets 200 and is stored with its headers,
    payload and a job, before the answer."""
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    body, headers = delivery(
        CUSTOM_TOPIC, {"id": 7}, webhook_id="w-1", event_id="e-1", triggered_at=when
    )
    response = await post(client, body, headers)
    assert response.status_code == 200
    [row] = await receipts(taskra)
    assert (row.topic, row.delivery_id, row.event_id, row.shop_domain) == (
        CUSTOM_TOPIC,
        "w-1",
        "e-1",
        SHOP,
    )
    assert (row.status, row.payload, row.api_version, row.triggered_at) == (
        "queued",
        {"id": 7},
        "2026-10",
        when,
    )
    [job] = await jobs(taskra, WEBHOOK_JOB)
    assert job.payload == {"webhook_id": "w-1"}
    assert job.idempotency_key == job_key("w-1")


@pytest.mark.parametrize(
    "signature",
    [sign_webhook(b"{}", "wrong-secret"), "not base64 at all", sign_webhook(b"other")],
)
async def test_bad_signature_is_401_and_stores_nothing(
    client: httpx.AsyncClient, taskra: Taskra, signature: str
) -> None:
    """A signature made with another secret, over another body, or garbage: 401, no rows."""
    body, headers = delivery("app/uninstalled", {})
    headers["X-Shopify-Hmac-Sha256"] = signature
    response = await post(client, body, headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "WebhookSignatureInvalid"
    assert await receipts(taskra) == []
    assert await jobs(taskra, WEBHOOK_JOB) == []


async def test_signature_over_the_raw_bytes_not_reencoded_json(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """The HMAC covers the exact bytes sent: whitespace and key order Shopify chose count."""
    raw = b'{ "b" : 1,\n "a" : "caf\\u00e9" }'
    body, headers = delivery(CUSTOM_TOPIC, None, raw=raw)
    assert (await post(client, body, headers)).status_code == 200
    tampered = raw.replace(b"1", b"2")
    assert (await post(client, tampered, headers)).status_code == 401


async def test_previous_secret_is_accepted_during_rotation(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """With SHOPIFY_API_SECRET_PREVIOUS set, deliveries signed with the old secret pass."""
    body, headers = delivery(CUSTOM_TOPIC, {"id": 1}, secret=OLD_SECRET)
    assert (await post(client, body, headers)).status_code == 200
    assert len(await receipts(taskra)) == 1


async def test_previous_secret_is_refused_once_rotation_is_over(
    database_url: str, fake_shopify: FakeShopify
) -> None:
    """Without the previous-secret setting, the old secret's signatures are 401."""
    core = _taskra(database_url, fake_shopify)
    app = create_app(core, run_worker=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://taskra.test"
        ) as client,
    ):
        body, headers = delivery(CUSTOM_TOPIC, {}, secret=OLD_SECRET)
        assert (await post(client, body, headers)).status_code == 401


@pytest.mark.parametrize(
    "header",
    ["X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"],
)
async def test_missing_required_header_is_400(
    client: httpx.AsyncClient, taskra: Taskra, header: str
) -> None:
    """Each required header missing: 400 naming it, nothing stored."""
    body, headers = delivery(CUSTOM_TOPIC, {})
    del headers[header]
    response = await post(client, body, headers)
    assert response.status_code == 400
    assert header in response.json()["error"]["message"]
    assert await receipts(taskra) == []


async def test_malformed_shop_domain_is_400(client: httpx.AsyncClient, taskra: Taskra) -> None:
    """A signed delivery naming something that is not a myshopify domain: 400, nothing stored."""
    body, headers = delivery(CUSTOM_TOPIC, {}, shop="evil.example.com")
    assert (await post(client, body, headers)).status_code == 400
    assert await receipts(taskra) == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_are_405(
    client: httpx.AsyncClient, taskra: Taskra, method: str
) -> None:
    """Only POST is accepted."""
    response = await client.request(method, "/webhooks/shopify")
    assert response.status_code == 405


async def test_oversized_body_is_413(client: httpx.AsyncClient, taskra: Taskra) -> None:
    """A body over TASKRA_WEBHOOK_MAX_BYTES is refused, declared or streamed (chunked)."""
    body, headers = delivery(CUSTOM_TOPIC, {"pad": "x" * 5000})
    assert (await post(client, body, headers)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await client.post("/webhooks/shopify", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert await receipts(taskra) == []


async def test_malformed_json_with_valid_signature_is_recorded_failed(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """Signed garbage (and signed non-UTF-8 bytes, and a JSON array) are stored as failed,
    answered 200 so Shopify stops retrying, and no job runs for them."""
    for raw in (b"{not json", b"\xff\xfe\x00", b"[1, 2]"):
        body, headers = delivery(CUSTOM_TOPIC, None, raw=raw)
        assert (await post(client, body, headers)).status_code == 200
    rows = await receipts(taskra)
    assert [r.status for r in rows] == ["failed"] * 3
    assert all(r.error and r.payload == {} for r in rows)
    assert await jobs(taskra, WEBHOOK_JOB) == []


async def test_unknown_topic_is_recorded_and_nothing_runs(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """A topic no plugin handles is stored as ignored and acknowledged; no job is made."""
    body, headers = delivery("carts/update", {"id": 1})
    assert (await post(client, body, headers)).status_code == 200
    [row] = await receipts(taskra)
    assert row.status == "ignored"
    assert await jobs(taskra, WEBHOOK_JOB) == []


# --- de-duplication --------------------------------------------------------------------------


async def test_duplicates_are_stored_once_and_run_once(
    client: httpx.AsyncClient, taskra: Taskra, custom: CustomTopic
) -> None:
    """Retries of one delivery (same webhook id) and the same event on another delivery
    (same event id) are acknowledged, stored once and handled once, also when they arrive
    concurrently."""
    body, headers = delivery(CUSTOM_TOPIC, {"id": 1}, webhook_id="w-dup", event_id="e-dup")
    same_event = dict(headers, **{"X-Shopify-Webhook-Id": "w-other"})
    responses = await asyncio.gather(
        *(post(client, body, headers) for _ in range(10)),
        *(post(client, body, same_event) for _ in range(5)),
    )
    assert [r.status_code for r in responses] == [200] * 15
    assert (await post(client, body, headers)).status_code == 200  # a later retry
    assert len(await receipts(taskra)) == 1
    assert len(await jobs(taskra, WEBHOOK_JOB)) == 1
    await run_jobs(taskra)
    assert [d.webhook_id for d in custom.deliveries] == ["w-dup"]
    [row] = await receipts(taskra)
    assert row.status == "done"
    assert row.processed_at is not None


async def test_event_ids_are_deduplicated_per_shop(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """The same event id from two different shops is two deliveries."""
    for shop in (SHOP, "other.myshopify.com"):
        body, headers = delivery(CUSTOM_TOPIC, {}, event_id="e-shared", shop=shop)
        assert (await post(client, body, headers)).status_code == 200
    assert len(await receipts(taskra)) == 2


# --- the hook --------------------------------------------------------------------------------


async def test_hook_register_webhook_topics(
    client: httpx.AsyncClient, taskra: Taskra, custom: CustomTopic
) -> None:
    """A plugin that registers a topic receives its deliveries, verified and parsed, in a job."""
    when = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    body, headers = delivery(
        CUSTOM_TOPIC, {"id": 42}, webhook_id="w-42", event_id="e-42", triggered_at=when
    )
    assert (await post(client, body, headers)).status_code == 200
    assert custom.deliveries == []  # nothing runs inside the request
    await run_jobs(taskra)
    [got] = custom.deliveries
    assert (got.shop, got.topic, got.webhook_id, got.event_id) == (
        SHOP,
        CUSTOM_TOPIC,
        "w-42",
        "e-42",
    )
    assert (got.payload, got.triggered_at, got.api_version, got.store_id) == (
        {"id": 42},
        when,
        "2026-10",
        None,
    )


async def test_a_topic_registered_twice_stops_startup(
    database_url: str, fake_shopify: FakeShopify
) -> None:
    """Two plugins claiming one topic is a start-up error, not a silent override."""

    class Twice:
        __name__ = "twice"

        @hookimpl
        def register_webhook_topics(self, register: Callable[..., None]) -> None:
            register("app/uninstalled", CustomTopic().handle)

    core = _taskra(database_url, fake_shopify, Twice())
    with pytest.raises(StartupError, match="app/uninstalled"):
        await core.startup()
    await core.shutdown()


# --- app/uninstalled ---------------------------------------------------------------------------


async def _draft_jobs(taskra: Taskra, store_id: int) -> int:
    async with taskra.db.session() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(JobRecord)
                .where(col(JobRecord.kind) == DRAFT_JOB, col(JobRecord.store_id) == store_id)
            )
            or 0
        )


async def test_app_uninstalled_end_to_end(client: httpx.AsyncClient, taskra: Taskra) -> None:
    """Uninstall drops the tokens and marks the store; new messages get no draft; a second
    uninstall is harmless; after a re-install, a stale uninstall delivery changes nothing."""
    store = await install(taskra)
    assert store.id is not None
    assert store.access_token_enc is not None
    body, headers = delivery("app/uninstalled", {"id": 1, "domain": SHOP})
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)

    row = await store_row(taskra)
    assert row.uninstalled_at is not None
    assert (row.access_token_enc, row.refresh_token_enc) == (None, None)
    await taskra.inbox.receive(
        store.id, InboundMessage(channel="email", from_email="jo@example.com", text="Hello?")
    )
    assert await _draft_jobs(taskra, store.id) == 0

    body, headers = delivery("app/uninstalled", {"id": 1, "domain": SHOP})
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)
    assert (await store_row(taskra)).uninstalled_at == row.uninstalled_at

    # Re-install; then a retry of an uninstall triggered before it arrives late.
    await install(taskra)
    reinstalled = await store_row(taskra)
    assert reinstalled.uninstalled_at is None
    assert reinstalled.access_token_enc is not None
    stale_at = reinstalled.installed_at - timedelta(minutes=5)  # type: ignore[operator]
    body, headers = delivery("app/uninstalled", {"id": 1}, triggered_at=stale_at)
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)
    after = await store_row(taskra)
    assert after.uninstalled_at is None
    assert after.access_token_enc is not None
    await taskra.inbox.receive(
        store.id, InboundMessage(channel="email", from_email="jo@example.com", text="Back?")
    )
    assert await _draft_jobs(taskra, store.id) == 1


async def test_app_scopes_update_records_scopes_and_ignores_stale(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """The granted scopes are recorded; an older scopes update arriving later is ignored."""
    await install(taskra)
    now = datetime.now(UTC) + timedelta(minutes=1)
    new = {"previous": ["read_products"], "current": ["read_products", "read_orders"]}
    old = {"previous": [], "current": ["read_products"]}
    for payload, when in ((new, now), (old, now - timedelta(minutes=1))):
        body, headers = delivery("app/scopes_update", payload, triggered_at=when)
        assert (await post(client, body, headers)).status_code == 200
        await run_jobs(taskra)
    assert (await store_row(taskra)).scopes == "read_orders,read_products"


# --- compliance topics -------------------------------------------------------------------------


async def test_compliance_topics_open_privacy_requests(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """The three compliance topics are recorded as privacy requests due in 30 days and
    handed to the privacy service as jobs, which complete them (what each one does is
    proven in tests/shopify/test_privacy_webhooks.py)."""
    store = await install(taskra)
    customer = {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"}
    topics = {
        "customers/data_request": {
            "shop_domain": SHOP,
            "customer": customer,
            "orders_requested": [299938],
            "data_request": {"id": 9999},
        },
        "customers/redact": {"shop_domain": SHOP, "customer": customer, "orders_to_redact": [1]},
        "shop/redact": {"shop_id": 954889, "shop_domain": SHOP},
    }
    # shop/redact last, once the customers' requests are done: Shopify sends it 48 hours
    # after the app is uninstalled. (A request that races the shop's erasure is proven in
    # test_privacy_webhooks.py: it waits for the erasure, then fails on the deleted store.)
    for topic, payload in topics.items():
        body, headers = delivery(topic, payload)
        assert (await post(client, body, headers)).status_code == 200
        for _ in range(200):
            await run_jobs(taskra)
            # A job retrying after a short back-off is due soon enough to count.
            if not await due_jobs(taskra, horizon=5):
                break
            await asyncio.sleep(0.02)
    async with taskra.db.session() as session:
        requests = list(
            await session.scalars(select(PrivacyRequest).order_by(col(PrivacyRequest.id)))
        )
    requests.sort(key=lambda r: r.result["topic"])
    # The customer and then the shop were erased: the ledger keeps anonymous rows only.
    assert [(r.kind, r.subject, r.result["topic"]) for r in requests] == [
        ("access", "erased customer", "customers/data_request"),
        ("erasure", "erased customer", "customers/redact"),
        ("erasure", SHOP, "shop/redact"),
    ]
    for r in requests:
        assert r.store_id is None  # detached from the erased store, kept as proof
        assert r.completed_at is not None
        assert r.due_at - r.received_at == timedelta(days=30)
    assert requests[2].result["shop"] == store.domain
    privacy_jobs = await jobs(taskra, PRIVACY_JOB)
    assert sorted(j.payload["privacy_request_id"] for j in privacy_jobs) == sorted(
        r.id for r in requests if r.id is not None
    )
    assert {j.state for j in privacy_jobs} == {"done"}


async def test_shop_redact_for_an_unknown_shop_is_still_recorded(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """shop/redact for a shop Taskra holds nothing of is still acknowledged and logged."""
    body, headers = delivery(
        "shop/redact", {"shop_domain": "gone.myshopify.com"}, shop="gone.myshopify.com"
    )
    assert (await post(client, body, headers)).status_code == 200
    await run_jobs(taskra)
    async with taskra.db.session() as session:
        [request] = list(await session.scalars(select(PrivacyRequest)))
    assert (request.store_id, request.subject) == (None, "gone.myshopify.com")


async def test_compliance_topic_with_bad_signature_is_401(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """App review probes the compliance endpoint with a bad HMAC and expects 401."""
    body, headers = delivery("customers/redact", {"shop_domain": SHOP}, secret="nope")
    assert (await post(client, body, headers)).status_code == 401
