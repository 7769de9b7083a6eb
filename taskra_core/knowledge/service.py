"""``Knowledge``: what the rest of Taskra asks of a store's knowledge (``taskra.knowledge``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import NotFound
from taskra_core.knowledge import faqs
from taskra_core.knowledge.conflicts import Conflict, find_conflicts
from taskra_core.knowledge.faqs import Faq
from taskra_core.knowledge.search import SearchHit, search_knowledge
from taskra_core.knowledge.term_counts import TermCounts
from taskra_core.models import KnowledgeItem, Store
from taskra_core.stores import get_store

if TYPE_CHECKING:
    from taskra_core.app import Taskra

StoreRef = Store | str | int


@dataclass(frozen=True)
class Policy:
    source_id: str
    title: str
    body: str

    def as_dict(self) -> dict[str, str]:
        return {"source_id": self.source_id, "title": self.title, "body": self.body}


class Knowledge:
    """Search and check one store's products, policies and FAQs; edit its FAQs and voice.

    Every method takes the store as a :class:`Store`, its domain, or its id, and reads only
    that store's rows.
    """

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra
        self.term_counts = TermCounts()

    async def search(self, store: StoreRef, query: str, k: int = 5) -> list[SearchHit]:
        """The ``k`` (1..50) documents that best answer ``query``, best first."""
        async with self.taskra.db.session() as session:
            store_id = await resolve_store_id(session, store)
            return await search_knowledge(
                session, self.taskra.db.dialect, store_id, query, k, counts=self.term_counts
            )

    async def conflicts(self, store: StoreRef) -> list[Conflict]:
        """Facts (return window, delivery times, ...) that two documents state differently."""
        async with self.taskra.db.session() as session:
            store_row = await _load_store(session, store)
            return await find_conflicts(session, store_row)

    async def policies(self, store: StoreRef) -> list[Policy]:
        """The store's policies (refund, shipping, ...) as imported, by title."""
        async with self.taskra.db.session() as session:
            store_id = await resolve_store_id(session, store)
            rows = await session.scalars(
                select(KnowledgeItem)
                .where(col(KnowledgeItem.store_id) == store_id, col(KnowledgeItem.kind) == "policy")
                .order_by(col(KnowledgeItem.title))
            )
            return [Policy(row.source_id, row.title, row.body) for row in rows]

    async def titles(self, store: StoreRef, source_ids: list[str]) -> dict[str, str]:
        """The title of each known ``source_id`` (a draft's citations, shown by name)."""
        if not source_ids:
            return {}
        async with self.taskra.db.session() as session:
            store_id = await resolve_store_id(session, store)
            rows = await session.execute(
                select(col(KnowledgeItem.source_id), col(KnowledgeItem.title)).where(
                    col(KnowledgeItem.store_id) == store_id,
                    col(KnowledgeItem.source_id).in_(set(source_ids)),
                )
            )
            return {source_id: title for source_id, title in rows.all()}

    async def list_faqs(self, store: StoreRef) -> list[Faq]:
        """The store's FAQs (imported or saved here), by key."""
        async with self.taskra.db.session() as session:
            return await faqs.list_faqs(session, await resolve_store_id(session, store))

    async def save_faq(self, store: StoreRef, key: str, question: str, answer: str) -> Faq:
        """Create or replace FAQ ``key``; searchable and in drafts' store profile at once.

        ``key`` is a slug (``[a-z0-9][a-z0-9-]{0,79}``); question 1..500 and answer
        1..10,000 characters once trimmed. :class:`InvalidInput` (nothing saved) otherwise.
        """
        faqs.check_faq(key, question, answer)  # before any query: bad input touches nothing
        async with self.taskra.db.transaction() as session:
            store_row = await _load_store(session, store)
            return await faqs.save_faq(
                session, store_row, key, question, answer, self.taskra.clock.now()
            )

    async def delete_faq(self, store: StoreRef, key: str) -> None:
        """Remove FAQ ``key``; :class:`NotFound` if the store has none by that key."""
        async with self.taskra.db.transaction() as session:
            await faqs.delete_faq(session, await _load_store(session, store), key)

    async def brand_voice(self, store: StoreRef) -> str:
        """How the store wants replies to sound ("" if it has not said)."""
        async with self.taskra.db.session() as session:
            store_row = await _load_store(session, store)
            return str((store_row.settings or {}).get("brand_voice") or "")

    async def set_brand_voice(self, store: StoreRef, text: str) -> str:
        """Set the brand voice (at most 10,000 characters, trimmed); returns it as stored."""
        faqs.check_brand_voice(text)
        async with self.taskra.db.transaction() as session:
            store_row = await _load_store(session, store)
            return await faqs.set_brand_voice(session, store_row, text, self.taskra.clock.now())


async def resolve_store_id(session: AsyncSession, store: StoreRef) -> int:
    """The id of ``store``; a domain is looked up (:class:`NotFound` if unknown).

    An id is trusted as given: searching a store that does not exist finds nothing, and the
    draft path, which always has an id, saves a query.
    """
    if isinstance(store, Store):
        if store.id is None:
            raise NotFound("The store has not been saved yet.")
        return store.id
    if isinstance(store, int):
        return store
    found = await get_store(session, store)
    assert found.id is not None
    return found.id


async def _load_store(session: AsyncSession, store: StoreRef) -> Store:
    if isinstance(store, str):
        return await get_store(session, store)
    store_id = await resolve_store_id(session, store)
    found = await session.get(Store, store_id)
    if found is None:
        raise NotFound(f"No store with id {store_id}.")
    return found
