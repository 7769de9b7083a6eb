"""Orders from the store's live Shopify (``taskra_shopify.orders``) against the fake Shopify.

Everything runs over real HTTP to the fake: the installed store's tokens come from a real
token exchange, the order source asks Admin GraphQL, and drafts are composed by the offline
model. Nothing of Taskra is mocked. The demo data: Dan owns #1031 (in transit with Royal
Mail), Priya owns #1001, #1003, #1007 and #1038.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

import taskra_shopify.plugin
from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.demo import FELLANDFORD
from taskra_core.drafting.context import load_profile
from taskra_core.drafting.orders import Sender
from taskra_core.drafting.prompt import message_text
from taskra_core.drafting.tools import ToolBox
from taskra_core.drafting.types import ModelReply
from taskra_core.errors import OrdersUnavailable
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Draft, Store
from taskra_core.testing import MockModelPlugin, MockReplyModel, make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.fakes.shopify import (
    CLIENT_ID,
    CLIENT_SECRET,
    SHOP,
    Failure,
    FakeShopify,
    delayed,
    rate_limited,
    server_error,
    throttled,
)
from tests.fakes.shopify_orders import DEMO_ORDERS, parse_search, search
from tests.shopify.installing import install

AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
DAN = "dan.whitfield@example.com"  # owns #1031, in transit
PRIYA = "priya.raman84@example.com"  # owns #1001 (delivered by DPD), #1003, #1007, #1038
DAN_TRACKING = "https://www.royalmail.com/track-your-item#/tracking-results/QF614585790GB"
PRIYA_TRACKING = "15505647562209"
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(AS_OF)


def _taskra(database_url: str, fake: FakeShopify, clock: ManualClock, **settings: Any) -> Taskra:
    return make_test_taskra(
        database_url,
        plugins=[taskra_shopify.plugin],
        clock=clock,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake.origin,
        reply_model="offline",
        **settings,
    )


@pytest.fixture
async def taskra(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock
) -> AsyncIterator[Taskra]:
    async with _taskra(database_url, fake_shopify, clock) as core:
        yield core


def _without_orders(tmp_path: Path) -> Path:
    """The demo store folder minus its orders: any order a test sees came from Shopify."""
    folder = tmp_path / "store"
    shutil.copytree(FELLANDFORD, folder, ignore=shutil.ignore_patterns("customers_orders.json"))
    return folder


async def _store(taskra: Taskra) -> Store:
    async with taskra.db.session() as session:
        return (await session.scalars(select(Store).where(col(Store.domain) == SHOP))).one()


async def live_store(taskra: Taskra, tmp_path: Path) -> Store:
    """The demo store without imported orders, installed: Shopify is its only order source."""
    await import_store(taskra, _without_orders(tmp_path))
    await install(taskra)
    return await _store(taskra)


def order_queries(fake: FakeShopify) -> list[dict[str, Any]]:
    """The variables of every orders query the fake received."""
    return [
        r.body["variables"]
        for r in fake.requests_to("/admin/api/")
        if isinstance(r.body, dict) and "orders(" in r.body.get("query", "")
    ]


# --- the order source ------------------------------------------------------------------------


async def test_a_verified_customers_orders_come_from_shopify_with_tracking(
    taskra: Taskra, fake_shopify: FakeShopify, tmp_path: Path
) -> None:
    """With no imported orders, the hook answers from Shopify's orders query (email search,
    newest first), and the sidebar shows the customer's order with its fulfillment status,
    carrier, tracking number, tracking URL and estimated delivery."""
    store = await live_store(taskra, tmp_path)
    [order] = await taskra.hooks.find_orders(taskra, store, email=DAN)
    assert order["name"] == "#1031"
    assert order["displayFulfillmentStatus"] == "FULFILLED"
    [variables] = order_queries(fake_shopify)
    assert variables["query"] == f'email:"{DAN}"'

    assert store.id is not None
    received = await taskra.inbox.receive(
        store.id, InboundMessage(channel="email", from_email=DAN, text="Hello")
    )
    customer_id = received.conversation.customer_id
    [shown] = await taskra.inbox.customer_orders(store.id, customer_id)
    assert shown["source_id"] == "order:#1031"
    assert shown["fulfillment_status"] == "FULFILLED"
    [fulfillment] = shown["fulfillments"]
    assert fulfillment["status"] == "IN_TRANSIT"
    assert fulfillment["estimated_delivery_at"] == "2025-03-17T18:00:00Z"
    assert fulfillment["tracking"] == [
        {"company": "Royal Mail", "number": "QF614585790GB", "url": DAN_TRACKING}
    ]
    assert [i["title"] for i in shown["items"]] == [
        i["title"] for i in next(o for o in DEMO_ORDERS if o["name"] == "#1031")["lineItems"]
    ]


async def test_a_named_order_of_someone_else_is_never_shown_as_theirs(
    taskra: Taskra, fake_shopify: FakeShopify, tmp_path: Path
) -> None:
    """Shopify finds #1001 by name, but for Dan (who does not own it) the order tool asks
    for verification, and his draft neither cites it nor mentions its tracking number."""
    store = await live_store(taskra, tmp_path)
    [found] = await taskra.hooks.find_orders(taskra, store, name="#1001")
    assert found["email"] == PRIYA  # the source found it; the owner check must refuse it

    async with taskra.db.session() as session:
        profile = await load_profile(session, store)
    tools = ToolBox(taskra, store, profile, Sender(email=DAN))
    answer = await tools.lookup_order("#1001")
    assert answer.get("verification_needed") is True
    assert "orders" not in answer

    result = await taskra.drafting.preview(
        store, text="Where is my order #1001? It hasn't arrived.", from_email=DAN
    )
    assert result.verification_needed
    assert "order:#1001" not in result.reply.sources
    assert PRIYA_TRACKING not in result.reply.text
    assert "order number and the email address" in result.reply.text


async def test_answers_are_reused_within_the_ttl_and_asked_again_after(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock, tmp_path: Path
) -> None:
    """A second look-up of the same search within TASKRA_SHOPIFY_ORDERS_CACHE_SECONDS sends
    no GraphQL request; another search does; after the TTL the same search asks again."""
    store = await live_store(taskra, tmp_path)
    first = await taskra.hooks.find_orders(taskra, store, email=DAN)
    again = await taskra.hooks.find_orders(taskra, store, email=DAN.upper())
    assert again == first
    assert len(order_queries(fake_shopify)) == 1
    await taskra.hooks.find_orders(taskra, store, email=PRIYA)
    assert len(order_queries(fake_shopify)) == 2
    clock.advance(taskra.settings.shopify_orders_cache_seconds + 1)
    await taskra.hooks.find_orders(taskra, store, email=DAN)
    assert len(order_queries(fake_shopify)) == 3


@pytest.mark.parametrize(
    ("email", "name", "naive"),
    [
        (f'x" OR email:"{PRIYA}', None, f'email:"x" OR email:"{PRIYA}"'),
        (None, f'#1" OR email:"{PRIYA}', f'name:"#1" OR email:"{PRIYA}"'),
        (f'x\\" OR email:\\"{PRIYA}', None, None),
        (None, f"1001\nOR email:{PRIYA}", None),
        (None, "(name:#1001) OR name:#1003 \\", None),
    ],
)
async def test_search_values_cannot_widen_the_query(
    taskra: Taskra,
    fake_shopify: FakeShopify,
    tmp_path: Path,
    email: str | None,
    name: str | None,
    naive: str | None,
) -> None:
    """Quotes, backslashes, colons, parentheses and newlines in an email or an order name
    (the model's order tool passes names through) stay inside one quoted search value: the
    query sent selects nothing, where the same text pasted in unescaped (``naive``) would
    have selected Priya's orders."""
    store = await live_store(taskra, tmp_path)
    assert await taskra.hooks.find_orders(taskra, store, email=email, name=name) == []
    [variables] = order_queries(fake_shopify)
    sent = variables["query"]
    assert search(DEMO_ORDERS, sent) == []
    assert len(parse_search(sent)) == 1  # one group: no OR got through
    assert len(parse_search(sent)[0]) == 1  # one term: nothing added to it
    if naive is not None:  # the fake honours OR, so this test would catch a real widening
        assert PRIYA in {o["email"] for o in search(DEMO_ORDERS, naive)}


async def test_a_store_without_tokens_answers_from_its_imported_orders(
    taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """An imported store that never installed the app, and one whose app was uninstalled,
    get their imported orders from the default source; Shopify is not asked."""
    await import_store(taskra, FELLANDFORD)
    store = await _store(taskra)
    [order] = await taskra.hooks.find_orders(taskra, store, email=DAN)
    assert order["name"] == "#1031"

    await install(taskra)
    async with taskra.db.transaction() as session:
        row = (await session.scalars(select(Store).where(col(Store.domain) == SHOP))).one()
        row.uninstalled_at = AS_OF
    store = await _store(taskra)
    [order] = await taskra.hooks.find_orders(taskra, store, email=DAN)
    assert order["name"] == "#1031"
    assert order_queries(fake_shopify) == []


# --- Shopify unavailable ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [server_error(502), server_error(503), rate_limited(), throttled()],
    ids=["502", "503", "429", "THROTTLED"],
)
async def test_with_shopify_down_the_draft_says_order_data_is_unavailable(
    taskra: Taskra, fake_shopify: FakeShopify, tmp_path: Path, failure: Failure
) -> None:
    """A "where is my order" draft while Shopify fails is still made: it says the order
    cannot be checked right now, cites and invents nothing about an order, and goes to a
    person with the orders_unavailable reason. A later look-up asks Shopify again (the
    failure was not cached)."""
    store = await live_store(taskra, tmp_path)
    fake_shopify.inject("graphql", failure)
    result = await taskra.drafting.preview(store, text="Where is my order?", from_email=DAN)
    reply = result.reply
    assert "can't see your order details right now" in reply.text
    assert not any(s.startswith("order:") for s in reply.sources)
    assert "QF614585790GB" not in reply.text
    assert result.escalate
    assert "orders_unavailable" in {r.code for r in result.reasons}
    assert len(order_queries(fake_shopify)) == 1  # one failed look-up per draft, not three

    [order] = await taskra.hooks.find_orders(taskra, store, email=DAN)
    assert order["name"] == "#1031"


async def test_any_model_is_told_orders_are_unavailable_and_its_draft_escalates(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock, tmp_path: Path
) -> None:
    """Not only the offline model: a model that answers an order question without asking
    for a person is told in its prompt (and by the order tool) that order data is
    unavailable, and its draft still goes to a person with the orders_unavailable reason."""
    model = MockReplyModel(
        ModelReply(
            text="Your order is on its way.",
            model="mock",
            sources=("policy:SHIPPING_POLICY",),
            intent="order_status",
            confidence=0.9,
        )
    )
    async with make_test_taskra(
        database_url,
        plugins=[taskra_shopify.plugin, MockModelPlugin(model)],
        clock=clock,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
        reply_model="mock",
    ) as taskra:
        store = await live_store(taskra, tmp_path)
        fake_shopify.inject("graphql", throttled())
        result = await taskra.drafting.preview(store, text="Where is my order?", from_email=DAN)
        [request] = model.requests
        assert request.orders_unavailable
        assert request.orders == ()
        assert "Order data is unavailable right now" in message_text(request)
        answer = await request.tools.lookup_order(None)
        assert answer["orders_unavailable"] is True
        assert "orders" not in answer
    assert "orders_unavailable" in {r.code for r in result.reasons}
    assert result.escalate


async def test_a_slow_shopify_counts_as_unavailable(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock, tmp_path: Path
) -> None:
    """An order look-up Shopify does not answer within TASKRA_SHOPIFY_ORDERS_TIMEOUT_SECONDS
    raises OrdersUnavailable, which names the shop."""
    async with _taskra(
        database_url, fake_shopify, clock, shopify_orders_timeout_seconds=0.2
    ) as taskra:
        store = await live_store(taskra, tmp_path)
        fake_shopify.inject("graphql", delayed(2.0))
        with pytest.raises(OrdersUnavailable, match=SHOP):
            await taskra.hooks.find_orders(taskra, store, email=DAN)


async def test_with_shopify_down_the_stored_draft_is_escalated_and_the_page_says_so(
    taskra: Taskra, fake_shopify: FakeShopify, tmp_path: Path
) -> None:
    """Through the inbox: the draft job stores an escalated draft with the orders_unavailable
    reason, and the conversation page says the orders could not be loaded instead of
    showing any."""
    store = await live_store(taskra, tmp_path)
    assert store.id is not None
    await Worker(taskra).run_until_idle()  # the install's sync job, before any failure
    await taskra.accounts.create_account(
        store.id, "owner@example.com", "Owner", role="merchant", password=PASSWORD
    )
    fake_shopify.inject("graphql", server_error(503))
    received = await taskra.inbox.receive(
        store.id,
        InboundMessage(channel="email", from_email=DAN, subject="Order", text="Where is my order?"),
    )
    await Worker(taskra).run_until_idle()
    async with taskra.db.session() as session:
        [draft] = await session.scalars(
            select(Draft).where(col(Draft.message_id) == received.message.id)
        )
    assert draft.state == "escalated"
    assert any(r.startswith("orders_unavailable") for r in draft.escalation_reasons)
    assert "can't see your order details right now" in draft.text

    fake_shopify.inject("graphql", rate_limited())
    app = create_app(taskra, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as client:
        login = await client.post(
            "/login", json={"email": "owner@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        page = (await client.get(f"/conversations/{received.conversation.id}")).text
    assert "Orders could not be loaded" in page
    assert "QF614585790GB" not in page


# --- acceptance ------------------------------------------------------------------------------


async def test_where_is_my_order_cites_the_live_order_for_its_owner_only(
    taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """The offline draft to "where is my order" from the verified owner cites order:#1031
    with Shopify's tracking link, Shopify's copy winning over the imported one; the same
    question naming #1031 from another sender asks for verification and cites nothing of
    the order."""
    await import_store(taskra, FELLANDFORD)  # imported #1031 has the old tracking link
    await install(taskra)
    store = await _store(taskra)
    live = copy.deepcopy(DEMO_ORDERS)
    order = next(o for o in live if o["name"] == "#1031")
    tracking = order["fulfillments"][0]["trackingInfo"][0]
    tracking["number"] = "QF000000001GB"
    tracking["url"] = "https://www.royalmail.com/track-your-item#/tracking-results/QF000000001GB"
    fake_shopify.orders = live  # type: ignore[attr-defined]

    mine = await taskra.drafting.preview(store, text="Where is my order?", from_email=DAN)
    assert "order:#1031" in mine.reply.sources
    assert tracking["url"] in mine.reply.text
    assert DAN_TRACKING not in mine.reply.text
    assert not mine.verification_needed
    assert "orders_unavailable" not in {r.code for r in mine.reasons}

    theirs = await taskra.drafting.preview(
        store, text="Where is my order #1031?", from_email="mallory@example.com"
    )
    assert theirs.verification_needed
    assert not any(s.startswith("order:") for s in theirs.reply.sources)
    assert "QF000000001GB" not in theirs.reply.text
    assert "Royal Mail" not in theirs.reply.text
    assert "order number and the email address" in theirs.reply.text
