"""The privacy-request ledger: every data-subject request, when it is due, and what was done.

A request is due 30 days after it was received (the policy's promise). Subjects are the
customer's email while the request is open; after an erasure the ledger keeps only an
anonymous placeholder, because the ledger must prove the erasure without undoing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import InvalidInput
from taskra_core.models import PrivacyRequest

DUE_AFTER = timedelta(days=30)
KINDS = ("access", "portability", "erasure", "rectification", "objection")
OUTCOMES = ("completed", "nothing_held", "refused")
# Where a request came from: Shopify's compliance webhooks, the merchant (API, admin page,
# CLI) or the customer's own email (opened by the drafting guardrail).
SOURCES = ("shopify webhook", "merchant", "cli", "email", "chat")
ERASED_SUBJECT = "erased customer"


def open_request(
    session: AsyncSession,
    *,
    store_id: int | None,
    kind: str,
    subject: str,
    source: str,
    now: datetime,
    result: dict[str, Any] | None = None,
) -> PrivacyRequest:
    """Add an open request to ``session`` (due in 30 days); flush to get its id."""
    if kind not in KINDS:
        raise InvalidInput(f"A privacy request is one of {', '.join(KINDS)}, not {kind!r}.")
    request = PrivacyRequest(
        store_id=store_id,
        kind=kind,
        subject=subject[:320],
        source=source[:64],
        received_at=now,
        due_at=now + DUE_AFTER,
        result=dict(result or {}),
    )
    session.add(request)
    return request


async def take_request(
    session: AsyncSession,
    *,
    store_id: int,
    kinds: tuple[str, ...],
    subject: str,
    source: str,
    now: datetime,
) -> PrivacyRequest:
    """The store's oldest open request of one of ``kinds`` about ``subject`` (one the
    customer's own email opened, say), or a new one of ``kinds[0]``: acting on a request
    answers it instead of leaving it open beside a fresh row."""
    R = PrivacyRequest
    found = (
        await session.scalars(
            select(R)
            .where(
                col(R.store_id) == store_id,
                col(R.completed_at).is_(None),
                col(R.kind).in_(kinds),
                func.lower(col(R.subject)) == subject.lower(),
            )
            .order_by(col(R.received_at), col(R.id))
            .limit(1)
        )
    ).first()
    if found is not None:
        return found
    request = open_request(
        session, store_id=store_id, kind=kinds[0], subject=subject, source=source, now=now
    )
    await session.flush()
    return request


def complete(request: PrivacyRequest, outcome: str, now: datetime, details: dict[str, Any]) -> None:
    """Record what was done. A completed request keeps its first outcome (repeats are no-ops)."""
    if outcome not in OUTCOMES:
        raise InvalidInput(f"An outcome is one of {', '.join(OUTCOMES)}, not {outcome!r}.")
    if request.completed_at is not None:
        return
    request.completed_at = now
    request.outcome = outcome
    request.result = {**(request.result or {}), **details, "status": outcome}


async def anonymize_subject(session: AsyncSession, store_id: int | None, email: str) -> int:
    """Replace ``email`` as the subject of the store's ledger rows; returns rows changed."""
    result = await session.execute(
        update(PrivacyRequest)
        .where(
            col(PrivacyRequest.store_id).is_(None)
            if store_id is None
            else col(PrivacyRequest.store_id) == store_id,
            func.lower(col(PrivacyRequest.subject)) == email.lower(),
        )
        .values(subject=ERASED_SUBJECT)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LedgerCounts:
    """Counts only (no subjects), for ``/metrics`` and the admin page's alert."""

    open: int
    overdue: int


async def counts(session: AsyncSession, now: datetime, store_id: int | None = None) -> LedgerCounts:
    """Open and overdue requests, of one store or (``store_id=None``) of every store."""
    R = PrivacyRequest
    query = select(
        func.count(),
        func.count().filter(col(R.due_at) < now),
    ).where(col(R.completed_at).is_(None))
    if store_id is not None:
        query = query.where(col(R.store_id) == store_id)
    row = (await session.execute(query)).one()
    return LedgerCounts(open=int(row[0]), overdue=int(row[1]))


async def requests_of(
    session: AsyncSession, store_id: int, limit: int = 200
) -> list[PrivacyRequest]:
    """The store's requests, open ones first (oldest due first), then the newest completed."""
    R = PrivacyRequest
    query = (
        select(R)
        .where(col(R.store_id) == store_id)
        .order_by(col(R.completed_at).is_not(None), col(R.due_at), col(R.id).desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


def as_dict(request: PrivacyRequest, now: datetime) -> dict[str, Any]:
    """A ledger row as the API, the CLI and the export show it."""
    return {
        "id": request.id,
        "kind": request.kind,
        "subject": request.subject,
        "source": request.source,
        "received_at": request.received_at.isoformat(),
        "due_at": request.due_at.isoformat(),
        "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        "outcome": request.outcome,
        "overdue": request.completed_at is None and request.due_at < now,
        "export_id": (request.result or {}).get("export_id"),
    }
