"""What every ``taskra`` command shares: the CLI state, async running, JSON output.

Command modules (``taskra_core.cli``, ``taskra_core.inbox.cli``, ...) import from here, so
none of them imports another.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import pluggy
from sqlalchemy.engine import make_url

from taskra_core.app import Taskra
from taskra_core.errors import TaskraError
from taskra_core.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class CliState:
    """What every command receives on ``ctx.obj``."""

    settings: Settings
    pm: pluggy.PluginManager

    def taskra(self) -> Taskra:
        return Taskra(self.settings, pm=self.pm)


pass_state = click.make_pass_decorator(CliState)


def run_async(func: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine, turning Taskra's errors into a clean message and exit code 1."""
    try:
        return asyncio.run(func())  # type: ignore[arg-type]
    except TaskraError as exc:
        raise click.ClickException(str(exc)) from exc


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@asynccontextmanager
async def started_taskra(state: CliState) -> AsyncIterator[Taskra]:
    """A started Taskra for one command (migrating first if TASKRA_AUTO_MIGRATE is on)."""
    async with state.taskra() as taskra:
        yield taskra


shop_option = click.option(
    "--shop", required=True, help="The store's domain, e.g. fellandford.myshopify.com."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
