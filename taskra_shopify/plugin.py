"""The web shell as a plugin: adds its hookspecs, the ``taskra serve`` command and its jobs.

Registered through the ``taskra`` entry point group like any third-party plugin. Importing
this module imports neither Starlette nor uvicorn; ``serve`` does, when it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import click

from taskra_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from taskra_core.jobs import JobContext

log = logging.getLogger(__name__)


@hookimpl
def register_hookspecs(register: Callable[[ModuleType], None]) -> None:
    from taskra_shopify import hookspecs

    register(hookspecs)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from taskra_shopify.demo_cli import demo
    from taskra_shopify.serve import serve

    cli.add_command(serve)
    cli.add_command(demo)


@hookimpl
def register_jobs(register: Callable[..., None]) -> None:
    register("shopify.sync", sync_store)


async def sync_store(ctx: JobContext) -> None:
    """``shopify.sync``: bring a store's shop details, policies and catalog up to date.

    Placeholder: the store sync (Admin GraphQL, pagination, bulk operations) is not built
    yet, so this only logs and completes. It is registered now because install already
    enqueues the job (``taskra_shopify.tokens.ensure_installed``), and a kind without a
    handler would sit in the queue unclaimed. The real sync replaces this function here.
    """
    log.info(
        "shopify sync requested; store sync is not implemented yet",
        extra={"job_id": ctx.job.id, "store_id": ctx.job.store_id},
    )
