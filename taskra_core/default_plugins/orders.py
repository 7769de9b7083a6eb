"""Default ``find_orders``: answers from the orders imported with ``taskra store import``.

Marked ``trylast``, so a live source (the Shopify plugin) is called first and its copy of an
order wins when the results are merged by order name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlmodel import col

from taskra_core.hookspecs import hookimpl
from taskra_core.models import Order

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from taskra_core.app import Taskra
    from taskra_core.models import Store

MAX_ORDERS = 20


def order_name_variants(name: str) -> list[str]:
    """The spellings a stored order name may have: ``" #1001 "`` and ``"1001"`` -> both."""
    core = name.strip().lstrip("#").strip()
    return [f"#{core}", core] if core else []


@hookimpl(trylast=True)
async def find_orders(
    taskra: Taskra, store: Store, email: str | None, name: str | None
) -> list[dict[str, Any]] | None:
    """Stored orders placed with ``email``, plus the order called ``name``, newest first.

    The two are combined with OR on purpose: the order a customer names is returned even
    when another email placed it, so the caller can see the mismatch and check identity
    before acting. ``None`` when the store has no stored orders at all (so "nothing here"
    is told apart from "no match").
    """
    conditions: list[ColumnElement[bool]] = []
    if email and email.strip():
        conditions.append(col(Order.email) == email.strip().lower())
    if name and (names := order_name_variants(name)):
        conditions.append(col(Order.name).in_(names))
    async with taskra.db.session() as session:
        if conditions:
            query = (
                select(col(Order.data))
                .where(col(Order.store_id) == store.id, or_(*conditions))
                .order_by(col(Order.placed_at).desc().nulls_last(), col(Order.id).desc())
                .limit(MAX_ORDERS)
            )
            found = [dict(data) for data in await session.scalars(query)]
            if found:
                return found  # the store has orders: no need to ask (one query on the draft path)
        any_order = select(col(Order.id)).where(col(Order.store_id) == store.id).limit(1)
        if (await session.execute(any_order)).first() is None:
            return None
        return []
