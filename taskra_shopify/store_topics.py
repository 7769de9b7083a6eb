"""Webhook topics that keep a store's knowledge fresh (``register_webhook_topics``).

Each handler runs in the durable job of its delivery and writes through ``ctx.session``, so
its effect commits with the job. Shopify may deliver out of order and more than once; a
delivery is applied by fetching the current product from Admin GraphQL (not trusting the
payload), and one triggered no later than the version already applied changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskra_core.errors import InvalidInput
from taskra_core.models import Store
from taskra_shopify.catalog import fetch_shop, product_gid, refresh_product, remove_product
from taskra_shopify.sync import installed_store, write_shop
from taskra_shopify.sync_jobs import enqueue_apply

if TYPE_CHECKING:
    from taskra_core.jobs import JobContext
    from taskra_shopify.webhook_types import WebhookDelivery

log = logging.getLogger(__name__)


def register(register_topic: Callable[..., None]) -> None:
    """Register this module's handlers (called from the shell plugin's hookimpl)."""
    register_topic("products/create", product_changed)
    register_topic("products/update", product_changed)
    register_topic("products/delete", product_deleted)
    register_topic("shop/update", shop_updated)
    register_topic("bulk_operations/finish", bulk_operation_finished)


async def _store(ctx: JobContext, delivery: WebhookDelivery) -> Store | None:
    if delivery.store_id is None:
        log.info("webhook for an unknown shop ignored", extra={"shop": delivery.shop})
        return None
    store = await installed_store(ctx.taskra, store_id=delivery.store_id)
    if store.domain != delivery.shop:
        raise InvalidInput(
            f"Delivery {delivery.webhook_id} names {delivery.shop}, not {store.domain}."
        )
    return store


def _gid(delivery: WebhookDelivery) -> str:
    payload = delivery.payload
    return product_gid(payload.get("admin_graphql_api_id") or payload.get("id"))


async def product_changed(ctx: JobContext, delivery: WebhookDelivery) -> None:
    """``products/create`` and ``products/update``: upsert the product as Shopify has it now."""
    store = await _store(ctx, delivery)
    if store is None:
        return
    gid = _gid(delivery)
    outcome = await refresh_product(
        ctx.taskra, ctx.session, store, gid, triggered_at=delivery.triggered_at
    )
    log.info(
        "product refreshed from webhook",
        extra={"shop": store.domain, "product": gid, "outcome": outcome, "topic": delivery.topic},
    )


async def product_deleted(ctx: JobContext, delivery: WebhookDelivery) -> None:
    """``products/delete``: remove the product's knowledge (product ids are never reused)."""
    if delivery.store_id is None:
        return
    gid = _gid(delivery)
    removed = await remove_product(ctx.session, delivery.store_id, gid)
    log.info("product removed from webhook", extra={"product": gid, "removed": removed})


async def shop_updated(ctx: JobContext, delivery: WebhookDelivery) -> None:
    """``shop/update``: refresh the shop's name, email, currency and policies."""
    store = await _store(ctx, delivery)
    if store is None:
        return
    await write_shop(ctx.taskra, ctx.session, store, await fetch_shop(ctx.taskra, store))


async def bulk_operation_finished(ctx: JobContext, delivery: WebhookDelivery) -> None:
    """``bulk_operations/finish``: hand the operation to its apply job at once, instead of
    at the next poll; the apply job checks that it is a catalog sync before using it."""
    store = await _store(ctx, delivery)
    if store is None:
        return
    operation_id = str(delivery.payload.get("admin_graphql_api_id") or "")
    if not operation_id.startswith("gid://shopify/BulkOperation/"):
        raise InvalidInput(f"Delivery {delivery.webhook_id} names no bulk operation.")
    await enqueue_apply(ctx, store, operation_id)
