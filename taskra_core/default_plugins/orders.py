"""Default ``find_orders``: answers from the orders imported with ``taskra store import``.

Marked ``trylast``, so a live source (the Shopify plugin) is called first and its copy of an
order wins when the results are merged by order name.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, select

from taskra_core.hookspecs import hookimpl
from taskra_core.models import Order

if TYPE_CHECKING:
    from sqlalchemy.sql import Select

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
    params: dict[str, Any] = {"store_id": store.id}
    if email and email.strip():
        params["email"] = email.strip().lower()
    if name and (names := order_name_variants(name)):
        params["names"] = names
    async with taskra.db.session() as session:
        if len(params) > 1:
            query = _matching("email" in params, "names" in params)
            found = [dict(data) for data in await session.scalars(query, params)]
            if found:
                return found  # the store has orders: no need to ask (one query on the draft path)
        if (await session.execute(_ANY_ORDER, {"store_id": store.id})).first() is None:
            return None
        return []


# Built once, with bound parameters, on the table: on the draft path, building a statement
# cost about as much as running it, and the ORM's result handling is not needed for columns.
_ORDERS = Order.__table__  # type: ignore[attr-defined]
_ANY_ORDER = select(_ORDERS.c.id).where(_ORDERS.c.store_id == bindparam("store_id")).limit(1)


@functools.cache
def _matching(by_email: bool, by_name: bool) -> Select[tuple[Any]]:
    conditions = []
    if by_email:
        conditions.append(_ORDERS.c.email == bindparam("email"))
    if by_name:
        conditions.append(_ORDERS.c.name.in_(bindparam("names", expanding=True)))
    return (
        select(_ORDERS.c.data)
        .where(_ORDERS.c.store_id == bindparam("store_id"), or_(*conditions))
        .order_by(_ORDERS.c.placed_at.desc().nulls_last(), _ORDERS.c.id.desc())
        .limit(MAX_ORDERS)
    )
