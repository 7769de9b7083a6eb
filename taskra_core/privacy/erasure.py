"""Erasure: a customer, or a whole shop, removed from every table and every plugin.

Everything runs in the caller's transaction, so an erasure is all or nothing and can simply
run again after a crash. What is kept, because the law requires it, is kept anonymized:

- the privacy-request ledger (proof the request was honoured), with the subject replaced;
- for a shop, its billing records (UK tax law: 7 years), detached from the deleted store
  but still naming the shop's domain.

Deleting rows is not enough on its own: SQLite keeps deleted content in free pages, in the
full-text index's old segments and in the write-ahead log. The session's connection turns
on ``secure_delete`` before deleting (freed space is zeroed), and :mod:`.scrub` then merges
the search indexes and checkpoints the WAL once the transaction has committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, cast, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.models import (
    BillingRecord,
    Conversation,
    Customer,
    JobRecord,
    Message,
    Order,
    PrivacyRequest,
    Store,
    WebhookReceipt,
)
from taskra_core.privacy.ledger import ERASED_SUBJECT, anonymize_subject

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)

REDACTED: dict[str, Any] = {"redacted": "erased on a privacy request"}
# Ledger details that identify nobody: kept when a request's other details are stripped.
SAFE_RESULT_KEYS = frozenset({"topic", "scope", "status", "opened_by", "export_id", "erased"})


@dataclass
class ErasureReport:
    """Counts of what an erasure removed or anonymized (no personal data)."""

    customers: int = 0
    conversations: int = 0
    messages: int = 0
    orders: int = 0
    receipts_redacted: int = 0
    jobs_redacted: int = 0
    ledger_anonymized: int = 0
    billing_records_kept: int = 0
    plugins: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v}


async def secure_delete(session: AsyncSession) -> None:
    """Zero what the session's deletes free (SQLite; PostgreSQL has no such setting)."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        await session.execute(text("PRAGMA secure_delete=ON"))


def _mentions(column: Any, needles: list[str]) -> Any:
    # JSON payloads searched as text: an email can sit anywhere in a webhook or job payload.
    as_text = func.lower(cast(column, String))
    return or_(*(as_text.contains(n.lower(), autoescape=True) for n in needles if n))


async def erase_customer(
    taskra: Taskra,
    session: AsyncSession,
    store: Store,
    customer: Customer,
    *,
    keep_job_id: int | None = None,
) -> ErasureReport:
    """Erase ``customer`` of ``store``: plugins first (they may look at conversations), then
    receipts and job payloads that mention them, their orders, and the customer row, which
    takes conversations, messages, drafts, reads and kept exports with it (cascade)."""
    assert store.id is not None
    assert customer.id is not None
    await secure_delete(session)
    report = ErasureReport(customers=1)
    report.plugins = await taskra.hooks.erase_subject_data(taskra, session, store, customer)
    report.receipts_redacted, report.jobs_redacted = await redact_mentions(
        session, store.id, customer.email, customer.shopify_customer_id, keep_job_id
    )
    conversation_ids = select(col(Conversation.id)).where(
        col(Conversation.store_id) == store.id, col(Conversation.customer_id) == customer.id
    )
    report.conversations = int(
        await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(col(Conversation.id).in_(conversation_ids))
        )
        or 0
    )
    report.messages = int(
        await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                col(Message.store_id) == store.id,
                col(Message.conversation_id).in_(conversation_ids),
            )
        )
        or 0
    )
    # Messages by name, then the customer, whose cascade takes conversations, drafts, reads
    # and kept exports; the counts above are the report's.
    await session.execute(
        delete(Message)
        .where(
            col(Message.store_id) == store.id, col(Message.conversation_id).in_(conversation_ids)
        )
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        delete(Order)
        .where(
            col(Order.store_id) == store.id, func.lower(col(Order.email)) == customer.email.lower()
        )
        .execution_options(synchronize_session=False)
    )
    report.orders = int(result.rowcount or 0)  # type: ignore[attr-defined]
    await session.execute(
        delete(Customer)
        .where(col(Customer.id) == customer.id, col(Customer.store_id) == store.id)
        .execution_options(synchronize_session=False)
    )
    report.ledger_anonymized = await forget_in_ledger(session, store.id, customer.email)
    log.info("customer erased", extra={"store_id": store.id, **report.as_dict()})
    return report


async def redact_mentions(
    session: AsyncSession,
    store_id: int,
    email: str | None,
    shopify_id: str | None,
    keep_job_id: int | None = None,
) -> tuple[int, int]:
    """Redact the store's webhook receipts and job payloads that mention the customer (by
    email or Shopify customer id); returns (receipts, jobs) redacted. Also used when Taskra
    holds no customer row: the erasure request's own delivery still names them."""
    R = WebhookReceipt
    receipts = 0
    if email:
        receipts += await _redact(session, R, col(R.store_id) == store_id, col(R.payload), [email])
    if shopify_id:
        # A bare number could be any object's id: only customer topics are searched for it.
        bare = shopify_id.rsplit("/", 1)[-1]
        receipts += await _redact(
            session,
            R,
            and_(col(R.store_id) == store_id, col(R.topic).startswith("customers/")),
            col(R.payload),
            [f'"id": {bare}', f'"id":{bare}'],
        )
    jobs = 0
    if email:
        jobs = await _redact(
            session,
            JobRecord,
            col(JobRecord.store_id) == store_id,
            col(JobRecord.payload),
            [email],
            keep_job_id,
        )
    return receipts, jobs


async def forget_in_ledger(session: AsyncSession, store_id: int, email: str) -> int:
    """Anonymize the ledger rows about ``email`` and drop their identifying details."""
    await session.flush()
    changed = await anonymize_subject(session, store_id, email)
    await _strip_ledger(session, col(PrivacyRequest.subject) == ERASED_SUBJECT, store_id)
    return changed


async def _redact(
    session: AsyncSession,
    model: Any,
    scope: Any,
    payload: Any,
    needles: list[str],
    keep_id: int | None = None,
) -> int:
    query = update(model).where(scope, _mentions(payload, needles))
    if keep_id is not None:
        query = query.where(model.id != keep_id)
    values: dict[str, Any] = {"payload": REDACTED}
    if model is JobRecord:
        # A queued job about the erased customer has nothing left to act on.
        values["state"] = "done"
    result = await session.execute(
        query.values(**values).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _strip_ledger(session: AsyncSession, which: Any, store_id: int | None) -> None:
    """Drop identifying details (Shopify customer id, order ids) from matching ledger rows."""
    scope = (
        col(PrivacyRequest.store_id).is_(None)
        if store_id is None
        else col(PrivacyRequest.store_id) == store_id
    )
    for request in await session.scalars(select(PrivacyRequest).where(scope, which)):
        kept = {k: v for k, v in (request.result or {}).items() if k in SAFE_RESULT_KEYS}
        if kept != request.result:
            request.result = kept


async def erase_shop(
    taskra: Taskra, session: AsyncSession, store: Store, *, keep_job_id: int | None = None
) -> ErasureReport:
    """Erase everything of ``store`` except its billing records and the privacy ledger."""
    assert store.id is not None
    await secure_delete(session)
    report = ErasureReport()
    report.plugins = await taskra.hooks.erase_subject_data(taskra, session, store, None)
    report.customers = int(
        await session.scalar(
            select(func.count()).select_from(Customer).where(col(Customer.store_id) == store.id)
        )
        or 0
    )
    # Kept for the law, detached from the store that is about to go; they keep its domain.
    records = list(
        await session.scalars(select(BillingRecord).where(col(BillingRecord.store_id) == store.id))
    )
    for record in records:
        record.data = {**(record.data or {}), "shop_domain": store.domain}
    report.billing_records_kept = len(records)
    ledger = list(
        await session.scalars(
            select(PrivacyRequest).where(col(PrivacyRequest.store_id) == store.id)
        )
    )
    for request in ledger:
        if request.subject.lower() != store.domain:
            request.subject = ERASED_SUBJECT
            report.ledger_anonymized += 1
        request.result = {
            **{k: v for k, v in (request.result or {}).items() if k in SAFE_RESULT_KEYS},
            "shop": store.domain,
        }
        request.store_id = None
    # The running job must outlive the cascade, or it could not record its own success; so
    # must other privacy jobs of the store, whose requests (now detached) still need an
    # answer in the ledger.
    await session.execute(
        update(JobRecord)
        .where(
            col(JobRecord.store_id) == store.id,
            or_(col(JobRecord.id) == keep_job_id, col(JobRecord.kind).startswith("privacy.")),
        )
        .values(store_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    # The biggest table first and by itself; the rest of the store goes by cascade.
    await session.execute(
        delete(Message)
        .where(col(Message.store_id) == store.id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(WebhookReceipt)
        .where(col(WebhookReceipt.shop_domain) == store.domain)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Store).where(col(Store.id) == store.id).execution_options(synchronize_session=False)
    )
    log.info("shop erased", extra={"store_id": store.id, **report.as_dict()})
    return report
