"""Stripe's webhook events: verified, stored once by event id, applied in a job.

:func:`receive` checks the ``Stripe-Signature`` with the SDK's own verifier (HMAC-SHA256
over ``"{t}.{raw body}"``, 5-minute tolerance), then stores the event as a
:class:`~taskra_core.models.WebhookReceipt` (source ``stripe``, ``delivery_id`` = event id,
unique) together with its ``billing.stripe_event`` job, in one transaction: a replayed event
is acknowledged and changes nothing. The job applies it; subscription events carry Stripe's
``created`` time, and one older than what was applied is ignored, so out-of-order delivery
cannot bring back a cancelled plan.

Handled: ``checkout.session.completed``, ``customer.subscription.created|updated|deleted``,
``customer.subscription.trial_will_end``, ``invoice.paid`` and ``invoice.payment_failed``.
Other types are recorded as ``ignored``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from taskra_core.billing.stripe_provider import NAME
from taskra_core.errors import InvalidInput, StripeSignatureInvalid
from taskra_core.models import BillingSubscription, WebhookReceipt
from taskra_core.notifications import notify

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import JobContext

log = logging.getLogger(__name__)

STRIPE_EVENT_JOB = "billing.stripe_event"
SOURCE = "stripe"
TOLERANCE_SECONDS = 300
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)


def verify(taskra: Taskra, raw: bytes, signature: str | None) -> dict[str, Any]:
    """The event in ``raw`` if ``signature`` is Stripe's for it; else
    :class:`StripeSignatureInvalid`."""
    secret = taskra.settings.stripe_webhook_secret
    if secret is None:
        raise StripeSignatureInvalid("STRIPE_WEBHOOK_SECRET is not set; no event can be checked.")
    try:
        stripe.WebhookSignature.verify_header(
            raw, signature, secret.get_secret_value(), TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise StripeSignatureInvalid(f"Stripe-Signature rejected: {exc.user_message}") from None
    try:
        event = json.loads(raw)
    except ValueError:
        raise StripeSignatureInvalid("The signed body is not JSON.") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise StripeSignatureInvalid("The signed body is not a Stripe event.")
    return event


async def receive(taskra: Taskra, raw: bytes, signature: str | None) -> bool:
    """Verify and store one delivery; ``True`` if it was new, ``False`` for a replay."""
    event = verify(taskra, raw, signature)
    event_id = str(event["id"])
    now = taskra.clock.now()
    try:
        async with taskra.db.transaction() as session:
            seen = await session.scalar(
                select(col(WebhookReceipt.id)).where(
                    col(WebhookReceipt.source) == SOURCE,
                    col(WebhookReceipt.delivery_id) == event_id,
                )
            )
            if seen is not None:
                return False
            receipt = WebhookReceipt(
                source=SOURCE,
                topic=str(event.get("type", ""))[:128],
                delivery_id=event_id,
                triggered_at=_at(event.get("created")),
                received_at=now,
                payload=event,
            )
            session.add(receipt)
            await session.flush()
            receipt.job_id = await taskra.jobs.enqueue(
                session,
                STRIPE_EVENT_JOB,
                {"receipt_id": receipt.id},
                idempotency_key=f"{STRIPE_EVENT_JOB}:{event_id}",
            )
    except IntegrityError:
        return False  # the same event, delivered twice at once: the other copy is stored
    log.info("stripe event received", extra={"event_type": receipt.topic})
    return True


async def run_stripe_event(ctx: JobContext) -> None:
    """``billing.stripe_event``: apply one stored event."""
    receipt = await ctx.session.get(WebhookReceipt, int(ctx.job.payload["receipt_id"]))
    if receipt is None or receipt.processed_at is not None:
        return
    event = receipt.payload
    kind = str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    at = _at(event.get("created")) or ctx.taskra.clock.now()
    handled = True
    if kind == "checkout.session.completed":
        receipt.store_id = await _checkout_completed(ctx, obj, at)
    elif kind in SUBSCRIPTION_EVENTS:
        receipt.store_id = await _subscription_changed(ctx, obj, at)
    elif kind == "customer.subscription.trial_will_end":
        receipt.store_id = await _trial_will_end(ctx, obj)
    elif kind in ("invoice.paid", "invoice.payment_failed"):
        receipt.store_id = await _invoice(ctx, obj, at, failed=kind.endswith("failed"))
    else:
        handled = False
    receipt.status = "done" if handled else "ignored"
    receipt.processed_at = ctx.taskra.clock.now()


def _at(stamp: Any) -> datetime | None:
    return datetime.fromtimestamp(int(stamp), UTC) if isinstance(stamp, int | float) else None


def _store_id(obj: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = obj.get(key) if key != "metadata" else (obj.get("metadata") or {}).get("store_id")
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
            return int(value)
    return None


async def _find(ctx: JobContext, **where: str | None) -> BillingSubscription | None:
    for column, value in where.items():
        if value:
            row = await ctx.session.scalar(
                select(BillingSubscription)
                .where(
                    col(BillingSubscription.provider) == NAME,
                    getattr(BillingSubscription, column) == value,
                )
                .order_by(col(BillingSubscription.id).desc())
                .limit(1)
            )
            if row is not None:
                return row
    return None


async def _checkout_completed(ctx: JobContext, obj: dict[str, Any], at: datetime) -> int | None:
    store_id = _store_id(obj, "client_reference_id", "metadata")
    subscription = obj.get("subscription")
    if store_id is None or not isinstance(subscription, str):
        return store_id
    plan = (obj.get("metadata") or {}).get("plan")
    await ctx.taskra.billing.apply_subscription(
        ctx.session,
        store_id,
        NAME,
        subscription,
        status=None,  # the subscription's own events report its status
        event_at=at,
        plan=_known_plan(ctx, plan),
        customer_id=_id(obj.get("customer")),
    )
    return store_id


async def _subscription_changed(ctx: JobContext, obj: dict[str, Any], at: datetime) -> int | None:
    sub_id = str(obj.get("id", ""))
    known = await _find(ctx, external_id=sub_id)
    store_id = _store_id(obj, "metadata") or (known.store_id if known else None)
    if store_id is None or not sub_id:
        return None
    items = ((obj.get("items") or {}).get("data")) or []
    by_price = None
    for item in items:
        by_price = by_price or ctx.taskra.billing.plans.by_stripe_price(
            (item.get("price") or {}).get("id")
        )
    plan = by_price.name if by_price else _known_plan(ctx, (obj.get("metadata") or {}).get("plan"))
    ends = [_at(item.get("current_period_end")) for item in items]
    await ctx.taskra.billing.apply_subscription(
        ctx.session,
        store_id,
        NAME,
        sub_id,
        status=str(obj.get("status") or "active"),
        event_at=at,
        plan=plan,
        customer_id=_id(obj.get("customer")),
        current_period_end=max((e for e in ends if e), default=None),
        trial_ends_at=_at(obj.get("trial_end")),
    )
    return store_id


async def _trial_will_end(ctx: JobContext, obj: dict[str, Any]) -> int | None:
    known = await _find(ctx, external_id=str(obj.get("id", "")))
    store_id = _store_id(obj, "metadata") or (known.store_id if known else None)
    trial_end = _at(obj.get("trial_end"))
    if store_id is None or trial_end is None:
        return store_id
    plan = ctx.taskra.billing.plans.of_store(known.plan if known else None)
    await notify(
        ctx.taskra,
        ctx.session,
        store_id,
        "trial_ending",
        key=f"{obj.get('id')}:{trial_end:%Y-%m-%d}",
        context={"trial_ends": f"{trial_end:%d %B %Y}", "plan_title": plan.title},
    )
    return store_id


async def _invoice(
    ctx: JobContext, obj: dict[str, Any], at: datetime, *, failed: bool
) -> int | None:
    details = ((obj.get("parent") or {}).get("subscription_details")) or {}
    sub_id = _id(obj.get("subscription")) or _id(details.get("subscription"))
    known = await _find(ctx, external_id=sub_id, customer_id=_id(obj.get("customer")))
    store_id = _store_id(details, "metadata") or (known.store_id if known else None)
    invoice_id = str(obj.get("id", ""))
    if not invoice_id:
        raise InvalidInput("An invoice event without an invoice id.")
    amount = int(obj.get("amount_due" if failed else "amount_paid") or 0)
    currency = str(obj.get("currency") or "usd")
    await ctx.taskra.billing.record(
        ctx.session,
        store_id=store_id,
        provider=NAME,
        kind="invoice",
        external_id=invoice_id,
        amount_cents=amount,
        currency=currency,
        status="payment_failed" if failed else "paid",
        occurred_at=at,
        data={
            "number": obj.get("number"),
            "subscription": sub_id,
            "period_start": obj.get("period_start"),
            "period_end": obj.get("period_end"),
        },
    )
    if failed and store_id is not None:
        await notify(
            ctx.taskra,
            ctx.session,
            store_id,
            "payment_failed",
            key=f"{invoice_id}:{obj.get('attempt_count', 1)}",
            context={
                "amount": f"{amount / 100:.2f} {currency.upper()}",
                "invoice": str(obj.get("number") or ""),
            },
        )
    return store_id


def _id(value: Any) -> str | None:
    """An id from a field Stripe sends as an id or, expanded, as an object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _known_plan(ctx: JobContext, name: Any) -> str | None:
    plans = {plan.name for plan in ctx.taskra.billing.plans.all()}
    return name if isinstance(name, str) and name in plans else None
