"""The ``taskra`` command line.

``main()`` is the entry point: it reads the settings once, sets up logging, builds the plugin
manager, lets plugins add commands (the web shell adds ``serve``), then runs click. Commands
find the settings and plugin manager on the click context.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any

import click
import pluggy

from taskra_core.cli_support import CliState, echo_json, pass_state, run_async, safe_url
from taskra_core.errors import TaskraError
from taskra_core.hooks import Hooks
from taskra_core.logs import configure_logging
from taskra_core.plugins import get_plugins, make_plugin_manager
from taskra_core.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskra", prog_name="taskra")
def cli() -> None:
    """Taskra: AI customer support for Shopify stores.

    Configuration comes from environment variables (TASKRA_DATABASE_URL,
    TASKRA_SECRET_KEY, ...); see docs/settings.md. Start with `taskra db upgrade`,
    then `taskra serve`.
    """


# --- database --------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Create or upgrade the database schema."""


@db.command("upgrade")
@pass_state
def db_upgrade(state: CliState) -> None:
    """Apply all pending migrations to TASKRA_DATABASE_URL (safe to run repeatedly)."""

    async def go() -> str | None:
        taskra = state.taskra()
        try:
            await taskra.db.upgrade()
            return await taskra.db.current_revision()
        finally:
            await taskra.db.dispose()

    revision = run_async(go)
    click.echo(f"Database {safe_url(state.settings.database_url)} is at revision {revision}.")


# --- keys ------------------------------------------------------------------------------------


@cli.command()
def keygen() -> None:
    """Print a new random secret key for TASKRA_SECRET_KEY.

    Keep it secret and keep it safe: stored Shopify tokens cannot be read without it.
    To replace a key, move the old one to TASKRA_PREVIOUS_SECRET_KEYS, set the new one,
    and run `taskra keys rotate`.
    """
    from taskra_core.crypto import generate_key

    click.echo(generate_key())


@cli.group()
def keys() -> None:
    """Manage the keys that encrypt stored secrets."""


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def keys_rotate(state: CliState, as_json: bool) -> None:
    """Re-encrypt every stored secret with the current TASKRA_SECRET_KEY.

    Old keys listed in TASKRA_PREVIOUS_SECRET_KEYS are used to read; once this finishes
    they can be removed.
    """
    from taskra_core.rotation import count_stored_secrets, rotate_stored_secrets

    async def go() -> Any:
        taskra = state.taskra()
        try:
            await taskra.check_schema()
            cipher = taskra.cipher  # fails fast, before any work, if no key is configured
            total = await count_stored_secrets(taskra.db)
            with click.progressbar(length=total, label="Re-encrypting", file=sys.stderr) as bar:

                def advance(examined: int) -> None:
                    bar.update(examined - bar.pos)

                return await rotate_stored_secrets(taskra.db, cipher, on_progress=advance)
        finally:
            await taskra.db.dispose()

    report = run_async(go)
    if as_json:
        echo_json({"examined": report.examined, "rotated": report.rotated})
    else:
        click.echo(f"Examined {report.examined} secrets, re-encrypted {report.rotated}.")


# --- plugins ---------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def plugins(state: CliState, as_json: bool) -> None:
    """List loaded plugins and the hooks each implements."""
    infos = get_plugins(state.pm)
    if as_json:
        echo_json([info.as_dict() for info in infos])
        return
    for info in infos:
        version = f" {info.version}" if info.version else ""
        origin = " (built-in default)" if info.default else ""
        click.echo(f"{info.name}{version}{origin}: {', '.join(info.hooks) or '-'}")


# --- jobs ------------------------------------------------------------------------------------


@cli.command()
@click.option("--concurrency", type=int, help="Jobs run at once (TASKRA_WORKER_CONCURRENCY).")
@click.option("--burst", is_flag=True, help="Run the jobs that are due, then exit.")
@pass_state
def worker(state: CliState, concurrency: int | None, burst: bool) -> None:
    """Run background jobs (without the web app). Stops cleanly on Ctrl-C or SIGTERM."""
    from taskra_core.worker import Worker

    async def go() -> int:
        async with state.taskra() as taskra:
            runner = Worker(taskra, concurrency=concurrency)
            if burst:
                return await runner.run_until_idle()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, runner.stop)
            await runner.run()
            return 0

    ran = run_async(go)
    if burst:
        click.echo(f"Ran {ran} job attempts.")


@cli.group()
def jobs() -> None:
    """Inspect and retry background jobs."""


@jobs.command("list")
@click.option("--state", "job_state", type=click.Choice(["queued", "running", "done", "dead"]))
@click.option("--kind", help="Only jobs of this kind.")
@click.option("--limit", default=50, show_default=True, help="Newest N jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
def jobs_list(
    state: CliState, job_state: str | None, kind: str | None, limit: int, as_json: bool
) -> None:
    """List jobs, newest first, with counts per state."""

    async def go() -> tuple[list[Any], dict[str, int]]:
        taskra = state.taskra()
        try:
            await taskra.check_schema()
            rows = await taskra.jobs.list(state=job_state, kind=kind, limit=limit)
            return rows, await taskra.jobs.counts()
        finally:
            await taskra.db.dispose()

    rows, counts = run_async(go)
    fields = ("id", "kind", "state", "attempts", "max_attempts", "run_after", "last_error")
    if as_json:
        echo_json({"counts": counts, "jobs": [{f: getattr(r, f) for f in fields} for r in rows]})
        return
    click.echo("  ".join(f"{name}={count}" for name, count in counts.items()))
    for r in rows:
        error = f"  {r.last_error}" if r.last_error else ""
        click.echo(f"{r.id:>8}  {r.state:<7}  {r.attempts}/{r.max_attempts}  {r.kind}{error}")


@jobs.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Retry every dead job.")
@pass_state
def jobs_retry(state: CliState, ids: Sequence[int], all_dead: bool) -> None:
    """Give dead jobs a fresh set of attempts: `taskra jobs retry 12 13` or `--all-dead`."""

    async def go() -> int:
        taskra = state.taskra()
        try:
            await taskra.check_schema()
            return await taskra.jobs.retry(ids, all_dead=all_dead)
        finally:
            await taskra.db.dispose()

    click.echo(f"Requeued {run_async(go)} dead jobs.")


# --- entry point -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``taskra`` console script."""
    try:
        settings = Settings.from_env()
        configure_logging(settings.environment, settings.log_level)
        pm = make_plugin_manager(disabled=settings.disable_plugins, trace=settings.trace_plugins)
    except TaskraError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    make_cli(pm).main(args=argv, prog_name="taskra", obj=CliState(settings, pm))


def feature_commands() -> dict[str, click.Command]:
    """Command groups that live beside the feature they operate (inbox/, knowledge/)."""
    from taskra_core.billing.cli import billing
    from taskra_core.drafting.ai_cli import ai
    from taskra_core.drafting.cli import draft
    from taskra_core.inbox.cli import inbox
    from taskra_core.knowledge.cli import knowledge
    from taskra_core.knowledge.store_cli import store
    from taskra_core.privacy.cli import privacy
    from taskra_core.retention.cli import retention

    return {
        group.name or "": group
        for group in (inbox, knowledge, store, draft, ai, billing, retention, privacy)
    }


def make_cli(pm: pluggy.PluginManager) -> click.Group:
    """The core commands plus those plugins add, on a fresh group (``cli`` stays untouched)."""
    group = click.Group(
        "taskra",
        commands={**cli.commands, **feature_commands()},
        params=list(cli.params),
        help=cli.help,
        context_settings=cli.context_settings,
    )
    Hooks(pm).register_commands(group)
    return group
