"""Shopify's Billing API, for App Store installs (Shopify requires its billing for them).

- Subscribing creates an app subscription (``appSubscriptionCreate``) with a recurring line
  item for the plan's price and a usage line item capped at the plan's overage cap;
  ``test: true`` on development stores (or as ``TASKRA_SHOPIFY_BILLING_TEST`` says).
  ``replacementBehavior: APPLY_IMMEDIATELY`` makes a plan change a new subscription that
  replaces the old one once approved: merchants change plans in the app, without support
  or reinstalling. The merchant approves on Shopify's confirmation page, which must be
  opened from the top frame (the admin page does, see ``templates/admin/usage.html``).
- ``app_subscriptions/update`` webhooks report approval, decline, cancellation and freezing;
  :func:`subscription_updated` applies them in ``updated_at`` order.
- Replies beyond the plan's allowance are charged as usage records
  (``appUsageRecordCreate``) with the draft as the idempotency key.
- The free plan cancels the subscription (``appSubscriptionCancel``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from taskra_core.billing.providers import BillingProvider, Checkout, UsageReport
from taskra_core.errors import BillingRejected

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.billing.plans import Plan
    from taskra_core.jobs import JobContext
    from taskra_core.models import BillingSubscription, Store
    from taskra_core.settings import Settings
    from taskra_shopify.webhook_types import WebhookDelivery

log = logging.getLogger(__name__)

NAME = "shopify"
TOPIC = "app_subscriptions/update"

SHOP_PLAN = "query TaskraShopPlan { shop { plan { partnerDevelopment } } }"
CREATE = """
mutation TaskraSubscribe($name: String!, $returnUrl: URL!, $test: Boolean, $trialDays: Int,
    $replacementBehavior: AppSubscriptionReplacementBehavior,
    $lineItems: [AppSubscriptionLineItemInput!]!) {
  appSubscriptionCreate(name: $name, returnUrl: $returnUrl, test: $test, trialDays: $trialDays,
      replacementBehavior: $replacementBehavior, lineItems: $lineItems) {
    appSubscription { id status lineItems { id plan { pricingDetails { __typename } } } }
    confirmationUrl
    userErrors { field message }
  }
}
"""
CANCEL = """
mutation TaskraCancel($id: ID!) {
  appSubscriptionCancel(id: $id) { appSubscription { id status } userErrors { field message } }
}
"""
USAGE = """
mutation TaskraUsage($subscriptionLineItemId: ID!, $price: MoneyInput!, $description: String!,
    $idempotencyKey: String) {
  appUsageRecordCreate(subscriptionLineItemId: $subscriptionLineItemId, price: $price,
      description: $description, idempotencyKey: $idempotencyKey) {
    appUsageRecord { id }
    userErrors { field message }
  }
}
"""
ACTIVE = """
query TaskraActiveSubscriptions {
  currentAppInstallation { activeSubscriptions { id name status } }
}
"""


def _money(cents: int, currency: str) -> dict[str, Any]:
    return {"amount": str(Decimal(cents) / 100), "currencyCode": currency}


def _user_errors(result: dict[str, Any], what: str) -> None:
    errors = result.get("userErrors") or []
    if errors:
        said = "; ".join(str(e.get("message")) for e in errors)
        raise BillingRejected(f"Shopify refused {what}: {said}")


def subscription_name(plan: Plan) -> str:
    """The name merchants see on Shopify's confirmation page and in their bill."""
    return f"Taskra {plan.title}"


class ShopifyBilling(BillingProvider):
    """Subscriptions and usage charges through the Admin GraphQL Billing API."""

    name = NAME

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def _graphql(
        self, taskra: Taskra, store: Store, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        # Imported here: the token code pulls in the web stack, which start-up need not load.
        from taskra_shopify.tokens import admin_graphql

        return await admin_graphql(taskra, store, query, variables)

    async def _test_charges(self, taskra: Taskra, store: Store) -> bool:
        if self.settings.shopify_billing_test is not None:
            return self.settings.shopify_billing_test
        if self.settings.environment != "production":
            return True
        data = await self._graphql(taskra, store, SHOP_PLAN)
        return bool(((data.get("shop") or {}).get("plan") or {}).get("partnerDevelopment"))

    def return_url(self, store: Store, fallback: str) -> str:
        """Where Shopify sends the merchant after the confirmation page: the app's usage
        page inside Shopify admin (so it opens embedded, with an ID token)."""
        if not self.settings.shopify_api_key:
            return fallback
        handle = store.domain.removesuffix(".myshopify.com")
        return (
            f"https://admin.shopify.com/store/{handle}/apps/{self.settings.shopify_api_key}"
            "/usage?billing=shopify"
        )

    async def start_subscription(
        self,
        taskra: Taskra,
        store: Store,
        plan: Plan,
        return_url: str,
        current: BillingSubscription | None,
    ) -> Checkout:
        line_items: list[dict[str, Any]] = []
        if plan.price_cents:
            recurring = {"price": _money(plan.price_cents, plan.currency)}
            line_items.append(
                {"plan": {"appRecurringPricingDetails": {**recurring, "interval": "EVERY_30_DAYS"}}}
            )
        if plan.overage_cents:
            terms = (
                f"{_money(plan.overage_cents, plan.currency)['amount']} {plan.currency} per AI "
                f"reply beyond the {plan.included_replies} included each month"
            )
            usage = {"cappedAmount": _money(plan.overage_cap_cents, plan.currency), "terms": terms}
            line_items.append({"plan": {"appUsagePricingDetails": usage}})
        variables = {
            "name": subscription_name(plan),
            "returnUrl": self.return_url(store, return_url),
            "test": await self._test_charges(taskra, store),
            # One trial per store: a plan change starts none.
            "trialDays": plan.trial_days if current is None else 0,
            "replacementBehavior": "APPLY_IMMEDIATELY",
            "lineItems": line_items,
        }
        data = await self._graphql(taskra, store, CREATE, variables)
        result = data.get("appSubscriptionCreate") or {}
        _user_errors(result, "the subscription")
        subscription = result.get("appSubscription") or {}
        usage_item = next(
            (
                item["id"]
                for item in subscription.get("lineItems") or []
                if item["plan"]["pricingDetails"]["__typename"] == "AppUsagePricing"
            ),
            None,
        )
        return Checkout(
            url=str(result["confirmationUrl"]),
            external_id=str(subscription["id"]),
            data={"usage_line_item": usage_item, "test": variables["test"]},
        )

    async def cancel(self, taskra: Taskra, store: Store, current: BillingSubscription) -> None:
        data = await self._graphql(taskra, store, CANCEL, {"id": current.external_id})
        _user_errors(data.get("appSubscriptionCancel") or {}, "the cancellation")

    async def report_usage(
        self, taskra: Taskra, store: Store, current: BillingSubscription, report: UsageReport
    ) -> None:
        plan = report.plan
        if report.ordinal <= plan.included_replies or not plan.overage_cents:
            return  # included in the plan's price
        line_item = (current.data or {}).get("usage_line_item")
        if not line_item:
            log.warning("no usage line item to charge", extra={"store_id": store.id})
            return
        variables = {
            "subscriptionLineItemId": line_item,
            "price": _money(plan.overage_cents, plan.currency),
            "description": f"AI reply {report.ordinal} of {report.period}",
            "idempotencyKey": report.identifier,
        }
        data = await self._graphql(taskra, store, USAGE, variables)
        result = data.get("appUsageRecordCreate") or {}
        if result.get("userErrors"):
            # The cap is reached (drafting stops there too) or the subscription ended; a
            # retry cannot change that, so the report ends here, logged.
            log.warning(
                "shopify usage charge refused",
                extra={"store_id": store.id, "errors": str(result["userErrors"])[:300]},
            )
            return
        record_id = str((result.get("appUsageRecord") or {}).get("id"))
        async with taskra.db.transaction() as session:
            await taskra.billing.record(
                session,
                store_id=store.id,
                provider=NAME,
                kind="usage_charge",
                external_id=record_id,
                amount_cents=plan.overage_cents,
                currency=plan.currency,
                status="pending",  # billed by Shopify with the next app invoice
                occurred_at=taskra.clock.now(),
                data={"draft_id": report.draft_id, "period": report.period},
            )

    async def refresh(self, taskra: Taskra, store: Store) -> None:
        """Apply the store's active subscriptions as Shopify reports them now (after the
        merchant returns from the confirmation page, before the webhook may arrive)."""
        data = await self._graphql(taskra, store, ACTIVE)
        active = ((data.get("currentAppInstallation") or {}).get("activeSubscriptions")) or []
        now = taskra.clock.now()
        async with taskra.db.transaction() as session:
            for subscription in active:
                assert store.id is not None
                await taskra.billing.apply_subscription(
                    session,
                    store.id,
                    NAME,
                    str(subscription["id"]),
                    status=str(subscription["status"]).lower(),
                    event_at=now,
                    plan=_plan_named(taskra, str(subscription.get("name"))),
                )


def _plan_named(taskra: Taskra, name: str) -> str | None:
    for plan in taskra.billing.plans.all():
        if subscription_name(plan) == name:
            return plan.name
    return None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


async def subscription_updated(ctx: JobContext, delivery: WebhookDelivery) -> None:
    """``app_subscriptions/update``: apply the subscription's new status (approved, declined,
    cancelled, frozen ...); a delivery older than one already applied changes nothing."""
    subscription = delivery.payload.get("app_subscription") or {}
    gid, status = subscription.get("admin_graphql_api_id"), subscription.get("status")
    if delivery.store_id is None or not gid or not status:
        return
    taskra = ctx.taskra
    at = _time(subscription.get("updated_at")) or delivery.triggered_at or taskra.clock.now()
    applied = await taskra.billing.apply_subscription(
        ctx.session,
        delivery.store_id,
        NAME,
        str(gid),
        status=str(status).lower(),
        event_at=at,
        plan=_plan_named(taskra, str(subscription.get("name"))),
    )
    if applied and str(status).upper() == "ACTIVE":
        plan = taskra.billing.plans.of_store(_plan_named(taskra, str(subscription.get("name"))))
        await taskra.billing.record(
            ctx.session,
            store_id=delivery.store_id,
            provider=NAME,
            kind="subscription",
            external_id=str(gid),
            amount_cents=plan.price_cents,
            currency=str(subscription.get("currency") or plan.currency),
            status="active",
            occurred_at=at,
            data={"plan": plan.name, "capped_amount": subscription.get("capped_amount")},
        )


def register_topics(register: Callable[..., None]) -> None:
    register(TOPIC, subscription_updated)
