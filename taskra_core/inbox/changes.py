"""What changed in a store's inbox since a cursor: the feed behind live page updates.

A cursor is three high-water marks, ``"<message id>.<draft id>.<conversation stamp>"``:
the newest message, the newest draft, and the latest ``conversations.updated_at`` (in
microseconds). New messages, new drafts and edits to a conversation (status, assignee,
tags) each move one of them. Reading the marks is three indexed aggregates, so many
pages can poll cheaply, from any number of processes, with nothing to subscribe to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.db import Database
from taskra_core.errors import InvalidInput
from taskra_core.models import Conversation, Draft, Message

MAX_IDS = 100


@dataclass(frozen=True)
class Cursor:
    message_id: int = 0
    draft_id: int = 0
    conversation_stamp: int = 0

    def __str__(self) -> str:
        return f"{self.message_id}.{self.draft_id}.{self.conversation_stamp}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        parts = text.split(".")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts):
            raise InvalidInput(f"{text!r} is not a change cursor.")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))


@dataclass(frozen=True)
class Changes:
    cursor: Cursor
    conversation_ids: list[int]

    @property
    def empty(self) -> bool:
        return not self.conversation_ids


def _stamp(value: datetime | None) -> int:
    if value is None:
        return 0
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)


def _time(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp / 1_000_000, tz=UTC)


async def current_cursor(db: Database, store_id: int) -> Cursor:
    """Where the store's inbox is now: a new page starts watching from here."""
    async with db.session() as session:
        return await _cursor(session, store_id)


async def _cursor(session: AsyncSession, store_id: int) -> Cursor:
    row = (
        await session.execute(
            select(
                select(func.max(col(Message.id)))
                .where(col(Message.store_id) == store_id)
                .scalar_subquery(),
                select(func.max(col(Draft.id)))
                .where(col(Draft.store_id) == store_id)
                .scalar_subquery(),
                select(func.max(col(Conversation.updated_at)))
                .where(col(Conversation.store_id) == store_id)
                .scalar_subquery(),
            )
        )
    ).one()
    return Cursor(row[0] or 0, row[1] or 0, _stamp(row[2]))


async def changes_since(db: Database, store_id: int, since: Cursor) -> Changes:
    """The conversations that gained a message or a draft, or were edited, after ``since``."""
    async with db.session() as session:
        now = await _cursor(session, store_id)
        # One query per mark that moved: the conversations of the rows past the old mark.
        moved: list[Select[Any]] = []
        if now.message_id > since.message_id:
            moved.append(
                select(col(Message.conversation_id)).where(
                    col(Message.store_id) == store_id, col(Message.id) > since.message_id
                )
            )
        if now.draft_id > since.draft_id:
            moved.append(
                select(col(Draft.conversation_id)).where(
                    col(Draft.store_id) == store_id, col(Draft.id) > since.draft_id
                )
            )
        if now.conversation_stamp > since.conversation_stamp:
            moved.append(
                select(col(Conversation.id)).where(
                    col(Conversation.store_id) == store_id,
                    col(Conversation.updated_at) > _time(since.conversation_stamp),
                )
            )
        ids: set[int] = set()
        for query in moved:
            ids.update(await session.scalars(query.distinct().limit(MAX_IDS)))
    return Changes(now, sorted(ids))
