"""The admin pages over real HTTP requests to the app: what each page shows, that customer
text is always inert, that pages of one store never show another's data, the fragment
refresh the page script uses, and the live-update stream."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Store
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token

OTHER = "other-shop.myshopify.com"
AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
PRIYA = "priya.raman84@example.com"  # has orders #1001, #1003, #1007, #1038 in the demo
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    # Staff opening the app are recorded through an online token exchange with the fake.
    core = make_test_taskra(
        database_url,
        shopify_origin=fake_shopify.origin,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        now=AS_OF,
        events_poll_seconds=0.05,
        events_stream_seconds=1.0,
    )
    async with core:
        await import_store(core, FELLANDFORD)
        async with core.db.transaction() as session:
            session.add(Store(domain=OTHER, name="Other", created_at=AS_OF, updated_at=AS_OF))
        mine, theirs = await store_id(core, SHOP), await store_id(core, OTHER)
        await core.accounts.create_account(
            mine, "owner@example.com", "Owner", role="merchant", password=PASSWORD
        )
        await core.accounts.create_account(
            theirs, "al@example.com", "Al", role="merchant", password=PASSWORD
        )
        await core.inbox.receive(
            mine,
            InboundMessage(
                channel="email",
                from_email=PRIYA,
                from_name="Priya Raman",
                subject="Where is my order #1038?",
                text="Hi, my order #1038 has not shipped yet. Any news?",
            ),
        )
        await core.inbox.receive(
            mine,
            InboundMessage(
                channel="email", from_email="mallory@example.com", subject="Hi", text=XSS
            ),
        )
        await core.inbox.receive(
            theirs,
            InboundMessage(
                channel="email", from_email="secret@example.com", text="Other store's secret"
            ),
        )
        await Worker(core).run_until_idle()
        yield core


async def store_id(core: Taskra, shop: str) -> int:
    async with core.db.session() as session:
        store = await get_store(session, shop)
    assert store.id is not None
    return store.id


@pytest.fixture
async def client(taskra: Taskra) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(taskra, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
        yield c


async def signed_in(client: httpx.AsyncClient, email: str = "owner@example.com") -> None:
    response = await client.post("/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text


def bearer(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_id_token(shop)}"}


async def conversation_id(taskra: Taskra, email: str, shop: str = SHOP) -> int:
    page = await taskra.inbox.list_conversations(await store_id(taskra, shop))
    rows = await taskra.inbox.rows(await store_id(taskra, shop), page.items)
    [found] = [r.conversation.id for r in rows if r.customer and r.customer.email == email]
    assert found is not None
    return found


async def test_without_a_session_a_browser_tab_goes_to_login(client: httpx.AsyncClient) -> None:
    """Every page asks an anonymous tab to sign in; none renders data."""
    for path in ("/", "/conversations/1", "/knowledge", "/usage"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/login"


async def test_inbox_lists_this_stores_conversations_with_markers(
    client: httpx.AsyncClient,
) -> None:
    """The inbox shows the store's conversations (customer, subject, preview), marks unread
    ones, and never shows another store's messages; the page may not be framed."""
    await signed_in(client)
    response = await client.get("/")
    assert response.status_code == 200
    page = response.text
    assert "Priya Raman" in page
    assert "Where is my order #1038?" in page
    assert "has not shipped yet" in page
    assert page.count('class="badge unread-marker"') == 2
    assert "Other store" not in page
    assert "secret@example.com" not in page
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_inbox_filters_and_search(client: httpx.AsyncClient, taskra: Taskra) -> None:
    """Filters narrow the list, search finds messages by word, a bad filter is a clear 422."""
    await signed_in(client)
    closed = await client.get("/", params={"status": "closed"})
    assert "Priya Raman" not in closed.text
    assert "No conversations here" in closed.text
    found = await client.get("/", params={"q": "shipped"})
    cid = await conversation_id(taskra, PRIYA)
    assert f'href="/conversations/{cid}"' in found.text
    assert "mallory" not in found.text
    bad = await client.get("/", params={"status": "lost"})
    assert bad.status_code == 422
    assert "Status &#39;lost&#39; is unknown" in bad.text


async def test_script_in_a_customer_message_is_shown_as_text(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """Stored XSS stays inert: the inbox preview and the thread show the markup as escaped
    text, and no page carries an inline script at all."""
    await signed_in(client)
    cid = await conversation_id(taskra, "mallory@example.com")
    for path in ("/", f"/conversations/{cid}"):
        page = (await client.get(path)).text
        assert "<script>window.__xss" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page)
        assert inline == [], inline


async def test_conversation_shows_thread_draft_sources_cost_and_orders(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """The conversation page has the customer's message, the offline draft with its cited
    sources and cost line, the customer's own orders with status and tracking links, and
    the controls to act on all of it; opening it marks it read."""
    await signed_in(client)
    cid = await conversation_id(taskra, PRIYA)
    page = (await client.get(f"/conversations/{cid}")).text
    assert "my order #1038 has not shipped yet" in page
    [draft] = await taskra.drafting.for_conversation(await store_id(taskra, SHOP), cid)
    assert f'data-draft="{draft.id}"' in page
    assert "Approve and send" in page
    assert "Regenerate" in page
    assert "Discard" in page
    for source in draft.sources:
        assert f"<code>{source}</code>" in page
    assert "order:#1038" in draft.sources
    assert "#1001" in page
    assert "#1038" in page
    assert 'href="https://track.dpd.co.uk/parcels/15505647562209"' in page
    assert "offline" in page
    assert "$0.0000" in page
    inbox = (await client.get("/")).text
    assert inbox.count('class="badge unread-marker"') == 1


async def test_another_stores_conversation_is_not_found(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """Guessing another store's conversation id shows a 404 page without its contents."""
    theirs = await conversation_id(taskra, "secret@example.com", shop=OTHER)
    await signed_in(client)
    response = await client.get(f"/conversations/{theirs}")
    assert response.status_code == 404
    assert "Other store&#39;s secret" not in response.text
    assert "Other store's secret" not in response.text


async def test_embedded_fetch_renders_the_same_page_for_the_shop(
    client: httpx.AsyncClient,
) -> None:
    """With a session token the page is embedded: App Bridge loads, its links keep the shop,
    and only this shop's admin may frame it."""
    response = await client.get("/", headers=bearer())
    assert response.status_code == 200
    page = response.text
    assert 'data-mode="embedded"' in page
    assert f'<meta name="shopify-api-key" content="{CLIENT_ID}">' in page
    assert "https://cdn.shopify.com/shopifycloud/app-bridge.js" in page
    assert f"shop={SHOP}" in page
    assert "<s-app-nav>" in page
    csp = response.headers["content-security-policy"]
    assert f"frame-ancestors https://{SHOP} https://admin.shopify.com" in csp
    refused = await client.get("/", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    assert refused.headers["x-shopify-retry-invalid-session-request"] == "1"


async def test_fragment_refresh_returns_only_main(client: httpx.AsyncClient) -> None:
    """The page script's refresh gets the inside of <main>, rendered and escaped the same way."""
    await signed_in(client)
    response = await client.get("/", headers={"X-Taskra-Fragment": "main"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "<main" not in response.text
    assert "Priya Raman" in response.text


async def test_settings_page_shows_knowledge_autonomy_budget_and_team(
    client: httpx.AsyncClient,
) -> None:
    """Knowledge and settings: brand voice, FAQs, policies, autonomy per intent, budget, and
    the team with an invitation form for the merchant."""
    await signed_in(client)
    response = await client.get("/knowledge")
    assert response.status_code == 200
    page = response.text
    assert 'name="text"' in page
    assert "Save brand voice" in page
    assert "Returns &amp; Refunds" in page  # a policy, escaped
    assert 'data-intent="order_status"' in page
    assert 'data-path="/api/v1/ai/budget"' in page
    assert "owner@example.com" in page
    assert "Send invitation" in page


async def test_usage_page_and_a_bad_period(client: httpx.AsyncClient) -> None:
    """Usage shows this month's counters; a malformed month is a clear 422."""
    await signed_in(client)
    response = await client.get("/usage")
    assert response.status_code == 200
    assert 'data-usage="messages_processed">2<' in response.text
    bad = await client.get("/usage", params={"period": "March"})
    assert bad.status_code == 422
    assert "YYYY-MM" in bad.text


def parse_events(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, value = line.split(":", 1)
            fields[name] = value.strip()
        if fields:
            events.append(fields)
    return events


async def test_event_stream_announces_a_new_message_in_its_conversation(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """A message received while a page listens arrives as one change event naming its
    conversation; reconnecting from that event's cursor repeats nothing."""

    async def arrive() -> None:
        await asyncio.sleep(0.2)
        await taskra.inbox.receive(
            await store_id(taskra, SHOP),
            InboundMessage(
                channel="email",
                from_email=PRIYA,
                subject="Re: Where is my order #1038?",
                text="Any update?",
            ),
        )

    arrival = asyncio.create_task(arrive())
    response = await client.get("/api/v1/events", headers=bearer())
    await arrival
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    assert events[0]["event"] == "ready"
    changes = [e for e in events if e.get("event") == "change"]
    assert len(changes) == 1
    assert json.loads(changes[0]["data"]) == {
        "conversations": [await conversation_id(taskra, PRIYA)]
    }
    again = await client.get(
        "/api/v1/events", params={"cursor": changes[0]["id"]}, headers=bearer()
    )
    assert [e for e in parse_events(again.text) if e.get("event") == "change"] == []


async def test_event_stream_is_per_store_and_checks_its_input(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """Another store's messages never reach this store's stream; a bad cursor is a 422 and
    a missing session a 401."""

    async def arrive() -> None:
        await asyncio.sleep(0.2)
        await taskra.inbox.receive(
            await store_id(taskra, OTHER),
            InboundMessage(channel="email", from_email="x@example.com", text="Other news"),
        )

    arrival = asyncio.create_task(arrive())
    response = await client.get("/api/v1/events", headers=bearer())
    await arrival
    assert [e for e in parse_events(response.text) if e.get("event") == "change"] == []
    bad = await client.get("/api/v1/events", params={"cursor": "yesterday"}, headers=bearer())
    assert bad.status_code == 422
    assert (await client.get("/api/v1/events")).status_code == 401


async def test_api_gives_the_pages_data_orders_rows_and_policies(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """What the pages show is in the JSON API too: list rows carry the customer, unread and
    a preview; a customer's orders come with tracking; policies are listed; another shop's
    token gets 404 for this shop's customer."""
    listing = (await client.get("/api/v1/conversations", headers=bearer())).json()
    priya = next(c for c in listing["conversations"] if c["customer"]["email"] == PRIYA)
    assert priya["unread"] is True
    assert priya["preview"].startswith("Hi, my order #1038")
    orders = await client.get(f"/api/v1/customers/{priya['customer_id']}/orders", headers=bearer())
    assert orders.status_code == 200
    names = [o["name"] for o in orders.json()["orders"]]
    assert set(names) == {"#1001", "#1003", "#1007", "#1038"}
    read = await client.post(f"/api/v1/conversations/{priya['id']}/read", headers=bearer())
    assert read.status_code == 204
    again = (await client.get("/api/v1/conversations", headers=bearer())).json()
    assert next(c for c in again["conversations"] if c["id"] == priya["id"])["unread"] is False
    policies = (await client.get("/api/v1/knowledge/policies", headers=bearer())).json()
    assert "Returns & Refunds" in [p["title"] for p in policies["policies"]]
    foreign = await client.get(
        f"/api/v1/customers/{priya['customer_id']}/orders", headers=bearer(OTHER)
    )
    assert foreign.status_code == 404
