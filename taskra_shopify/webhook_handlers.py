"""The shell's own webhook topics: app lifecycle and Shopify's mandatory privacy topics.

Each handler runs in the ``shopify.webhook`` job, writes through ``ctx.session`` (committed
with the job) and is safe to run for a repeated or late delivery:

- ``app/uninstalled``: drop the store's tokens and mark it uninstalled, which stops new AI
  drafts for it (:func:`taskra_core.drafting.policy.drafts_for`). A delivery triggered
  before the store's latest install is stale (uninstall, then re-install, then the old
  delivery's retry) and changes nothing.
- ``app/scopes_update``: record the granted scopes, unless a later scopes update or
  install already recorded newer ones.
- ``customers/data_request``, ``customers/redact``, ``shop/redact``: open a privacy request
  (due in 30 days) and enqueue ``privacy.request``, which carries it out
  (:mod:`taskra_core.privacy.jobs`: export for the merchant, erase a customer, erase a shop).

Topics of the store sync (``products/*``, ``shop/update``, ``bulk_operations/finish``) are
registered by the sync code through the same hook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import col

from taskra_core.models import Store, WebhookReceipt
from taskra_core.privacy import ledger
from taskra_core.privacy.jobs import REQUEST_JOB
from taskra_shopify.webhook_dispatch import SOURCE

if TYPE_CHECKING:
    from taskra_core.jobs import JobContext
    from taskra_shopify.webhook_types import WebhookDelivery

log = logging.getLogger(__name__)

PRIVACY_JOB = REQUEST_JOB
PRIVACY_DUE = ledger.DUE_AFTER
PRIVACY_SOURCE = "shopify webhook"
# Shopify topic -> (ledger kind, what is asked).
COMPLIANCE_TOPICS = {
    "customers/data_request": ("access", "customer"),
    "customers/redact": ("erasure", "customer"),
    "shop/redact": ("erasure", "shop"),
}


def register_builtin_topics(register: Callable[..., None]) -> None:
    register("app/uninstalled", app_uninstalled)
    register("app/scopes_update", app_scopes_update)
    for topic in COMPLIANCE_TOPICS:
        register(topic, compliance_request)


def _stale(delivery: WebhookDelivery, applied_at: datetime | None) -> bool:
    """Whether the delivery was triggered before state that is already applied."""
    return (
        delivery.triggered_at is not None
        and applied_at is not None
        and delivery.triggered_at < applied_at
    )


async def _store(ctx: JobContext, delivery: WebhookDelivery) -> Store | None:
    if delivery.store_id is None:
        return None
    query = select(Store).where(col(Store.id) == delivery.store_id).with_for_update()
    return (await ctx.session.scalars(query)).first()


async def app_uninstalled(ctx: JobContext, delivery: WebhookDelivery) -> None:
    """Drop the tokens, mark the store uninstalled; no new drafts from now on."""
    # Imported here: ``tokens`` pulls in the web stack, which the plugin's start-up (every
    # CLI command) should not pay for.
    from taskra_shopify.tokens import _clear_tokens

    store = await _store(ctx, delivery)
    if store is None:
        return  # a shop Taskra never stored: nothing to uninstall
    if _stale(delivery, store.installed_at):
        log.info("stale app/uninstalled ignored", extra={"shop": store.domain})
        return
    now = ctx.taskra.clock.now()
    _clear_tokens(store, now)  # a repeat finds them gone already: harmless
    if store.uninstalled_at is None:
        store.uninstalled_at = now
    log.info("shopify store uninstalled", extra={"shop": store.domain})


async def app_scopes_update(ctx: JobContext, delivery: WebhookDelivery) -> None:
    """Record the scopes Shopify now grants (``payload.current``)."""
    current = delivery.payload.get("current")
    if not isinstance(current, list) or not all(isinstance(s, str) for s in current):
        log.warning("app/scopes_update without a list of scopes", extra={"shop": delivery.shop})
        return
    store = await _store(ctx, delivery)
    if store is None:
        return
    if _stale(delivery, store.installed_at) or _stale(
        delivery, await _latest_applied(ctx, delivery)
    ):
        log.info("stale app/scopes_update ignored", extra={"shop": store.domain})
        return
    store.scopes = ",".join(sorted(set(current)))
    store.updated_at = ctx.taskra.clock.now()


async def _latest_applied(ctx: JobContext, delivery: WebhookDelivery) -> datetime | None:
    """When the newest delivery of this topic already handled for the store was triggered."""
    R = WebhookReceipt
    query = select(func.max(col(R.triggered_at))).where(
        col(R.store_id) == delivery.store_id,
        col(R.source) == SOURCE,
        col(R.topic) == delivery.topic,
        col(R.status) == "done",
    )
    latest: datetime | None = await ctx.session.scalar(query)
    return latest


async def compliance_request(ctx: JobContext, delivery: WebhookDelivery) -> None:
    """Open a privacy request for a compliance topic and hand it to the privacy service."""
    kind, scope = COMPLIANCE_TOPICS[delivery.topic]
    payload = delivery.payload
    now = ctx.taskra.clock.now()
    request = ledger.open_request(
        ctx.session,
        store_id=delivery.store_id,
        kind=kind,
        subject=_subject(delivery.shop, scope, payload),
        source=PRIVACY_SOURCE,
        now=now,
        result={
            "topic": delivery.topic,
            "scope": scope,
            "shop": delivery.shop,
            "receipt_id": delivery.receipt_id,
            "customer_id": _customer(payload).get("id"),
            "orders": payload.get("orders_requested") or payload.get("orders_to_redact") or [],
            "shopify_request_id": (payload.get("data_request") or {}).get("id"),
            "status": "open",
        },
    )
    await ctx.session.flush()
    assert request.id is not None
    await ctx.taskra.jobs.enqueue(
        ctx.session,
        PRIVACY_JOB,
        {"privacy_request_id": request.id},
        store_id=delivery.store_id,
        idempotency_key=f"{PRIVACY_JOB}:{request.id}",
    )
    log.info(
        "privacy request opened",
        extra={"topic": delivery.topic, "privacy_request_id": request.id},
    )


def _customer(payload: Any) -> dict[str, Any]:
    customer = payload.get("customer") if isinstance(payload, dict) else None
    return customer if isinstance(customer, dict) else {}


def _subject(shop: str, scope: str, payload: Any) -> str:
    """Who the request is about: the customer's email, else their Shopify id; or the shop."""
    if scope == "shop":
        return shop
    customer = _customer(payload)
    email = customer.get("email")
    if isinstance(email, str) and email.strip():
        return email.strip()[:320]
    return f"shopify-customer:{customer.get('id', 'unknown')}"[:320]
