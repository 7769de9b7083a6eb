"""Importing a store folder (docs/store-format.md): the store, its knowledge, its orders.

The whole folder is read and validated before the first write, and the import is one
transaction: a bad folder changes nothing, and a failed import leaves the previous one whole.
Re-importing is cheap and quiet: items whose content hash is unchanged, and orders and
customers whose values are unchanged, are not written at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.knowledge.documents import Document
from taskra_core.knowledge.search import optimize_index
from taskra_core.knowledge.store_folder import (
    CustomerRecord,
    OrderRecord,
    StoreFolder,
    read_store_folder,
)
from taskra_core.models import Customer, KnowledgeItem, KnowledgePassage, Order, Store

if TYPE_CHECKING:
    from taskra_core.app import Taskra

# Kinds of knowledge item the importer owns: it removes those the folder no longer has.
# Items of other kinds (plugins', merchants' own) are never touched.
IMPORTED_KINDS = ("product", "policy", "faq")
# Rows per statement: keeps IN lists and multi-row inserts well inside every driver's
# bind-parameter limit, and progress moving.
BATCH = 200
# Items added, changed or removed by one import from which the search index is tidied up
# afterwards (see optimize_index); fewer leave it as good as it was.
BULK_CHANGE = 1_000

T = TypeVar("T")

_ITEMS: Table = KnowledgeItem.__table__  # type: ignore[attr-defined]
_PASSAGES: Table = KnowledgePassage.__table__  # type: ignore[attr-defined]
_ORDERS: Table = Order.__table__  # type: ignore[attr-defined]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ImportReport:
    """What an import did. ``passages``, ``orders`` and ``customers`` count what the folder
    holds, so importing the same folder twice reports the same numbers."""

    domain: str
    store_created: bool
    items_added: int
    items_updated: int
    items_removed: int
    items_unchanged: int
    passages: int
    orders: int
    customers: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Progress:
    def __init__(self, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self.callback = total, 0, callback
        self.advance(0)

    def advance(self, count: int) -> None:
        self.done += count
        if self.callback is not None:
            self.callback(self.done, self.total)


async def import_store(
    taskra: Taskra, folder: Path, *, on_progress: Callable[[int, int], None] | None = None
) -> ImportReport:
    """Create or update the store described by ``folder`` and everything it holds.

    ``on_progress(done, total)`` is called as documents, orders and customers are processed.
    Raises :class:`~taskra_core.errors.InvalidInput` (and writes nothing) if the folder is
    malformed.
    """
    contents = await asyncio.to_thread(read_store_folder, folder)
    progress = _Progress(
        len(contents.documents) + len(contents.orders) + len(contents.customers), on_progress
    )
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        store_id, created, kept = await _upsert_store(session, contents, now)
        documents = [doc for doc in contents.documents if doc.source_id not in kept]
        progress.advance(len(contents.documents) - len(documents))
        added, updated, removed = await _sync_knowledge(
            session, store_id, documents, now, progress, keep=kept
        )
        if added + updated + removed >= BULK_CHANGE:
            await optimize_index(session, taskra.db.dialect)
        await _sync_orders(session, store_id, contents.orders, now, progress)
        insert_customer = pg_insert if taskra.db.dialect == "postgresql" else sqlite_insert
        await _sync_customers(session, store_id, contents.customers, now, progress, insert_customer)
    taskra.knowledge.term_counts.forget(store_id)  # the catalogue's words were counted anew
    return ImportReport(
        domain=contents.shop.domain,
        store_created=created,
        items_added=added,
        items_updated=updated,
        items_removed=removed,
        items_unchanged=len(documents) - added - updated,
        passages=sum(len(document.passages) for document in contents.documents),
        orders=len(contents.orders),
        customers=len(contents.customers),
    )


def _batches(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), BATCH):
        yield values[start : start + BATCH]


async def _upsert_store(
    session: AsyncSession, contents: StoreFolder, now: datetime
) -> tuple[int, bool, frozenset[str]]:
    """The store row, created or updated; and the source ids of FAQs the merchant saved or
    deleted in the app, which the folder must not overwrite or bring back."""
    shop = contents.shop
    query = select(Store).where(col(Store.domain) == shop.domain)
    store = (await session.scalars(query)).first()
    created = store is None
    if store is None:
        store = Store(domain=shop.domain, created_at=now, updated_at=now)
        session.add(store)
    settings = dict(store.settings)
    edits = app_edits(settings)
    # What the merchant wrote in the app wins over the folder, which only seeds a store.
    if shop.brand_voice is not None and not edits.get("brand_voice"):
        settings["brand_voice"] = shop.brand_voice
    if contents.as_of is not None:
        settings["as_of"] = contents.as_of
    # Only what the folder gives is set; access tokens and the plan belong to the install.
    wanted = {"name": shop.name, "email": shop.email, "currency": shop.currency}
    changes: dict[str, Any] = {k: v for k, v in wanted.items() if v is not None}
    changes["settings"] = settings
    changes = {k: v for k, v in changes.items() if getattr(store, k) != v}
    for key, value in changes.items():
        setattr(store, key, value)
    if changes and not created:
        store.updated_at = now
    await session.flush()
    assert store.id is not None
    return store.id, created, frozenset(f"faq:{key}" for key in edits.get("faqs", {}))


def app_edits(settings: dict[str, Any]) -> dict[str, Any]:
    """What the merchant changed in the app: ``{"brand_voice": True, "faqs": {key: "saved" |
    "deleted"}}``, kept in the store's settings so a re-import respects it."""
    edits = settings.get("app_edits")
    return dict(edits) if isinstance(edits, dict) else {}


# --- knowledge -------------------------------------------------------------------------------


async def _sync_knowledge(
    session: AsyncSession,
    store_id: int,
    documents: Sequence[Document],
    now: datetime,
    progress: _Progress,
    *,
    keep: frozenset[str] = frozenset(),
) -> tuple[int, int, int]:
    """Add, update and remove knowledge items, leaving the ``keep`` source ids alone; returns
    (added, updated, removed)."""
    rows = await session.execute(
        select(_ITEMS.c.id, _ITEMS.c.source_id, _ITEMS.c.kind, _ITEMS.c.content_hash).where(
            _ITEMS.c.store_id == store_id
        )
    )
    existing = {row.source_id: row for row in rows}
    added, updated = await _upsert(session, store_id, documents, now, existing, progress.advance)
    wanted = {doc.source_id for doc in documents}
    stale = [
        row.id
        for source_id, row in existing.items()
        if row.kind in IMPORTED_KINDS and source_id not in wanted and source_id not in keep
    ]
    await _remove_items(session, store_id, stale)
    return added, updated, len(stale)


async def upsert_documents(
    session: AsyncSession, store_id: int, documents: Sequence[Document], now: datetime
) -> tuple[int, int]:
    """Add or update ``documents`` in store ``store_id``, leaving its other items alone.

    Returns (added, updated); a document whose content hash and kind are unchanged is not
    written. Changed items get ``updated_at = now`` and fresh passages, which the search
    index picks up in the same transaction.
    """
    existing: dict[str, Any] = {}
    for source_ids in _batches([doc.source_id for doc in documents]):
        rows = await session.execute(
            select(_ITEMS.c.id, _ITEMS.c.source_id, _ITEMS.c.kind, _ITEMS.c.content_hash).where(
                _ITEMS.c.store_id == store_id, _ITEMS.c.source_id.in_(source_ids)
            )
        )
        existing |= {row.source_id: row for row in rows}
    return await _upsert(session, store_id, documents, now, existing, None)


async def remove_documents(session: AsyncSession, store_id: int, source_ids: Sequence[str]) -> int:
    """Remove store ``store_id``'s items with these source ids; returns how many there were."""
    item_ids: list[int] = []
    for batch in _batches(source_ids):
        rows = await session.execute(
            select(_ITEMS.c.id).where(_ITEMS.c.store_id == store_id, _ITEMS.c.source_id.in_(batch))
        )
        item_ids += [row.id for row in rows]
    await _remove_items(session, store_id, item_ids)
    return len(item_ids)


async def _upsert(
    session: AsyncSession,
    store_id: int,
    documents: Sequence[Document],
    now: datetime,
    existing: Mapping[str, Any],
    on_batch: Callable[[int], None] | None,
) -> tuple[int, int]:
    """Write ``documents`` given the store's ``existing`` rows (id, kind, content_hash) by
    source id; returns (added, updated)."""
    added = updated = 0
    for batch in _batches(documents):
        new = [doc for doc in batch if doc.source_id not in existing]
        changed = [
            (existing[doc.source_id].id, doc)
            for doc in batch
            if doc.source_id in existing
            and (existing[doc.source_id].content_hash, existing[doc.source_id].kind)
            != (doc.content_hash, doc.kind)
        ]
        item_ids: list[tuple[int, Document]] = list(changed)
        if new:
            inserted = await session.execute(
                insert(_ITEMS).returning(_ITEMS.c.id, _ITEMS.c.source_id),
                [_item_values(store_id, doc, now) | {"created_at": now} for doc in new],
            )
            by_source = {doc.source_id: doc for doc in new}
            item_ids += [(row.id, by_source[row.source_id]) for row in inserted]
        if changed:
            await session.execute(
                update(_ITEMS)
                .where(_ITEMS.c.id == bindparam("item_id"))
                .values({name: bindparam(f"new_{name}") for name in _UPDATED_ITEM_FIELDS}),
                [
                    {"item_id": item_id}
                    | {
                        f"new_{name}": value
                        for name, value in _item_values(store_id, doc, now).items()
                        if name in _UPDATED_ITEM_FIELDS
                    }
                    for item_id, doc in changed
                ],
            )
            await _delete_passages(session, store_id, [item_id for item_id, _doc in changed])
        passages = [
            _passage_values(store_id, item_id, doc, ordinal)
            for item_id, doc in item_ids
            for ordinal in range(len(doc.passages))
        ]
        for passage_batch in _batches(passages):
            await session.execute(insert(_PASSAGES), list(passage_batch))
        added, updated = added + len(new), updated + len(changed)
        if on_batch is not None:
            on_batch(len(batch))
    return added, updated


async def _remove_items(session: AsyncSession, store_id: int, item_ids: list[int]) -> None:
    await _delete_passages(session, store_id, item_ids)
    for ids in _batches(item_ids):
        await session.execute(
            delete(_ITEMS).where(_ITEMS.c.store_id == store_id, _ITEMS.c.id.in_(ids))
        )


_UPDATED_ITEM_FIELDS = ("kind", "title", "body", "data", "content_hash", "updated_at")


def _item_values(store_id: int, doc: Document, now: datetime) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "source_id": doc.source_id,
        "kind": doc.kind,
        "title": doc.title,
        "body": doc.body,
        "data": doc.data,
        "content_hash": doc.content_hash,
        "updated_at": now,
    }


def _passage_values(store_id: int, item_id: int, doc: Document, ordinal: int) -> dict[str, Any]:
    passage = doc.passages[ordinal]
    return {
        "store_id": store_id,
        "item_id": item_id,
        "source_id": doc.source_id,
        "ordinal": ordinal,
        "title": passage.title,
        "text": passage.text,
        "keywords": passage.keywords,
    }


async def _delete_passages(session: AsyncSession, store_id: int, item_ids: list[int]) -> None:
    # Explicit rather than by cascade, so search indexes kept by triggers see every delete.
    for ids in _batches(item_ids):
        await session.execute(
            delete(_PASSAGES).where(_PASSAGES.c.store_id == store_id, _PASSAGES.c.item_id.in_(ids))
        )


# --- orders and customers --------------------------------------------------------------------


async def _sync_orders(
    session: AsyncSession,
    store_id: int,
    orders: Sequence[OrderRecord],
    now: datetime,
    progress: _Progress,
) -> None:
    """Make the store's orders exactly those of the file, writing only what differs."""
    fields = ("email", "shopify_id", "placed_at", "data")
    rows = await session.execute(
        select(_ORDERS.c.id, _ORDERS.c.name, *(_ORDERS.c[f] for f in fields)).where(
            _ORDERS.c.store_id == store_id
        )
    )
    existing = {row.name: row for row in rows}
    for batch in _batches(orders):
        new = [
            {"store_id": store_id, "name": o.name, "created_at": now, "updated_at": now}
            | {f: getattr(o, f) for f in fields}
            for o in batch
            if o.name not in existing
        ]
        changed = [
            {"order_id": existing[o.name].id, "new_updated_at": now}
            | {f"new_{f}": getattr(o, f) for f in fields}
            for o in batch
            if o.name in existing
            and any(getattr(existing[o.name], f) != getattr(o, f) for f in fields)
        ]
        if new:
            await session.execute(insert(_ORDERS), new)
        if changed:
            await session.execute(
                update(_ORDERS)
                .where(_ORDERS.c.id == bindparam("order_id"))
                .values({f: bindparam(f"new_{f}") for f in (*fields, "updated_at")}),
                changed,
            )
        progress.advance(len(batch))
    wanted = {order.name for order in orders}
    gone = [row.id for name, row in existing.items() if name not in wanted]
    for ids in _batches(gone):
        await session.execute(
            delete(_ORDERS).where(_ORDERS.c.store_id == store_id, _ORDERS.c.id.in_(ids))
        )


async def _sync_customers(
    session: AsyncSession,
    store_id: int,
    customers: Sequence[CustomerRecord],
    now: datetime,
    progress: _Progress,
    dialect_insert: Callable[[Table], Any],
) -> None:
    """Add or update customers by email. Never deletes: customers also come from the inbox."""
    for batch in _batches(customers):
        rows = await session.execute(
            select(
                _CUSTOMERS.c.id,
                _CUSTOMERS.c.email,
                _CUSTOMERS.c.name,
                _CUSTOMERS.c.shopify_customer_id,
            ).where(
                _CUSTOMERS.c.store_id == store_id,
                _CUSTOMERS.c.email.in_([customer.email for customer in batch]),
            )
        )
        existing = {row.email: row for row in rows}
        new = [
            {
                "store_id": store_id,
                "email": c.email,
                "name": c.name,
                "shopify_customer_id": c.shopify_customer_id,
                "ai_processing_objected": False,
                "created_at": now,
                "updated_at": now,
            }
            for c in batch
            if c.email not in existing
        ]
        changed = []
        for customer in batch:
            row = existing.get(customer.email)
            if row is None:
                continue
            # What the file leaves out (a name, an id) keeps what the inbox already knows.
            name = customer.name or row.name
            shopify_id = customer.shopify_customer_id or row.shopify_customer_id
            if (name, shopify_id) != (row.name, row.shopify_customer_id):
                changed.append(
                    {
                        "customer_id": row.id,
                        "new_name": name,
                        "new_shopify_customer_id": shopify_id,
                        "new_updated_at": now,
                    }
                )
        if new:
            # A message from a new customer may arrive mid-import; theirs is then kept.
            statement = dialect_insert(_CUSTOMERS).on_conflict_do_nothing(
                index_elements=["store_id", "email"]
            )
            await session.execute(statement, new)
        if changed:
            await session.execute(
                update(_CUSTOMERS)
                .where(_CUSTOMERS.c.id == bindparam("customer_id"))
                .values(
                    name=bindparam("new_name"),
                    shopify_customer_id=bindparam("new_shopify_customer_id"),
                    updated_at=bindparam("new_updated_at"),
                ),
                changed,
            )
        progress.advance(len(batch))
