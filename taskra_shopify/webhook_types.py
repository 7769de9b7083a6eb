"""What a webhook topic handler receives (see the ``register_webhook_topics`` hook)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskra_core.jobs import JobContext


@dataclass(frozen=True)
class WebhookDelivery:
    """One verified, de-duplicated delivery, as stored when it was acknowledged."""

    receipt_id: int
    shop: str  # X-Shopify-Shop-Domain, normalized
    store_id: int | None  # None when the shop is unknown (e.g. shop/redact after a purge)
    topic: str  # X-Shopify-Topic, e.g. "products/update"
    webhook_id: str  # X-Shopify-Webhook-Id
    event_id: str | None  # X-Shopify-Event-Id
    triggered_at: datetime | None  # X-Shopify-Triggered-At: order deliveries by this
    api_version: str | None  # X-Shopify-API-Version
    payload: Mapping[str, Any]  # the JSON body


TopicHandler = Callable[["JobContext", WebhookDelivery], Awaitable[None]]
