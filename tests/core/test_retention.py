"""Retention of store data: messages and AI replies (12 months), conversations and customers
left behind, accounts after a deletion request (30 days), batching and dry runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.drafting.policy import with_autonomy
from taskra_core.errors import ConfigurationError, InvalidInput, NotFound, SessionInvalid
from taskra_core.inbox.messages import InboundMessage, Received
from taskra_core.models import (
    Account,
    AccountSession,
    Conversation,
    Customer,
    Draft,
    Message,
    Store,
)
from taskra_core.retention import request_account_deletion
from taskra_core.settings import Settings
from taskra_core.testing import make_test_taskra

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)  # over 12 months ago
RECENT = NOW - timedelta(days=300)  # within 12 months


def set_time(clock: ManualClock, at: datetime) -> None:
    clock.advance((at - clock.now()).total_seconds())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(OLD - timedelta(days=1))


@pytest.fixture
async def core(database_url: str, clock: ManualClock) -> AsyncIterator[Taskra]:
    taskra = make_test_taskra(database_url, clock=clock)
    await taskra.startup()
    try:
        yield taskra
    finally:
        await taskra.shutdown()


async def make_store(taskra: Taskra, domain: str = "fell.myshopify.com") -> int:
    """A store whose messages get no AI drafts (tests add drafts themselves)."""
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        store = Store(domain=domain, created_at=now, updated_at=now)
        store.settings = with_autonomy(store, "off")
        session.add(store)
        await session.flush()
        assert store.id is not None
        return store.id


async def receive(
    taskra: Taskra,
    clock: ManualClock,
    store_id: int,
    at: datetime,
    text: str,
    *,
    sender: str = "ann@example.com",
    subject: str = "Order",
    in_reply_to: str | None = None,
) -> Received:
    set_time(clock, at)
    inbound = InboundMessage(
        channel="email", from_email=sender, text=text, subject=subject, in_reply_to=in_reply_to
    )
    received = await taskra.inbox.receive(store_id, inbound)
    set_time(clock, NOW)
    return received


async def add_draft(taskra: Taskra, received: Received) -> int:
    message = received.message
    async with taskra.db.transaction() as session:
        draft = Draft(
            store_id=message.store_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            text="Thanks, your order is on its way.",
            created_at=message.created_at,
            updated_at=message.created_at,
        )
        session.add(draft)
        await session.flush()
        assert draft.id is not None
        return draft.id


async def ids(taskra: Taskra, model: Any) -> set[int]:
    async with taskra.db.session() as session:
        return set(await session.scalars(select(col(model.id))))


# --- messages, AI replies, conversations, customers ---------------------------------------


async def test_messages_older_than_12_months_are_deleted(core: Taskra, clock: ManualClock) -> None:
    """A message stored 400 days ago goes with its AI draft; one from 300 days ago stays."""
    store_id = await make_store(core)
    old = await receive(core, clock, store_id, OLD, "Where is my tent?")
    recent = await receive(core, clock, store_id, RECENT, "Any news on the tent?")
    old_draft, recent_draft = await add_draft(core, old), await add_draft(core, recent)

    report = await core.retention.run(only=["messages"])

    [result] = report.results
    assert result.counts["messages"] == 1
    assert result.counts["drafts"] == 1
    assert result.cutoff == NOW - timedelta(days=365)
    assert await ids(core, Message) == {recent.message.id}
    assert await ids(core, Draft) == {recent_draft}
    assert old_draft not in await ids(core, Draft)


async def test_message_period_follows_the_setting(database_url: str, clock: ManualClock) -> None:
    """TASKRA_RETENTION_MESSAGES_DAYS=30 deletes a 300-day-old message the default keeps."""
    taskra = make_test_taskra(database_url, clock=clock, retention_messages_days=30)
    await taskra.startup()
    try:
        store_id = await make_store(taskra)
        await receive(taskra, clock, store_id, RECENT, "Hello")
        report = await taskra.retention.run(only=["messages"])
        assert report.results[0].cutoff == NOW - timedelta(days=30)
        assert report.results[0].counts["messages"] == 1
    finally:
        await taskra.shutdown()


async def test_ai_replies_are_deleted_with_the_message_they_answer(
    core: Taskra, clock: ManualClock
) -> None:
    """AI replies (drafts) of an expired message go in the same sweep, none survive it."""
    store_id = await make_store(core)
    old = await receive(core, clock, store_id, OLD, "Do the boots run small?")
    for _ in range(3):
        await add_draft(core, old)

    report = await core.retention.run(only=["messages"])

    assert report.results[0].counts["drafts"] == 3
    assert await ids(core, Draft) == set()


async def test_deleted_messages_leave_the_search_index(core: Taskra, clock: ManualClock) -> None:
    """Search no longer finds an expired message's words; a recent one is still found."""
    store_id = await make_store(core)
    await receive(core, clock, store_id, OLD, "My waterproof jacket leaks")
    await receive(core, clock, store_id, RECENT, "The stove is broken", sender="bo@example.com")
    assert len((await core.inbox.search(store_id, "waterproof")).messages) == 1

    await core.retention.run(only=["messages"])

    assert (await core.inbox.search(store_id, "waterproof")).messages == []
    assert len((await core.inbox.search(store_id, "stove")).messages) == 1


async def test_conversations_left_without_messages_are_deleted(
    core: Taskra, clock: ManualClock
) -> None:
    """A conversation whose messages all expired goes; one with a recent message stays
    (and keeps only that message)."""
    store_id = await make_store(core)
    gone = await receive(core, clock, store_id, OLD, "Refund please", subject="Refund")
    mixed = await receive(core, clock, store_id, OLD, "Size question", subject="Size")
    again = await receive(
        core,
        clock,
        store_id,
        RECENT,
        "Re: size question",
        subject="Re: Size",
        in_reply_to=mixed.message.channel_message_id,
    )
    assert again.conversation.id == mixed.conversation.id

    report = await core.retention.run(only=["messages"])

    assert report.results[0].counts["conversations"] == 1
    assert await ids(core, Conversation) == {mixed.conversation.id}
    assert gone.conversation.id not in await ids(core, Conversation)
    assert await ids(core, Message) == {again.message.id}


async def test_inactive_customers_without_conversations_are_deleted(
    core: Taskra, clock: ManualClock
) -> None:
    """A customer whose last message is over 12 months old goes once their conversations
    have; a customer who wrote recently stays."""
    store_id = await make_store(core)
    gone = await receive(core, clock, store_id, OLD, "Hello", sender="gone@example.com")
    kept = await receive(core, clock, store_id, OLD, "Hello", sender="kept@example.com")
    await receive(core, clock, store_id, RECENT, "Hi again", sender="kept@example.com")
    # Over the thread window: the recent message started a conversation of its own.

    report = await core.retention.run(only=["messages", "customers"])

    assert [r.name for r in report.results] == ["messages", "customers"]
    assert report.results[1].counts == {"customers": 1}
    assert await ids(core, Customer) == {kept.conversation.customer_id}
    assert gone.conversation.customer_id not in await ids(core, Customer)


async def test_customers_who_objected_to_ai_processing_are_kept(
    core: Taskra, clock: ManualClock
) -> None:
    """An inactive customer's objection to AI processing is kept: it is how it is honoured."""
    store_id = await make_store(core)
    received = await receive(core, clock, store_id, OLD, "No AI please", sender="no@example.com")
    async with core.db.transaction() as session:
        customer = await session.get(Customer, received.conversation.customer_id)
        assert customer is not None
        customer.ai_processing_objected = True

    await core.retention.run(only=["messages", "customers"])

    assert await ids(core, Customer) == {received.conversation.customer_id}
    assert await ids(core, Conversation) == set()


async def test_dry_run_counts_without_deleting(core: Taskra, clock: ManualClock) -> None:
    """--dry-run reports exactly what the real run then deletes, and deletes nothing."""
    store_id = await make_store(core)
    other = await make_store(core, "other.myshopify.com")
    for n, sender in enumerate(["a@example.com", "b@example.com", "c@example.com"]):
        received = await receive(core, clock, store_id, OLD, f"Question {n}", sender=sender)
        await add_draft(core, received)
    await receive(core, clock, other, OLD, "Hello", sender="a@example.com")
    await receive(core, clock, store_id, RECENT, "Still here", sender="a@example.com")
    before = await ids(core, Message)

    dry = await core.retention.run(dry_run=True, only=["messages", "customers"])

    assert dry.dry_run
    assert await ids(core, Message) == before
    real = await core.retention.run(only=["messages", "customers"])
    assert [r.counts for r in dry.results] == [r.counts for r in real.results]
    assert dry.results[0].counts == {"messages": 4, "drafts": 3, "conversations": 4}
    assert dry.results[1].counts == {"customers": 3}


async def test_sweeps_commit_between_small_batches(core: Taskra, clock: ManualClock) -> None:
    """With a batch size of 3, ten expired messages go in four transactions, each committed
    before the next starts: another connection sees the count fall batch by batch."""
    store_id = await make_store(core)
    for n in range(10):
        await receive(core, clock, store_id, OLD, f"Message {n}", sender=f"c{n}@example.com")
    seen: list[tuple[int, int]] = []

    async def probe(_policy: str, deleted: int) -> None:
        async with core.db.session() as session:
            left = await session.scalar(select(func.count()).select_from(Message))
        seen.append((deleted, int(left or 0)))

    report = await core.retention.run(only=["messages"], batch_size=3, on_progress=probe)

    assert report.results[0].counts["messages"] == 10
    assert seen[:4] == [(3, 7), (6, 4), (9, 1), (10, 0)]


async def test_unknown_policy_name_is_refused(core: Taskra, clock: ManualClock) -> None:
    """Naming a policy that does not exist is a clear error, and nothing is deleted."""
    store_id = await make_store(core)
    await receive(core, clock, store_id, OLD, "Hello")
    with pytest.raises(InvalidInput, match=r"'mesages'.*known: messages"):
        await core.retention.run(only=["messages", "mesages"])
    assert len(await ids(core, Message)) == 1


# --- accounts ------------------------------------------------------------------------------


async def test_accounts_are_deleted_within_30_days_of_a_deletion_request(
    core: Taskra, clock: ManualClock
) -> None:
    """A deletion request signs the account out at once; the sweep keeps it for the grace
    period (7 days), then deletes it, its sessions with it, well inside 30 days."""
    set_time(clock, NOW)
    store_id = await make_store(core)
    account = await core.accounts.create_account(
        store_id, "jo@example.com", role="agent", password="a long password"
    )
    assert account.id is not None
    token = await core.accounts.start_session(account)

    due = await request_account_deletion(core, store_id, account.id)

    assert due == NOW + timedelta(days=30)
    with pytest.raises(SessionInvalid):
        await core.accounts.session_for(token)
    clock.advance(timedelta(days=6).total_seconds())
    assert (await core.retention.run(only=["accounts"])).total == 0
    assert account.id in await ids(core, Account)

    clock.advance(timedelta(days=1).total_seconds())
    report = await core.retention.run(only=["accounts"])

    assert report.results[0].counts == {"accounts": 1}
    assert await ids(core, Account) == set()
    assert await ids(core, AccountSession) == set()


async def test_a_second_deletion_request_keeps_the_first_date(
    core: Taskra, clock: ManualClock
) -> None:
    """Asking again does not push the deletion back; another store's account is not found."""
    store_id = await make_store(core)
    other = await make_store(core, "other.myshopify.com")
    account = await core.accounts.create_account(store_id, "jo@example.com")
    assert account.id is not None
    first = await request_account_deletion(core, store_id, account.id)
    clock.advance(3600)
    assert await request_account_deletion(core, store_id, account.id) == first
    with pytest.raises(NotFound):
        await request_account_deletion(core, other, account.id)


async def test_account_grace_period_cannot_exceed_the_30_day_promise() -> None:
    """A grace period that would let a deletion land after 30 days is refused at start."""
    with pytest.raises(ConfigurationError, match="TASKRA_RETENTION_ACCOUNT_GRACE_DAYS"):
        Settings.from_values(retention_account_grace_days=29)
