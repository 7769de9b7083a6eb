"""The billing provider port: how a store subscribes, manages its plan and is charged for use.

A provider is registered by name through the ``register_billing_providers`` hook::

    @hookimpl
    def register_billing_providers(register):
        register("stripe", StripeProvider)      # factory: Settings -> BillingProvider

Built in: ``stripe`` (:mod:`taskra_core.billing.stripe_provider`) and, with the web shell,
``shopify`` (:mod:`taskra_shopify.billing`). Providers report what happened through their
webhooks, which end in :meth:`taskra_core.billing.service.Billing.apply_subscription`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskra_core.errors import InvalidInput
from taskra_core.registry import Registry

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.billing.plans import Plan
    from taskra_core.models import BillingSubscription, Store
    from taskra_core.settings import Settings


@dataclass(frozen=True)
class UsageReport:
    """One AI reply to bill: ``ordinal`` is its exact number in ``period`` (1-based)."""

    draft_id: int
    ordinal: int
    period: str
    plan: Plan

    @property
    def identifier(self) -> str:
        """The same for every retry of this reply's report, so it is billed once."""
        return f"taskra-draft-{self.draft_id}"


@dataclass(frozen=True)
class Checkout:
    """Where to send the merchant to confirm a subscription, and the provider's id of the
    subscription awaiting confirmation (``None`` when the webhook will name it)."""

    url: str
    external_id: str | None
    # Provider ids kept with the pending subscription (Shopify's usage line item).
    data: dict[str, Any] = field(default_factory=dict)


class BillingProvider(ABC):
    """Talks to one payment provider. Methods take the core and the store they act for."""

    name: str = ""

    @property
    def configured(self) -> bool:
        """Whether this server can bill through the provider (its keys are set)."""
        return True

    @abstractmethod
    async def start_subscription(
        self,
        taskra: Taskra,
        store: Store,
        plan: Plan,
        return_url: str,
        current: BillingSubscription | None,
    ) -> Checkout:
        """Begin subscribing ``store`` to ``plan`` (or changing to it from ``current``)."""

    @abstractmethod
    async def cancel(self, taskra: Taskra, store: Store, current: BillingSubscription) -> None:
        """End ``current`` (a move to the free plan); the provider's webhook confirms it."""

    async def manage_url(
        self, taskra: Taskra, store: Store, current: BillingSubscription, return_url: str
    ) -> str | None:
        """A page of the provider's where the merchant manages payment details, if any."""
        return None

    @abstractmethod
    async def report_usage(
        self, taskra: Taskra, store: Store, current: BillingSubscription, report: UsageReport
    ) -> None:
        """Report one AI reply; called again with the same report after a failure."""

    async def aclose(self) -> None:
        return None


ProviderFactory = Callable[["Settings"], BillingProvider]


class BillingProviders:
    """Provider factories by name, and the providers built from them (on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.factories: Registry[ProviderFactory] = Registry(
            "Billing provider", r"[a-z][a-z0-9_]{0,15}", " (lower-case letters, digits, _)"
        )
        self._built: dict[str, BillingProvider] = {}

    def register(self, name: str, factory: ProviderFactory) -> None:
        self.factories.add(name, factory)

    @property
    def names(self) -> tuple[str, ...]:
        return self.factories.names

    def __contains__(self, name: object) -> bool:
        return name in self.factories

    def get(self, name: str) -> BillingProvider:
        """The provider called ``name``; :class:`InvalidInput` if none is registered."""
        if name not in self._built:
            factory = self.factories.get(name)
            if factory is None:
                known = ", ".join(self.names) or "none"
                raise InvalidInput(f"No billing provider {name!r}; registered: {known}.")
            self._built[name] = factory(self.settings)
        return self._built[name]

    async def aclose(self) -> None:
        for provider in self._built.values():
            await provider.aclose()
        self._built.clear()
