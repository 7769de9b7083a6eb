"""``taskra knowledge``: search a store's knowledge as drafting does, and check it for
contradictions."""

from __future__ import annotations

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
from taskra_core.knowledge.conflicts import Conflict
from taskra_core.knowledge.search import MAX_K, SearchHit
from taskra_core.knowledge.service import Knowledge


@click.group()
def knowledge() -> None:
    """Search a store's products, policies and FAQs; find contradictions between them."""


@knowledge.command("search")
@shop_option
@click.option(
    "-k",
    "k",
    type=click.IntRange(1, MAX_K),
    default=5,
    show_default=True,
    help="How many documents to return.",
)
@json_option
@click.argument("query")
@pass_state
def knowledge_search(state: CliState, shop: str, k: int, as_json: bool, query: str) -> None:
    """The documents that best answer QUERY (a customer's message), best first."""

    async def go() -> list[SearchHit]:
        async with started_taskra(state) as taskra:
            return await Knowledge(taskra).search(shop, query, k=k)

    hits = run_async(go)
    if as_json:
        echo_json([hit.as_dict() for hit in hits])
        return
    if not hits:
        click.echo("Nothing found.")
    for number, hit in enumerate(hits, start=1):
        click.echo(f"{number}. {hit.source_id}  {hit.title}  (score {hit.score:.3f})")
        click.echo(f"   {hit.snippet}")


@knowledge.command("conflicts")
@shop_option
@json_option
@pass_state
def knowledge_conflicts(state: CliState, shop: str, as_json: bool) -> None:
    """Facts (return window, delivery times, warranty...) two documents state differently."""

    async def go() -> list[Conflict]:
        async with started_taskra(state) as taskra:
            return await Knowledge(taskra).conflicts(shop)

    conflicts = run_async(go)
    if as_json:
        echo_json([conflict.as_dict() for conflict in conflicts])
        return
    if not conflicts:
        click.echo("No conflicts found.")
    for conflict in conflicts:
        click.echo(conflict.describe())
        for value in conflict.values:
            click.echo(f"  {value.source_id}: {value.value} - {value.excerpt}")
