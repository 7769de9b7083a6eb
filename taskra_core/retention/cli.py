"""``taskra retention``: list the policies, run them now (or see what they would delete)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from taskra_core.cli_support import (
    CliState,
    echo_json,
    json_option,
    pass_state,
    run_async,
    started_taskra,
)
from taskra_core.retention.service import RetentionReport


def _days(period_days: float) -> str:
    return f"{period_days:g} d"


@click.group()
def retention() -> None:
    """Delete data Taskra no longer needs (see docs/retention.md)."""


@retention.command("policies")
@json_option
@pass_state
def retention_policies(state: CliState, as_json: bool) -> None:
    """List the retention policies, in the order they run, with their periods."""

    async def go() -> list[dict[str, object]]:
        async with started_taskra(state) as taskra:
            return [
                {
                    "name": policy.name,
                    "period_days": policy.period_for(taskra.settings).days,
                    "description": policy.description,
                }
                for policy in taskra.retention.policies
            ]

    rows = run_async(go)
    if as_json:
        echo_json(rows)
        return
    width = max((len(str(row["name"])) for row in rows), default=4)
    for row in rows:
        click.echo(f"{row['name']!s:<{width}}  {row['period_days']:>5} d  {row['description']}")


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option(
    "--policy", "only", multiple=True, help="Run only this policy (repeatable); default all."
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), help="Rows per transaction.")
@json_option
@pass_state
def retention_run(
    state: CliState, dry_run: bool, only: Sequence[str], batch_size: int | None, as_json: bool
) -> None:
    """Run the retention policies now and report rows deleted per policy and table.

    Deletes in short batches, so the inbox keeps working meanwhile. Exits with status 1
    if a policy failed (the others still ran).
    """

    def progress(name: str, deleted: int) -> None:
        if not as_json:
            click.echo(f"\r{name}: {deleted:,} rows deleted", nl=False, err=True)

    async def go() -> RetentionReport:
        async with started_taskra(state) as taskra:
            return await taskra.retention.run(
                dry_run=dry_run, only=only, batch_size=batch_size, on_progress=progress
            )

    report = run_async(go)
    if as_json:
        echo_json(report.as_dict())
    else:
        _print_table(report)
    if not report.ok:
        sys.exit(1)


def _print_table(report: RetentionReport) -> None:
    click.echo("\r", nl=False, err=True)
    verb = "would delete" if report.dry_run else "deleted"
    header = ("policy", "kept for", "older than", verb, "seconds", "details")
    rows = [
        (
            result.name,
            _days(result.as_dict()["period_days"]),
            result.cutoff.strftime("%Y-%m-%d %H:%M"),
            f"{result.total:,}",
            f"{result.seconds:.2f}",
            f"FAILED: {result.error}"
            if result.error
            else " ".join(f"{table}={n:,}" for table, n in sorted(result.counts.items())),
        )
        for result in report.results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [
            cell.ljust(w) if i != 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    done = "would be deleted (dry run)" if report.dry_run else "deleted"
    total = f"{report.total:,} rows {done}"
    click.echo(total)
