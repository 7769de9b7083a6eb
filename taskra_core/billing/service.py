"""``Billing`` (``taskra.billing``): plans, subscriptions through the providers, metering.

::

    subscribe ─▶ provider checkout (Stripe Checkout / Shopify confirmation page)
                      └─ merchant confirms ─▶ provider webhook ─▶ apply_subscription ─▶ Store.plan
    draft job ─ record_usage (exact reply number) ─▶ billing.meter job ─▶ provider.report_usage

Store.plan is the plan in force; only provider events change it (a checkout that is never
completed changes nothing). Events are applied in the provider's order, not arrival order:
one older than the last applied is ignored. Every reply is reported in a job of its own whose
idempotency key is the draft, and the provider gets the draft id as its de-duplication key,
so a retry never bills twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.billing.plans import FREE_PLAN, Plans
from taskra_core.billing.providers import BillingProviders, UsageReport
from taskra_core.billing.usage import Allowance, allowance_status, crossed
from taskra_core.drafting.policy import period_of
from taskra_core.errors import InvalidInput, NotFound
from taskra_core.knowledge.service import StoreRef, resolve_store_id
from taskra_core.models import BillingRecord, BillingSubscription, Store

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.jobs import JobContext

log = logging.getLogger(__name__)

METER_JOB = "billing.meter"
# A subscription in one of these is the store's plan in force.
LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})


class Billing:
    """Billing for every store; each method takes the store and touches only its rows."""

    def __init__(self, taskra: Taskra) -> None:
        self.taskra = taskra
        self.plans = Plans(taskra.settings)
        self.providers = BillingProviders(taskra.settings)

    # --- reading ------------------------------------------------------------------------

    async def allowance(self, store: StoreRef, period: str | None = None) -> Allowance:
        """The store's usage against its plan this period (or ``period``), with a forecast."""
        async with self.taskra.db.session() as session:
            row = await _store(session, store)
            return await allowance_status(session, row, self.plans, self.taskra.clock.now(), period)

    async def state(self, store: StoreRef) -> dict[str, Any]:
        """Everything the billing page shows: plan, plans on offer, subscription, usage."""
        async with self.taskra.db.session() as session:
            row = await _store(session, store)
            assert row.id is not None
            current = await live_subscription(session, row.id)
            allowance = await allowance_status(session, row, self.plans, self.taskra.clock.now())
        return {
            "plan": self.plans.of_store(row.plan).as_dict(),
            "plans": [plan.as_dict() for plan in self.plans.all()],
            "provider": self.provider_for(row, current),
            "providers": list(self.providers.names),
            "subscription": subscription_dict(current),
            "allowance": allowance.as_dict(),
            "service_updates": bool((row.settings or {}).get("service_updates", False)),
        }

    def provider_for(self, store: Store, current: BillingSubscription | None) -> str:
        """Who bills ``store``: its live subscription's provider, else its own choice, else
        ``TASKRA_BILLING_PROVIDER`` (Stripe for a store that has no Shopify token)."""
        if current is not None:
            return current.provider
        chosen = (store.settings or {}).get("billing_provider")
        if chosen:
            return str(chosen)
        default = self.taskra.settings.billing_provider
        if default == "shopify" and store.access_token_enc is None and "stripe" in self.providers:
            return "stripe"  # not installed from Shopify (no token): Shopify cannot bill it
        return default

    # --- changing plan ------------------------------------------------------------------

    async def subscribe(
        self, store: StoreRef, plan_name: str, *, return_url: str, provider: str | None = None
    ) -> dict[str, Any]:
        """Start a move of ``store`` to ``plan_name``.

        For a paid plan, returns ``{"url": ...}``: the provider's page where the merchant
        confirms (Stripe Checkout, Shopify's confirmation page). For the free plan, cancels
        the live subscription; ``url`` is then ``None``. The plan changes when the provider
        confirms, through its webhook.
        """
        plan = self.plans.get(plan_name)
        async with self.taskra.db.session() as session:
            row = await _store(session, store)
            assert row.id is not None
            current = await live_subscription(session, row.id)
        name = provider or self.provider_for(row, current)
        if current is not None and provider is not None and provider != current.provider:
            raise InvalidInput(
                f"This store pays through {current.provider}; change plans there, or move "
                f"to the free plan first to switch to {provider}."
            )
        billing = self.providers.get(name)
        if not billing.configured:
            raise InvalidInput(
                f"Billing through {name} is not set up on this server; choose another "
                f"provider ({', '.join(self.providers.names)})."
            )
        if not plan.paid:
            if current is not None:
                await billing.cancel(self.taskra, row, current)
            return {"url": None, "plan": plan.name, "provider": name}
        if current is not None and current.plan == plan.name:
            raise InvalidInput(f"The store is on the {plan.title} plan already.")
        checkout = await billing.start_subscription(self.taskra, row, plan, return_url, current)
        now = self.taskra.clock.now()
        async with self.taskra.db.transaction() as session:
            existing = None
            if checkout.external_id is not None:
                existing = await _subscription(session, name, checkout.external_id)
            if checkout.external_id is not None and existing is None:
                session.add(
                    BillingSubscription(
                        store_id=row.id,
                        provider=name,
                        external_id=checkout.external_id,
                        customer_id=current.customer_id if current else None,
                        plan=plan.name,
                        status="pending",
                        data=dict(checkout.data),
                        created_at=now,
                        updated_at=now,
                    )
                )
        log.info("subscription started", extra={"store_id": row.id, "plan": plan.name})
        return {"url": checkout.url, "plan": plan.name, "provider": name}

    async def manage_url(self, store: StoreRef, return_url: str) -> str | None:
        """The provider's page for payment details and invoices (Stripe's Customer Portal)."""
        async with self.taskra.db.session() as session:
            row = await _store(session, store)
            assert row.id is not None
            current = await live_subscription(session, row.id)
        if current is None:
            return None
        provider = self.providers.get(current.provider)
        return await provider.manage_url(self.taskra, row, current, return_url)

    async def apply_subscription(
        self,
        session: AsyncSession,
        store_id: int,
        provider: str,
        external_id: str,
        *,
        status: str | None,
        event_at: datetime,
        plan: str | None = None,
        customer_id: str | None = None,
        current_period_end: datetime | None = None,
        trial_ends_at: datetime | None = None,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """Apply a provider's report of subscription ``external_id`` (in ``session``).

        Ignored (returns ``False``) when an event newer than ``event_at`` was applied
        already. ``status`` ``None`` keeps the status a subscription has (a new one is
        ``active``): for events that name a subscription without reporting its state.
        A live subscription sets ``Store.plan``; one that ended sets the free plan, unless
        another subscription of the store is live (a plan change replaced it).
        """
        store = (
            await session.scalars(select(Store).where(col(Store.id) == store_id).with_for_update())
        ).first()
        if store is None:
            return False
        now = self.taskra.clock.now()
        row = await _subscription(session, provider, external_id)
        if row is not None and row.store_id != store_id:
            log.warning("subscription of another store ignored", extra={"store_id": store_id})
            return False
        if row is None:
            if plan is None:
                return False  # nothing says what this subscription is for
            row = BillingSubscription(
                store_id=store_id,
                provider=provider,
                external_id=external_id,
                plan=plan,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        elif row.last_event_at is not None and event_at < row.last_event_at:
            return False
        if status is not None:
            row.status = status.lower()
        elif row.status == "pending":
            row.status = "active"
        status = row.status
        row.plan = plan or row.plan
        row.customer_id = customer_id or row.customer_id
        row.current_period_end = current_period_end or row.current_period_end
        row.trial_ends_at = trial_ends_at or row.trial_ends_at
        row.last_event_at = event_at
        row.data = {**(row.data or {}), **(data or {})}
        row.updated_at = now
        await session.flush()
        if status in LIVE_STATUSES:
            store.plan = self.plans.get(row.plan).name if row.plan else store.plan
            # A plan change: the replaced subscription is no longer the store's.
            await _end_others(session, store_id, row, now)
        elif await live_subscription(session, store_id) is None:
            store.plan = FREE_PLAN
        store.updated_at = now
        log.info(
            "subscription applied",
            extra={"store_id": store_id, "provider": provider, "status": status},
        )
        return True

    async def record(
        self,
        session: AsyncSession,
        *,
        store_id: int | None,
        provider: str,
        kind: str,
        external_id: str,
        amount_cents: int,
        currency: str,
        status: str,
        occurred_at: datetime,
        data: dict[str, Any] | None = None,
    ) -> BillingRecord:
        """Keep an invoice or charge (never card data) for 7 years; the same external id
        again updates its status instead of adding a row."""
        row = (
            await session.scalars(
                select(BillingRecord).where(
                    col(BillingRecord.provider) == provider,
                    col(BillingRecord.external_id) == external_id,
                )
            )
        ).first()
        if row is None:
            row = BillingRecord(
                store_id=store_id,
                provider=provider,
                kind=kind,
                external_id=external_id,
                occurred_at=occurred_at,
            )
            session.add(row)
        elif occurred_at < row.occurred_at:
            return row  # an older report of a record that has moved on
        row.amount_cents = amount_cents
        row.currency = currency.upper()[:3]
        row.status = status
        row.occurred_at = occurred_at
        row.data = {**(row.data or {}), **(data or {})}
        await session.flush()
        return row

    async def records(self, store: StoreRef, limit: int = 50) -> list[BillingRecord]:
        """The store's invoices and charges, newest first."""
        async with self.taskra.db.session() as session:
            store_id = await resolve_store_id(session, store)
            rows = await session.scalars(
                select(BillingRecord)
                .where(col(BillingRecord.store_id) == store_id)
                .order_by(col(BillingRecord.occurred_at).desc())
                .limit(limit)
            )
            return list(rows)

    # --- metering -----------------------------------------------------------------------

    async def enqueue_metering(
        self, session: AsyncSession, store_id: int, draft_id: int, ordinal: int, now: datetime
    ) -> None:
        """Queue the report of one AI reply (``ordinal``: its number in the period), in the
        draft's own transaction: the reply is metered if and only if it was recorded."""
        await self.taskra.jobs.enqueue(
            session,
            METER_JOB,
            {"draft_id": draft_id, "ordinal": ordinal, "period": period_of(now)},
            store_id=store_id,
            idempotency_key=f"{METER_JOB}:{draft_id}",
        )

    async def meter(self, ctx: JobContext) -> None:
        """The ``billing.meter`` job: report the reply to the store's provider, and tell the
        merchant when it reached 80% or 100% of the allowance."""
        from taskra_core.notifications import allowance_reminder

        store_id = ctx.job.store_id
        payload = ctx.job.payload
        store = await ctx.session.get(Store, store_id)
        if store is None:
            return
        assert store.id is not None
        plan = self.plans.of_store(store.plan)
        report = UsageReport(
            draft_id=int(payload["draft_id"]),
            ordinal=int(payload["ordinal"]),
            period=str(payload["period"]),
            plan=plan,
        )
        current = await live_subscription(ctx.session, store.id)
        if current is not None and plan.paid:
            provider = self.providers.get(current.provider)
            await provider.report_usage(ctx.taskra, store, current, report)
        for threshold in crossed(plan, report.ordinal):
            await allowance_reminder(ctx.taskra, ctx.session, store, plan, report, threshold)


async def live_subscription(session: AsyncSession, store_id: int) -> BillingSubscription | None:
    """The store's subscription in force (the newest live one), if any."""
    rows = await session.scalars(
        select(BillingSubscription)
        .where(
            col(BillingSubscription.store_id) == store_id,
            col(BillingSubscription.status).in_(LIVE_STATUSES),
        )
        .order_by(col(BillingSubscription.updated_at).desc(), col(BillingSubscription.id).desc())
        .limit(1)
    )
    return rows.first()


async def store_subscriptions(
    session: AsyncSession, store_id: int, provider: str
) -> list[BillingSubscription]:
    """The store's subscriptions with ``provider``, newest first."""
    rows = await session.scalars(
        select(BillingSubscription)
        .where(
            col(BillingSubscription.store_id) == store_id,
            col(BillingSubscription.provider) == provider,
        )
        .order_by(col(BillingSubscription.id).desc())
    )
    return list(rows)


def subscription_dict(row: BillingSubscription | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "provider": row.provider,
        "plan": row.plan,
        "status": row.status,
        "current_period_end": row.current_period_end.isoformat()
        if row.current_period_end
        else None,
        "trial_ends_at": row.trial_ends_at.isoformat() if row.trial_ends_at else None,
    }


async def _subscription(
    session: AsyncSession, provider: str, external_id: str
) -> BillingSubscription | None:
    rows = await session.scalars(
        select(BillingSubscription).where(
            col(BillingSubscription.provider) == provider,
            col(BillingSubscription.external_id) == external_id,
        )
    )
    return rows.first()


async def _end_others(
    session: AsyncSession, store_id: int, keep: BillingSubscription, now: datetime
) -> None:
    rows = await session.scalars(
        select(BillingSubscription).where(
            col(BillingSubscription.store_id) == store_id,
            col(BillingSubscription.id) != keep.id,
            col(BillingSubscription.status).in_(LIVE_STATUSES),
        )
    )
    for other in rows:
        other.status, other.updated_at = "replaced", now


async def _store(session: AsyncSession, store: StoreRef) -> Store:
    store_id = await resolve_store_id(session, store)
    row = await session.get(Store, store_id)
    if row is None:
        raise NotFound(f"No store with id {store_id}.")
    return row
