"""Receiving messages: idempotency, customers, threading, reopening, hooks, store scoping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from taskra_core import hookimpl
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.errors import InvalidInput, NotFound
from taskra_core.inbox import InboundMessage
from taskra_core.inbox.messages import normalize_email, normalize_subject
from taskra_core.models import Customer, Message, Store
from taskra_core.testing import make_test_taskra

NOW = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)


class Seen:
    """Records message_received calls."""

    __name__ = "seen"

    def __init__(self) -> None:
        self.messages: list[int] = []

    @hookimpl
    async def message_received(self, message: Any) -> None:
        self.messages.append(message.id)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def core(database_url: str, seen: Seen) -> Any:
    taskra = make_test_taskra(database_url, plugins=[seen], clock=ManualClock(NOW))
    async with taskra:
        async with taskra.db.transaction() as session:
            session.add(Store(id=1, domain="one.myshopify.com", created_at=NOW, updated_at=NOW))
            session.add(Store(id=2, domain="two.myshopify.com", created_at=NOW, updated_at=NOW))
        yield taskra


def email(text: str = "Where is my order?", **kwargs: Any) -> InboundMessage:
    values: dict[str, Any] = {
        "channel": "email",
        "from_email": "Jo Bloggs <Jo@Example.com>",
        "from_name": "Jo Bloggs",
        "subject": "Order #1001",
        "text": text,
        "channel_message_id": "<m1@example.com>",
    }
    values.update(kwargs)
    return InboundMessage(**values)


async def count(taskra: Taskra, model: Any) -> int:
    async with taskra.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def test_normalizers() -> None:
    """Emails lose display names and case; subjects lose Re:/Fwd: prefixes in any language."""
    assert normalize_email(" Jo Bloggs <Jo@Example.COM> ") == "jo@example.com"
    assert normalize_subject("RE: Fwd: AW:  Where is  my ORDER?") == "where is my order?"
    assert normalize_subject("Re[2]: refund") == "refund"
    with pytest.raises(InvalidInput):
        normalize_email("not an email")


async def test_repeated_delivery_changes_nothing(core: Taskra, seen: Seen) -> None:
    """The same channel message id delivered twice is stored once and fires the hook once."""
    first = await core.inbox.receive(1, email())
    again = await core.inbox.receive(1, email(from_name="Someone Else"))
    assert first.created
    assert not again.created
    assert again.message.id == first.message.id
    assert await count(core, Message) == 1
    async with core.db.session() as session:
        customer = await session.get(Customer, first.conversation.customer_id)
    assert customer is not None
    assert customer.name == "Jo Bloggs"  # the duplicate's different name was not applied
    assert seen.messages == [first.message.id]


async def test_concurrent_duplicate_deliveries_store_one_message(core: Taskra) -> None:
    """Ten simultaneous deliveries of one message: one stored, one conversation, one customer."""
    results = await asyncio.gather(*(core.inbox.receive(1, email()) for _ in range(10)))
    assert sum(r.created for r in results) == 1
    assert len({r.message.id for r in results}) == 1
    assert await count(core, Message) == 1
    assert await count(core, Customer) == 1


async def test_customers_are_upserted_per_store_by_normalized_email(core: Taskra) -> None:
    """One customer per store per email, whatever its case; a later name replaces the old."""
    await core.inbox.receive(1, email(channel_message_id="a"))
    await core.inbox.receive(
        1, email(channel_message_id="b", from_email="JO@example.com", from_name="Joanna Bloggs")
    )
    await core.inbox.receive(2, email(channel_message_id="a"))
    async with core.db.session() as session:
        rows = (await session.scalars(select(Customer).order_by(Customer.store_id))).all()
    assert [(c.store_id, c.email, c.name) for c in rows] == [
        (1, "jo@example.com", "Joanna Bloggs"),
        (2, "jo@example.com", "Jo Bloggs"),
    ]


async def test_replies_thread_by_in_reply_to_and_references(core: Taskra) -> None:
    """A reply naming an earlier Message-ID joins that conversation even with a new subject."""
    first = await core.inbox.receive(1, email())
    reply = await core.inbox.receive(
        1,
        email(
            "Any news?",
            channel_message_id="<m2@example.com>",
            subject="Something else entirely",
            in_reply_to="<unknown@x>",
            references=("<m1@example.com>",),
        ),
    )
    assert reply.conversation.id == first.conversation.id


async def test_forged_reply_headers_do_not_cross_customers(core: Taskra) -> None:
    """A stranger's In-Reply-To pointing at Jo's message starts the stranger's own thread."""
    first = await core.inbox.receive(1, email())
    forged = await core.inbox.receive(
        1,
        email(
            channel_message_id="<evil@x>",
            from_email="mallory@example.net",
            in_reply_to="<m1@example.com>",
        ),
    )
    assert forged.conversation.id != first.conversation.id


async def test_same_sender_and_subject_thread_within_the_window(core: Taskra) -> None:
    """'Re: Order #1001' from the same customer joins the thread; after the window it doesn't."""
    first = await core.inbox.receive(1, email())
    second = await core.inbox.receive(
        1, email("Hello again", channel_message_id="n2", subject="RE: order #1001")
    )
    assert second.conversation.id == first.conversation.id
    assert isinstance(core.clock, ManualClock)
    core.clock.advance((core.settings.thread_window_days + 1) * 86400)
    later = await core.inbox.receive(
        1, email("Months later", channel_message_id="n3", subject="Re: Order #1001")
    )
    assert later.conversation.id != first.conversation.id


async def test_chat_sessions_thread_by_session_id(core: Taskra) -> None:
    """Chat messages of one session share a conversation; another session gets its own."""
    a1 = await core.inbox.receive(
        1, email("hi", channel="chat", subject="", channel_message_id="c1", thread_key="s-1")
    )
    a2 = await core.inbox.receive(
        1,
        email(
            "still there?", channel="chat", subject="", channel_message_id="c2", thread_key="s-1"
        ),
    )
    b1 = await core.inbox.receive(
        1, email("hi", channel="chat", subject="", channel_message_id="c3", thread_key="s-2")
    )
    assert a1.conversation.id == a2.conversation.id != b1.conversation.id


async def test_closed_conversation_reopens_on_a_new_customer_message(core: Taskra) -> None:
    """Closing stamps resolved_at; a new customer message reopens and clears it."""
    first = await core.inbox.receive(1, email())
    closed = await core.inbox.set_status(1, first.conversation.id, "closed")
    assert closed.resolved_at == NOW
    again = await core.inbox.receive(1, email("one more thing", channel_message_id="x2"))
    assert again.conversation.id == first.conversation.id
    assert again.conversation.status == "open"
    assert again.conversation.resolved_at is None


async def test_bad_input_is_refused_and_changes_nothing(core: Taskra) -> None:
    """Invalid sender, empty text, unknown store, oversized text: clear errors, nothing stored."""
    with pytest.raises(InvalidInput, match="email address"):
        await core.inbox.receive(1, email(from_email="nobody"))
    with pytest.raises(InvalidInput, match="no text"):
        await core.inbox.receive(1, email("   "))
    with pytest.raises(InvalidInput, match="too large"):
        await core.inbox.receive(1, email("x" * 100_001))
    with pytest.raises(NotFound, match="No store"):
        await core.inbox.receive(99, email())
    assert await count(core, Message) == 0
    assert await count(core, Customer) == 0


async def test_html_is_sanitized_on_the_way_in(core: Taskra) -> None:
    """Scripts and event handlers never reach the database, even if a channel missed them."""
    got = await core.inbox.receive(
        1, email(html='<p onclick="steal()">Hi<script>alert(1)</script></p>')
    )
    assert got.message.html == "<p>Hi</p>"


async def test_hook_message_received(core: Taskra, seen: Seen) -> None:
    """message_received fires after commit with the stored message, once per new message."""
    got = await core.inbox.receive(1, email())
    assert seen.messages == [got.message.id]

    class Checks:
        __name__ = "checks"

        def __init__(self, taskra: Taskra) -> None:
            self.taskra = taskra
            self.visible: list[bool] = []

        @hookimpl
        async def message_received(self, message: Any) -> None:
            # A separate session sees the row: the hook runs after the commit.
            async with self.taskra.db.session() as session:
                self.visible.append(await session.get(Message, message.id) is not None)

    checks = Checks(core)
    core.pm.register(checks, name="checks")
    await core.inbox.receive(1, email("second", channel_message_id="m-2"))
    assert checks.visible == [True]
