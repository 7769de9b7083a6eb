"""The chat channel over HTTP (``/proxy/chat/...``, as Shopify's app proxy forwards it):
visitor messages enter the inbox, drafts follow the store's autonomy and budget, replies
(AI or agent) come back to the visitor's widget, sessions are bound to their store and
customer, bodies are bounded, and rate limits answer 429 with a message for the visitor."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import taskra_chat.plugin
from sqlalchemy import func, select
from sqlmodel import col
from taskra_chat.sessions import PLACEHOLDER_DOMAIN

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.models import ChatRateCounter, Conversation, Customer, Message, Store
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.browser.chat_storefront import signed_query

SECRET = "shpss_chat_api_secret"
SHOP = "fellandford.myshopify.com"
OTHER_SHOP = "other-store.myshopify.com"
QUESTION = "Is the Skiddaw waterproof jacket breathable?"


@pytest.fixture
async def taskra(database_url: str) -> AsyncIterator[Taskra]:
    """The demo store with the chat plugin; AI replies are sent automatically."""
    core = make_test_taskra(
        database_url,
        plugins=[taskra_chat.plugin],
        shopify_api_secret=SECRET,
        chat_wait_seconds=0.2,
        chat_poll_seconds=0.05,
    )
    async with core:
        await import_store(core, FELLANDFORD)
        await core.drafting.set_autonomy(SHOP, "auto_send")
        yield core


@pytest.fixture
async def client(taskra: Taskra) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(taskra, run_worker=False))
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
        yield c


async def call(
    client: httpx.AsyncClient,
    path: str,
    body: Any,
    *,
    shop: str = SHOP,
    customer: str | None = None,
    client_address: str = "198.51.100.1",
    secret: str = SECRET,
) -> httpx.Response:
    """POST ``body`` to ``/proxy/chat/<path>`` as Shopify's app proxy forwards it."""
    query = signed_query([("shop", shop), ("logged_in_customer_id", customer or "")], secret)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        f"/proxy/chat/{path}?{query}",
        content=content,
        headers={"Content-Type": "application/json", "X-Forwarded-For": client_address},
    )


async def say(client: httpx.AsyncClient, text: str, session: str | None = None, **kw: Any) -> str:
    """Send a visitor message; returns the session token (the new one, or ``session``)."""
    body: dict[str, Any] = {"text": text}
    if session is not None:
        body["session"] = session
    answer = await call(client, "messages", body, **kw)
    assert answer.status_code == 201, answer.text
    return str(answer.json().get("session", session))


async def poll(client: httpx.AsyncClient, session: str, **kw: Any) -> dict[str, Any]:
    answer = await call(client, "poll", {"session": session, "after": 0}, **kw)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def chat_conversations(taskra: Taskra) -> list[Conversation]:
    async with taskra.db.session() as session:
        return list(
            await session.scalars(select(Conversation).where(col(Conversation.channel) == "chat"))
        )


async def message_count(taskra: Taskra) -> int:
    async with taskra.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def test_a_question_gets_an_ai_answer_in_the_widget(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """A visitor's first message starts a session and a chat conversation in the inbox (like
    any channel); the auto-sent AI draft is stored and the widget's poll returns it, and the
    reply counts in the store's AI usage."""
    session = await say(client, QUESTION)
    [conversation] = await chat_conversations(taskra)
    assert conversation.thread_key
    assert conversation.subject == ""
    await Worker(taskra).run_until_idle()
    found = await poll(client, session)
    assert [m["sender"] for m in found["messages"]] == ["visitor", "ai"]
    assert found["messages"][0]["text"] == QUESTION
    assert "Skiddaw" in found["messages"][1]["text"]
    assert found["status"] == "ai"
    assert found["ask_email"] is True
    usage = await taskra.drafting.usage(SHOP)
    assert usage["ai_replies"] == 1
    after = found["messages"][-1]["id"]
    newer = await call(client, "poll", {"session": session, "after": after})
    assert newer.json()["messages"] == []


async def test_a_handover_and_the_agents_reply_reach_the_widget_but_notes_do_not(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """Asking for a person escalates: the widget says a person will reply; the agent's
    approved reply then appears (as the team's) and the status says a person took over.
    Internal notes never reach the visitor."""
    session = await say(client, "I want to speak to a real person please, not a bot.")
    await Worker(taskra).run_until_idle()
    found = await poll(client, session)
    assert found["status"] == "waiting"
    assert [m["sender"] for m in found["messages"]] == ["visitor"]
    [conversation] = await chat_conversations(taskra)
    assert conversation.id is not None
    [draft] = await taskra.drafting.for_conversation(conversation.store_id, conversation.id)
    await taskra.inbox.add_note(conversation.store_id, conversation.id, None, "VIP? check")
    await taskra.drafting.approve(draft.store_id, draft.id or 0, text="Hi, this is Sam.")
    await Worker(taskra).run_until_idle()
    found = await poll(client, session)
    assert [(m["sender"], m["text"]) for m in found["messages"]][1:] == [
        ("agent", "Hi, this is Sam.")
    ]
    assert found["status"] == "human"


async def test_with_the_budget_used_up_no_ai_reply_is_sent(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """AI replies count against the store's budget: at a budget of 0 a chat message gets no
    AI answer (no model call), it waits for a person instead."""
    await taskra.drafting.set_budget(SHOP, 0)
    session = await say(client, QUESTION)
    await Worker(taskra).run_until_idle()
    found = await poll(client, session)
    assert [m["sender"] for m in found["messages"]] == ["visitor"]
    assert found["status"] == "waiting"
    assert (await taskra.drafting.usage(SHOP))["ai_replies"] == 0


async def test_a_visitor_reads_only_their_own_conversation(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """Two visitors get two conversations; each session reads only its own, and a session
    is unknown in any other store (404, nothing revealed)."""
    first = await say(client, "First visitor here")
    second = await say(client, "Second visitor here")
    assert first != second
    assert [m["text"] for m in (await poll(client, first))["messages"]] == ["First visitor here"]
    assert [m["text"] for m in (await poll(client, second))["messages"]] == ["Second visitor here"]
    now = datetime.now(UTC)
    async with taskra.db.transaction() as session:
        session.add(Store(domain=OTHER_SHOP, name="Other", created_at=now, updated_at=now))
    elsewhere = await call(client, "poll", {"session": first, "after": 0}, shop=OTHER_SHOP)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"]["type"] == "ChatSessionUnknown"
    forged = await call(client, "poll", {"session": "A" * 43, "after": 0})
    assert forged.status_code == 404


async def test_a_logged_in_customer_is_identified_and_their_session_is_theirs(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """Shopify's logged_in_customer_id marks the message as that storefront customer's (so
    order questions need no email check) and no email is asked for; the session then
    refuses anonymous requests and other customers."""
    session = await say(client, "Where is my order #1038?", customer="7301845121379")
    async with taskra.db.session() as db:
        message = (await db.scalars(select(Message))).one()
        customer = await db.get(Customer, (await chat_conversations(taskra))[0].customer_id)
    assert message.meta["storefront_customer"] == {"id": "gid://shopify/Customer/7301845121379"}
    assert customer is not None
    assert customer.email.endswith(f"@{PLACEHOLDER_DOMAIN}")
    found = await poll(client, session, customer="7301845121379")
    assert found["ask_email"] is False
    for other in (None, "42"):
        answer = await call(client, "poll", {"session": session, "after": 0}, customer=other)
        assert answer.status_code == 404


async def test_an_anonymous_visitor_can_give_an_email(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """An anonymous visitor is filed under a placeholder on a reserved domain until they give
    an email; then the conversation moves to that customer, and it is not asked for again."""
    session = await say(client, QUESTION)
    [conversation] = await chat_conversations(taskra)
    async with taskra.db.session() as db:
        placeholder = await db.get(Customer, conversation.customer_id)
    assert placeholder is not None
    assert placeholder.email.endswith(".invalid")
    bad = await call(client, "email", {"session": session, "email": "not an email"})
    assert bad.status_code == 422
    answer = await call(client, "email", {"session": session, "email": "Jo@Example.com"})
    assert answer.status_code == 200
    assert answer.json()["ask_email"] is False
    await say(client, "Thanks!", session)
    [conversation] = await chat_conversations(taskra)
    async with taskra.db.session() as db:
        customer = await db.get(Customer, conversation.customer_id)
        messages = list(await db.scalars(select(Message).order_by(col(Message.id))))
    assert customer is not None
    assert customer.email == "jo@example.com"
    assert len(messages) == 2
    assert messages[1].meta.get("email_unverified") is True


async def test_a_retried_message_is_stored_once(taskra: Taskra, client: httpx.AsyncClient) -> None:
    """The widget's id for a message makes a repeated request (a network retry) store it
    once."""
    first = await call(client, "messages", {"text": "Hello", "id": "3f2a9c10-retry"})
    session = first.json()["session"]
    again = await call(
        client, "messages", {"session": session, "text": "Hello", "id": "3f2a9c10-retry"}
    )
    assert again.status_code == 201
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert await message_count(taskra) == 1


async def test_a_visitor_over_the_limit_gets_429_with_a_message(database_url: str) -> None:
    """Past the per-visitor limit the widget gets 429, a message to show and Retry-After;
    the refused message is not stored."""
    core = make_test_taskra(
        database_url,
        plugins=[taskra_chat.plugin],
        shopify_api_secret=SECRET,
        chat_visitor_messages_per_minute=2,
    )
    async with core:
        await import_store(core, FELLANDFORD)
        transport = httpx.ASGITransport(app=create_app(core, run_worker=False))
        async with httpx.AsyncClient(transport=transport, base_url="https://t.test") as client:
            session = await say(client, "one")
            await say(client, "two", session)
            refused = await call(client, "messages", {"session": session, "text": "three"})
            assert refused.status_code == 429
            assert "wait a minute" in refused.json()["error"]["message"]
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            assert await message_count(core) == 2
            # Another visitor (another session and address) is not affected.
            await say(client, "someone else", client_address="198.51.100.2")


async def test_the_store_and_client_limits_hold_across_sessions(database_url: str) -> None:
    """New sessions do not dodge the limits: one client address, and the store as a whole,
    have their own per-minute counts (kept in the database, shared by every process)."""
    core = make_test_taskra(
        database_url,
        plugins=[taskra_chat.plugin],
        shopify_api_secret=SECRET,
        chat_client_messages_per_minute=2,
        chat_store_messages_per_minute=3,
    )
    async with core:
        await import_store(core, FELLANDFORD)
        transport = httpx.ASGITransport(app=create_app(core, run_worker=False))
        async with httpx.AsyncClient(transport=transport, base_url="https://t.test") as client:
            await say(client, "a")
            await say(client, "b")
            same_client = await call(client, "messages", {"text": "c"})
            assert same_client.status_code == 429
            await say(client, "d", client_address="198.51.100.9")
            store_full = await call(client, "messages", {"text": "e"}, client_address="10.0.0.5")
            assert store_full.status_code == 429
            assert "a lot of messages" in store_full.json()["error"]["message"]
        async with core.db.session() as session:
            buckets = list(await session.scalars(select(col(ChatRateCounter.bucket))))
        assert await message_count(core) == 3
    assert not any("198.51" in bucket or "10.0.0.5" in bucket for bucket in buckets)


async def test_unsigned_and_unknown_shop_requests_change_nothing(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """A request not signed by the app proxy gets 401; a shop that has not installed the app
    gets 404; neither stores anything."""
    forged = await call(client, "messages", {"text": "hi"}, secret="not-the-secret")
    assert forged.status_code == 401
    assert forged.json()["error"]["type"] == "ProxySignatureInvalid"
    plain = await client.post("/proxy/chat/messages", content=b'{"text": "hi"}')
    assert plain.status_code == 401
    unknown = await call(client, "messages", {"text": "hi"}, shop="nobody.myshopify.com")
    assert unknown.status_code == 404
    assert await message_count(taskra) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"x" * 20_000, 413),
        (b"{not json", 422),
        (b"[1, 2]", 422),
        (json.dumps({"text": "hi", "html": "<b>x</b>"}).encode(), 422),
        (json.dumps({"text": "   "}).encode(), 422),
        (json.dumps({"text": "y" * 2001}).encode(), 422),
        (json.dumps({"text": "hi", "id": "bad id!"}).encode(), 422),
        (json.dumps({"text": 5}).encode(), 422),
    ],
)
async def test_a_bad_body_is_refused_and_stores_nothing(
    taskra: Taskra, client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    """The unsigned body is validated and size-limited: too large is 413, anything malformed
    (not JSON, unknown fields, empty or overlong text) is 422 with a message; nothing is
    stored and no session is started."""
    answer = await call(client, "messages", body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["message"]
    assert await message_count(taskra) == 0
    assert await chat_conversations(taskra) == []


async def test_a_held_poll_returns_when_there_is_nothing_new(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """``wait`` holds the poll open (up to TASKRA_CHAT_WAIT_SECONDS) and then answers with no
    messages and the current status, so the widget simply asks again."""
    session = await say(client, QUESTION)
    found = await call(
        client, "poll", {"session": session, "after": 10_000, "status": "ai", "wait": True}
    )
    assert found.status_code == 200
    assert found.json() == {"messages": [], "status": "ai", "ask_email": True}
    assert found.headers["cache-control"] == "no-store"


async def test_a_logged_in_customer_gets_their_order_and_an_anonymous_visitor_does_not(
    taskra: Taskra, client: httpx.AsyncClient
) -> None:
    """Shopify vouches for the logged-in customer who placed #1038, so the AI answers about
    the order with no email check; the same question from an anonymous visitor reveals
    nothing about the order."""
    priya = await say(client, "Where is my order #1038?", customer="7301845121379")
    stranger = await say(client, "Where is my order #1038?", client_address="198.51.100.3")
    await Worker(taskra).run_until_idle()
    [_, answer] = (await poll(client, priya, customer="7301845121379"))["messages"]
    assert "Langdale" in answer["text"]
    [_, refusal] = (await poll(client, stranger))["messages"]
    assert "Langdale" not in refusal["text"]
    assert "email address" in refusal["text"]
