"""Stored orders answer `find_orders` (the default plugin), scoped to their store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core import hookimpl
from taskra_core.app import Taskra
from taskra_core.default_plugins import orders as orders_plugin
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Order, Store
from taskra_core.testing import make_test_taskra

PRIYA = "priya.raman84@example.com"


class LiveShop:
    """A live order source, as the Shopify plugin would be: it knows #1001's newest state."""

    __name__ = "live-shop"

    @hookimpl
    async def find_orders(self, name: str | None) -> list[dict[str, Any]] | None:
        if name is not None and name.strip().lstrip("#") == "1001":
            return [{"name": "#1001", "displayFulfillmentStatus": "LIVE"}]
        return None


@pytest.fixture
async def core(database_url: str) -> AsyncIterator[Taskra]:
    """A started Taskra with the orders plugin (whether or not it is a default yet)."""
    taskra = make_test_taskra(database_url)
    if not taskra.pm.is_registered(orders_plugin):
        taskra.pm.register(orders_plugin, name=orders_plugin.__name__)
    async with taskra:
        yield taskra


async def add_store(taskra: Taskra, domain: str) -> Store:
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        store = Store(domain=domain, created_at=now, updated_at=now)
        session.add(store)
    return store


async def add_order(taskra: Taskra, store: Store, name: str, email: str, days_ago: int) -> None:
    now = taskra.clock.now()
    assert store.id is not None
    async with taskra.db.transaction() as session:
        session.add(
            Order(
                store_id=store.id,
                name=name,
                email=email,
                placed_at=now - timedelta(days=days_ago),
                data={"name": name, "email": email, "store": store.domain},
                created_at=now,
                updated_at=now,
            )
        )


async def fellandford(taskra: Taskra) -> Store:
    await import_store(taskra, FELLANDFORD)
    async with taskra.db.session() as session:
        query = select(Store).where(col(Store.domain) == "fellandford.myshopify.com")
        return (await session.scalars(query)).one()


async def test_hook_find_orders(core: Taskra) -> None:
    """Stored orders are found by email or any spelling of a name, only in their own store,
    and a live plugin's copy of an order overrides the stored one."""
    store = await fellandford(core)
    other = await add_store(core, "other.myshopify.com")
    await add_order(core, other, "#1001", PRIYA, days_ago=0)
    await add_order(core, other, "#5000", PRIYA, days_ago=0)

    by_email = await core.hooks.find_orders(core, store, email=f"  {PRIYA.upper()} ")
    assert [order["name"] for order in by_email] == ["#1038", "#1007", "#1003", "#1001"]
    assert all(order["email"] == PRIYA and "store" not in order for order in by_email)

    for spelling in ("1001", "#1001", " #1001 "):
        found = await core.hooks.find_orders(core, store, name=spelling)
        assert [order["name"] for order in found] == ["#1001"]
        assert found[0]["id"] == "gid://shopify/Order/5712004107983"

    assert await core.hooks.find_orders(core, store, email="nobody@example.com") == []
    assert await orders_plugin.find_orders(core, store, "nobody@example.com", None) == []
    unknown = await add_store(core, "empty.myshopify.com")
    assert await orders_plugin.find_orders(core, unknown, PRIYA, "#1001") is None
    assert await core.hooks.find_orders(core, unknown, email=PRIYA) == []

    core.pm.register(LiveShop())
    merged = await core.hooks.find_orders(core, store, email=PRIYA, name="1001")
    by_name = {order["name"]: order for order in merged}
    assert len(merged) == len(by_name) == 4
    assert by_name["#1001"] == {"name": "#1001", "displayFulfillmentStatus": "LIVE"}
    assert by_name["#1038"]["email"] == PRIYA


async def test_a_named_order_is_returned_even_when_another_email_placed_it(core: Taskra) -> None:
    """Email OR name: the caller sees an order that belongs to someone else and can check."""
    store = await fellandford(core)
    found = await core.hooks.find_orders(
        core, store, email="dan.whitfield@example.com", name="1001"
    )
    assert {order["name"]: order["email"] for order in found} == {
        "#1031": "dan.whitfield@example.com",
        "#1001": PRIYA,
    }


async def test_at_most_twenty_orders_newest_first(core: Taskra) -> None:
    """A customer with many orders gets the newest 20."""
    store = await add_store(core, "busy.myshopify.com")
    for number in range(25):
        await add_order(core, store, f"#{2000 + number}", "busy@example.com", days_ago=number)
    found = await core.hooks.find_orders(core, store, email="busy@example.com")
    assert [order["name"] for order in found] == [f"#{2000 + n}" for n in range(20)]


async def test_no_criteria_finds_nothing(core: Taskra) -> None:
    """Without an email or a name no stored order is handed out."""
    store = await fellandford(core)
    assert await orders_plugin.find_orders(core, store, None, "  ") == []
