"""What an inbox list shows for each conversation beyond its own row: the customer, whether
the viewer has read the latest message, and a preview of it. Three queries for a whole page,
however long it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import col

from taskra_core.db import Database
from taskra_core.models import Conversation, ConversationRead, Customer, Message

PREVIEW_CHARS = 160


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    customer: Customer | None
    unread: bool
    preview: str


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1].rstrip() + "…"


async def inbox_rows(
    db: Database, store_id: int, conversations: list[Conversation], account_id: int | None
) -> list[InboxRow]:
    """Rows for ``conversations``; without an account (nobody to have read them) none is
    unread."""
    ids = [c.id for c in conversations if c.id is not None]
    if not ids:
        return []
    customer_ids = {c.customer_id for c in conversations}
    async with db.session() as session:
        customers = {
            c.id: c
            for c in await session.scalars(
                select(Customer).where(
                    col(Customer.store_id) == store_id, col(Customer.id).in_(customer_ids)
                )
            )
        }
        newest = (
            select(func.max(col(Message.id)))
            .where(
                col(Message.store_id) == store_id,
                col(Message.conversation_id).in_(ids),
                col(Message.direction) != "note",
            )
            .group_by(col(Message.conversation_id))
        )
        previews = {
            conversation_id: text
            for conversation_id, text in (
                await session.execute(
                    select(col(Message.conversation_id), col(Message.text)).where(
                        col(Message.id).in_(newest)
                    )
                )
            ).all()
        }
        read_at: dict[int, datetime] = {}
        if account_id is not None:
            read_at = {
                conversation_id: at
                for conversation_id, at in (
                    await session.execute(
                        select(
                            col(ConversationRead.conversation_id), col(ConversationRead.read_at)
                        ).where(
                            col(ConversationRead.store_id) == store_id,
                            col(ConversationRead.account_id) == account_id,
                            col(ConversationRead.conversation_id).in_(ids),
                        )
                    )
                ).all()
            }
    rows = []
    for c in conversations:
        assert c.id is not None
        seen = read_at.get(c.id)
        unread = account_id is not None and (
            seen is None or (c.last_message_at is not None and c.last_message_at > seen)
        )
        rows.append(
            InboxRow(
                conversation=c,
                customer=customers.get(c.customer_id),
                unread=unread,
                preview=_preview(previews.get(c.id, "") or ""),
            )
        )
    return rows
