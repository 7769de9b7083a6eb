"""The fake Shopify's Billing API: app subscriptions with recurring and usage line items.

Root fields (registered on import): ``appSubscriptionCreate``, ``appSubscriptionCancel``,
``appUsageRecordCreate`` and ``currentAppInstallation { activeSubscriptions }``; the
``shop`` field gains ``plan { partnerDevelopment displayName }``.

A subscription is ``PENDING`` until the merchant acts on its confirmation page, which a test
does with :meth:`BillingState.approve` or :meth:`BillingState.decline`. Each returns the
``app_subscriptions/update`` webhook payloads Shopify sends (approving a replacement also
cancels the subscription it replaces). Usage records need the subscription ``ACTIVE`` and
stay within the usage line item's ``cappedAmount``; an ``idempotencyKey`` seen before
answers with the same record, as Shopify does.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.fakes import shopify_catalog  # noqa: F401  (the shop field this module extends)
from tests.fakes.shopify_graphql import MUTATION_FIELDS, QUERY_FIELDS, GraphQLError, Root

SUBSCRIPTION_GID = "gid://shopify/AppSubscription/{}"
LINE_ITEM_GID = "gid://shopify/AppSubscriptionLineItem/{}?v=1&index={}"
USAGE_GID = "gid://shopify/AppUsageRecord/{}"
SHOP_GID = "gid://shopify/Shop/1"


@dataclass
class Subscription:
    id: str
    shop: str
    name: str
    status: str
    test: bool
    trial_days: int
    return_url: str
    replacement: str
    line_items: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    usage: list[dict[str, Any]] = field(default_factory=list)

    def usage_cap(self) -> tuple[str, Decimal] | None:
        for item in self.line_items:
            details = item["plan"]["pricingDetails"]
            if details["__typename"] == "AppUsagePricing":
                return item["id"], Decimal(str(details["cappedAmount"]["amount"]))
        return None

    def graphql(self) -> dict[str, Any]:
        return {
            "__typename": "AppSubscription",
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "test": self.test,
            "trialDays": self.trial_days,
            "returnUrl": self.return_url,
            "createdAt": self.created_at.isoformat(),
            "currentPeriodEnd": (self.created_at + timedelta(days=30)).isoformat()
            if self.status == "ACTIVE"
            else None,
            "lineItems": self.line_items,
        }

    def webhook(self) -> dict[str, Any]:
        """The ``app_subscriptions/update`` payload for this subscription now."""
        cap = self.usage_cap()
        return {
            "app_subscription": {
                "admin_graphql_api_id": self.id,
                "name": self.name,
                "status": self.status,
                "admin_graphql_api_shop_id": SHOP_GID,
                "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
                "currency": "USD",
                "capped_amount": str(cap[1]) if cap else None,
            }
        }


class BillingState:
    """The app's subscriptions on the fake's shops."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._ids = itertools.count(1)
        self._clock = datetime.now(UTC).replace(microsecond=0)
        self.subscriptions: dict[str, Subscription] = {}
        self.development_store = True
        self.usage_keys: dict[str, dict[str, Any]] = {}

    def now(self) -> datetime:
        # Strictly increasing, so updates have a definite order (as updated_at has).
        self._clock += timedelta(seconds=1)
        return self._clock

    def active(self, shop: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.shop == shop and s.status == "ACTIVE"]

    def approve(self, subscription_id: str) -> list[dict[str, Any]]:
        """The merchant approves on the confirmation page: the subscription is ACTIVE, any
        subscription it replaces is CANCELLED. Returns the webhook payloads, in order."""
        with self._lock:
            sub = self.subscriptions[subscription_id]
            payloads = []
            for old in self.active(sub.shop):
                old.status, old.updated_at = "CANCELLED", self.now()
                payloads.append(old.webhook())
            sub.status, sub.updated_at = "ACTIVE", self.now()
            payloads.append(sub.webhook())
            return payloads

    def decline(self, subscription_id: str) -> list[dict[str, Any]]:
        """The merchant declines: the subscription is DECLINED, the old one stays."""
        with self._lock:
            sub = self.subscriptions[subscription_id]
            sub.status, sub.updated_at = "DECLINED", self.now()
            return [sub.webhook()]

    def cancelled_payload(self, subscription_id: str) -> dict[str, Any]:
        with self._lock:
            return self.subscriptions[subscription_id].webhook()


def _state(ctx: Root) -> BillingState:
    return ctx.fake.billing  # type: ignore[no-any-return]


def _money(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or "amount" not in value:
        raise GraphQLError("Expected a MoneyInput with amount and currencyCode")
    return {"amount": str(Decimal(str(value["amount"]))), "currencyCode": value["currencyCode"]}


def app_subscription_create(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    state = _state(ctx)
    errors: list[dict[str, Any]] = []
    if not args.get("name") or not args.get("returnUrl"):
        errors.append({"field": ["name"], "message": "Name and return URL are required"})
    items = args.get("lineItems") or []
    if not items:
        errors.append({"field": ["lineItems"], "message": "Line items can't be blank"})
    if errors:
        return {"appSubscription": None, "confirmationUrl": None, "userErrors": errors}
    number = next(state._ids)
    sub_id = SUBSCRIPTION_GID.format(number)
    line_items = []
    for index, item in enumerate(items):
        plan = item.get("plan") or {}
        if "appRecurringPricingDetails" in plan:
            recurring = plan["appRecurringPricingDetails"]
            details = {
                "__typename": "AppRecurringPricing",
                "price": _money(recurring.get("price")),
                "interval": recurring.get("interval", "EVERY_30_DAYS"),
            }
        elif "appUsagePricingDetails" in plan:
            usage = plan["appUsagePricingDetails"]
            details = {
                "__typename": "AppUsagePricing",
                "cappedAmount": _money(usage.get("cappedAmount")),
                "terms": usage.get("terms", ""),
                "balanceUsed": {"amount": "0.0", "currencyCode": "USD"},
            }
        else:
            raise GraphQLError("A line item needs appRecurringPricingDetails or usage details")
        line_items.append(
            {
                "__typename": "AppSubscriptionLineItem",
                "id": LINE_ITEM_GID.format(number, index),
                "plan": {"__typename": "AppPlanV2", "pricingDetails": details},
            }
        )
    now = state.now()
    sub = Subscription(
        id=sub_id,
        shop=ctx.shop,
        name=str(args["name"]),
        status="PENDING",
        test=bool(args.get("test")),
        trial_days=int(args.get("trialDays") or 0),
        return_url=str(args["returnUrl"]),
        replacement=str(args.get("replacementBehavior") or "STANDARD"),
        line_items=line_items,
        created_at=now,
        updated_at=now,
    )
    state.subscriptions[sub_id] = sub
    url = f"https://{ctx.shop}/admin/charges/taskra/{number}/RecurringApplicationCharge/confirm"
    return {"appSubscription": sub.graphql(), "confirmationUrl": url, "userErrors": []}


def app_subscription_cancel(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    state = _state(ctx)
    sub = state.subscriptions.get(str(args.get("id")))
    if sub is None or sub.shop != ctx.shop:
        errors = [{"field": ["id"], "message": "Couldn't find subscription"}]
        return {"appSubscription": None, "userErrors": errors}
    sub.status, sub.updated_at = "CANCELLED", state.now()
    return {"appSubscription": sub.graphql(), "userErrors": []}


def app_usage_record_create(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    state = _state(ctx)
    key = args.get("idempotencyKey")
    if key and key in state.usage_keys:
        return {"appUsageRecord": state.usage_keys[key], "userErrors": []}
    item_id = str(args.get("subscriptionLineItemId"))
    sub = next(
        (s for s in state.subscriptions.values() if any(i["id"] == item_id for i in s.line_items)),
        None,
    )
    if sub is None or sub.shop != ctx.shop or sub.status != "ACTIVE":
        errors = [{"field": ["subscriptionLineItemId"], "message": "Subscription is not active"}]
        return {"appUsageRecord": None, "userErrors": errors}
    cap = sub.usage_cap()
    price = _money(args.get("price"))
    used = sum(Decimal(r["price"]["amount"]) for r in sub.usage)
    if cap is None or cap[0] != item_id or used + Decimal(price["amount"]) > cap[1]:
        errors = [{"field": ["price"], "message": "Total price exceeds balance remaining"}]
        return {"appUsageRecord": None, "userErrors": errors}
    record = {
        "__typename": "AppUsageRecord",
        "id": USAGE_GID.format(len(sub.usage) + 1 + 1000 * int(sub.id.rsplit("/", 1)[1])),
        "description": str(args.get("description") or ""),
        "price": price,
        "idempotencyKey": key,
        "createdAt": state.now().isoformat(),
    }
    sub.usage.append(record)
    if key:
        state.usage_keys[key] = record
    return {"appUsageRecord": record, "userErrors": []}


def current_app_installation(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    active = [s.graphql() for s in _state(ctx).active(ctx.shop)]
    return {
        "__typename": "AppInstallation",
        "id": "gid://shopify/AppInstallation/1",
        "activeSubscriptions": active,
    }


_catalog_shop = QUERY_FIELDS["shop"]


def shop_with_plan(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    development = _state(ctx).development_store
    plan = {
        "__typename": "ShopPlan",
        "partnerDevelopment": development,
        "displayName": "Development" if development else "Basic",
    }
    return {**_catalog_shop(ctx, args), "plan": plan}


QUERY_FIELDS["shop"] = shop_with_plan
QUERY_FIELDS["currentAppInstallation"] = current_app_installation
MUTATION_FIELDS["appSubscriptionCreate"] = app_subscription_create
MUTATION_FIELDS["appSubscriptionCancel"] = app_subscription_cancel
MUTATION_FIELDS["appUsageRecordCreate"] = app_usage_record_create
