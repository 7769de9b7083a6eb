"""Billing: the plan, plans on offer, usage with its forecast, and changing plan.

A plan change returns the provider's page where the merchant confirms: Stripe Checkout, or
Shopify's confirmation page, which the admin opens in the top frame (``window.open(url,
"_top")``: it cannot load inside Shopify admin's iframe). The plan changes when the
provider confirms, through its webhook. Agents may look; only merchants change the plan.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from taskra_core.errors import PermissionDenied
from taskra_core.notifications import set_service_updates
from taskra_core.team import app_url
from taskra_shopify.api.endpoint import Call
from taskra_shopify.api.v1 import api


class SubscribeBody(BaseModel):
    plan: str = Field(min_length=1, max_length=64, description="A plan name from GET /billing.")
    provider: Literal["shopify", "stripe"] | None = Field(
        default=None, description="Omit for the store's provider."
    )


class ServiceUpdatesBody(BaseModel):
    enabled: bool = Field(description="Receive Taskra's service updates by email.")


def _merchant_only(call: Call) -> None:
    if call.principal.role == "agent":
        raise PermissionDenied("Only the store's merchant changes the plan or billing.")


def _return_url(call: Call) -> str:
    return f"{app_url(call.taskra.settings)}/usage"


@api.get(
    "/billing",
    summary="Plan, plans on offer, subscription, usage and forecast, invoices",
    tag="billing",
)
async def billing_state(call: Call) -> dict[str, Any]:
    state = await call.taskra.billing.state(call.store_id)
    records = await call.taskra.billing.records(call.store_id)
    state["records"] = [
        {
            "provider": r.provider,
            "kind": r.kind,
            "external_id": r.external_id,
            "amount_cents": r.amount_cents,
            "currency": r.currency,
            "status": r.status,
            "occurred_at": r.occurred_at.isoformat(),
        }
        for r in records
    ]
    return state


@api.post(
    "/billing/subscribe",
    summary="Change plan: returns the page where the merchant confirms (open it in the top frame)",
    body=SubscribeBody,
    tag="billing",
)
async def subscribe(call: Call, body: SubscribeBody) -> dict[str, Any]:
    _merchant_only(call)
    return await call.taskra.billing.subscribe(
        call.store_id, body.plan, return_url=_return_url(call), provider=body.provider
    )


@api.post(
    "/billing/portal",
    summary="The provider's page for payment details and invoices (Stripe Customer Portal)",
    tag="billing",
)
async def portal(call: Call) -> dict[str, Any]:
    _merchant_only(call)
    return {"url": await call.taskra.billing.manage_url(call.store_id, _return_url(call))}


@api.put(
    "/billing/service-updates",
    summary="Opt in to or out of Taskra's service update emails",
    body=ServiceUpdatesBody,
    tag="billing",
)
async def service_updates(call: Call, body: ServiceUpdatesBody) -> dict[str, Any]:
    _merchant_only(call)
    await set_service_updates(call.taskra, call.store_id, body.enabled)
    return {"service_updates": body.enabled}
