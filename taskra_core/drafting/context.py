"""Gathering what a draft needs from the database: the store profile, the sender, the
conversation so far, and the knowledge retrieved for this message.

Everything is read for one store id; nothing here writes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.drafting.orders import Sender
from taskra_core.drafting.policy import USAGE_COUNTERS
from taskra_core.drafting.types import Source, StoreProfile, Turn
from taskra_core.errors import InvalidInput, NotFound
from taskra_core.knowledge.search import best_documents
from taskra_core.knowledge.term_counts import TermCounts
from taskra_core.models import (
    Conversation,
    Customer,
    Draft,
    KnowledgeItem,
    Message,
    Store,
    Usage,
)

HISTORY_TURNS = 8
HISTORY_CHARS = 1_500
RETRIEVED = 5
SOURCE_CHARS = 1_600
# Policies and FAQs are in the cached store profile already; retrieval adds the rest.
PROFILE_KINDS = ("policy", "faq")

# The draft path's statements, built once with bound parameters: building a select and
# its cache key anew cost about as much as running it (bench/draft.py). Those that read
# columns only are on the tables, which spares the ORM's result handling (40 µs each).
_ITEMS = KnowledgeItem.__table__  # type: ignore[attr-defined]
_MESSAGES = Message.__table__  # type: ignore[attr-defined]
_PROFILE_VERSION = select(func.count(), func.max(_ITEMS.c.updated_at)).where(
    _ITEMS.c.store_id == bindparam("store_id"), _ITEMS.c.kind.in_(PROFILE_KINDS)
)
# The profile's version and the month's usage counters in one statement (one row, with
# zeros for a month with no drafts yet): both are read before every draft.
_USAGE = Usage.__table__  # type: ignore[attr-defined]
_VERSION = _PROFILE_VERSION.subquery("version")
_VERSION_AND_USAGE = select(
    _VERSION,
    *(func.coalesce(_USAGE.c[name], 0) for name in USAGE_COUNTERS),
).select_from(
    _VERSION.outerjoin(
        _USAGE,
        and_(_USAGE.c.store_id == bindparam("store_id"), _USAGE.c.period == bindparam("period")),
    )
)
# The message, what it belongs to, and whether it has a draft, in one statement.
_MESSAGE = (
    select(
        Message,
        Conversation,
        Customer,
        Store,
        select(col(Draft.id))
        .where(
            col(Draft.store_id) == bindparam("store_id"),
            col(Draft.message_id) == col(Message.id),
        )
        .exists(),
    )
    .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
    .join(Customer, col(Customer.id) == col(Conversation.customer_id))
    .join(Store, col(Store.id) == col(Message.store_id))
    .where(
        col(Message.id) == bindparam("message_id"), col(Message.store_id) == bindparam("store_id")
    )
)
_HISTORY = (
    select(_MESSAGES.c.author, _MESSAGES.c.text)
    .where(
        _MESSAGES.c.store_id == bindparam("store_id"),
        _MESSAGES.c.conversation_id == bindparam("conversation_id"),
        _MESSAGES.c.id < bindparam("message_id"),
        _MESSAGES.c.direction != "note",  # internal notes never reach the customer
    )
    .order_by(_MESSAGES.c.id.desc())
    .limit(HISTORY_TURNS)
)
_DOCUMENTS = select(_ITEMS.c.source_id, _ITEMS.c.kind, _ITEMS.c.title, _ITEMS.c.body).where(
    _ITEMS.c.store_id == bindparam("store_id"),
    _ITEMS.c.source_id.in_(bindparam("wanted", expanding=True)),
)


@dataclass(frozen=True)
class MessageContext:
    """One stored inbound message and what surrounds it."""

    store: Store
    message: Message
    conversation: Conversation
    customer: Customer
    history: tuple[Turn, ...]
    drafted: bool = False  # the message has a draft already

    @property
    def subject(self) -> str:
        return self.conversation.subject or ""

    @property
    def human_took_over(self) -> bool:
        """A person is handling this conversation (assigned, or answered it): the AI may
        still draft, but nothing is sent without them."""
        return self.conversation.assignee_id is not None or any(
            turn.author == "agent" for turn in self.history
        )


async def load_profile(session: AsyncSession, store: Store) -> StoreProfile:
    """The store's voice, policies and FAQs, in a stable order (it opens the cached prompt)."""
    rows = (
        await session.execute(
            select(
                col(KnowledgeItem.source_id),
                col(KnowledgeItem.kind),
                col(KnowledgeItem.title),
                col(KnowledgeItem.body),
            )
            .where(
                col(KnowledgeItem.store_id) == store.id, col(KnowledgeItem.kind).in_(PROFILE_KINDS)
            )
            .order_by(col(KnowledgeItem.source_id))
        )
    ).all()
    policies = tuple(
        Source(r.source_id, r.title, _answer(r.body, r.title)) for r in rows if r.kind == "policy"
    )
    faqs = tuple(
        Source(r.source_id, r.title, _answer(r.body, r.title)) for r in rows if r.kind == "faq"
    )
    settings: dict[str, Any] = store.settings or {}
    return StoreProfile(
        name=store.name or store.domain,
        domain=store.domain,
        currency=store.currency or "USD",
        brand_voice=str(settings.get("brand_voice") or ""),
        policies=policies,
        faqs=faqs,
    )


class ProfileCache:
    """Store profiles kept between drafts, re-read only when the store's policies or FAQs
    change (their count or newest ``updated_at``) or its name, currency or voice do.

    The check costs one aggregate over an index; reading and formatting the profile costs
    several milliseconds, on every message. Bounded, least recently used out first.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[tuple[Any, ...], StoreProfile]] = OrderedDict()

    async def get(
        self, session: AsyncSession, store: Store, version: tuple[Any, ...] | None = None
    ) -> StoreProfile:
        """``store``'s profile; ``version`` is what :func:`profile_version_and_usage` read,
        if the caller read it already."""
        assert store.id is not None
        if version is None:
            version = tuple((await session.execute(_PROFILE_VERSION, {"store_id": store.id})).one())
        count, newest = version
        settings = store.settings or {}
        key = (count, newest, store.name, store.domain, store.currency, settings.get("brand_voice"))
        entry = self._entries.get(store.id)
        if entry is not None and entry[0] == key:
            self._entries.move_to_end(store.id)
            return entry[1]
        profile = await load_profile(session, store)
        self._entries[store.id] = (key, profile)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return profile


async def profile_version_and_usage(
    session: AsyncSession, store_id: int, period: str
) -> tuple[tuple[Any, ...], dict[str, int]]:
    """What :meth:`ProfileCache.get` checks, and the store's ``USAGE_COUNTERS`` for
    ``period`` (see :func:`~taskra_core.drafting.policy.usage_counters`), in one statement."""
    row = (
        await session.execute(_VERSION_AND_USAGE, {"store_id": store_id, "period": period})
    ).one()
    return (row[0], row[1]), {
        name: int(value) for name, value in zip(USAGE_COUNTERS, row[2:], strict=True)
    }


def _answer(body: str, title: str) -> str:
    # An FAQ's body repeats its question; the profile lists it once, as the heading.
    return body[len(title) :].strip() if title and body.startswith(title) else body


async def load_message(session: AsyncSession, store_id: int, message_id: int) -> MessageContext:
    """The inbound message ``message_id`` of store ``store_id``, with its conversation."""
    # One statement for the message, what it belongs to and whether it has a draft: every
    # round trip counts on the draft path (see bench/draft.py).
    params: dict[str, Any] = {"store_id": store_id, "message_id": message_id}
    row = (await session.execute(_MESSAGE, params)).first()
    if row is None:
        raise NotFound(f"No message {message_id} in this store.")
    message, conversation, customer, store, has_draft = row
    if message.direction != "inbound":
        raise InvalidInput(f"Message {message_id} is not from a customer; nothing to reply to.")
    params["conversation_id"] = conversation.id
    earlier = (await session.execute(_HISTORY, params)).all()
    history = tuple(Turn(author=m.author, text=m.text[:HISTORY_CHARS]) for m in reversed(earlier))
    return MessageContext(store, message, conversation, customer, history, bool(has_draft))


def sender_of(message: Message, customer: Customer) -> Sender:
    """Who verifiably sent ``message``.

    Email: the sender address the channel received (``customer.email``). Chat: only a
    storefront customer the app proxy vouched for, which the chat channel records in the
    message's ``meta["storefront_customer"]`` as ``{"id": ..., "email": ...}``; an anonymous
    chat visitor has typed an email we cannot trust.
    """
    if message.channel == "email":
        return Sender(email=customer.email)
    vouched = (message.meta or {}).get("storefront_customer") or {}
    email = vouched.get("email")
    customer_id = vouched.get("id")
    return Sender(
        email=str(email).lower() if email else None,
        customer_id=str(customer_id) if customer_id else None,
    )


async def retrieve(
    session: AsyncSession,
    dialect: str,
    store: Store,
    query: str,
    counts: TermCounts | None = None,
) -> tuple[Source, ...]:
    """The documents that best answer ``query``, best first.

    Policies and FAQs come whole (the prompt already holds them in the cached store profile
    and leaves them out of the per-message part); other documents are cut to a length that
    keeps the uncached part of the prompt small.
    """
    assert store.id is not None
    if not query.strip():
        return ()
    try:
        hits = await best_documents(
            session, dialect, store.id, query[:4_000], RETRIEVED, counts=counts
        )
    except InvalidInput:  # nothing searchable in the message (an emoji, a bare greeting)
        return ()
    if not hits:
        return ()
    wanted = [h.candidate.source_id for h in hits]
    rows = (await session.execute(_DOCUMENTS, {"store_id": store.id, "wanted": wanted})).all()
    found = {
        r.source_id: Source(
            r.source_id,
            r.title,
            _answer(r.body, r.title) if r.kind in PROFILE_KINDS else r.body[:SOURCE_CHARS],
        )
        for r in rows
    }
    return tuple(found[s] for s in wanted if s in found)


def in_profile(source_id: str) -> bool:
    """True for documents the cached store profile already holds (policies, FAQs)."""
    return source_id.split(":", 1)[0] in PROFILE_KINDS
