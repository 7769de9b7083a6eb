"""``taskra serve``: the web app plus an in-process job worker, under uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from taskra_core.cli_support import CliState, pass_state, run_async

if TYPE_CHECKING:
    from starlette.applications import Starlette


@click.command()
@click.option("--host", help="Address to listen on (TASKRA_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (TASKRA_PORT, default 8000).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Web processes. Each runs its own job worker; use PostgreSQL when above 1.",
)
@click.option("--no-worker", is_flag=True, help="Do not run jobs in this process.")
@pass_state
def serve(
    state: CliState, host: str | None, port: int | None, workers: int, no_worker: bool
) -> None:
    """Serve the Taskra web app (and run background jobs in the same process).

    Access logs are off: they would record customers' IP addresses, which the privacy
    policy keeps out of logs.
    """
    import uvicorn

    settings = state.settings
    host = host or settings.host
    port = port or settings.port
    if workers > 1:
        if settings.is_sqlite:
            raise click.UsageError("--workers above 1 needs PostgreSQL (TASKRA_DATABASE_URL).")
        # Each process reads the settings again from the same environment.
        uvicorn.run(
            "taskra_shopify.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
        return

    from taskra_shopify.app import create_app

    run_app(create_app(state.taskra(), run_worker=not no_worker, freeze_heap=True), host, port)


# Open pages hold live-update streams; on shutdown they get this long, then are closed (the
# pages reconnect to another process, or to this one once it is back).
SHUTDOWN_GRACE_SECONDS = 5


def run_app(app: Starlette, host: str, port: int) -> None:
    """Serve ``app`` in this process until interrupted, with the access log off."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
    )

    async def go() -> None:
        await server.serve()

    run_async(go)
