"""Rows as the API returns them: explicit fields, ISO times, never secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from taskra_core.drafting.pricing import usd
from taskra_core.inbox.rows import InboxRow
from taskra_core.models import Conversation, Customer, Draft, Message


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def conversation(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "channel": c.channel,
        "status": c.status,
        "subject": c.subject,
        "customer_id": c.customer_id,
        "assignee_id": c.assignee_id,
        "escalated": c.escalated,
        "tags": list(c.tags or []),
        "priority": c.priority,
        "intent": c.intent,
        "snoozed_until": _time(c.snoozed_until),
        "last_message_at": _time(c.last_message_at),
        "created_at": _time(c.created_at),
    }


def inbox_row(row: InboxRow) -> dict[str, Any]:
    """A conversation as the inbox lists it: with its customer, unread flag and preview."""
    return {
        **conversation(row.conversation),
        "customer": customer(row.customer) if row.customer is not None else None,
        "unread": row.unread,
        "preview": row.preview,
    }


def customer(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "email": c.email, "name": c.name}


def message(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "channel": m.channel,
        "direction": m.direction,
        "author": m.author,
        "text": m.text,
        "received_at": _time(m.received_at),
        "created_at": _time(m.created_at),
    }


def draft(d: Draft) -> dict[str, Any]:
    return {
        "id": d.id,
        "conversation_id": d.conversation_id,
        "message_id": d.message_id,
        "state": d.state,
        "text": d.text,
        "final_text": d.final_text,
        "sources": list(d.sources or []),
        "escalation_reasons": list(d.escalation_reasons or []),
        "proposals": list(d.proposals or []),
        "needs_verification": d.needs_verification,
        "intent": d.intent,
        "language": d.language,
        "confidence": d.confidence,
        "model": d.model,
        "usage": {
            "input_tokens": d.input_tokens,
            "cache_write_tokens": d.cache_write_tokens,
            "cache_read_tokens": d.cache_read_tokens,
            "output_tokens": d.output_tokens,
        },
        "cost": usd(d.cost_micros),
        "latency_ms": d.latency_ms,
        "error": d.error,
        "outcome": d.outcome,
        "created_at": _time(d.created_at),
    }
