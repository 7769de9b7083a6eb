"""Usage against a store's plan: the allowance cap that stops drafting, and the forecast.

The counts are the drafting counters (:class:`~taskra_core.models.Usage`, one row per store
per ``YYYY-MM`` period, UTC). A forecast extrapolates the period so far to its end; it is
shown to the merchant with what the period will cost, so the bill is never a surprise.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from taskra_core.billing.plans import Plan, Plans
from taskra_core.drafting.policy import period_of, usage_in
from taskra_core.models import Store

ALLOWANCE_EXHAUSTED = "allowance_exhausted"
# Shares of the allowance at which the merchant is told (billing reminders).
THRESHOLDS = (80, 100)


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of a ``YYYY-MM`` period, in UTC."""
    year, month = (int(part) for part in period.split("-"))
    days = calendar.monthrange(year, month)[1]
    start = datetime(year, month, 1, tzinfo=UTC)
    return start, start + timedelta(days=days)


def forecast(count: int, period: str, now: datetime) -> int:
    """``count`` so far, extrapolated to the end of ``period``.

    At least a day counts as elapsed, so one early reply does not forecast thousands; a
    period already over forecasts what it had.
    """
    start, end = period_bounds(period)
    if now >= end:
        return count
    elapsed = max(now - start, timedelta(days=1))
    return max(count, round(count * (end - start) / elapsed))


@dataclass(frozen=True)
class Allowance:
    """Where a store stands against its plan in one period."""

    period: str
    plan: Plan
    ai_replies: int
    forecast_replies: int
    charge_cents: int
    forecast_charge_cents: int

    @property
    def exhausted(self) -> bool:
        return self.ai_replies >= self.plan.reply_limit

    @property
    def used_percent(self) -> int:
        included = self.plan.included_replies
        return 100 if not included else min(round(100 * self.ai_replies / included), 999)

    @property
    def reason(self) -> str | None:
        """Why drafting stopped, in words a merchant acts on; ``None`` while it may go on."""
        if not self.exhausted:
            return None
        plan = self.plan
        if plan.overage_cents:
            return (
                f"the {plan.title} plan's {plan.included_replies} AI replies and its "
                f"{plan.overage_cap_cents / 100:.2f} {plan.currency} overage cap for "
                f"{self.period} are used up; upgrade the plan to keep drafting"
            )
        return (
            f"the {plan.title} plan's {plan.included_replies} AI replies for {self.period} "
            "are used up; upgrade the plan to keep drafting"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "plan": self.plan.name,
            "included_replies": self.plan.included_replies,
            "reply_limit": self.plan.reply_limit,
            "ai_replies": self.ai_replies,
            "used_percent": self.used_percent,
            "forecast_replies": self.forecast_replies,
            "currency": self.plan.currency,
            "charge_cents": self.charge_cents,
            "forecast_charge_cents": self.forecast_charge_cents,
            "exhausted": self.exhausted,
            "reason": self.reason,
        }


async def allowance_status(
    session: AsyncSession, store: Store, plans: Plans, now: datetime, period: str | None = None
) -> Allowance:
    """``store``'s allowance in ``period`` (default: the one ``now`` is in)."""
    assert store.id is not None
    period = period or period_of(now)
    counts = await usage_in(session, store.id, period)
    return allowance_of(store, plans, now, period, int(counts["ai_replies"]))


def allowance_of(store: Store, plans: Plans, now: datetime, period: str, replies: int) -> Allowance:
    """``store``'s allowance in ``period`` once ``replies`` AI replies were drafted."""
    plan = plans.of_store(store.plan)
    expected = forecast(replies, period, now)
    return Allowance(
        period=period,
        plan=plan,
        ai_replies=replies,
        forecast_replies=expected,
        charge_cents=plan.charge_cents(replies),
        forecast_charge_cents=plan.charge_cents(expected),
    )


def crossed(plan: Plan, ordinal: int) -> list[int]:
    """The allowance thresholds (percent) that reply number ``ordinal`` of a period reaches.

    Ordinals are exact (one per reply, from the atomic usage counter), so each threshold is
    reached by exactly one reply of a period.
    """
    included = plan.included_replies
    if included <= 0:
        return []
    return [t for t in THRESHOLDS if ordinal == max(-(-included * t // 100), 1)]
