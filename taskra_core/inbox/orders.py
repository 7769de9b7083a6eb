"""A customer's orders as the conversation sidebar shows them: status, items, tracking.

Orders come through the ``find_orders`` hook (a live Shopify lookup first, the imported copy
last) and only those the customer verifiably placed are kept, the same ownership rule the
drafting tools apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskra_core.drafting.orders import Sender, owns, summarise_order
from taskra_core.errors import NotFound
from taskra_core.models import Customer, Store

if TYPE_CHECKING:
    from taskra_core.app import Taskra

MAX_SIDEBAR_ORDERS = 10


async def customer_orders(taskra: Taskra, store_id: int, customer_id: int) -> list[dict[str, Any]]:
    """The newest orders placed by customer ``customer_id`` of store ``store_id``.

    Raises :class:`~taskra_core.errors.OrdersUnavailable` when the live order source (Shopify)
    did not answer; the conversation page then says the orders could not be loaded.
    """
    async with taskra.db.session() as session:
        store = await session.get(Store, store_id)
        customer = await session.get(Customer, customer_id)
    if store is None or customer is None or customer.store_id != store_id:
        raise NotFound(f"No customer {customer_id} in this store.")
    if not customer.email:
        return []
    sender = Sender(email=customer.email)
    found = await taskra.hooks.find_orders(taskra, store, email=customer.email, name=None)
    mine = [summarise_order(order) for order in found if owns(sender, order)]
    return mine[:MAX_SIDEBAR_ORDERS]
