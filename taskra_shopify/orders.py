"""Orders from the store's live Shopify: the ``find_orders`` source of installed stores.

- Asks Admin GraphQL ``orders(first: N, query: ..., sortKey: CREATED_AT, reverse: true)``
  with ``email:"<email>"`` for a customer's orders and ``name:"<#1001>"`` for a named one.
  The search string travels as a GraphQL variable, and each value is quoted and escaped in
  Shopify's search syntax, so nothing a customer (or a model's tool call) writes can add a
  term or an ``OR`` to the query.
- Answers ``None`` for stores without usable tokens (imported stores, uninstalled apps): the
  imported orders answer for them.
- Keeps answers for ``TASKRA_SHOPIFY_ORDERS_CACHE_SECONDS`` per (store, search), so a burst
  of messages, the draft and the conversation page cost one query. Failures are not kept.
- Shopify down, rate limited (429, ``THROTTLED``), slow (past
  ``TASKRA_SHOPIFY_ORDERS_TIMEOUT_SECONDS``) or refusing: :class:`OrdersUnavailable`, which
  drafting turns into "order data is unavailable" and an escalation.

Whatever Shopify returns, the caller (drafting, the sidebar) shows an order only to the
customer who placed it (:func:`taskra_core.drafting.orders.owns`).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskra_core.errors import OrdersUnavailable, ShopifyError
from taskra_core.hookspecs import hookimpl
from taskra_shopify.tokens import access_token, admin_graphql

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.models import Store

log = logging.getLogger(__name__)

PLUGIN_NAME = "taskra_shopify.orders"
# Shopify refuses a query whose calculated cost (``first`` times the cost of each item,
# nested) exceeds 1000 points: five orders with these fields ask for about 660. The newest
# five are what a support reply needs; the prompt shows three.
MAX_ORDERS = 5
CACHE_ENTRIES = 2048

# The fields summarise_order reads; no addresses, payment or contact details beyond the
# email and customer id that ownership is checked against.
ORDERS_QUERY = """
query TaskraOrders($query: String!, $first: Int!) {
  orders(first: $first, query: $query, sortKey: CREATED_AT, reverse: true) {
    nodes {
      id name email createdAt cancelledAt note
      displayFinancialStatus displayFulfillmentStatus
      customer { id }
      totalPriceSet { shopMoney { amount currencyCode } }
      shippingLine { title }
      lineItems(first: 10) {
        nodes { title variantTitle quantity sku originalUnitPriceSet { shopMoney { amount } } }
      }
      fulfillments(first: 3) {
        status displayStatus createdAt estimatedDeliveryAt inTransitAt deliveredAt
        trackingInfo(first: 2) { company number url }
        fulfillmentLineItems(first: 10) { nodes { quantity lineItem { sku } } }
      }
      refunds(first: 3) { createdAt totalRefundedSet { shopMoney { amount currencyCode } } }
    }
  }
}
"""


def search_term(field: str, value: str) -> str:
    """``field:"value"`` in Shopify's search syntax, with ``value`` unable to escape its quotes.

    Inside double quotes only ``\\`` and ``"`` are special; both are backslash-escaped, and
    control characters (a newline ending the term) are dropped.
    """
    printable = "".join(ch for ch in value if ch.isprintable())
    escaped = printable.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}:"{escaped}"'


def order_name(name: str) -> str:
    """``" 1001 "`` and ``"#1001"`` -> ``"#1001"``: how Shopify names orders."""
    core = name.strip().lstrip("#").strip()
    return f"#{core}" if core else ""


def connected(store: Store) -> bool:
    """Whether Taskra holds Shopify tokens for ``store`` (installed, not uninstalled)."""
    return store.access_token_enc is not None and store.uninstalled_at is None


class OrderCache:
    """Answers of recent searches, per (store id, search), each for ``ttl``; bounded LRU."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, str], tuple[datetime, list[dict[str, Any]]]] = (
            OrderedDict()
        )

    def get(self, key: tuple[int, str], now: datetime) -> list[dict[str, Any]] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        # A copy: callers may annotate what they get; the cached answer must stay Shopify's.
        return copy.deepcopy(entry[1])

    def put(self, key: tuple[int, str], orders: list[dict[str, Any]], expires: datetime) -> None:
        self._entries[key] = (expires, copy.deepcopy(orders))
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class ShopifyOrders:
    """The live order source, one per Taskra (its plugin manager holds it, with its cache)."""

    def __init__(self) -> None:
        self.cache = OrderCache()

    @hookimpl
    async def find_orders(
        self, taskra: Taskra, store: Store, email: str | None, name: str | None
    ) -> list[dict[str, Any]] | None:
        """The store's orders placed with ``email`` plus the order called ``name``, newest
        first; ``None`` when Taskra has no Shopify tokens for the store."""
        if not connected(store):
            return None
        searches: list[tuple[str, str]] = []
        if email and email.strip():
            searches.append(("email", email.strip().lower()))
        if name and order_name(name):
            searches.append(("name", order_name(name)))
        found: list[dict[str, Any]] = []
        for field, value in searches:
            # Shopify's search is tokenized and forgiving; only exact matches are kept, so a
            # near match can never be passed off as the order asked for.
            found.extend(
                o for o in await self._search(taskra, store, field, value) if _is(o, field, value)
            )
        return found

    async def _search(
        self, taskra: Taskra, store: Store, field: str, value: str
    ) -> list[dict[str, Any]]:
        assert store.id is not None
        query = search_term(field, value)
        key = (store.id, query)
        ttl = taskra.settings.shopify_orders_cache_seconds
        cached = self.cache.get(key, taskra.clock.now()) if ttl else None
        if cached is not None:
            return cached
        orders = [stored_shape(node) for node in await _fetch(taskra, store, query)]
        if ttl:
            self.cache.put(key, orders, taskra.clock.now() + timedelta(seconds=ttl))
        return orders


async def _fetch(taskra: Taskra, store: Store, query: str) -> list[dict[str, Any]]:
    """The order nodes Shopify finds for ``query``; :class:`OrdersUnavailable` if it cannot."""
    try:
        # Outside the timeout: cancelling a token refresh half-way would lose the rotated
        # refresh token. With a fresh token, admin_graphql below does not refresh again.
        await access_token(taskra, store)
        async with asyncio.timeout(taskra.settings.shopify_orders_timeout_seconds):
            data = await admin_graphql(
                taskra, store, ORDERS_QUERY, {"query": query, "first": MAX_ORDERS}
            )
    except TimeoutError:
        log.warning("shopify orders timed out", extra={"shop": store.domain})
        raise OrdersUnavailable(
            f"Shopify did not answer the order look-up for {store.domain} in time."
        ) from None
    except ShopifyError as exc:
        log.warning("shopify orders unavailable", extra={"shop": store.domain, "error": str(exc)})
        raise OrdersUnavailable(f"Shopify's orders for {store.domain}: {exc}") from exc
    return _nodes(data.get("orders") or {})


def _is(order: dict[str, Any], field: str, value: str) -> bool:
    if field == "email":
        return str(order.get("email") or "").strip().lower() == value
    return str(order.get("name") or "") == value


def _nodes(connection: Any) -> list[dict[str, Any]]:
    """The items of a connection (``nodes`` or ``edges``) or of a plain list."""
    if isinstance(connection, list):
        return [item for item in connection if isinstance(item, dict)]
    if not isinstance(connection, dict):
        return []
    if isinstance(connection.get("nodes"), list):
        return _nodes(connection["nodes"])
    return _nodes([edge.get("node") for edge in connection.get("edges") or []])


def stored_shape(node: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL order node in the shape of imported orders (connections as plain lists),
    which :func:`~taskra_core.drafting.orders.summarise_order` reads."""
    order = {k: v for k, v in node.items() if k not in ("lineItems", "fulfillments")}
    order["lineItems"] = [
        {
            "title": item.get("title"),
            "variantTitle": item.get("variantTitle"),
            "quantity": item.get("quantity"),
            "sku": item.get("sku"),
            "originalUnitPrice": (
                (item.get("originalUnitPriceSet") or {}).get("shopMoney") or {}
            ).get("amount"),
        }
        for item in _nodes(node.get("lineItems"))
    ]
    order["fulfillments"] = [
        {
            **{k: v for k, v in f.items() if k != "fulfillmentLineItems"},
            "trackingInfo": _nodes(f.get("trackingInfo")),
            "fulfillmentLineItems": [
                {"sku": (line.get("lineItem") or {}).get("sku"), "quantity": line.get("quantity")}
                for line in _nodes(f.get("fulfillmentLineItems"))
            ],
        }
        for f in _nodes(node.get("fulfillments"))
    ]
    order["refunds"] = _nodes(node.get("refunds"))
    return order


def register(taskra: Taskra) -> None:
    """Add the live order source to ``taskra``'s plugins (once; called at start-up).

    Registered after the default plugins, so it is asked first and its copy of an order
    wins over an imported one; the imported orders still answer for stores it returns
    ``None`` for.
    """
    if taskra.pm.get_plugin(PLUGIN_NAME) is None:
        taskra.pm.register(ShopifyOrders(), name=PLUGIN_NAME)
