"""One draft, start to finish, without storing anything: checks, retrieval, the model,
checks again, cost.

::

    message checks (guardrails) ── budget used up / customer objected? ──▶ no model call
           │
    retrieval + verified orders ─▶ reply model ─▶ check_draft hook (rules + plugins) ─▶ cost

Storing the result, autonomy and sending are the caller's (:mod:`taskra_core.drafting.service`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskra_core.billing.usage import ALLOWANCE_EXHAUSTED, allowance_of
from taskra_core.drafting.context import profile_version_and_usage, retrieve
from taskra_core.drafting.guardrails import EscalationReason, GuardrailContext, check_message
from taskra_core.drafting.orders import ORDER_INTENTS, Sender, order_names, summary_total
from taskra_core.drafting.policy import budget_of, period_of, refund_threshold
from taskra_core.drafting.pricing import usd
from taskra_core.drafting.tools import ToolBox
from taskra_core.drafting.types import DraftRequest, ModelReply, Turn

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.models import Store

# Reasons that stop drafting before any model call: spending more, or processing the text
# with AI at all, is exactly what they forbid.
HARD_STOPS = frozenset({"budget_exhausted", "ai_objection", ALLOWANCE_EXHAUSTED})


@dataclass(frozen=True)
class CheckContext:
    """What ``check_draft`` implementations see besides the draft itself."""

    store: Store
    channel: str
    text: str
    subject: str
    message_reasons: tuple[EscalationReason, ...]
    verification_needed: bool
    sources: tuple[str, ...]
    # The order source did not answer and the message or the reply was about an order.
    orders_unavailable: bool = False


@dataclass(frozen=True)
class DraftResult:
    """A composed draft: the model's reply, why a person must look (if anything), and cost."""

    reply: ModelReply
    reasons: tuple[EscalationReason, ...]
    verification_needed: bool
    cost_micros: int
    latency_ms: int
    model_called: bool

    @property
    def escalate(self) -> bool:
        return bool(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        reply = self.reply
        return {
            "reply": reply.text,
            "sources": list(reply.sources),
            "escalate": self.escalate,
            "escalation_reasons": [str(r) for r in self.reasons],
            "intent": reply.intent,
            "language": reply.language,
            "confidence": reply.confidence,
            "needs_verification": self.verification_needed,
            "proposals": [p.as_dict() for p in reply.proposals],
            "model": reply.model,
            "usage": reply.usage.as_dict(),
            "cost": usd(self.cost_micros),
            "latency_ms": self.latency_ms,
        }


def _as_reason(value: Any) -> EscalationReason:
    if isinstance(value, EscalationReason):
        return value
    return EscalationReason("plugin", str(value))


def _merge(
    *groups: tuple[EscalationReason, ...] | list[EscalationReason],
) -> tuple[EscalationReason, ...]:
    seen: dict[str, EscalationReason] = {}
    for group in groups:
        for reason in group:
            seen.setdefault(reason.code, reason)
    return tuple(seen.values())


async def compose(
    taskra: Taskra,
    store: Store,
    *,
    text: str,
    channel: str,
    sender: Sender,
    subject: str = "",
    customer_name: str | None = None,
    history: tuple[Turn, ...] = (),
    ai_objected: bool = False,
) -> DraftResult:
    """Draft a reply to ``text`` for ``store``; nothing is written to the database."""
    assert store.id is not None
    now = taskra.clock.now()
    settings = taskra.settings
    # One read session for the store's profile, budget and knowledge: fewer round trips.
    async with taskra.db.session() as session:
        # The profile's version, and the counters the budget and the plan's allowance read:
        # one statement for all three.
        period = period_of(now)
        version, used = await profile_version_and_usage(session, store.id, period)
        profile = await taskra.drafting.profiles.get(session, store, version)
        budget = budget_of(store, settings, period, used["cost_micros"])
        allowance = allowance_of(store, taskra.billing.plans, now, period, used["ai_replies"])
        sources = await retrieve(
            session,
            taskra.db.dialect,
            store,
            f"{subject}\n{text}",
            taskra.knowledge.term_counts,
        )
    tools = ToolBox(taskra, store, profile, sender)
    orders, unverified = await tools.owned_orders(f"{subject}\n{text}")
    if unverified:
        tools.verification_needed = True
    named = order_names(f"{subject}\n{text}")
    mentioned = [o for o in orders if o.get("name") in named] or (
        orders if len(orders) == 1 else []
    )
    total = summary_total(mentioned[0]) if mentioned else None
    owner = (not unverified) if named else (True if orders else None)
    if tools.orders_unavailable:
        owner = None  # unknown, not "someone else's": the order source did not answer
    message_reasons = tuple(
        check_message(
            text,
            subject,
            GuardrailContext(
                refund_threshold=refund_threshold(store, settings),
                currency=profile.currency,
                sender_owns_order=owner,
                budget_exhausted=budget.exhausted,
                ai_objected=ai_objected,
                order_total=total,
            ),
        )
    )
    if allowance.exhausted and allowance.reason:
        message_reasons += (EscalationReason(ALLOWANCE_EXHAUSTED, allowance.reason),)
    if any(r.code in HARD_STOPS for r in message_reasons):
        empty = ModelReply(text="", model="none", needs_human=True, confidence=0.0)
        return DraftResult(empty, message_reasons, tools.verification_needed, 0, 0, False)

    model = taskra.reply_models.get()
    tools.shown.update(s.source_id for s in sources)
    request = DraftRequest(
        store=profile,
        channel=channel,
        text=text,
        now=now,
        tools=tools,
        subject=subject,
        customer_name=customer_name,
        history=history,
        sources=sources,
        orders=tuple(orders),
        orders_unavailable=tools.orders_unavailable,
    )
    started = time.perf_counter()
    reply = await model.draft(request)
    latency_ms = int((time.perf_counter() - started) * 1000)
    context = CheckContext(
        store=store,
        channel=channel,
        text=text,
        subject=subject,
        message_reasons=message_reasons,
        verification_needed=tools.verification_needed,
        sources=tuple(s.source_id for s in sources),
        orders_unavailable=tools.orders_unavailable
        and bool(named or tools.orders_asked or reply.intent in ORDER_INTENTS),
    )
    extra = [_as_reason(r) for r in await taskra.hooks.check_draft(taskra, reply, context)]
    cost = taskra.prices.cost_micros(reply.model, reply.usage) if reply.usage.total else 0
    return DraftResult(
        reply=reply,
        reasons=_merge(message_reasons, extra),
        verification_needed=tools.verification_needed,
        cost_micros=cost,
        latency_ms=latency_ms,
        model_called=True,
    )
