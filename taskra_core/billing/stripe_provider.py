"""Stripe, for merchants outside the Shopify App Store: Checkout, the Customer Portal, and
AI replies reported as billing meter events.

Talks to Stripe only through the official SDK, with a ``StripeClient`` of its own (no module
globals), pointed at ``STRIPE_API_URL`` so a local fake can stand in. A plan needs Stripe
price ids (``stripe_price`` for the monthly fee, ``stripe_metered_price`` for replies, a
price on the meter named by ``TASKRA_STRIPE_METER_EVENT``, whose tiers hold the included
allowance). Subscription state comes back through the signed webhook
(:mod:`taskra_core.billing.stripe_events`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import stripe

from taskra_core.billing.providers import BillingProvider, Checkout, UsageReport
from taskra_core.errors import BillingError, BillingRejected, BillingUnavailable, ConfigurationError

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.billing.plans import Plan
    from taskra_core.models import BillingSubscription, Store
    from taskra_core.settings import Settings

log = logging.getLogger(__name__)

NAME = "stripe"


def stripe_error(exc: stripe.StripeError) -> BillingError:
    """Taskra's error for what Stripe answered."""
    status = getattr(exc, "http_status", None) or 0
    said = f"Stripe answered {status or 'nothing'}: {exc.user_message or exc}"
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or status >= 500:
        return BillingUnavailable(f"{said}; retrying later.")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return BillingRejected(f"{said}. Check STRIPE_API_KEY.")
    return BillingRejected(said)


class _HTTPXClient(stripe.HTTPXClient):
    """The SDK's httpx adapter, passing the encoded form as ``content=``.

    stripe 16 hands the already-encoded body to httpx as ``data=``, which httpx 0.28
    deprecates for raw bytes (a DeprecationWarning on every request); the bytes sent are
    the same either way.
    """

    def _get_request_args_kwargs(self, method: str, url: str, headers: Any, post_data: Any) -> Any:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data", None)
        if isinstance(data, bytes | str):
            kwargs["content"] = data
        elif data:
            kwargs["data"] = data
        return args, kwargs


class StripeProvider(BillingProvider):
    """Subscriptions through Stripe Checkout; usage through meter events."""

    name = NAME

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: stripe.StripeClient | None = None
        self._http: _HTTPXClient | None = None

    @property
    def configured(self) -> bool:
        return self.settings.stripe_api_key is not None

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            if self.settings.stripe_api_key is None:
                raise ConfigurationError(
                    "STRIPE_API_KEY must be set to bill stores through Stripe."
                )
            url = self.settings.stripe_api_url
            self._http = _HTTPXClient()
            self._client = stripe.StripeClient(
                self.settings.stripe_api_key.get_secret_value(),
                base_addresses={"api": url, "meter_events": url},
                # The job that made the call retries with backoff; quick retries here would
                # only hold a worker slot.
                max_network_retries=0,
                http_client=self._http,
            )
        return self._client

    async def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await call(*args, **kwargs)
        except stripe.StripeError as exc:
            log.warning("stripe call failed", extra={"call": what, "error": type(exc).__name__})
            raise stripe_error(exc) from None

    async def _customer(self, store: Store, current: BillingSubscription | None) -> str:
        if current is not None and current.customer_id:
            return current.customer_id
        customer = await self._call(
            "customers.create",
            self.client.v1.customers.create_async,
            params={
                "email": store.email or "",
                "name": store.name or store.domain,
                "metadata": {"store_id": str(store.id), "shop": store.domain},
            },
            # One Stripe customer per store, however often checkout is opened.
            options={"idempotency_key": f"taskra-customer-{store.id}"},
        )
        return str(customer.id)

    async def start_subscription(
        self,
        taskra: Taskra,
        store: Store,
        plan: Plan,
        return_url: str,
        current: BillingSubscription | None,
    ) -> Checkout:
        if not plan.stripe_price:
            raise BillingRejected(
                f"The {plan.title} plan has no Stripe price; set stripe_price (and "
                "stripe_metered_price) for it in TASKRA_BILLING_PLANS."
            )
        metadata = {"store_id": str(store.id), "plan": plan.name}
        if current is not None:
            return await self._change_plan(store, plan, current, metadata, return_url)
        from taskra_core.billing.service import store_subscriptions

        async with taskra.db.session() as session:
            assert store.id is not None
            known = [s for s in await store_subscriptions(session, store.id, NAME) if s.customer_id]
        customer = await self._customer(store, known[0] if known else None)
        items: list[dict[str, Any]] = [{"price": plan.stripe_price, "quantity": 1}]
        if plan.stripe_metered_price:
            items.append({"price": plan.stripe_metered_price})  # metered: no quantity
        subscription_data: dict[str, Any] = {"metadata": metadata}
        if plan.trial_days and not known:  # one trial per store
            subscription_data["trial_period_days"] = plan.trial_days
        session_ = await self._call(
            "checkout.sessions.create",
            self.client.v1.checkout.sessions.create_async,
            params={
                "mode": "subscription",
                "customer": customer,
                "client_reference_id": str(store.id),
                "line_items": items,
                "success_url": _with_query(return_url, "checkout=done"),
                "cancel_url": _with_query(return_url, "checkout=cancelled"),
                "metadata": metadata,
                "subscription_data": subscription_data,
            },
        )
        return Checkout(url=str(session_.url), external_id=None)

    async def _change_plan(
        self,
        store: Store,
        plan: Plan,
        current: BillingSubscription,
        metadata: dict[str, str],
        return_url: str,
    ) -> Checkout:
        """Swap the prices of the live subscription (prorated); its ``updated`` event then
        sets the plan. No checkout: the customer's payment method is on file."""
        subscription = await self._call(
            "subscriptions.retrieve",
            self.client.v1.subscriptions.retrieve_async,
            current.external_id,
        )
        items: list[dict[str, Any]] = []
        for item in subscription["items"]["data"]:
            metered = item["price"]["recurring"]["usage_type"] == "metered"
            price = plan.stripe_metered_price if metered else plan.stripe_price
            if price:
                items.append({"id": item["id"], "price": price})
            else:
                items.append({"id": item["id"], "deleted": True})
        await self._call(
            "subscriptions.update",
            self.client.v1.subscriptions.update_async,
            current.external_id,
            params={
                "items": items,
                "metadata": metadata,
                "proration_behavior": "create_prorations",
            },
        )
        return Checkout(url=_with_query(return_url, "plan=changed"), external_id=None)

    async def cancel(self, taskra: Taskra, store: Store, current: BillingSubscription) -> None:
        await self._call(
            "subscriptions.cancel",
            self.client.v1.subscriptions.cancel_async,
            current.external_id,
        )

    async def manage_url(
        self, taskra: Taskra, store: Store, current: BillingSubscription, return_url: str
    ) -> str | None:
        if not current.customer_id:
            return None
        portal = await self._call(
            "billing_portal.sessions.create",
            self.client.v1.billing_portal.sessions.create_async,
            params={"customer": current.customer_id, "return_url": return_url},
        )
        return str(portal.url)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close_async()  # type: ignore[no-untyped-call]
        self._client = self._http = None

    async def report_usage(
        self, taskra: Taskra, store: Store, current: BillingSubscription, report: UsageReport
    ) -> None:
        if not current.customer_id:
            raise BillingUnavailable(
                "The Stripe customer of this subscription is not known yet; retrying once "
                "Stripe's checkout event has arrived."
            )
        try:
            await self.client.v1.billing.meter_events.create_async(
                params={
                    "event_name": self.settings.stripe_meter_event,
                    "payload": {"stripe_customer_id": current.customer_id, "value": "1"},
                    # Stripe keeps one event per identifier: a retried report is not billed
                    # twice. No Idempotency-Key: Stripe would replay a first 500 to every
                    # retry with it for a day, while the identifier alone de-duplicates.
                    "identifier": report.identifier,
                },
            )
        except stripe.InvalidRequestError as exc:
            if _already_reported(exc):
                return  # an earlier attempt got through; its answer was lost
            raise stripe_error(exc) from None
        except stripe.StripeError as exc:
            log.warning("stripe meter event failed", extra={"error": type(exc).__name__})
            raise stripe_error(exc) from None


def _already_reported(exc: stripe.InvalidRequestError) -> bool:
    """Whether Stripe refused a meter event because its identifier was used already."""
    return exc.code == "resource_already_exists" or "already exists" in str(exc.user_message)


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"
