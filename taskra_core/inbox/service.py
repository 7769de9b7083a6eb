"""Receiving a customer message: find or create the customer and the conversation, store the
message once, then tell plugins (``message_received``) after the commit."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import NotFound
from taskra_core.inbox.changes import Changes, Cursor, changes_since, current_cursor
from taskra_core.inbox.conversations import ConversationOps
from taskra_core.inbox.listing import Listing
from taskra_core.inbox.messages import InboundMessage, Received, normalize_subject
from taskra_core.inbox.orders import customer_orders
from taskra_core.inbox.rows import InboxRow, inbox_rows
from taskra_core.models import Conversation, Customer, Message, Store

if TYPE_CHECKING:
    from datetime import datetime

    from taskra_core.app import Taskra

# Statuses a new customer message wakes a conversation from.
_REOPEN = ("closed", "pending", "snoozed")


class _Duplicate(Exception):
    """Raised inside the receive transaction to roll it back: the message already exists."""


class Inbox(ConversationOps, Listing):
    """The inbox of every store. Every method takes the store id and touches only its rows."""

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra

    async def customer_orders(self, store_id: int, customer_id: int) -> list[dict[str, Any]]:
        """The customer's own orders, newest first, summarised (see :mod:`.orders`)."""
        return await customer_orders(self.taskra, store_id, customer_id)

    async def rows(
        self, store_id: int, conversations: list[Conversation], account_id: int | None = None
    ) -> list[InboxRow]:
        """Customer, unread flag (for ``account_id``) and preview of each conversation."""
        return await inbox_rows(self.taskra.db, store_id, conversations, account_id)

    async def changes_since(self, store_id: int, cursor: Cursor | None) -> Changes:
        """Conversations changed after ``cursor`` (``None``: start watching now)."""
        if cursor is None:
            return Changes(await current_cursor(self.taskra.db, store_id), [])
        return await changes_since(self.taskra.db, store_id, cursor)

    async def receive(self, store_id: int, inbound: InboundMessage) -> Received:
        """Store ``inbound`` in the right conversation, exactly once.

        A repeated delivery (same store, channel and channel message id), even a concurrent
        one, returns the stored message with ``created=False`` and changes nothing.
        """
        inbound = inbound.validated()
        async with self.taskra.db.session() as session:
            if await session.get(Store, store_id) is None:
                raise NotFound(f"No store with id {store_id}.")
        if inbound.channel_message_id is None:
            # Without a channel id every delivery is new; give it one so it is stored once.
            inbound = _with_id(inbound, f"taskra-{uuid.uuid4().hex}")
        try:
            async with self.taskra.db.transaction() as session:
                received = await self._receive(session, store_id, inbound)
        except _Duplicate:
            async with self.taskra.db.session() as session:
                received = await self._existing(session, store_id, inbound)
        if received.created:
            await self.taskra.hooks.message_received(self.taskra, received.message)
        return received

    async def _receive(
        self, session: AsyncSession, store_id: int, inbound: InboundMessage
    ) -> Received:
        now = self.taskra.clock.now()
        # Writing first matters on SQLite: it takes the write lock before any read, so
        # concurrent deliveries queue up instead of failing on a stale snapshot.
        customer_id = await self._upsert_customer(session, store_id, inbound, now)
        if await self._find_message_id(session, store_id, inbound) is not None:
            raise _Duplicate
        conversation = await self._thread(session, store_id, customer_id, inbound, now)
        received_at = inbound.received_at or now
        values: dict[str, Any] = {
            "store_id": store_id,
            "conversation_id": conversation.id,
            "channel": inbound.channel,
            "channel_message_id": inbound.channel_message_id,
            "direction": "inbound",
            "author": "customer",
            "text": inbound.text,
            "html": inbound.html,
            "meta": _meta(inbound),
            "received_at": received_at,
            "created_at": now,
        }
        table = Message.__table__  # type: ignore[attr-defined]
        stmt = (
            self._insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["store_id", "channel", "channel_message_id"])
        )
        message_id = (await session.execute(stmt.returning(table.c.id))).scalar_one_or_none()
        if message_id is None:  # a concurrent delivery of the same message won the race
            raise _Duplicate
        conversation.last_message_at = max(conversation.last_message_at or now, received_at)
        conversation.updated_at = now
        await session.flush()
        message = await session.get(Message, message_id)
        assert message is not None
        return Received(message=message, conversation=conversation, created=True)

    def _insert(self, table: Any) -> Any:
        return (pg_insert if self.taskra.db.dialect == "postgresql" else sqlite_insert)(table)

    async def _upsert_customer(
        self, session: AsyncSession, store_id: int, inbound: InboundMessage, now: datetime
    ) -> int:
        table = Customer.__table__  # type: ignore[attr-defined]
        stmt = self._insert(table).values(
            store_id=store_id,
            email=inbound.from_email,
            name=inbound.from_name,
            ai_processing_objected=False,
            created_at=now,
            updated_at=now,
        )
        # A new name replaces the old one; a message without a name keeps what we know.
        stmt = stmt.on_conflict_do_update(
            index_elements=["store_id", "email"],
            set_={"name": func.coalesce(stmt.excluded.name, table.c.name), "updated_at": now},
        )
        return int((await session.execute(stmt.returning(table.c.id))).scalar_one())

    async def _find_message_id(
        self, session: AsyncSession, store_id: int, inbound: InboundMessage
    ) -> int | None:
        stmt = select(col(Message.id)).where(
            col(Message.store_id) == store_id,
            col(Message.channel) == inbound.channel,
            col(Message.channel_message_id) == inbound.channel_message_id,
        )
        return (await session.execute(stmt)).scalar_one_or_none()

    async def _thread(
        self,
        session: AsyncSession,
        store_id: int,
        customer_id: int,
        inbound: InboundMessage,
        now: datetime,
    ) -> Conversation:
        conversation = await self._by_hints(session, store_id, customer_id, inbound)
        subject = normalize_subject(inbound.subject)
        if conversation is None and subject:
            since = now - timedelta(days=self.taskra.settings.thread_window_days)
            conversation = (
                await session.scalars(
                    select(Conversation)
                    .where(
                        col(Conversation.store_id) == store_id,
                        col(Conversation.customer_id) == customer_id,
                        col(Conversation.channel) == inbound.channel,
                        col(Conversation.normalized_subject) == subject,
                        col(Conversation.last_message_at) >= since,
                    )
                    .order_by(col(Conversation.last_message_at).desc())
                    .limit(1)
                )
            ).first()
        if conversation is None:
            conversation = Conversation(
                store_id=store_id,
                customer_id=customer_id,
                channel=inbound.channel,
                status="open",
                subject=inbound.subject[:998],
                normalized_subject=subject,
                thread_key=inbound.thread_key,
                last_message_at=inbound.received_at or now,
                created_at=now,
                updated_at=now,
            )
            session.add(conversation)
            await session.flush()
        elif conversation.status in _REOPEN:
            conversation.status = "open"
            conversation.snoozed_until = None
            conversation.resolved_at = None
        return conversation

    async def _by_hints(
        self, session: AsyncSession, store_id: int, customer_id: int, inbound: InboundMessage
    ) -> Conversation | None:
        if inbound.thread_key is not None:
            found = (
                await session.scalars(
                    select(Conversation).where(
                        col(Conversation.store_id) == store_id,
                        col(Conversation.channel) == inbound.channel,
                        col(Conversation.thread_key) == inbound.thread_key,
                    )
                )
            ).first()
            if found is not None:
                return found
        hints = [h for h in (inbound.in_reply_to, *reversed(inbound.references)) if h]
        if not hints:
            return None
        # The customer must match too: a forged In-Reply-To must not drop a stranger's
        # message into someone else's conversation.
        stmt = (
            select(Conversation)
            .join(Message, and_(col(Message.conversation_id) == col(Conversation.id)))
            .where(
                col(Message.store_id) == store_id,
                col(Message.channel_message_id).in_(hints),
                col(Conversation.customer_id) == customer_id,
            )
            .order_by(col(Message.id).desc())
            .limit(1)
        )
        return (await session.scalars(stmt)).first()

    async def _existing(
        self, session: AsyncSession, store_id: int, inbound: InboundMessage
    ) -> Received:
        message_id = await self._find_message_id(session, store_id, inbound)
        message = await session.get(Message, message_id) if message_id is not None else None
        if message is None:  # pragma: no cover - only if deleted in between
            raise NotFound("The message was removed while it was being received; retry.")
        conversation = await session.get(Conversation, message.conversation_id)
        assert conversation is not None
        return Received(message=message, conversation=conversation, created=False)


def _with_id(inbound: InboundMessage, channel_message_id: str) -> InboundMessage:
    return replace(inbound, channel_message_id=channel_message_id)


def _meta(inbound: InboundMessage) -> dict[str, Any]:
    meta: dict[str, Any] = dict(inbound.metadata)
    if inbound.subject:
        meta["subject"] = inbound.subject
    if inbound.in_reply_to:
        meta["in_reply_to"] = inbound.in_reply_to
    if inbound.references:
        meta["references"] = list(inbound.references)
    if inbound.thread_key:
        meta["thread_key"] = inbound.thread_key
    if inbound.from_name:
        meta["from_name"] = inbound.from_name
    if inbound.automated:
        meta["automated"] = inbound.automated
    return meta
