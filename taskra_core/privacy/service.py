"""``Privacy`` (``taskra.privacy``): the data-subject rights, for the CLI, the API, the admin
page and the compliance webhooks alike.

Each right is one method, scoped to one store, that records itself in the ledger::

    document = (await taskra.privacy.export("fellandford", "jo@example.com")).document
    await taskra.privacy.erase("fellandford", "jo@example.com")

Requests that arrive by webhook are carried out by the ``privacy.request`` job
(:mod:`.jobs`), which calls the same functions inside the job's transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import InvalidInput, NotFound
from taskra_core.inbox.messages import normalize_email
from taskra_core.knowledge.service import StoreRef, resolve_store_id
from taskra_core.models import Account, Customer, Order, PrivacyRequest, Store
from taskra_core.privacy import export as exports
from taskra_core.privacy import ledger
from taskra_core.privacy.erasure import erase_customer, forget_in_ledger, redact_mentions
from taskra_core.privacy.scrub import scrub

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 255


@dataclass(frozen=True)
class ExportResult:
    request_id: int
    export_id: int
    document: dict[str, Any]


async def find_customer(
    session: AsyncSession,
    store_id: int,
    *,
    email: str | None = None,
    shopify_id: str | None = None,
) -> Customer | None:
    """The store's customer with that email (or Shopify customer id), if Taskra has one."""
    C = Customer
    if email:
        found = (
            await session.scalars(
                select(C).where(col(C.store_id) == store_id, col(C.email) == email.lower())
            )
        ).first()
        if found is not None:
            return found
    if shopify_id:
        return (
            await session.scalars(
                select(C).where(
                    col(C.store_id) == store_id,
                    col(C.shopify_customer_id).in_(
                        [shopify_id, f"gid://shopify/Customer/{shopify_id}"]
                    ),
                )
            )
        ).first()
    return None


async def _store(session: AsyncSession, store: StoreRef) -> Store:
    store_id = await resolve_store_id(session, store)
    row = await session.get(Store, store_id)
    if row is None:
        raise NotFound(f"No store with id {store_id}.")
    return row


class Privacy:
    """The rights of the privacy policy; every method touches one store's rows only."""

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra

    async def _customer(self, session: AsyncSession, store: Store, email: str) -> Customer:
        assert store.id is not None
        customer = await find_customer(session, store.id, email=normalize_email(email))
        if customer is None:
            raise NotFound("No customer with that email in this store.")
        return customer

    async def export(
        self, store: StoreRef, email: str, *, source: str = "merchant"
    ) -> ExportResult:
        """Access and portability: compile, keep for download, record in the ledger."""
        address = normalize_email(email)
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            row = await _store(session, store)
            assert row.id is not None
            customer = await find_customer(session, row.id, email=address)
            request = await ledger.take_request(
                session,
                store_id=row.id,
                kinds=("access", "portability"),
                subject=address,
                source=source,
                now=now,
            )
            assert request.id is not None
            document = await exports.compile_document(self.taskra, session, row, customer, address)
            kept = await exports.keep(
                self.taskra,
                session,
                row.id,
                customer.id if customer else None,
                request.id,
                document,
            )
            assert kept.id is not None
            ledger.complete(
                request,
                "completed" if customer else "nothing_held",
                now,
                {"export_id": kept.id},
            )
            return ExportResult(request.id, kept.id, document)

    async def download(self, store_id: int, export_id: int) -> str:
        """The JSON text of a kept export of the store (``NotFound`` once expired)."""
        async with self.taskra.db.session() as session:
            return await exports.load(self.taskra, session, store_id, export_id)

    async def erase(
        self, store: StoreRef, email: str, *, source: str = "merchant"
    ) -> dict[str, Any]:
        """Erasure: the customer is removed everywhere; the ledger keeps an anonymous row."""
        address = normalize_email(email)
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            row = await _store(session, store)
            assert row.id is not None
            customer = await find_customer(session, row.id, email=address)
            request = await ledger.take_request(
                session,
                store_id=row.id,
                kinds=("erasure",),
                subject=address,
                source=source,
                now=now,
            )
            if customer is None:
                await redact_mentions(session, row.id, address, None)
                ledger.complete(request, "nothing_held", now, {})
                outcome: dict[str, Any] = {"request_id": request.id, "outcome": "nothing_held"}
            else:
                report = await erase_customer(self.taskra, session, row, customer)
                ledger.complete(request, "completed", now, {"erased": report.as_dict()})
                outcome = {"request_id": request.id, "outcome": "completed", **report.as_dict()}
            await forget_in_ledger(session, row.id, address)
        await scrub(self.taskra)
        return outcome

    async def rectify(
        self,
        store: StoreRef,
        email: str,
        *,
        new_email: str | None = None,
        new_name: str | None = None,
        source: str = "merchant",
    ) -> Customer:
        """Rectification: correct the customer's email and/or name wherever Taskra keeps it
        (the customer, the store's copies of their orders, open ledger rows)."""
        if new_email is None and new_name is None:
            raise InvalidInput("Give a corrected email or name (or both).")
        if new_name is not None and len(new_name.strip()) > MAX_NAME_CHARS:
            raise InvalidInput(f"A name is at most {MAX_NAME_CHARS} characters.")
        target = normalize_email(new_email) if new_email is not None else None
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            row = await _store(session, store)
            assert row.id is not None
            customer = await self._customer(session, row, email)
            old = customer.email
            if target is not None and target != old:
                taken = await find_customer(session, row.id, email=target)
                if taken is not None:
                    raise InvalidInput(
                        "Another customer of this store already has that email; nothing changed."
                    )
                customer.email = target
                for order in await session.scalars(
                    select(Order).where(col(Order.store_id) == row.id, col(Order.email) == old)
                ):
                    order.email = target
                    # The Shopify-shaped copy names the email too (order and customer fields).
                    order.data = json.loads(json.dumps(order.data).replace(old, target))
                await session.execute(
                    update(PrivacyRequest)
                    .where(
                        col(PrivacyRequest.store_id) == row.id,
                        func.lower(col(PrivacyRequest.subject)) == old,
                    )
                    .values(subject=target)
                    .execution_options(synchronize_session=False)
                )
            if new_name is not None:
                customer.name = new_name.strip() or None
            customer.updated_at = now
            request = await ledger.take_request(
                session,
                store_id=row.id,
                kinds=("rectification",),
                subject=customer.email,
                source=source,
                now=now,
            )
            ledger.complete(
                request,
                "completed",
                now,
                {
                    "fields": [
                        f for f, v in (("email", target), ("name", new_name)) if v is not None
                    ]
                },
            )
            return customer

    async def set_objection(
        self, store: StoreRef, email: str, *, objected: bool = True, source: str = "merchant"
    ) -> Customer:
        """Objection: from now on none of the customer's messages goes to the AI provider;
        drafts for them are left to a person. ``objected=False`` withdraws it."""
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            row = await _store(session, store)
            customer = await self._customer(session, row, email)
            customer.ai_processing_objected = objected
            customer.updated_at = now
            assert row.id is not None
            request = await ledger.take_request(
                session,
                store_id=row.id,
                kinds=("objection",),
                subject=customer.email,
                source=source,
                now=now,
            )
            ledger.complete(request, "completed", now, {"objected": objected})
            return customer

    async def requests(self, store: StoreRef) -> list[dict[str, Any]]:
        """The store's privacy-request ledger, open requests first."""
        now = self.taskra.clock.now()
        async with self.taskra.db.session() as session:
            store_id = await resolve_store_id(session, store)
            return [ledger.as_dict(r, now) for r in await ledger.requests_of(session, store_id)]

    async def counts(self, store: StoreRef | None = None) -> ledger.LedgerCounts:
        """Open and overdue requests, of one store or of all (for ``/metrics``)."""
        async with self.taskra.db.session() as session:
            store_id = None if store is None else await resolve_store_id(session, store)
            return await ledger.counts(session, self.taskra.clock.now(), store_id)

    async def merchant_addresses(self, session: AsyncSession, store: Store) -> list[str]:
        """Where news of the store's privacy requests goes: the shop's email, else its
        merchants'."""
        if store.email:
            return [store.email]
        rows = await session.scalars(
            select(col(Account.email)).where(
                col(Account.store_id) == store.id, col(Account.role) == "merchant"
            )
        )
        return sorted(set(rows))
