"""``taskra inbox``: feed messages in exactly as a channel would, list and search the inbox."""

from __future__ import annotations

from typing import Any

import click

from taskra_core.app import Taskra
from taskra_core.cli_support import (
    CliState,
    echo_json,
    json_option,
    pass_state,
    run_async,
    shop_option,
    started_taskra,
)
from taskra_core.inbox.listing import ConversationFilter
from taskra_core.inbox.messages import InboundMessage
from taskra_core.stores import get_store


async def _store_id(taskra: Taskra, shop: str) -> int:
    async with taskra.db.session() as session:
        store = await get_store(session, shop)
    assert store.id is not None
    return store.id


@click.group()
def inbox() -> None:
    """Add messages to a store's inbox, list conversations, search."""


@inbox.command("add")
@shop_option
@click.option("--from", "from_email", required=True, help="The customer's email address.")
@click.option("--name", help="The customer's name.")
@click.option("--channel", type=click.Choice(["email", "chat"]), default="email", show_default=True)
@click.option("--subject", default="", help="Subject line (email).")
@json_option
@click.argument("message")
@pass_state
def inbox_add(
    state: CliState,
    shop: str,
    from_email: str,
    name: str | None,
    channel: str,
    subject: str,
    as_json: bool,
    message: str,
) -> None:
    """Receive MESSAGE as if the channel had delivered it (same path, same hooks)."""

    async def go() -> dict[str, Any]:
        async with started_taskra(state) as taskra:
            store_id = await _store_id(taskra, shop)
            received = await taskra.inbox.receive(
                store_id,
                InboundMessage(
                    channel=channel,
                    from_email=from_email,
                    from_name=name,
                    subject=subject,
                    text=message,
                ),
            )
            return {
                "conversation_id": received.conversation.id,
                "message_id": received.message.id,
                "created": received.created,
            }

    result = run_async(go)
    if as_json:
        echo_json(result)
    else:
        click.echo(f"Message {result['message_id']} in conversation {result['conversation_id']}.")


@inbox.command("list")
@shop_option
@click.option("--status", type=click.Choice(["open", "pending", "snoozed", "closed"]))
@click.option("--limit", default=20, show_default=True)
@json_option
@pass_state
def inbox_list(state: CliState, shop: str, status: str | None, limit: int, as_json: bool) -> None:
    """Conversations with the newest activity first."""

    async def go() -> list[dict[str, Any]]:
        async with started_taskra(state) as taskra:
            store_id = await _store_id(taskra, shop)
            page = await taskra.inbox.list_conversations(
                store_id, ConversationFilter(status=status), limit=limit
            )
            return [
                {
                    "id": c.id,
                    "status": c.status,
                    "channel": c.channel,
                    "subject": c.subject,
                    "last_message_at": c.last_message_at,
                }
                for c in page.items
            ]

    rows = run_async(go)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:>8}  {row['status']:<7}  {row['channel']:<5}  {row['subject']}")


@inbox.command("search")
@shop_option
@json_option
@click.argument("query")
@pass_state
def inbox_search(state: CliState, shop: str, as_json: bool, query: str) -> None:
    """Messages and customers containing every word of QUERY."""

    async def go() -> dict[str, Any]:
        async with started_taskra(state) as taskra:
            store_id = await _store_id(taskra, shop)
            results = await taskra.inbox.search(store_id, query)
            return {
                "messages": [
                    {"id": m.id, "conversation_id": m.conversation_id, "text": m.text[:200]}
                    for m in results.messages
                ],
                "customers": [
                    {"id": c.id, "name": c.name, "email": c.email} for c in results.customers
                ],
            }

    result = run_async(go)
    if as_json:
        echo_json(result)
        return
    for m in result["messages"]:
        click.echo(f"conversation {m['conversation_id']}: {m['text']}")
    for c in result["customers"]:
        click.echo(f"customer {c['id']}: {c['name'] or ''} <{c['email']}>")
