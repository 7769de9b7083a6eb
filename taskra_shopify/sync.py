"""Store sync: shop profile, policies and catalog from Admin GraphQL into the knowledge base.

:func:`sync_store` is the whole sync. Everything is read from Shopify first and written
afterwards in one transaction, so no database lock is held while Shopify answers and a
failed sync leaves the previous one whole. Writing goes through the importer's
``upsert_documents``: unchanged products and policies (same content hash) are not written,
so running a sync again is cheap.

- Up to ``TASKRA_SHOPIFY_BULK_THRESHOLD`` products: ``products(first:, after:)`` pages.
- More: a bulk operation (:mod:`taskra_shopify.bulk`). Inside a job the sync does not wait
  for it: the ``shopify.sync.poll`` job checks on it every ``TASKRA_SHOPIFY_BULK_POLL_SECONDS``
  and the ``bulk_operations/finish`` webhook short-cuts the wait; either enqueues one
  ``shopify.sync.apply`` job per operation (same idempotency key), which applies it.
  ``taskra store sync`` waits in-process instead.
- A full catalog read removes products Shopify no longer has, except those a webhook
  applied after the read began (their ``updated_at`` is newer).

The jobs are in :mod:`taskra_shopify.sync_jobs`; they record progress in their own payload
(``payload["progress"]``, then ``payload["result"]``), which
:func:`~taskra_shopify.sync_jobs.latest_sync` reads back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskra_core.errors import NotFound, ShopifyAuthError, ShopifyRejected
from taskra_core.knowledge.documents import Document
from taskra_core.knowledge.importer import BULK_CHANGE, remove_documents, upsert_documents
from taskra_core.knowledge.search import optimize_index
from taskra_core.models import KnowledgeItem, Store
from taskra_shopify import bulk
from taskra_shopify.catalog import (
    PAGE_PRODUCTS,
    PAGE_VARIANTS,
    PRODUCTS_QUERY,
    ShopProfile,
    _parse_time,
    all_variants,
    count_products,
    fetch_shop,
    graphql,
    product_doc,
)

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)

SYNC_JOB = "shopify.sync"
POLL_JOB = "shopify.sync.poll"
APPLY_JOB = "shopify.sync.apply"
POLICIES_JOB = "shopify.policies"
_ITEMS: Table = KnowledgeItem.__table__  # type: ignore[attr-defined]

Progress = Callable[[str, int, int | None], None]  # (phase, done, total or None)


@dataclass(frozen=True)
class SyncReport:
    """What one sync did. ``method`` is ``pages``, ``bulk``, ``bulk-started`` (a job left
    the operation to the poll/apply jobs) or ``policies`` (profile and policies only)."""

    shop: str
    method: str
    products: int
    policies: int
    added: int
    updated: int
    removed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def installed_store(taskra: Taskra, *, store_id: int | None = None, shop: str = "") -> Store:
    """The store, which must be installed with tokens (:class:`NotFound`/ShopifyAuthError)."""
    async with taskra.db.session() as session:
        query = select(Store).where(
            Store.id == store_id if store_id is not None else Store.domain == shop  # type: ignore[arg-type]
        )
        store = (await session.scalars(query)).first()
    if store is None:
        raise NotFound(f"No store {shop or store_id}; install the app on it first.")
    if store.uninstalled_at is not None or store.access_token_enc is None:
        raise ShopifyAuthError(
            f"{store.domain} has no Shopify access token (not installed, uninstalled, or its "
            "token was revoked); opening the app in the store's Shopify admin installs it."
        )
    return store


# --- the sync --------------------------------------------------------------------------------


async def sync_store(
    taskra: Taskra,
    store: Store,
    session: AsyncSession,
    *,
    progress: Progress | None = None,
    policies_only: bool = False,
    defer_bulk: Callable[[str], Any] | None = None,
) -> SyncReport:
    """Sync ``store`` and write through ``session`` (the caller commits).

    With ``defer_bulk``, a bulk operation is only started and ``await defer_bulk(id)`` hands
    it on (jobs); without it, this waits for the operation and applies it (the CLI).
    """
    report = progress or (lambda phase, done, total: None)
    started = taskra.clock.now()
    report("shop", 0, None)
    profile = await fetch_shop(taskra, store)
    if policies_only:
        await write_shop(taskra, session, store, profile)
        return SyncReport(store.domain, "policies", 0, len(profile.policies), 0, 0, 0)
    total = await count_products(taskra, store)
    documents: list[Document] | None
    if total > taskra.settings.shopify_bulk_threshold:
        operation_id = await bulk.start(taskra, store)
        if defer_bulk is not None:
            await write_shop(taskra, session, store, profile)
            await defer_bulk(operation_id)
            report("bulk", 0, total)
            return SyncReport(store.domain, "bulk-started", total, len(profile.policies), 0, 0, 0)
        operation = await wait_for_bulk(taskra, store, operation_id, report, total)
        started = _parse_time(operation.get("createdAt")) or started
        documents = await bulk.download(operation, lambda n: report("download", n, None))
        method = "bulk"
    else:
        documents = await fetch_pages(taskra, store, report, total)
        method = "pages"
    report("writing", 0, len(documents))
    await write_shop(taskra, session, store, profile)
    added, updated, removed = await write_catalog(taskra, session, store, documents, started)
    report("done", len(documents), len(documents))
    return SyncReport(
        store.domain, method, len(documents), len(profile.policies), added, updated, removed
    )


async def fetch_pages(taskra: Taskra, store: Store, report: Progress, total: int) -> list[Document]:
    """The whole catalog through ``products(first:, after:)`` pages."""
    documents: list[Document] = []
    after: str | None = None
    while True:
        variables = {"first": PAGE_PRODUCTS, "after": after, "variants": PAGE_VARIANTS}
        page = (await graphql(taskra, store, PRODUCTS_QUERY, variables)).get("products") or {}
        for node in page.get("nodes") or []:
            documents.append(product_doc(node, await all_variants(taskra, store, node)))
        report("catalog", len(documents), max(total, len(documents)))
        info = page.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return documents
        after = info.get("endCursor")


async def wait_for_bulk(
    taskra: Taskra, store: Store, operation_id: str, report: Progress, total: int
) -> dict[str, Any]:
    """Poll the operation until it completes (in-process syncs only)."""
    while True:
        operation = await bulk.status(taskra, store, operation_id)
        state = operation.get("status")
        if state not in bulk.RUNNING:
            return completed(store, operation)
        report("bulk", int(operation.get("objectCount") or 0), total)
        await asyncio.sleep(taskra.settings.shopify_bulk_poll_seconds)


def completed(store: Store, operation: dict[str, Any]) -> dict[str, Any]:
    if operation.get("status") != "COMPLETED":
        raise ShopifyRejected(
            f"The catalog bulk operation of {store.domain} ended {operation.get('status')} "
            f"({operation.get('errorCode') or 'no error code'}); run the sync again."
        )
    return operation


# --- writing ---------------------------------------------------------------------------------


async def write_shop(
    taskra: Taskra, session: AsyncSession, store: Store, profile: ShopProfile
) -> None:
    """The shop's name, email and currency, and exactly Shopify's policies."""
    assert store.id is not None
    row = await session.get(Store, store.id)
    assert row is not None
    wanted = {"name": profile.name, "email": profile.email, "currency": profile.currency}
    changes = {k: v for k, v in wanted.items() if v is not None and getattr(row, k) != v}
    for key, value in changes.items():
        setattr(row, key, value)
    if changes:
        row.updated_at = taskra.clock.now()
    await upsert_documents(session, store.id, profile.policies, taskra.clock.now())
    kept = {doc.source_id for doc in profile.policies}
    rows = await session.execute(
        select(_ITEMS.c.source_id).where(_ITEMS.c.store_id == store.id, _ITEMS.c.kind == "policy")
    )
    gone = [r.source_id for r in rows if r.source_id not in kept]
    await remove_documents(session, store.id, gone)


async def write_catalog(
    taskra: Taskra,
    session: AsyncSession,
    store: Store,
    documents: Sequence[Document],
    read_started: datetime,
) -> tuple[int, int, int]:
    """Apply a full catalog read; returns (added, updated, removed)."""
    assert store.id is not None
    rows = await session.execute(
        select(_ITEMS.c.source_id, _ITEMS.c.data).where(
            _ITEMS.c.store_id == store.id, _ITEMS.c.kind == "product"
        )
    )
    existing = list(rows)
    stored_at = {
        str((r.data or {}).get("id")): _parse_time((r.data or {}).get("updated_at"))
        for r in existing
    }
    # A webhook may have applied a newer version of a product since the read began.
    fresh = [
        doc
        for doc in documents
        if not _newer(stored_at.get(str(doc.data.get("id"))), doc.data.get("updated_at"))
    ]
    read = {str(doc.data.get("id")) for doc in documents}
    read_sources = {doc.source_id for doc in documents}
    fresh_by_gid = {str(doc.data.get("id")): doc.source_id for doc in fresh}
    gone = []
    for row in existing:
        gid = str((row.data or {}).get("id"))
        stamp = _parse_time((row.data or {}).get("updated_at"))
        if gid in fresh_by_gid and fresh_by_gid[gid] != row.source_id:
            gone.append(row.source_id)  # handle changed: the old source id goes
        elif (
            gid not in read
            and row.source_id not in read_sources
            and (stamp is None or stamp < read_started)
        ):
            gone.append(row.source_id)
    removed = await remove_documents(session, store.id, gone)
    added, updated = await upsert_documents(session, store.id, fresh, taskra.clock.now())
    if added + updated + removed >= BULK_CHANGE:
        await optimize_index(session, taskra.db.dialect)
    if added or updated or removed:
        taskra.knowledge.term_counts.forget(store.id)  # counted again from the next search
    return added, updated, removed


def _newer(stored: datetime | None, incoming: Any) -> bool:
    candidate = _parse_time(incoming)
    return stored is not None and candidate is not None and stored > candidate
