"""``taskra store sync``: sync an installed store from Shopify, in this process.

Added to the core's ``store`` group by the shell plugin (:func:`with_sync` builds a copy of
the group with the command added, so the core's group object is never changed).
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
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
from taskra_core.stores import normalize_domain
from taskra_shopify.sync import SyncReport, installed_store, sync_store
from taskra_shopify.sync_jobs import schedule_policies

PHASES = {
    "shop": "Shop and policies",
    "catalog": "Products",
    "bulk": "Bulk operation",
    "download": "Downloading",
    "writing": "Writing",
    "done": "Done",
}


@click.command("sync")
@shop_option
@click.option("--policies-only", is_flag=True, help="Only the shop profile and its policies.")
@json_option
@pass_state
def store_sync(state: CliState, shop: str, policies_only: bool, as_json: bool) -> None:
    """Sync the installed store SHOP from Shopify: shop profile, policies and catalog.

    Runs here, with a progress bar, and waits for a bulk operation if the catalog is large.
    Safe to repeat: unchanged products and policies are not rewritten, and products
    deleted in Shopify are removed. The store must be installed (opened once in Shopify
    admin) so that Taskra holds its access token.
    """
    domain = run_async(lambda: _normalized(shop))

    async def go() -> SyncReport:
        with ExitStack() as stack:
            bar: Any = None
            phase = ""

            def progress(name: str, done: int, total: int | None) -> None:
                nonlocal bar, phase
                if name != phase or bar is None:
                    if bar is not None:
                        bar.render_finish()
                    phase = name
                    bar = stack.enter_context(
                        click.progressbar(
                            length=total or 0,
                            label=PHASES.get(name, name),
                            file=sys.stderr,
                            hidden=as_json,
                        )
                    )
                if total:
                    bar.length = total
                bar.update(done - bar.pos)

            async with started_taskra(state) as taskra:
                store = await installed_store(taskra, shop=domain)
                async with taskra.db.transaction() as session:
                    report = await sync_store(
                        taskra, store, session, progress=progress, policies_only=policies_only
                    )
                    await schedule_policies(taskra, session, store)
                return report

    report = run_async(go)
    if as_json:
        echo_json(report.as_dict())
        return
    click.echo(
        f"Synced {report.shop} ({report.method}): {report.products} products "
        f"({report.added} added, {report.updated} updated, {report.removed} removed), "
        f"{report.policies} policies."
    )


async def _normalized(shop: str) -> str:
    return normalize_domain(shop)  # InvalidInput: a clear error before anything starts


def with_sync(group: click.Command | None) -> click.Group:
    """The ``store`` group with ``sync`` added (a new group if the core has none)."""
    if isinstance(group, click.Group):
        commands = {**group.commands, "sync": store_sync}
        return click.Group("store", commands=commands, help=group.help)
    return click.Group("store", commands={"sync": store_sync}, help="Sync stores from Shopify.")
