"""Taskra's own retention policies (registered by ``taskra_core.default_plugins.retention``).

Each sweep deletes what is older than its cutoff, in batches (see
:meth:`~taskra_core.retention.policy.SweepContext.delete`). Store data (messages,
conversations, customers, accounts) is swept store by store; operational tables (jobs,
webhook receipts, sign-in records, billing) by an indexed age column. docs/retention.md
explains each period.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, and_, exists, not_, or_, select

from taskra_core.accounts import FAILURE_WINDOW
from taskra_core.models import (
    Account,
    AccountSession,
    BillingRecord,
    Conversation,
    Customer,
    Draft,
    JobRecord,
    LoginFailure,
    LoginLink,
    Message,
    Usage,
    WebhookReceipt,
)
from taskra_core.retention.policy import SweepContext
from taskra_core.settings import Settings


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table


MESSAGES, DRAFTS, CONVERSATIONS, CUSTOMERS = (
    _t(m) for m in (Message, Draft, Conversation, Customer)
)
ACCOUNTS, SESSIONS, LINKS, FAILURES = (
    _t(m) for m in (Account, AccountSession, LoginLink, LoginFailure)
)
JOBS, RECEIPTS, BILLING, USAGE = (_t(m) for m in (JobRecord, WebhookReceipt, BillingRecord, Usage))


def _zero(*tables: Table) -> Counter[str]:
    """Counts that name every table a policy covers, even when a store-by-store sweep found
    no store (reports then say 0 rather than nothing)."""
    return Counter(dict.fromkeys((table.name for table in tables), 0))


# --- messages, conversations, customers --------------------------------------------------------


def messages_period(settings: Settings) -> timedelta:
    return timedelta(days=settings.retention_messages_days)


def _kept_conversation(conversation: Any, cutoff: Any) -> Any:
    """A conversation stays while it is younger than the cutoff or has a message that is."""
    recent = exists().where(
        MESSAGES.c.conversation_id == conversation.c.id, MESSAGES.c.created_at >= cutoff
    )
    return or_(conversation.c.created_at >= cutoff, recent)


async def sweep_messages(ctx: SweepContext) -> Counter[str]:
    """Messages (with their AI drafts) stored before the cutoff; then the conversations that
    have no message left. The search index follows (SQLite triggers, PostgreSQL columns)."""
    counts = _zero(MESSAGES, DRAFTS, CONVERSATIONS)
    for store_id in await ctx.store_ids():
        counts.update(
            await ctx.delete(
                MESSAGES,
                and_(MESSAGES.c.store_id == store_id, MESSAGES.c.created_at < ctx.cutoff),
                dependents=[(DRAFTS, DRAFTS.c.message_id)],
            )
        )
        # The same test in a dry run (before any message is gone) and for real (after).
        counts.update(
            await ctx.delete(
                CONVERSATIONS,
                and_(
                    CONVERSATIONS.c.store_id == store_id,
                    not_(_kept_conversation(CONVERSATIONS, ctx.cutoff)),
                ),
            )
        )
    return counts


async def sweep_customers(ctx: SweepContext) -> Counter[str]:
    """Customers with nothing left in the inbox and no message for a whole period. Those who
    objected to AI processing are kept: the record is how the objection is honoured."""
    counts = _zero(CUSTOMERS)
    conversation = CONVERSATIONS.alias("c")
    for store_id in await ctx.store_ids():
        has_conversation = exists().where(
            conversation.c.customer_id == CUSTOMERS.c.id,
            _kept_conversation(conversation, ctx.cutoff),
        )
        counts.update(
            await ctx.delete(
                CUSTOMERS,
                and_(
                    CUSTOMERS.c.store_id == store_id,
                    CUSTOMERS.c.updated_at < ctx.cutoff,
                    CUSTOMERS.c.ai_processing_objected.is_(False),
                    not_(has_conversation),
                ),
            )
        )
    return counts


# --- accounts ------------------------------------------------------------------------------


def account_grace(settings: Settings) -> timedelta:
    return timedelta(days=settings.retention_account_grace_days)


async def sweep_accounts(ctx: SweepContext) -> Counter[str]:
    """Accounts whose deletion was requested at least the grace period ago. Their sessions,
    links and read marks go with them (cascade); their messages stay, unattributed."""
    counts = _zero(ACCOUNTS)
    for store_id in await ctx.store_ids():
        counts.update(
            await ctx.delete(
                ACCOUNTS,
                and_(
                    ACCOUNTS.c.store_id == store_id,
                    ACCOUNTS.c.deletion_requested_at.is_not(None),
                    ACCOUNTS.c.deletion_requested_at <= ctx.cutoff,
                ),
            )
        )
    return counts


# --- billing -------------------------------------------------------------------------------


def billing_period(settings: Settings) -> timedelta:
    # Whole years, counting their leap days, so nothing goes a day before the law allows.
    return timedelta(days=math.ceil(settings.retention_billing_years * 365.25))


async def sweep_billing_records(ctx: SweepContext) -> Counter[str]:
    """Invoices and payments that occurred before the cutoff (their store may be gone)."""
    return await ctx.delete(BILLING, BILLING.c.occurred_at < ctx.cutoff)


async def sweep_usage(ctx: SweepContext) -> Counter[str]:
    """Monthly usage totals of months that ended before the cutoff's month."""
    return await ctx.delete(USAGE, USAGE.c.period < ctx.cutoff.strftime("%Y-%m"))


# --- operational records -------------------------------------------------------------------


def jobs_period(settings: Settings) -> timedelta:
    return timedelta(days=settings.retention_jobs_days)


def dead_jobs_period(settings: Settings) -> timedelta:
    return timedelta(days=settings.retention_dead_jobs_days)


def _finished_jobs(state: str) -> Callable[[SweepContext], Any]:
    async def sweep(ctx: SweepContext) -> Counter[str]:
        return await ctx.delete(JOBS, and_(JOBS.c.state == state, JOBS.c.finished_at < ctx.cutoff))

    sweep.__doc__ = f"Jobs in state {state!r} that finished before the cutoff."
    return sweep


sweep_done_jobs = _finished_jobs("done")
sweep_dead_jobs = _finished_jobs("dead")


def webhooks_period(settings: Settings) -> timedelta:
    return timedelta(days=settings.retention_webhooks_days)


async def sweep_webhook_receipts(ctx: SweepContext) -> Counter[str]:
    """Receipts that arrived before the cutoff, unless their job still needs the payload
    (queued, running, or dead and waiting for an operator)."""
    unfinished = (
        select(JOBS.c.id).where(JOBS.c.id == RECEIPTS.c.job_id, JOBS.c.state != "done").exists()
    )
    return await ctx.delete(RECEIPTS, and_(RECEIPTS.c.received_at < ctx.cutoff, not_(unfinished)))


def sessions_period(settings: Settings) -> timedelta:
    return timedelta(days=settings.retention_sessions_days)


async def sweep_sign_ins(ctx: SweepContext) -> Counter[str]:
    """Sessions and one-time links that stopped working before the cutoff, and failed
    sign-ins that no longer count towards the rate limit."""
    counts = _zero(SESSIONS, LINKS, FAILURES)
    counts.update(
        await ctx.delete(
            SESSIONS, or_(SESSIONS.c.expires_at < ctx.cutoff, SESSIONS.c.revoked_at < ctx.cutoff)
        )
    )
    counts.update(
        await ctx.delete(LINKS, or_(LINKS.c.expires_at < ctx.cutoff, LINKS.c.used_at < ctx.cutoff))
    )
    counts.update(await ctx.delete(FAILURES, FAILURES.c.failed_at < ctx.cutoff - FAILURE_WINDOW))
    return counts


def register_builtin(register: Callable[..., None]) -> None:
    """Register Taskra's policies, in the order they run: messages before the customers
    they leave behind, jobs before the webhook receipts that wait for them."""
    register(
        "messages",
        sweep_messages,
        period=messages_period,
        description="Customer messages and AI replies (drafts), by when they were stored; "
        "conversations left without messages go with them.",
    )
    register(
        "customers",
        sweep_customers,
        period=messages_period,
        description="Customers with no conversation left and no message for as long "
        "(kept if they objected to AI processing).",
    )
    register(
        "accounts",
        sweep_accounts,
        period=account_grace,
        description="Accounts whose deletion was requested, after a grace period (within "
        "30 days of the request).",
    )
    register(
        "billing_records",
        sweep_billing_records,
        period=billing_period,
        description="Invoices and payments, by when they occurred (UK tax law: 7 years).",
    )
    register(
        "usage",
        sweep_usage,
        period=billing_period,
        description="Monthly usage totals (no personal data), kept as long as billing records.",
    )
    register(
        "jobs",
        sweep_done_jobs,
        period=jobs_period,
        description="Done background jobs, by when they finished.",
    )
    register(
        "dead_jobs",
        sweep_dead_jobs,
        period=dead_jobs_period,
        description="Dead background jobs, kept for operators to inspect and retry.",
    )
    register(
        "webhook_receipts",
        sweep_webhook_receipts,
        period=webhooks_period,
        description="Webhook receipts, by arrival (long enough to spot Shopify's retries), "
        "once their job is done or gone.",
    )
    register(
        "sign_ins",
        sweep_sign_ins,
        period=sessions_period,
        description="Sessions, one-time links and failed sign-ins, after they stopped working.",
    )
