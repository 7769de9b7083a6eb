"""``taskra demo``: the demo store with a morning of customer messages, drafted offline, served.

Needs no configuration and no keys: without ``ANTHROPIC_API_KEY`` the offline model drafts.
The clock starts at the demo data's ``as_of`` (unless ``TASKRA_NOW`` is set), so "delivered
three days ago" and return windows read as the data intends.
"""

from __future__ import annotations

import click

from taskra_core.app import Taskra
from taskra_core.cli_support import CliState, pass_state, run_async
from taskra_core.demo.seed import DemoSeed, demo_as_of, seed_demo
from taskra_core.worker import Worker


@click.command()
@click.option("--host", help="Address to listen on (TASKRA_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (TASKRA_PORT, default 8000).")
@click.option("--no-serve", is_flag=True, help="Seed and draft, then exit.")
@pass_state
def demo(state: CliState, host: str | None, port: int | None, no_serve: bool) -> None:
    """Load the demo store (Fell & Ford), seed its inbox, draft replies, and serve it."""
    settings = state.settings
    if settings.now is None:
        settings = settings.model_copy(update={"now": demo_as_of()})

    async def prepare() -> tuple[DemoSeed, int]:
        async with Taskra(settings, pm=state.pm) as taskra:
            seed = await seed_demo(taskra)
            ran = await Worker(taskra).run_until_idle()
        return seed, ran

    seed, ran = run_async(prepare)
    click.echo(
        f"Demo store {seed.domain}: {seed.messages_added} new customer messages, "
        f"{ran} background jobs run (drafts with the "
        f"{'Claude' if settings.anthropic_api_key else 'offline'} model)."
    )
    if no_serve:
        return
    from taskra_shopify.app import create_app
    from taskra_shopify.serve import run_app

    host, port = host or settings.host, port or settings.port
    click.echo(f"Serving on http://{host}:{port}/ (Ctrl-C to stop).")
    click.echo(
        f"Sign in (one-time link, valid for an hour): "
        f"http://{host}:{port}/login/link/{seed.login_token}"
    )
    run_app(create_app(Taskra(settings, pm=state.pm)), host, port)
