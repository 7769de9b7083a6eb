"""Plans: what a store pays each month and how many AI replies that includes.

Built in: ``free`` (a small allowance, no overage: drafting stops at the allowance),
``starter`` and ``pro`` (larger allowances, then a per-reply overage price up to a monthly
overage cap, which is also the ``cappedAmount`` Shopify requires on usage charges).
``TASKRA_BILLING_PLANS`` adds plans or replaces these by name. Money is in cents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from taskra_core.errors import InvalidInput
from taskra_core.settings import PlanSettings, Settings

FREE_PLAN = "free"


@dataclass(frozen=True)
class Plan:
    """One plan. ``overage_cents`` 0 means the allowance is a hard limit."""

    name: str
    title: str
    price_cents: int
    included_replies: int
    currency: str = "USD"
    overage_cents: int = 0
    overage_cap_cents: int = 0
    trial_days: int = 0
    stripe_price: str | None = None
    stripe_metered_price: str | None = None

    @property
    def paid(self) -> bool:
        return self.price_cents > 0 or self.overage_cents > 0

    @property
    def reply_limit(self) -> int:
        """Most AI replies in a period: the allowance, plus what the overage cap pays for."""
        if not self.overage_cents:
            return self.included_replies
        return self.included_replies + self.overage_cap_cents // self.overage_cents

    def charge_cents(self, replies: int) -> int:
        """What a period with ``replies`` AI replies costs on this plan."""
        over = max(min(replies, self.reply_limit) - self.included_replies, 0)
        return self.price_cents + over * self.overage_cents

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "paid": self.paid, "reply_limit": self.reply_limit}


BUILT_IN_PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        Plan(FREE_PLAN, "Free", price_cents=0, included_replies=50),
        Plan(
            "starter",
            "Starter",
            price_cents=1900,
            included_replies=500,
            overage_cents=4,
            overage_cap_cents=4000,
            trial_days=14,
        ),
        Plan(
            "pro",
            "Pro",
            price_cents=7900,
            included_replies=3000,
            overage_cents=3,
            overage_cap_cents=15000,
            trial_days=14,
        ),
    )
}


def _from_settings(name: str, config: PlanSettings) -> Plan:
    return Plan(name=name, **config.model_dump())


class Plans:
    """The plans on offer: built-in ones plus ``TASKRA_BILLING_PLANS``, in price order."""

    def __init__(self, settings: Settings) -> None:
        configured = {n: _from_settings(n, c) for n, c in settings.billing_plans.items()}
        merged = BUILT_IN_PLANS | configured
        self._plans = dict(sorted(merged.items(), key=lambda kv: (kv[1].price_cents, kv[0])))
        if FREE_PLAN not in self._plans:  # pragma: no cover - the built-in one is always there
            raise InvalidInput("A free plan is required.")

    def all(self) -> list[Plan]:
        return list(self._plans.values())

    def get(self, name: str) -> Plan:
        """The plan called ``name``; :class:`InvalidInput` naming the choices otherwise."""
        plan = self._plans.get(name)
        if plan is None:
            raise InvalidInput(f"Unknown plan {name!r}; choose one of {', '.join(self._plans)}.")
        return plan

    def of_store(self, name: str | None) -> Plan:
        """A store's plan; a plan no longer offered counts as free rather than failing."""
        return self._plans.get(name or FREE_PLAN) or self._plans[FREE_PLAN]

    def by_stripe_price(self, price_id: str | None) -> Plan | None:
        for plan in self._plans.values():
            if price_id and price_id in (plan.stripe_price, plan.stripe_metered_price):
                return plan
        return None
