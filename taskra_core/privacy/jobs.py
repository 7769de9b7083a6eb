"""The ``privacy.request`` job: carry out a request that arrived by webhook (Shopify's
``customers/data_request``, ``customers/redact`` and ``shop/redact``).

The shell records the request in the ledger and enqueues this job; everything else happens
here, in the job's transaction, so the work and the ledger's ``completed_at`` commit
together. A repeat (a retried job, or the same request delivered twice) finds the request
completed and does nothing. The deadline is the ledger's ``due_at``; the job runs at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import NotFound
from taskra_core.models import Customer, PrivacyRequest, Store
from taskra_core.notifications import notify
from taskra_core.privacy import export as exports
from taskra_core.privacy import ledger
from taskra_core.privacy.erasure import (
    erase_customer,
    erase_shop,
    forget_in_ledger,
    redact_mentions,
)
from taskra_core.privacy.scrub import SCRUB_JOB
from taskra_core.privacy.service import find_customer

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import JobContext

log = logging.getLogger(__name__)

REQUEST_JOB = "privacy.request"


async def request_job(ctx: JobContext) -> None:
    """Carry out privacy request ``payload.privacy_request_id``."""
    session, taskra = ctx.session, ctx.taskra
    request_id = ctx.job.payload.get("privacy_request_id")
    request = (
        await session.scalars(
            select(PrivacyRequest).where(col(PrivacyRequest.id) == request_id).with_for_update()
        )
    ).first()
    if request is None:
        raise NotFound(f"No privacy request {request_id}.")
    if request.completed_at is not None:
        return  # done before: a repeat is harmless
    now = taskra.clock.now()
    store = None if request.store_id is None else await _lock_store(session, request.store_id)
    if store is None:
        ledger.complete(request, "nothing_held", now, {})
        log.info("privacy request: nothing held", extra={"privacy_request_id": request.id})
        return
    assert store.id is not None
    scope = (request.result or {}).get("scope", "customer")
    if request.kind == "erasure" and scope == "shop":
        report = await erase_shop(taskra, session, store, keep_job_id=ctx.job.id)
        ledger.complete(request, "completed", now, {"erased": report.as_dict()})
        await _enqueue_scrub(taskra, session, request.id)
        return
    customer = await find_customer(
        session,
        store.id,
        email=request.subject if "@" in request.subject else None,
        shopify_id=_shopify_id(request.result),
    )
    if request.kind == "erasure":
        email = customer.email if customer else request.subject
        if customer is None:
            # Nothing stored on them, but the request's own delivery names them.
            await redact_mentions(session, store.id, email, _shopify_id(request.result), ctx.job.id)
            ledger.complete(request, "nothing_held", now, {})
        else:
            report = await erase_customer(taskra, session, store, customer, keep_job_id=ctx.job.id)
            ledger.complete(request, "completed", now, {"erased": report.as_dict()})
        await forget_in_ledger(session, store.id, email)
        await _enqueue_scrub(taskra, session, request.id)
        return
    await _export(ctx, request, store, customer)


async def _lock_store(session: AsyncSession, store_id: int) -> Store | None:
    """The store, locked for this job's transaction: a store's privacy requests run one at a
    time, and nothing new can attach to a store that a shop erasure is deleting.

    Writing first takes SQLite's write lock before the erasure reads the store's ledger, so
    no request can commit between that read and the delete (the cascade would take it and
    leave its job with nothing to answer). On PostgreSQL ``FOR UPDATE`` does the same: it
    blocks the key-share lock that a new row referring to the store has to take.
    """
    await session.execute(
        update(Store)
        .where(col(Store.id) == store_id)
        .values(updated_at=col(Store.updated_at))
        .execution_options(synchronize_session=False)
    )
    query = select(Store).where(col(Store.id) == store_id).with_for_update()
    return (await session.scalars(query)).first()


async def _export(
    ctx: JobContext, request: PrivacyRequest, store: Store, customer: Customer | None
) -> None:
    session, taskra = ctx.session, ctx.taskra
    assert store.id is not None
    assert request.id is not None
    now = taskra.clock.now()
    document = await exports.compile_document(taskra, session, store, customer, request.subject)
    kept = await exports.keep(
        taskra, session, store.id, customer.id if customer else None, request.id, document
    )
    ledger.complete(
        request, "completed" if customer else "nothing_held", now, {"export_id": kept.id}
    )
    await announce_export(taskra, session, store, request)


async def announce_export(
    taskra: Taskra, session: AsyncSession, store: Store, request: PrivacyRequest
) -> None:
    """Tell the merchant (the ``privacy_request`` notice) that an export waits in the app.
    The notice names no customer, so no personal data travels by email or waits in the
    job table."""
    assert store.id is not None
    await notify(
        taskra,
        session,
        store.id,
        "privacy_request",
        key=f"export:{request.id}",
        context={
            "request_kind": "customer data",
            "source": "Shopify",
            "due_date": request.due_at.date().isoformat(),
        },
    )


async def _enqueue_scrub(taskra: Taskra, session: AsyncSession, request_id: int | None) -> None:
    await taskra.jobs.enqueue(
        session,
        SCRUB_JOB,
        {"privacy_request_id": request_id},
        idempotency_key=f"{SCRUB_JOB}:{request_id}",
    )


def _shopify_id(result: dict[str, Any] | None) -> str | None:
    value = (result or {}).get("customer_id")
    return str(value) if value not in (None, "") else None
