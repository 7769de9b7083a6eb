"""``taskra privacy``: the data-subject rights from the command line, one store at a time.

Every command records itself in the store's privacy-request ledger (source ``cli``), exactly
as the API and the admin page do.
"""

from __future__ import annotations

import json
from typing import Any

import click

from taskra_core.cli_support import (
    CliState,
    echo_json,
    json_option,
    pass_state,
    run_async,
    started_taskra,
)

SOURCE = "cli"

shop_option = click.option(
    "--shop",
    "--store",
    "shop",
    required=True,
    help="The store's domain, e.g. fellandford.myshopify.com.",
)
email_option = click.option("--email", required=True, help="The customer's email address.")


@click.group()
def privacy() -> None:
    """Export, erase, correct a customer's data; record objections; list requests."""


@privacy.command("export")
@shop_option
@email_option
@pass_state
def export(state: CliState, shop: str, email: str) -> None:
    """Print everything held on the customer as JSON (schema taskra.subject-data)."""

    async def go() -> dict[str, Any]:
        async with started_taskra(state) as taskra:
            return (await taskra.privacy.export(shop, email, source=SOURCE)).document

    click.echo(json.dumps(run_async(go), indent=2, ensure_ascii=False))


@privacy.command("erase")
@shop_option
@email_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_state
def erase(state: CliState, shop: str, email: str, yes: bool, as_json: bool) -> None:
    """Erase the customer everywhere (cannot be undone); the ledger keeps an anonymous row."""
    if not yes:
        click.confirm(f"Erase every trace of this customer from {shop}?", abort=True)

    async def go() -> dict[str, Any]:
        async with started_taskra(state) as taskra:
            return await taskra.privacy.erase(shop, email, source=SOURCE)

    outcome = run_async(go)
    if as_json:
        echo_json(outcome)
    elif outcome["outcome"] == "nothing_held":
        click.echo("Nothing was held on that customer; the request is recorded.")
    else:
        click.echo(
            f"Erased: {outcome.get('conversations', 0)} conversations, "
            f"{outcome.get('messages', 0)} messages (request {outcome['request_id']})."
        )


@privacy.command("rectify")
@shop_option
@email_option
@click.option("--new-email", help="The corrected email address.")
@click.option("--new-name", help="The corrected name.")
@json_option
@pass_state
def rectify(
    state: CliState,
    shop: str,
    email: str,
    new_email: str | None,
    new_name: str | None,
    as_json: bool,
) -> None:
    """Correct the customer's email and/or name everywhere Taskra keeps them."""

    async def go() -> dict[str, Any]:
        async with started_taskra(state) as taskra:
            customer = await taskra.privacy.rectify(
                shop, email, new_email=new_email, new_name=new_name, source=SOURCE
            )
            return {"email": customer.email, "name": customer.name}

    result = run_async(go)
    if as_json:
        echo_json(result)
    else:
        click.echo("Corrected.")


@privacy.command("object")
@shop_option
@email_option
@click.option("--withdraw", is_flag=True, help="Withdraw an earlier objection.")
@pass_state
def object_(state: CliState, shop: str, email: str, withdraw: bool) -> None:
    """Record the customer's objection: their messages never go to the AI provider."""

    async def go() -> bool:
        async with started_taskra(state) as taskra:
            customer = await taskra.privacy.set_objection(
                shop, email, objected=not withdraw, source=SOURCE
            )
            return customer.ai_processing_objected

    objected = run_async(go)
    click.echo(
        "Recorded: drafts for this customer are left to a person."
        if objected
        else "Withdrawn: AI drafting is back on for this customer."
    )


@privacy.command("requests")
@shop_option
@json_option
@pass_state
def requests(state: CliState, shop: str, as_json: bool) -> None:
    """List the store's privacy requests (open first) and flag overdue ones."""

    async def go() -> list[dict[str, Any]]:
        async with started_taskra(state) as taskra:
            return await taskra.privacy.requests(shop)

    rows = run_async(go)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        status = r["outcome"] or ("OVERDUE" if r["overdue"] else "open")
        click.echo(
            f"{r['id']:>6}  {r['kind']:<13} {status:<12} due {r['due_at'][:10]}  {r['source']}"
        )
