"""``taskra store``: bring a store's data in from a folder (docs/store-format.md)."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
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
from taskra_core.knowledge.importer import ImportReport, import_store


@click.group()
def store() -> None:
    """Create and update stores from store folders."""


@store.command("import")
@click.argument(
    "folder", type=click.Path(exists=True, file_okay=False, resolve_path=True, path_type=Path)
)
@json_option
@pass_state
def store_import(state: CliState, folder: Path, as_json: bool) -> None:
    """Import the store folder FOLDER: shop, products, policies, FAQs, customers and orders.

    Creates the store if needed. Safe to repeat: unchanged records are not rewritten, and
    products, policies, FAQs and orders no longer in the folder are removed. Nothing is
    written if any file is malformed. See docs/store-format.md.
    """

    async def go() -> ImportReport:
        with ExitStack() as stack:
            bar: Any = None

            def advance(done: int, total: int) -> None:
                nonlocal bar
                if bar is None:
                    # Created on the first report: only then is the total known.
                    bar = stack.enter_context(
                        click.progressbar(
                            length=total, label="Importing", file=sys.stderr, hidden=as_json
                        )
                    )
                bar.update(done - bar.pos)

            async with started_taskra(state) as taskra:
                return await import_store(taskra, folder, on_progress=advance)

    report = run_async(go)
    if as_json:
        echo_json(report.as_dict())
        return
    items = report.items_added + report.items_updated + report.items_unchanged
    click.echo(
        f"{'Created' if report.store_created else 'Updated'} {report.domain}: {items} items "
        f"({report.items_added} added, {report.items_updated} updated, "
        f"{report.items_unchanged} unchanged, {report.items_removed} removed), "
        f"{report.passages} passages, {report.orders} orders, {report.customers} customers."
    )
