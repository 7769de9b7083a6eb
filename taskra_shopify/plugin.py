"""The web shell as a plugin: adds its hookspecs, the ``taskra serve`` command, its jobs
and its own webhook topics (app lifecycle and the privacy compliance topics).

Registered through the ``taskra`` entry point group like any third-party plugin. Importing
this module imports neither Starlette nor uvicorn; ``serve`` does, when it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import click

from taskra_core.errors import ShopifyUnavailable
from taskra_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import Job

log = logging.getLogger(__name__)


@hookimpl
def register_hookspecs(register: Callable[[ModuleType], None]) -> None:
    from taskra_shopify import hookspecs

    register(hookspecs)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from taskra_shopify.demo_cli import demo
    from taskra_shopify.serve import serve
    from taskra_shopify.sync_cli import with_sync

    cli.add_command(serve)
    cli.add_command(demo)
    cli.add_command(with_sync(cli.commands.get("store")))


@hookimpl
def register_jobs(register: Callable[..., None]) -> None:
    from taskra_shopify import sync, sync_jobs

    register(sync.SYNC_JOB, sync_jobs.sync_job)
    register(sync.POLICIES_JOB, sync_jobs.policies_job)
    register(sync.POLL_JOB, sync_jobs.poll_job)
    register(sync.APPLY_JOB, sync_jobs.apply_job)

    from taskra_shopify.webhook_dispatch import WEBHOOK_JOB, run_webhook

    # privacy.request (the compliance topics' work) is the core's: taskra_core.privacy.
    register(WEBHOOK_JOB, run_webhook)


@hookimpl
def register_webhook_topics(register: Callable[..., None]) -> None:
    from taskra_shopify import store_topics
    from taskra_shopify.webhook_handlers import register_builtin_topics

    store_topics.register(register)
    register_builtin_topics(register)  # app lifecycle and the privacy compliance topics

    from taskra_shopify import billing

    billing.register_topics(register)  # app_subscriptions/update


@hookimpl
def register_billing_providers(register: Callable[..., None]) -> None:
    from taskra_shopify.billing import NAME, ShopifyBilling

    register(NAME, ShopifyBilling)


@hookimpl
def job_retry_delay(taskra: Taskra, job: Job, error: BaseException) -> float | None:
    """A job that Shopify rate limited retries when Shopify said, not on the generic backoff."""
    if not isinstance(error, ShopifyUnavailable) or error.retry_after is None:
        return None
    return min(max(error.retry_after, 1.0), taskra.settings.job_backoff_max_seconds)


@hookimpl(specname="startup")
def register_order_source(taskra: Taskra) -> None:
    # The live order source is an object of its own, so its cache belongs to this Taskra.
    from taskra_shopify import orders

    orders.register(taskra)


@hookimpl(specname="startup")
def collect_webhook_topics(taskra: Taskra) -> None:
    from taskra_shopify.webhook_dispatch import topics_of

    # Collected now, so two plugins claiming one topic stop start-up (web and worker
    # processes alike) instead of failing the first delivery.
    topics_of(taskra)
