"""Listing, filtering, paging, opening and searching the inbox; agent operations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.errors import InvalidInput, NotFound
from taskra_core.inbox import InboundMessage
from taskra_core.inbox.listing import ConversationFilter
from taskra_core.models import Account, Store
from taskra_core.testing import make_test_taskra

NOW = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)


@pytest.fixture
async def core(database_url: str) -> Any:
    taskra = make_test_taskra(database_url, clock=ManualClock(NOW))
    async with taskra:
        async with taskra.db.transaction() as session:
            for i in (1, 2):
                session.add(
                    Store(id=i, domain=f"s{i}.myshopify.com", created_at=NOW, updated_at=NOW)
                )
            await session.flush()  # no ORM relationships, so stores must exist first
            session.add(
                Account(id=1, store_id=1, email="agent@one.example", created_at=NOW, updated_at=NOW)
            )
            session.add(
                Account(id=2, store_id=2, email="agent@two.example", created_at=NOW, updated_at=NOW)
            )
        yield taskra


async def receive(taskra: Taskra, store_id: int, n: int, text: str, **kw: Any) -> Any:
    assert isinstance(taskra.clock, ManualClock)
    taskra.clock.advance(60)
    values: dict[str, Any] = {
        "channel": "email",
        "from_email": f"customer{n}@example.com",
        "from_name": f"Customer {n}",
        "subject": f"Question {n}",
        "text": text,
        "channel_message_id": f"<{store_id}-{n}-{text[:10]}@x>",
    }
    values.update(kw)
    return await taskra.inbox.receive(store_id, InboundMessage(**values))


async def test_keyset_pages_cover_every_conversation_once(core: Taskra) -> None:
    """Paging 3 at a time through 8 conversations returns each once, newest first."""
    ids = [(await receive(core, 1, n, f"hello {n}")).conversation.id for n in range(8)]
    seen: list[int] = []
    cursor = None
    while True:
        page = await core.inbox.list_conversations(1, limit=3, cursor=cursor)
        seen += [c.id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(ids))


async def test_listing_is_scoped_and_filtered(core: Taskra) -> None:
    """Filters by status, assignee, channel, tag and escalation; never another store's rows."""
    a = (await receive(core, 1, 1, "refund please")).conversation.id
    b = (await receive(core, 1, 2, "chat hello", channel="chat", subject="")).conversation.id
    await receive(core, 2, 3, "other store")
    await core.inbox.assign(1, a, 1)
    await core.inbox.add_tags(1, a, ["Refund", "VIP"])
    await core.inbox.set_status(1, b, "pending")

    async def ids(**filters: Any) -> list[int]:
        page = await core.inbox.list_conversations(1, ConversationFilter(**filters))
        return [c.id for c in page.items]

    assert sorted(await ids()) == sorted([a, b])
    assert await ids(status="pending") == [b]
    assert await ids(assignee_id=1) == [a]
    assert await ids(assignee_id=0) == [b]
    assert await ids(channel="chat") == [b]
    assert await ids(tag="refund") == [a]
    assert await ids(tag="nope") == []
    assert await ids(escalated=True) == []


async def test_operations_refuse_other_stores(core: Taskra) -> None:
    """A conversation or agent of store 2 is 'not found' from store 1."""
    theirs = (await receive(core, 2, 1, "private")).conversation.id
    ours = (await receive(core, 1, 1, "mine")).conversation.id
    with pytest.raises(NotFound):
        await core.inbox.set_status(1, theirs, "closed")
    with pytest.raises(NotFound):
        await core.inbox.open_conversation(1, theirs)
    with pytest.raises(NotFound, match="agent"):
        await core.inbox.assign(1, ours, 2)


async def test_status_priority_tags_validation(core: Taskra) -> None:
    """Bad statuses, priorities, snooze times and tags are refused with a reason."""
    conv = (await receive(core, 1, 1, "hi")).conversation.id
    with pytest.raises(InvalidInput, match="status"):
        await core.inbox.set_status(1, conv, "archived")
    with pytest.raises(InvalidInput, match="future"):
        await core.inbox.set_status(1, conv, "snoozed", snoozed_until=NOW - timedelta(days=1))
    with pytest.raises(InvalidInput, match="priority"):
        await core.inbox.set_priority(1, conv, "meh")
    with pytest.raises(InvalidInput, match="Tags"):
        await core.inbox.set_tags(1, conv, ["x" * 41])
    snoozed = await core.inbox.set_status(1, conv, "snoozed", snoozed_until=NOW + timedelta(days=9))
    assert snoozed.snoozed_until is not None
    assert (await core.inbox.set_priority(1, conv, "urgent")).priority == "urgent"
    assert (await core.inbox.remove_tags(1, conv, ["a"])).tags == []


async def test_notes_replies_and_first_response(core: Taskra) -> None:
    """Notes are internal messages; the first reply stamps first_response_at once."""
    got = await receive(core, 1, 1, "hello")
    conv = got.conversation.id
    note = await core.inbox.add_note(1, conv, 1, "VIP, be nice")
    assert (note.direction, note.author) == ("note", "agent")
    assert isinstance(core.clock, ManualClock)
    first_reply_at = core.clock.advance(30)
    await core.inbox.add_reply(1, conv, "Hi! On its way.", account_id=1)
    core.clock.advance(30)
    await core.inbox.add_reply(1, conv, "Tracking attached.", author="ai")
    thread = await core.inbox.open_conversation(1, conv)
    assert [m.direction for m in thread.messages] == ["inbound", "note", "outbound", "outbound"]
    assert thread.conversation.first_response_at == first_reply_at
    assert thread.customer.email == "customer1@example.com"


async def test_read_state_per_agent(core: Taskra) -> None:
    """A conversation is unread until the agent reads it, and again after a new message."""
    got = await receive(core, 1, 1, "hello")
    conv = got.conversation.id
    assert await core.inbox.is_unread(1, conv, 1)
    await core.inbox.mark_read(1, conv, 1)
    assert not await core.inbox.is_unread(1, conv, 1)
    await receive(core, 1, 1, "are you there", in_reply_to=got.message.channel_message_id)
    assert await core.inbox.is_unread(1, conv, 1)
    await core.inbox.mark_read(1, conv, 1)
    await core.inbox.mark_unread(1, conv, 1)
    assert await core.inbox.is_unread(1, conv, 1)


async def test_open_conversation_returns_the_latest_messages_in_order(core: Taskra) -> None:
    """Opening a long conversation returns its newest N messages, oldest first."""
    first = await receive(core, 1, 1, "message 0")
    for i in range(1, 60):
        await receive(core, 1, 1, f"message {i}", in_reply_to=first.message.channel_message_id)
    thread = await core.inbox.open_conversation(1, first.conversation.id, limit=50)
    assert [m.text for m in thread.messages] == [f"message {i}" for i in range(10, 60)]


async def test_search_is_stemmed_scoped_and_injection_safe(core: Taskra) -> None:
    """'refunds' finds 'refund'; other stores' messages never show; FTS syntax is inert."""
    mine = await receive(core, 1, 1, "I would like a refund for my boots")
    await receive(core, 1, 2, "Where is my parcel?")
    await receive(core, 2, 3, "refund for the other store")
    found = await core.inbox.search(1, "Refunds boots")
    assert [m.id for m in found.messages] == [mine.message.id]
    by_name = await core.inbox.search(1, "customer2")
    assert [c.email for c in by_name.customers] == ["customer2@example.com"]
    for hostile in [
        'refund "boots',
        "refund*",
        "NEAR(refund boots)",
        "refund OR parcel",
        "-boots",
        "a:b",
    ]:
        await core.inbox.search(1, hostile)  # no syntax error reaches the caller
    with pytest.raises(InvalidInput):
        await core.inbox.search(1, "!!!")


async def test_concurrent_tag_edits_are_not_lost(core: Taskra) -> None:
    """Five agents adding different tags at the same moment: all five tags stick."""
    conv = (await receive(core, 1, 1, "hello")).conversation.id
    await asyncio.gather(*(core.inbox.add_tags(1, conv, [f"t{i}"]) for i in range(5)))
    thread = await core.inbox.open_conversation(1, conv)
    assert sorted(thread.conversation.tags) == [f"t{i}" for i in range(5)]
