"""Built-in billing: the Stripe provider, the metering and Stripe event jobs, and the
notices job. Hooks are ``trylast`` so installed plugins come first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskra_core.billing.service import METER_JOB
from taskra_core.billing.stripe_events import STRIPE_EVENT_JOB, run_stripe_event
from taskra_core.billing.stripe_provider import NAME, StripeProvider
from taskra_core.hookspecs import hookimpl
from taskra_core.notifications import NOTIFY_JOB, send_notice_job

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskra_core.jobs import JobContext


@hookimpl(trylast=True)
def register_billing_providers(register: Callable[..., None]) -> None:
    register(NAME, StripeProvider)


@hookimpl(trylast=True)
def register_jobs(register: Callable[..., None]) -> None:
    register(METER_JOB, _meter)
    register(STRIPE_EVENT_JOB, run_stripe_event)
    register(NOTIFY_JOB, send_notice_job)


async def _meter(ctx: JobContext) -> None:
    await ctx.taskra.billing.meter(ctx)
