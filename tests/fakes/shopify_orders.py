"""The fake Shopify's orders: the ``orders`` root field over the demo store's orders.

``orders(first:, after:, query:, sortKey:, reverse:)`` answers from
``customers_orders.json`` (already in Admin GraphQL shape, with connections flattened to
lists; here they become connections again: ``lineItems`` and ``fulfillmentLineItems``;
``fulfillments``, ``trackingInfo`` and ``refunds`` stay lists taking ``first``).

``query`` follows Shopify's search syntax as far as order look-ups need it: terms
``field:value`` where a value is a bare word or a quoted string with backslash escapes,
implicit AND between terms, ``OR`` between groups, and a bare word matching a name or an
email. ``OR`` is honoured so that a test can see a search value escape its quotes and widen
the query, if Taskra ever failed to escape one.

Registered in :data:`~tests.fakes.shopify_graphql.QUERY_FIELDS` on import. A test can give
one fake other orders with ``fake.orders = [...]`` (same shape as the demo file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from taskra_core.demo import FELLANDFORD
from tests.fakes.shopify_graphql import QUERY_FIELDS, GraphQLError, Root, connection

DEMO_ORDERS: list[dict[str, Any]] = json.loads((FELLANDFORD / "customers_orders.json").read_text())[
    "orders"
]

# Nullable fields a demo order may leave out; Shopify answers them with null.
_ORDER_NULLS = dict.fromkeys(("note", "cancelledAt", "shippingLine", "customer", "email"))
_FULFILLMENT_NULLS = dict.fromkeys(
    ("createdAt", "estimatedDeliveryAt", "inTransitAt", "deliveredAt", "displayStatus")
)
_LINE_NULLS = dict.fromkeys(("variantTitle", "sku"))

_TERM = re.compile(
    r"""\s*(?:(?P<field>[A-Za-z_]+):)?(?P<value>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[^\s"']+)"""
)


def _listed(items: list[Any]) -> Callable[[dict[str, Any]], list[Any]]:
    """A list field taking an optional ``first`` (``Order.fulfillments(first: 5)``)."""

    def resolve(args: dict[str, Any]) -> list[Any]:
        first = args.get("first")
        return items[:first] if isinstance(first, int) else items

    return resolve


def _connected(items: list[Any], bulk: bool) -> Callable[[dict[str, Any]], Any]:
    return lambda args: connection(items, args, bulk=bulk)


def graphql_order(order: dict[str, Any], *, bulk: bool = False) -> dict[str, Any]:
    """A demo order (lists) as Admin GraphQL answers it (connections where Shopify has them)."""
    money = order.get("totalPriceSet", {}).get("shopMoney", {}).get("currencyCode", "GBP")
    items = [
        {
            "__typename": "LineItem",
            **_LINE_NULLS,
            **item,
            "originalUnitPriceSet": {
                "shopMoney": {"amount": item.get("originalUnitPrice"), "currencyCode": money}
            },
        }
        for item in order.get("lineItems") or []
    ]
    by_sku = {item.get("sku"): item for item in items}
    fulfillments = [
        {
            "__typename": "Fulfillment",
            **_FULFILLMENT_NULLS,
            **{k: v for k, v in f.items() if k not in ("trackingInfo", "fulfillmentLineItems")},
            "trackingInfo": _listed(list(f.get("trackingInfo") or [])),
            "fulfillmentLineItems": _connected(
                [
                    {"quantity": line.get("quantity"), "lineItem": by_sku.get(line.get("sku"))}
                    for line in f.get("fulfillmentLineItems") or []
                ],
                bulk,
            ),
        }
        for f in order.get("fulfillments") or []
    ]
    return {
        "__typename": "Order",
        **_ORDER_NULLS,
        **{k: v for k, v in order.items() if k not in ("lineItems", "fulfillments", "refunds")},
        "lineItems": _connected(items, bulk),
        "fulfillments": _listed(fulfillments),
        "refunds": _listed(list(order.get("refunds") or [])),
    }


def _unquote(value: str) -> str:
    if value[:1] in "\"'" and len(value) >= 2:
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_search(query: str) -> list[list[tuple[str | None, str]]]:
    """``query`` as groups joined by OR, each a list of (field, value) terms joined by AND."""
    groups: list[list[tuple[str | None, str]]] = [[]]
    pos = 0
    while query[pos:].strip():
        match = _TERM.match(query, pos)
        if match is None:
            raise GraphQLError(f"Invalid search query {query!r} at {pos}", "badRequest")
        pos = match.end()
        field, raw = match.group("field"), match.group("value")
        if field is None and raw == "OR":
            groups.append([])
        elif not (field is None and raw == "AND"):
            groups[-1].append((field, _unquote(raw)))
    return groups


def _term_matches(order: dict[str, Any], field: str | None, value: str) -> bool:
    email = str(order.get("email") or "").lower()
    name = str(order.get("name") or "")
    if field == "email":
        return email == value.lower()
    if field == "name":
        return name.lstrip("#") == value.lstrip("#")
    if field is None:
        return value.lower() in (email, name.lower(), name.lstrip("#"))
    return str(order.get(field)) == value


def search(orders: list[dict[str, Any]], query: str | None) -> list[dict[str, Any]]:
    """The orders a Shopify search ``query`` selects (all of them without one)."""
    if not query or not query.strip():
        return list(orders)
    groups = [g for g in parse_search(query) if g]
    return [
        order
        for order in orders
        if any(all(_term_matches(order, f, v) for f, v in group) for group in groups)
    ]


def resolve_orders(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    """``orders(first:, after:, query:, sortKey:, reverse:)`` over the fake's orders."""
    orders = search(getattr(ctx.fake, "orders", DEMO_ORDERS), args.get("query"))
    sort_key = args.get("sortKey") or "ID"
    if sort_key not in ("ID", "CREATED_AT"):
        raise GraphQLError(f"The fake cannot sort orders by {sort_key}", "badRequest")
    field = "createdAt" if sort_key == "CREATED_AT" else "id"
    orders = sorted(orders, key=lambda o: str(o.get(field)), reverse=bool(args.get("reverse")))
    return connection([graphql_order(o, bulk=ctx.bulk) for o in orders], args, bulk=ctx.bulk)


QUERY_FIELDS["orders"] = resolve_orders
