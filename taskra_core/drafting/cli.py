"""``taskra draft``: draft a reply to a message, the way the inbox would, without storing it."""

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


@click.command("draft")
@shop_option
@click.option("--from", "from_email", required=True, help="The customer's email address.")
@click.option("--channel", type=click.Choice(["email", "chat"]), default="email", show_default=True)
@click.option("--subject", default="", help="Subject line (email).")
@json_option
@click.argument("message")
@pass_state
def draft(
    state: CliState,
    shop: str,
    from_email: str,
    channel: str,
    subject: str,
    as_json: bool,
    message: str,
) -> None:
    """Draft a reply to MESSAGE from a customer of the store.

    Uses Claude when ANTHROPIC_API_KEY is set, otherwise the offline model. Nothing is
    stored or sent, but a paid model's usage counts towards the store's monthly budget.
    """

    async def go() -> dict[str, Any]:
        async with started_taskra(state) as taskra:
            result = await taskra.drafting.preview(
                shop, text=message, from_email=from_email, channel=channel, subject=subject
            )
            return result.as_dict()

    result = run_async(go)
    if as_json:
        echo_json(result)
        return
    click.echo(result["reply"] or "(no reply drafted)")
    click.echo("")
    click.echo(f"sources: {', '.join(result['sources']) or 'none'}")
    click.echo(
        f"intent: {result['intent']}  language: {result['language']}  "
        f"confidence: {result['confidence']}"
    )
    if result["escalate"]:
        click.echo("needs a person:")
        for reason in result["escalation_reasons"]:
            click.echo(f"  - {reason}")
    for proposal in result["proposals"]:
        click.echo(
            f"proposed action (needs approval): {proposal['action']} "
            f"{proposal.get('order') or ''} {proposal.get('details') or ''}".rstrip()
        )
    usage = result["usage"]
    click.echo(
        f"model: {result['model']}  tokens: {usage['input_tokens']} in, "
        f"{usage['cache_read_tokens']} cache read, {usage['cache_write_tokens']} cache write, "
        f"{usage['output_tokens']} out  cost: ${result['cost']:.6f}"
    )
