"""Access and portability: everything Taskra holds on one customer, as versioned JSON.

The document's shape is published as a JSON Schema (``export-schema.json`` beside this
module, described in ``docs/privacy.md``); ``version`` changes whenever the shape does.
Plugins add their own sections through the ``export_subject_data`` hook.

An export kept for the merchant to download is personal data too: it is sealed with the
token cipher when ``TASKRA_SECRET_KEY`` is set, cannot be downloaded after
:data:`EXPORT_TTL`, is then deleted by the retention policy ``privacy_exports``, and goes
with the customer on erasure.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.crypto import secret_context
from taskra_core.errors import NotFound
from taskra_core.models import (
    Conversation,
    Customer,
    Draft,
    Message,
    Order,
    PrivacyExport,
    PrivacyRequest,
    Store,
)

if TYPE_CHECKING:
    from taskra_core.app import Taskra

SCHEMA_NAME = "taskra.subject-data"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("export-schema.json")
EXPORT_TTL = timedelta(days=30)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def empty_document(store: Store, subject: str, now: datetime) -> dict[str, Any]:
    """The document for a subject Taskra holds nothing on (still a valid, versioned export)."""
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "generated_at": now.isoformat(),
        "store": {"domain": store.domain, "name": store.name},
        "subject": subject,
        "customer": None,
        "conversations": [],
        "orders": [],
        "privacy_requests": [],
        "plugins": {},
    }


async def compile_document(
    taskra: Taskra, session: AsyncSession, store: Store, customer: Customer | None, subject: str
) -> dict[str, Any]:
    """Everything about ``customer`` in ``store`` (or about ``subject`` if none is stored)."""
    now = taskra.clock.now()
    document = empty_document(store, subject, now)
    if customer is None:
        return document
    assert store.id is not None
    assert customer.id is not None
    document["subject"] = customer.email
    document["customer"] = {
        "email": customer.email,
        "name": customer.name,
        "shopify_customer_id": customer.shopify_customer_id,
        "ai_processing_objected": customer.ai_processing_objected,
        "created_at": _iso(customer.created_at),
        "updated_at": _iso(customer.updated_at),
    }
    document["conversations"] = await _conversations(session, store.id, customer.id)
    orders = await session.scalars(
        select(Order)
        .where(col(Order.store_id) == store.id, col(Order.email) == customer.email.lower())
        .order_by(col(Order.placed_at))
    )
    document["orders"] = [
        {"name": o.name, "placed_at": _iso(o.placed_at), "data": o.data} for o in orders
    ]
    requests = await session.scalars(
        select(PrivacyRequest)
        .where(
            col(PrivacyRequest.store_id) == store.id,
            func.lower(col(PrivacyRequest.subject)) == customer.email.lower(),
        )
        .order_by(col(PrivacyRequest.id))
    )
    document["privacy_requests"] = [
        {
            "kind": r.kind,
            "source": r.source,
            "received_at": _iso(r.received_at),
            "due_at": _iso(r.due_at),
            "completed_at": _iso(r.completed_at),
            "outcome": r.outcome,
        }
        for r in requests
    ]
    document["plugins"] = await taskra.hooks.export_subject_data(taskra, session, store, customer)
    return document


async def _conversations(
    session: AsyncSession, store_id: int, customer_id: int
) -> list[dict[str, Any]]:
    conversations = list(
        await session.scalars(
            select(Conversation)
            .where(
                col(Conversation.store_id) == store_id,
                col(Conversation.customer_id) == customer_id,
            )
            .order_by(col(Conversation.id))
        )
    )
    ids = [c.id for c in conversations]
    messages = list(
        await session.scalars(
            select(Message)
            .where(col(Message.store_id) == store_id, col(Message.conversation_id).in_(ids))
            .order_by(col(Message.id))
        )
    )
    drafts = list(
        await session.scalars(
            select(Draft)
            .where(col(Draft.store_id) == store_id, col(Draft.conversation_id).in_(ids))
            .order_by(col(Draft.id))
        )
    )
    out = []
    for c in conversations:
        out.append(
            {
                "channel": c.channel,
                "status": c.status,
                "subject": c.subject,
                "tags": list(c.tags or []),
                "intent": c.intent,
                "created_at": _iso(c.created_at),
                "messages": [
                    {
                        "direction": m.direction,
                        "author": m.author,
                        "channel": m.channel,
                        "text": m.text,
                        "created_at": _iso(m.created_at),
                    }
                    for m in messages
                    if m.conversation_id == c.id
                ],
                "ai_drafts": [
                    {
                        "text": d.text,
                        "final_text": d.final_text,
                        "state": d.state,
                        "model": d.model,
                        "sources": list(d.sources or []),
                        "escalation_reasons": list(d.escalation_reasons or []),
                        "created_at": _iso(d.created_at),
                    }
                    for d in drafts
                    if d.conversation_id == c.id
                ],
            }
        )
    return out


# --- kept exports ---------------------------------------------------------------------------


async def keep(
    taskra: Taskra,
    session: AsyncSession,
    store_id: int,
    customer_id: int | None,
    request_id: int | None,
    document: dict[str, Any],
) -> PrivacyExport:
    """Store ``document`` for download until it expires; sealed when a key is configured."""
    now = taskra.clock.now()
    text = json.dumps(document, ensure_ascii=False, default=str)
    row = PrivacyExport(
        store_id=store_id,
        customer_id=customer_id,
        request_id=request_id,
        size_bytes=len(text.encode()),
        created_at=now,
        expires_at=now + EXPORT_TTL,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    if taskra.settings.secret_key is not None:
        row.data = taskra.cipher.encrypt(text, context=_context(row.id))
        row.sealed = True
    else:
        row.data = text
    return row


def _context(export_id: int) -> str:
    return secret_context("privacy_exports", "data", export_id)


async def load(taskra: Taskra, session: AsyncSession, store_id: int, export_id: int) -> str:
    """The JSON text of export ``export_id`` of the store; NotFound once it has expired."""
    row = (
        await session.scalars(
            select(PrivacyExport).where(
                col(PrivacyExport.id) == export_id, col(PrivacyExport.store_id) == store_id
            )
        )
    ).first()
    if row is None or row.expires_at <= taskra.clock.now():
        raise NotFound(
            f"No export {export_id} in this store (exports are kept for "
            f"{EXPORT_TTL.days} days); make a new one."
        )
    return taskra.cipher.decrypt(row.data, context=_context(export_id)) if row.sealed else row.data
