"""``taskra ai``: a store's drafting settings and the evidence to change them."""

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
from taskra_core.drafting.policy import AUTONOMY_MODES
from taskra_core.drafting.types import INTENTS


@click.group("ai")
def ai() -> None:
    """AI drafting per store: autonomy, monthly budget, acceptance of drafts."""


@ai.command("show")
@shop_option
@json_option
@pass_state
def show(state: CliState, shop: str, as_json: bool) -> None:
    """Autonomy per intent, this month's spend against the budget, and how often drafts were
    sent unedited (the evidence for raising autonomy)."""

    async def go() -> dict[str, Any]:
        async with started_taskra(state) as taskra:
            return await taskra.drafting.ai_state(shop)

    result = run_async(go)
    if as_json:
        echo_json(result)
        return
    b = result["budget"]
    click.echo(
        f"budget {b['period']}: ${b['spent_usd']:.4f} of ${b['budget_usd']:.2f}"
        + ("  (used up: drafting stopped)" if b["exhausted"] else "")
    )
    rows = {a["intent"]: a for a in result["acceptance"]}
    click.echo(
        f"{'intent':20}{'autonomy':12}{'drafts':>8}{'unedited':>10}{'edited':>8}"
        f"{'discarded':>11}{'acceptance':>12}"
    )
    for intent, mode in result["autonomy"]["intents"].items():
        a = rows.get(intent, {})
        rate = a.get("acceptance_rate")
        click.echo(
            f"{intent:20}{mode:12}{a.get('drafts', 0):>8}{a.get('unedited', 0):>10}"
            f"{a.get('edited', 0):>8}{a.get('discarded', 0):>11}"
            f"{'-' if rate is None else f'{rate:.0%}':>12}"
        )


@ai.command("autonomy")
@shop_option
@click.option("--intent", type=click.Choice(INTENTS), help="Only this intent (default: all).")
@click.argument("mode", type=click.Choice(AUTONOMY_MODES))
@pass_state
def autonomy(state: CliState, shop: str, intent: str | None, mode: str) -> None:
    """Set autonomy to MODE: off (no AI drafts), draft (a person approves) or auto_send
    (sent unreviewed when no guardrail fired and nothing awaits approval)."""

    async def go() -> None:
        async with started_taskra(state) as taskra:
            await taskra.drafting.set_autonomy(shop, mode, intent)

    run_async(go)
    click.echo(f"Autonomy for {intent or 'all intents'}: {mode}.")


@ai.command("budget")
@shop_option
@click.argument("usd", type=float)
@pass_state
def budget(state: CliState, shop: str, usd: float) -> None:
    """Set the store's monthly AI budget to USD (a hard cap; 0 stops AI drafting)."""

    async def go() -> None:
        async with started_taskra(state) as taskra:
            await taskra.drafting.set_budget(shop, usd)

    run_async(go)
    click.echo(f"Monthly AI budget: ${usd:.2f}.")
