"""What the chat channel holds on a customer, for their export and their erasure.

Chat messages are ordinary inbox messages (the core exports and erases those). This channel
adds its visitor sessions: when they began and were last used, the email a visitor typed and
whether Shopify vouched for a logged-in customer. A customer's sessions are those whose
conversation is theirs, whose typed email is theirs, or whose logged-in customer is theirs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.models import ChatRateCounter, ChatSession, Conversation, Customer, Store

CHANNEL = "chat"


async def sessions_of(
    session: AsyncSession, store_id: int, customer: Customer
) -> list[ChatSession]:
    """The chat sessions of ``customer`` in ``store_id``."""
    threads = select(col(Conversation.thread_key)).where(
        col(Conversation.store_id) == store_id,
        col(Conversation.customer_id) == customer.id,
        col(Conversation.channel) == CHANNEL,
    )
    mine = [col(ChatSession.public_id).in_(threads), col(ChatSession.email) == customer.email]
    if customer.shopify_customer_id:
        numeric = customer.shopify_customer_id.rsplit("/", 1)[-1]
        mine.append(col(ChatSession.shopify_customer_id) == numeric)
    rows = await session.scalars(
        select(ChatSession)
        .where(col(ChatSession.store_id) == store_id, or_(*mine))
        .order_by(col(ChatSession.id))
    )
    return list(rows)


async def export_sessions(
    session: AsyncSession, store: Store, customer: Customer
) -> dict[str, Any] | None:
    """The ``chat_sessions`` export section, or ``None`` when there are none."""
    assert store.id is not None
    rows = await sessions_of(session, store.id, customer)
    if not rows:
        return None
    return {
        "chat_sessions": [
            {
                "started_at": row.created_at.isoformat(),
                "last_seen_at": row.last_seen_at.isoformat(),
                "email_given": row.email,
                "signed_in_customer_id": row.shopify_customer_id,
            }
            for row in rows
        ]
    }


async def erase_sessions(
    session: AsyncSession, store: Store, customer: Customer | None
) -> str | None:
    """Delete the customer's sessions (every session and rate count of the store when
    ``customer`` is ``None``); a label for the ledger, or ``None`` if there was nothing."""
    assert store.id is not None
    if customer is None:
        erased = await session.execute(
            delete(ChatSession).where(col(ChatSession.store_id) == store.id)
        )
        await session.execute(
            delete(ChatRateCounter).where(col(ChatRateCounter.store_id) == store.id)
        )
    else:
        ids = [row.id for row in await sessions_of(session, store.id, customer)]
        if not ids:
            return None
        erased = await session.execute(
            delete(ChatSession).where(
                col(ChatSession.store_id) == store.id, col(ChatSession.id).in_(ids)
            )
        )
    count = erased.rowcount  # type: ignore[attr-defined]
    return f"chat sessions: {count}" if count else None
