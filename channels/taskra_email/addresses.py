"""Each store's inbound address, and finding the store a received email is for.

A store receives mail at ``<shop-handle>@<TASKRA_EMAIL_INBOUND_DOMAIN>``: the handle is the
first label of its ``*.myshopify.com`` domain, which Shopify makes unique and never reuses
while the shop exists. The address is derived, not stored, so the outbound half can put it in
``Reply-To`` without a database read, and nothing has to be migrated when a store is added.
Mail to any other address at that domain, or to a store that is not installed, is refused
before anything is stored.

Merchants keep their public support address and forward it here (shown with instructions on
the settings page); the customer's replies to Taskra's answers come straight back because
the answers carry this address as ``Reply-To``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlmodel import col, select

from taskra_core.errors import UnknownRecipient
from taskra_core.models import Store

if TYPE_CHECKING:
    from taskra_core.app import Taskra

_HANDLE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SHOP_SUFFIX = ".myshopify.com"


def inbound_address(shop_domain: str, inbound_domain: str | None) -> str | None:
    """The address a store receives mail at, or ``None`` when inbound mail is not set up."""
    if not inbound_domain or not shop_domain.endswith(SHOP_SUFFIX):
        return None
    return f"{shop_domain.removesuffix(SHOP_SUFFIX)}@{inbound_domain}"


def shop_domain_for(address: str, inbound_domain: str | None) -> str | None:
    """The shop an inbound address belongs to (``x@in.example`` -> ``x.myshopify.com``).

    A ``+tag`` after the handle is ignored, so merchants may tag their forwarding rules.
    """
    if not inbound_domain:
        return None
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != inbound_domain:
        return None
    handle = local.split("+", 1)[0]
    return f"{handle}{SHOP_SUFFIX}" if _HANDLE.match(handle) else None


async def store_for_recipients(taskra: Taskra, recipients: Iterable[str]) -> Store:
    """The installed store the first matching recipient belongs to.

    Raises :class:`UnknownRecipient` (nothing is stored) when none matches.
    """
    inbound_domain = taskra.settings.email_inbound_domain
    wanted = [d for d in (shop_domain_for(r, inbound_domain) for r in recipients) if d]
    if not inbound_domain:
        raise UnknownRecipient(
            "Inbound email is not set up on this server (TASKRA_EMAIL_INBOUND_DOMAIN)."
        )
    if wanted:
        async with taskra.db.session() as session:
            rows = (
                await session.execute(
                    select(Store).where(
                        col(Store.domain).in_(wanted), col(Store.uninstalled_at).is_(None)
                    )
                )
            ).scalars()
        by_domain: dict[str, Store] = {store.domain: store for store in rows}
        for domain in wanted:  # recipient order decides when an email names two stores
            if domain in by_domain:
                return by_domain[domain]
    raise UnknownRecipient(f"No store receives mail at these addresses (@{inbound_domain}).")
