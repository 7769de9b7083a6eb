"""``taskra email``: a store's inbound address, and feeding raw email files in.

``taskra email receive`` takes ``.eml`` files (or ``-`` for standard input) through exactly
the path the HTTP endpoints use, so a developer can replay a real message, and an operator
can re-import mail a forwarder could not deliver.
"""

from __future__ import annotations

import sys
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
from taskra_core.stores import get_store

from .addresses import inbound_address
from .receive import receive_email


@click.group("email")
def email_group() -> None:
    """The email channel: inbound addresses and raw email."""


@email_group.command("address")
@shop_option
@pass_state
def email_address(state: CliState, shop: str) -> None:
    """Print the address that receives SHOP's customer email (forward your support address)."""
    address = inbound_address(shop.strip().lower(), state.settings.email_inbound_domain)
    if address is None:
        raise click.ClickException(
            "Inbound email is not set up: set TASKRA_EMAIL_INBOUND_DOMAIN to a domain that "
            "receives mail (and the shop must be a *.myshopify.com domain)."
        )
    click.echo(address)


@email_group.command("receive")
@click.option(
    "--shop",
    help="Store the email in this store's inbox; without it, the email's recipients decide.",
)
@json_option
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
@pass_state
def email_receive(state: CliState, shop: str | None, as_json: bool, files: Any) -> None:
    """Receive raw RFC 5322 email FILES (``-`` for standard input) as the channel would."""

    async def go() -> list[dict[str, Any]]:
        results = []
        async with started_taskra(state) as taskra:
            store_id = None
            if shop:
                async with taskra.db.session() as session:
                    store_id = (await get_store(session, shop)).id
            for file in files:
                received = await receive_email(taskra, file.read(), store_id=store_id, source="cli")
                results.append(
                    {
                        "file": getattr(file, "name", "-"),
                        "conversation_id": received.conversation.id,
                        "message_id": received.message.id,
                        "created": received.created,
                        "automated": (received.message.meta or {}).get("automated"),
                    }
                )
        return results

    results = run_async(go)
    if as_json:
        echo_json(results)
        return
    for r in results:
        what = "stored" if r["created"] else "already stored"
        note = f" (sent by a machine: {r['automated']}; not answered)" if r["automated"] else ""
        click.echo(
            f"{r['file']}: message {r['message_id']} {what} in conversation "
            f"{r['conversation_id']}{note}.",
            file=sys.stdout,
        )
