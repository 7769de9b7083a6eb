"""What agents do to a conversation: status, assignment, tags, priority, notes, replies,
read state. Every operation is scoped to one store and refuses other stores' rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import InvalidInput, NotFound
from taskra_core.models import Account, Conversation, ConversationRead, Message

if TYPE_CHECKING:
    from taskra_core.app import Taskra

STATUSES = ("open", "pending", "snoozed", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
MAX_TAGS = 20
MAX_TAG_CHARS = 40


async def load_conversation(
    session: AsyncSession, store_id: int, conversation_id: int
) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    # Another store's conversation is reported exactly like a missing one.
    if conversation is None or conversation.store_id != store_id:
        raise NotFound(f"No conversation {conversation_id} in this store.")
    return conversation


async def lock_conversation(
    session: AsyncSession, store_id: int, conversation_id: int, now: datetime
) -> Conversation:
    """Load a conversation the caller will change based on what it reads.

    Writing first takes the lock before the read on both databases (a row lock on
    PostgreSQL, the write lock on SQLite), so two concurrent edits cannot lose one another.
    """
    touched = await session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.store_id) == store_id)
        .values(updated_at=now)
    )
    if touched.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"No conversation {conversation_id} in this store.")
    return await load_conversation(session, store_id, conversation_id)


async def load_account(session: AsyncSession, store_id: int, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None or account.store_id != store_id:
        raise NotFound(f"No agent {account_id} in this store.")
    return account


def _clean_tags(tags: list[str]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        value = " ".join(str(tag).split()).lower()
        if not value or len(value) > MAX_TAG_CHARS:
            raise InvalidInput(f"Tags must be 1 to {MAX_TAG_CHARS} characters: {tag!r}.")
        if value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(f"A conversation takes at most {MAX_TAGS} tags.")
    return cleaned


class ConversationOps:
    """Mixed into :class:`~taskra_core.inbox.service.Inbox`."""

    taskra: Taskra

    async def set_status(
        self,
        store_id: int,
        conversation_id: int,
        status: str,
        *,
        snoozed_until: datetime | None = None,
    ) -> Conversation:
        if status not in STATUSES:
            raise InvalidInput(f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.")
        now = self.taskra.clock.now()
        if status == "snoozed" and (snoozed_until is None or snoozed_until <= now):
            raise InvalidInput("Snoozing needs a time in the future (snoozed_until).")
        async with self.taskra.db.transaction() as session:
            conversation = await load_conversation(session, store_id, conversation_id)
            conversation.status = status
            conversation.snoozed_until = snoozed_until if status == "snoozed" else None
            conversation.resolved_at = now if status == "closed" else None
            conversation.updated_at = now
        return conversation

    async def assign(
        self, store_id: int, conversation_id: int, account_id: int | None
    ) -> Conversation:
        """Assign to an agent of the same store, or unassign with ``None``."""
        async with self.taskra.db.transaction() as session:
            conversation = await load_conversation(session, store_id, conversation_id)
            if account_id is not None:
                await load_account(session, store_id, account_id)
            conversation.assignee_id = account_id
            conversation.updated_at = self.taskra.clock.now()
        return conversation

    async def set_tags(self, store_id: int, conversation_id: int, tags: list[str]) -> Conversation:
        cleaned = _clean_tags(tags)
        return await self._edit_tags(store_id, conversation_id, lambda _current: cleaned)

    async def add_tags(self, store_id: int, conversation_id: int, tags: list[str]) -> Conversation:
        extra = _clean_tags(tags)
        return await self._edit_tags(
            store_id, conversation_id, lambda current: _clean_tags([*current, *extra])
        )

    async def remove_tags(
        self, store_id: int, conversation_id: int, tags: list[str]
    ) -> Conversation:
        drop = set(_clean_tags(tags))
        return await self._edit_tags(
            store_id, conversation_id, lambda current: [t for t in current if t not in drop]
        )

    async def _edit_tags(
        self, store_id: int, conversation_id: int, edit: Callable[[list[str]], list[str]]
    ) -> Conversation:
        # One locked transaction, so two agents tagging at once both count.
        async with self.taskra.db.transaction() as session:
            conversation = await lock_conversation(
                session, store_id, conversation_id, self.taskra.clock.now()
            )
            conversation.tags = edit(list(conversation.tags))
        return conversation

    async def set_priority(
        self, store_id: int, conversation_id: int, priority: str
    ) -> Conversation:
        if priority not in PRIORITIES:
            raise InvalidInput(f"Unknown priority {priority!r}; use {', '.join(PRIORITIES)}.")
        async with self.taskra.db.transaction() as session:
            conversation = await load_conversation(session, store_id, conversation_id)
            conversation.priority = priority
            conversation.updated_at = self.taskra.clock.now()
        return conversation

    async def add_note(
        self, store_id: int, conversation_id: int, account_id: int | None, text: str
    ) -> Message:
        """An internal note: visible to agents, never sent to the customer. ``account_id``
        is its author (``None`` when the author has no Taskra account yet)."""
        return await self._add(store_id, conversation_id, text, "note", "agent", account_id)

    async def add_reply(
        self,
        store_id: int,
        conversation_id: int,
        text: str,
        *,
        author: str = "agent",
        account_id: int | None = None,
    ) -> Message:
        """Record a reply to the customer (sending is the channel's job) and stamp the first
        response time."""
        if author not in ("agent", "ai"):
            raise InvalidInput("A reply's author is 'agent' or 'ai'.")
        return await self._add(store_id, conversation_id, text, "outbound", author, account_id)

    async def _add(
        self,
        store_id: int,
        conversation_id: int,
        text: str,
        direction: str,
        author: str,
        account_id: int | None,
    ) -> Message:
        text = text.strip()
        if not text:
            raise InvalidInput("The text is empty.")
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            conversation = await load_conversation(session, store_id, conversation_id)
            if account_id is not None:
                await load_account(session, store_id, account_id)
            message = Message(
                store_id=store_id,
                conversation_id=conversation_id,
                channel=conversation.channel,
                direction=direction,
                author=author,
                author_account_id=account_id,
                text=text,
                meta={},
                created_at=now,
            )
            session.add(message)
            if direction == "outbound" and conversation.first_response_at is None:
                conversation.first_response_at = now
            conversation.updated_at = now
        return message

    async def mark_read(self, store_id: int, conversation_id: int, account_id: int) -> None:
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            await load_conversation(session, store_id, conversation_id)
            await load_account(session, store_id, account_id)
            read = (
                await session.scalars(
                    select(ConversationRead).where(
                        col(ConversationRead.conversation_id) == conversation_id,
                        col(ConversationRead.account_id) == account_id,
                    )
                )
            ).first()
            if read is None:
                session.add(
                    ConversationRead(
                        store_id=store_id,
                        conversation_id=conversation_id,
                        account_id=account_id,
                        read_at=now,
                    )
                )
            else:
                read.read_at = now

    async def mark_unread(self, store_id: int, conversation_id: int, account_id: int) -> None:
        async with self.taskra.db.transaction() as session:
            await load_conversation(session, store_id, conversation_id)
            await session.execute(
                delete(ConversationRead).where(
                    col(ConversationRead.store_id) == store_id,
                    col(ConversationRead.conversation_id) == conversation_id,
                    col(ConversationRead.account_id) == account_id,
                )
            )

    async def is_unread(self, store_id: int, conversation_id: int, account_id: int) -> bool:
        async with self.taskra.db.session() as session:
            conversation = await load_conversation(session, store_id, conversation_id)
            read_at = (
                await session.execute(
                    select(col(ConversationRead.read_at)).where(
                        col(ConversationRead.conversation_id) == conversation_id,
                        col(ConversationRead.account_id) == account_id,
                    )
                )
            ).scalar_one_or_none()
        last = conversation.last_message_at
        return read_at is None or (last is not None and last > read_at)
