"""Orders as a reply may use them: who owns one, and the facts worth telling its owner.

An order is shown to a model only when the sender is verified to own it. The summary keeps
what a customer asks about (status, items, tracking, dates, refunds) and leaves out what a
reply never needs (addresses, payment details, customer ids).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Intents whose answer depends on the sender's own order.
ORDER_INTENTS = frozenset({"order_status", "return_request", "cancellation"})
_ORDER_NAME = re.compile(r"(?:#|\border\s*(?:no\.?|number|n[o°º]\.?)?\s*#?\s*)(\d{3,8})\b", re.I)


@dataclass(frozen=True)
class Sender:
    """Who a message verifiably comes from.

    ``email``: the address the channel verified (an email's sender; a chat's logged-in
    customer's email). ``customer_id``: the storefront's logged-in Shopify customer (chat).
    Both ``None`` means an anonymous sender who may see no order.
    """

    email: str | None = None
    customer_id: str | None = None

    @property
    def anonymous(self) -> bool:
        return not self.email and not self.customer_id


def owns(sender: Sender, order: dict[str, Any]) -> bool:
    """True when ``sender`` placed ``order`` (its email or its Shopify customer matches)."""
    email = str(order.get("email") or "").strip().lower()
    if sender.email and email and sender.email.strip().lower() == email:
        return True
    customer = order.get("customer") or {}
    return bool(sender.customer_id) and str(customer.get("id") or "") == sender.customer_id


def order_names(text: str) -> list[str]:
    """Order names a message mentions: "order #1021", "order number 1021" -> ``["#1021"]``."""
    seen: dict[str, None] = {}
    for m in _ORDER_NAME.finditer(text):
        seen.setdefault(f"#{m.group(1)}", None)
    return list(seen)


def _money(order: dict[str, Any], key: str) -> str | None:
    money = (order.get(key) or {}).get("shopMoney") or {}
    if money.get("amount") is None:
        return None
    return f"{money['amount']} {money.get('currencyCode', '')}".strip()


def summary_total(summary: dict[str, Any]) -> float | None:
    """The amount of a summary's ``total`` ("171.00 GBP" -> 171.0), if it has one."""
    try:
        return float(str(summary["total"]).split()[0])
    except (KeyError, IndexError, ValueError):
        return None


def summarise_order(order: dict[str, Any]) -> dict[str, Any]:
    """The facts of ``order`` a reply may quote to its verified owner."""
    fulfillments = []
    for f in order.get("fulfillments") or []:
        fulfillments.append(
            {
                "status": f.get("displayStatus") or f.get("status"),
                "shipped_at": f.get("createdAt"),
                "estimated_delivery_at": f.get("estimatedDeliveryAt"),
                "delivered_at": f.get("deliveredAt"),
                "tracking": [
                    {k: t.get(k) for k in ("company", "number", "url") if t.get(k)}
                    for t in f.get("trackingInfo") or []
                ],
                "items": [
                    {"sku": i.get("sku"), "quantity": i.get("quantity")}
                    for i in f.get("fulfillmentLineItems") or []
                ],
            }
        )
    summary = {
        "source_id": f"order:{order.get('name')}",
        "name": order.get("name"),
        "placed_at": order.get("createdAt"),
        "financial_status": order.get("displayFinancialStatus"),
        "fulfillment_status": order.get("displayFulfillmentStatus"),
        "cancelled_at": order.get("cancelledAt"),
        "total": _money(order, "totalPriceSet"),
        "shipping_method": (order.get("shippingLine") or {}).get("title"),
        "items": [
            {
                "title": i.get("title"),
                "variant": i.get("variantTitle"),
                "quantity": i.get("quantity"),
                "sku": i.get("sku"),
                "unit_price": i.get("originalUnitPrice"),
            }
            for i in order.get("lineItems") or []
        ],
        "fulfillments": fulfillments,
        "refunds": [
            {"created_at": r.get("createdAt"), "amount": _money(r, "totalRefundedSet")}
            for r in order.get("refunds") or []
        ],
        "note": order.get("note"),
    }
    return {k: v for k, v in summary.items() if v not in (None, [], "")}


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
