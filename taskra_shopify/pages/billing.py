"""The billing part of the usage page: plan, allowance with its forecast, plans to move to,
invoices, and (without a Resend key) the emails kept in the outbox for this store."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request

from taskra_core.app import Taskra
from taskra_core.errors import TaskraError
from taskra_core.mail import OutboxMailer
from taskra_core.models import Store

log = logging.getLogger(__name__)


async def billing_context(request: Request, taskra: Taskra, store_id: int) -> dict[str, Any]:
    """What ``admin/usage.html`` shows about billing.

    Back from Shopify's confirmation page (``?billing=shopify``), the subscription Shopify
    reports active is applied first, so the page shows the new plan even before the
    ``app_subscriptions/update`` webhook arrives.
    """
    billing_error = None
    if (
        request.query_params.get("billing") == "shopify"
        and "shopify" in taskra.billing.providers.names
    ):
        try:
            await _refresh_shopify(taskra, store_id)
        except TaskraError as exc:
            log.warning("shopify billing refresh failed", extra={"store_id": store_id})
            billing_error = f"Shopify's answer about the subscription is not in yet: {exc}"
    state = await taskra.billing.state(store_id)
    records = await taskra.billing.records(store_id, limit=12)
    return {
        "billing": state,
        "billing_records": records,
        "billing_error": billing_error,
        "outbox": await _outbox(taskra, store_id),
    }


async def _refresh_shopify(taskra: Taskra, store_id: int) -> None:
    from taskra_shopify.billing import ShopifyBilling

    provider = taskra.billing.providers.get("shopify")
    async with taskra.db.session() as session:
        store = await session.get(Store, store_id)
    if isinstance(provider, ShopifyBilling) and store is not None:
        await provider.refresh(taskra, store)


async def _outbox(taskra: Taskra, store_id: int) -> list[Any]:
    """Emails to this store's merchant that the outbox kept (no Resend key: the demo)."""
    mailer = taskra.mailer
    if not isinstance(mailer, OutboxMailer):
        return []
    async with taskra.db.session() as session:
        store = await session.get(Store, store_id)
    if store is None or not store.email:
        return []
    return [email for email in reversed(mailer.outbox) if email.to == store.email][:10]
