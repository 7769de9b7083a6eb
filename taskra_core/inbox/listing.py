"""Reading the inbox: filtered, keyset-paginated conversation lists; one conversation with its
messages; full-text search over messages and customers (SQLite FTS5 or PostgreSQL)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, cast, exists, func, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col

from taskra_core.errors import InvalidInput
from taskra_core.inbox.conversations import load_conversation
from taskra_core.models import Conversation, Customer, Message

if TYPE_CHECKING:
    from taskra_core.app import Taskra

MAX_PAGE = 100
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ConversationFilter:
    """Each field narrows the list; ``assignee_id=0`` means unassigned."""

    status: str | None = None
    assignee_id: int | None = None
    channel: str | None = None
    tag: str | None = None
    intent: str | None = None
    escalated: bool | None = None


@dataclass(frozen=True)
class Page:
    items: list[Conversation]
    next_cursor: str | None


@dataclass(frozen=True)
class Thread:
    conversation: Conversation
    customer: Customer
    messages: list[Message] = field(default_factory=list)


@dataclass(frozen=True)
class SearchResults:
    messages: list[Message]
    customers: list[Customer]


def encode_cursor(conversation: Conversation) -> str:
    assert conversation.last_message_at is not None
    raw = f"{conversation.last_message_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        stamp, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(stamp), int(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "The page cursor is malformed; start again from the first page."
        ) from exc


def _terms(query: str) -> list[str]:
    return [t.lower() for t in _WORD.findall(query)][:12]


class Listing:
    """Mixed into :class:`~taskra_core.inbox.service.Inbox`."""

    taskra: Taskra

    async def list_conversations(
        self,
        store_id: int,
        filters: ConversationFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Conversations with the newest activity first, ``limit`` at a time."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.")
        f = filters or ConversationFilter()
        conv = Conversation.__table__  # type: ignore[attr-defined]
        stmt = select(Conversation).where(conv.c.store_id == store_id)
        if f.status is not None:
            stmt = stmt.where(conv.c.status == f.status)
        if f.assignee_id is not None:
            stmt = stmt.where(
                conv.c.assignee_id.is_(None)
                if f.assignee_id == 0
                else conv.c.assignee_id == f.assignee_id
            )
        if f.channel is not None:
            stmt = stmt.where(conv.c.channel == f.channel)
        if f.intent is not None:
            stmt = stmt.where(conv.c.intent == f.intent)
        if f.escalated is not None:
            stmt = stmt.where(conv.c.escalated == f.escalated)
        if f.tag is not None:
            stmt = stmt.where(self._has_tag(conv, f.tag.strip().lower()))
        if cursor is not None:
            stamp, ident = decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    conv.c.last_message_at < stamp,
                    and_(conv.c.last_message_at == stamp, conv.c.id < ident),
                )
            )
        stmt = stmt.order_by(conv.c.last_message_at.desc(), conv.c.id.desc()).limit(limit + 1)
        async with self.taskra.db.session() as session:
            rows = list((await session.scalars(stmt)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=rows, next_cursor=encode_cursor(rows[-1]) if more and rows else None)

    def _has_tag(self, conv: Any, tag: str) -> Any:
        if self.taskra.db.dialect == "postgresql":
            return func.jsonb_exists(cast(conv.c.tags, JSONB), tag)
        each = func.json_each(conv.c.tags).table_valued("value")
        return exists(select(literal_column("1")).select_from(each).where(each.c.value == tag))

    async def open_conversation(
        self, store_id: int, conversation_id: int, *, limit: int = 50
    ) -> Thread:
        """A conversation, its customer and its latest ``limit`` messages, oldest first."""
        async with self.taskra.db.session() as session:
            conversation = await load_conversation(session, store_id, conversation_id)
            customer = await session.get(Customer, conversation.customer_id)
            assert customer is not None
            newest = (
                await session.scalars(
                    select(Message)
                    .where(
                        col(Message.store_id) == store_id,
                        col(Message.conversation_id) == conversation_id,
                    )
                    .order_by(col(Message.id).desc())
                    .limit(limit)
                )
            ).all()
        return Thread(conversation=conversation, customer=customer, messages=list(reversed(newest)))

    async def search(self, store_id: int, query: str, *, limit: int = 20) -> SearchResults:
        """Messages (newest first) and customers (best first) matching every word of ``query``.

        Words are matched stemmed ("refunds" finds "refund"); user input never reaches the
        search syntax unquoted.
        """
        terms = _terms(query)
        if not terms:
            raise InvalidInput("Search for at least one word.")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.")
        async with self.taskra.db.session() as session:
            if self.taskra.db.dialect == "postgresql":
                messages, customers = await self._search_postgres(session, store_id, terms, limit)
            else:
                messages, customers = await self._search_sqlite(session, store_id, terms, limit)
        return SearchResults(messages=messages, customers=customers)

    async def _search_sqlite(
        self, session: Any, store_id: int, terms: list[str], limit: int
    ) -> tuple[list[Message], list[Customer]]:
        # Each term quoted: FTS5 operators typed by a user are searched for, not obeyed. The
        # store is a token too, so FTS5 narrows to one store before joining anything; newest
        # first lets it stop after `limit` hits instead of ranking every match.
        words = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
        scope = f'store_id:"{int(store_id)}"'
        message_ids = (
            (
                await session.execute(
                    text(
                        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q"
                        " ORDER BY rowid DESC LIMIT :limit"
                    ),
                    {"q": f"{scope} AND text: ({words})", "limit": limit},
                )
            )
            .scalars()
            .all()
        )
        customer_ids = (
            (
                await session.execute(
                    text(
                        "SELECT rowid FROM customers_fts WHERE customers_fts MATCH :q"
                        " ORDER BY rank LIMIT :limit"
                    ),
                    {"q": f"{scope} AND {{name email}}: ({words})", "limit": limit},
                )
            )
            .scalars()
            .all()
        )
        return await self._load(session, message_ids, customer_ids)

    async def _search_postgres(
        self, session: Any, store_id: int, terms: list[str], limit: int
    ) -> tuple[list[Message], list[Customer]]:
        words = " ".join(terms)
        message_ids = (
            (
                await session.execute(
                    text(
                        "SELECT id FROM messages WHERE store_id = :store"
                        " AND search_vector @@ plainto_tsquery('english', :q)"
                        " ORDER BY id DESC"
                        " LIMIT :limit"
                    ),
                    {"q": words, "store": store_id, "limit": limit},
                )
            )
            .scalars()
            .all()
        )
        customer_ids = (
            (
                await session.execute(
                    text(
                        "SELECT id FROM customers WHERE store_id = :store"
                        " AND search_vector @@ plainto_tsquery('simple', :q)"
                        " ORDER BY ts_rank(search_vector, plainto_tsquery('simple', :q)) DESC"
                        " LIMIT :limit"
                    ),
                    {"q": words, "store": store_id, "limit": limit},
                )
            )
            .scalars()
            .all()
        )
        return await self._load(session, message_ids, customer_ids)

    @staticmethod
    async def _load(
        session: Any, message_ids: list[int], customer_ids: list[int]
    ) -> tuple[list[Message], list[Customer]]:
        messages = {
            m.id: m
            for m in (
                await session.scalars(select(Message).where(col(Message.id).in_(message_ids)))
            ).all()
        }
        customers = {
            c.id: c
            for c in (
                await session.scalars(select(Customer).where(col(Customer.id).in_(customer_ids)))
            ).all()
        }
        return [messages[i] for i in message_ids], [customers[i] for i in customer_ids]
