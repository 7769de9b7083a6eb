"""Finding the store a command or request is about: every query is scoped by store."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.errors import InvalidInput, NotFound
from taskra_core.models import Store

_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def normalize_domain(domain: str) -> str:
    """``Fellandford`` or ``https://fellandford.myshopify.com/`` -> the bare domain."""
    value = domain.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    if "." not in value:
        value = f"{value}.myshopify.com"
    if not _DOMAIN.match(value):
        raise InvalidInput(f"{domain!r} is not a Shopify store domain (name.myshopify.com).")
    return value


async def get_store(session: AsyncSession, domain: str) -> Store:
    """The store with ``domain``, or :class:`NotFound` saying how to create one."""
    normalized = normalize_domain(domain)
    store = (await session.scalars(select(Store).where(col(Store.domain) == normalized))).first()
    if store is None:
        raise NotFound(
            f"No store {normalized}. Install the app on it, or import one with "
            "`taskra store import DIR`."
        )
    return store
