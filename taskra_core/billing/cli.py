"""``taskra billing``: a store's plan, its usage against the allowance and the forecast."""

from __future__ import annotations

from typing import Any

import click

from taskra_core.cli_support import (
    CliState,
    echo_json,
    json_option,
    pass_state,
    run_async,
    shop_option,
    started_taskra,
)


@click.group("billing")
def billing() -> None:
    """Plans, usage against the allowance with a forecast, and invoices per store."""


@billing.command("show")
@shop_option
@json_option
@pass_state
def show(state: CliState, shop: str, as_json: bool) -> None:
    """The store's plan, this month's AI replies against the allowance, the forecast for
    the month and what it will cost."""

    async def go() -> dict[str, Any]:
        async with started_taskra(state) as taskra:
            return await taskra.billing.state(shop)

    result = run_async(go)
    if as_json:
        echo_json(result)
        return
    plan, usage = result["plan"], result["allowance"]
    subscription = result["subscription"]
    paid_by = f" via {subscription['provider']} ({subscription['status']})" if subscription else ""
    click.echo(f"plan: {plan['title']}{paid_by}")
    click.echo(
        f"{usage['period']}: {usage['ai_replies']} of {usage['included_replies']} AI replies "
        f"({usage['used_percent']}%), forecast {usage['forecast_replies']} replies, "
        f"{usage['forecast_charge_cents'] / 100:.2f} {usage['currency']}"
    )
    if usage["exhausted"]:
        click.echo(f"drafting stopped: {usage['reason']}")


@billing.command("plans")
@json_option
@pass_state
def plans(state: CliState, as_json: bool) -> None:
    """The plans on offer (built in, and those in TASKRA_BILLING_PLANS)."""
    from taskra_core.billing.plans import Plans

    offered = [plan.as_dict() for plan in Plans(state.settings).all()]
    if as_json:
        echo_json(offered)
        return
    for plan in offered:
        overage = (
            f", then {plan['overage_cents'] / 100:.2f} each up to {plan['reply_limit']}"
            if plan["overage_cents"]
            else ""
        )
        click.echo(
            f"{plan['name']:10} {plan['price_cents'] / 100:8.2f} {plan['currency']}  "
            f"{plan['included_replies']} AI replies{overage}"
        )
