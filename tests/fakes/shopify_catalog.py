"""The fake Shopify's store data as Admin GraphQL: shop and policies, products, bulk operations.

Registers its root fields in :data:`~tests.fakes.shopify_graphql.QUERY_FIELDS` and
:data:`~tests.fakes.shopify_graphql.MUTATION_FIELDS` on import. Products are kept in the
Admin GraphQL shape, built from the demo store's REST-shaped ``products.json``.
"""

from __future__ import annotations

import dataclasses
import html
import re
from typing import TYPE_CHECKING, Any

from tests.fakes.shopify_graphql import (
    MUTATION_FIELDS,
    QUERY_FIELDS,
    GraphQLError,
    Root,
    connection,
    connection_field,
    jsonl_lines,
    parse,
    resolve,
)

if TYPE_CHECKING:
    from tests.fakes.shopify import FakeShopify

# What every demo product says it was last changed at, until a test changes it.
DEMO_UPDATED_AT = "2025-03-01T09:00:00Z"


def graphql_product(p: dict[str, Any], updated_at: str = DEMO_UPDATED_AT) -> dict[str, Any]:
    """A demo-store product (REST-like JSON) in Admin GraphQL shape (variants as a list)."""
    names = [o["name"] for o in sorted(p["options"], key=lambda o: o["position"])]
    variants = [
        {
            "__typename": "ProductVariant",
            "id": v["id"],
            "title": v["title"],
            "sku": v["sku"],
            "price": v["price"],
            "compareAtPrice": v["compare_at_price"],
            "inventoryQuantity": v["inventory_quantity"],
            "inventoryPolicy": v["inventory_policy"].upper(),
            "selectedOptions": [
                {"name": name, "value": v[f"option{i}"]}
                for i, name in enumerate(names, start=1)
                if v.get(f"option{i}") is not None
            ],
        }
        for v in p["variants"]
    ]
    return {
        "__typename": "Product",
        "id": p["id"],
        "handle": p["handle"],
        "title": p["title"],
        "descriptionHtml": p["body_html"],
        "description": html.unescape(re.sub(r"<[^>]+>", " ", p["body_html"])).strip(),
        "vendor": p["vendor"],
        "productType": p["product_type"],
        "tags": list(p["tags"]),
        "status": p["status"].upper(),
        "options": [
            {"name": o["name"], "position": o["position"], "values": o["values"]}
            for o in p["options"]
        ],
        "totalInventory": sum(v["inventory_quantity"] for v in p["variants"]),
        "updatedAt": updated_at,
        "variants": variants,
    }


def _view(product: dict[str, Any], *, bulk: bool = False) -> dict[str, Any]:
    """A stored product as the resolver answers it: ``variants`` becomes a connection."""
    return product | {"variants": connection_field(product["variants"], bulk=bulk)}


@dataclasses.dataclass
class BulkOperation:
    """A submitted bulk query: RUNNING until its status has been read ``polls_left`` times."""

    id: str
    shop: str
    query: str
    created_at: str
    lines: list[dict[str, Any]]
    polls_left: int
    status: str = "RUNNING"
    completed_at: str | None = None

    def answer(self, fake: FakeShopify) -> dict[str, Any]:
        done = self.status == "COMPLETED"
        number = self.id.rsplit("/", 1)[-1]
        return {
            "__typename": "BulkOperation",
            "id": self.id,
            "status": self.status,
            "type": "QUERY",
            "query": self.query,
            "errorCode": None,
            "createdAt": self.created_at,
            "completedAt": self.completed_at,
            "objectCount": str(len(self.lines)) if done else "0",
            "rootObjectCount": str(sum("__parentId" not in line for line in self.lines))
            if done
            else "0",
            "fileSize": None,
            "url": f"{fake.origin}/bulk/{number}.jsonl" if done and self.lines else None,
            "partialDataUrl": None,
        }

    def poll(self, fake: FakeShopify) -> dict[str, Any]:
        """Its status as a poll sees it; reading it brings completion closer."""
        if self.status == "RUNNING":
            if self.polls_left <= 0:
                self.status, self.completed_at = "COMPLETED", fake.now_iso()
            self.polls_left -= 1
        return self.answer(fake)


# --- resolvers -------------------------------------------------------------------------------


def shop(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    fake, domain = ctx.fake, ctx.shop
    policies = [
        {
            "__typename": "ShopPolicy",
            "id": f"gid://shopify/ShopPolicy/{n}",
            "type": p["type"],
            "title": p["title"],
            "body": p["body"],
            "url": f"https://{domain}/policies/{p['type'].lower().replace('_', '-')}",
            "updatedAt": p.get("updatedAt", DEMO_UPDATED_AT),
        }
        for n, p in enumerate(fake.policies, start=1)
    ]
    d = fake.shop_data
    return {
        "__typename": "Shop",
        "id": "gid://shopify/Shop/1",
        "name": d["name"],
        "email": d["email"],
        "contactEmail": d["email"],
        "currencyCode": d["currency"],
        "myshopifyDomain": domain,
        "primaryDomain": {"url": f"https://{domain}", "host": domain},
        "shopPolicies": policies,
    }


def products(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    items = [_view(p, bulk=ctx.bulk) for p in ctx.fake.catalog(ctx.shop)]
    return connection(items, args, bulk=ctx.bulk)


def product(ctx: Root, args: dict[str, Any]) -> dict[str, Any] | None:
    found = ctx.fake.find_product(ctx.shop, str(args.get("id")))
    return _view(found) if found is not None else None


def products_count(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    return {"count": len(ctx.fake.catalog(ctx.shop)), "precision": "EXACT"}


def bulk_operation(ctx: Root, args: dict[str, Any]) -> dict[str, Any] | None:
    operation = ctx.fake.bulk_operations.get(str(args.get("id")))
    if operation is None or operation.shop != ctx.shop:
        return None
    return operation.poll(ctx.fake)


def current_bulk_operation(ctx: Root, args: dict[str, Any]) -> dict[str, Any] | None:
    mine = [op for op in ctx.fake.bulk_operations.values() if op.shop == ctx.shop]
    return mine[-1].poll(ctx.fake) if mine else None


def node(ctx: Root, args: dict[str, Any]) -> dict[str, Any] | None:
    gid = str(args.get("id"))
    if gid.startswith("gid://shopify/BulkOperation/"):
        return bulk_operation(ctx, args)
    return product(ctx, args)


def bulk_operation_run_query(ctx: Root, args: dict[str, Any]) -> dict[str, Any]:
    fake, query = ctx.fake, str(args.get("query") or "")
    running = [op for op in fake.bulk_operations.values() if op.shop == ctx.shop]
    if running and running[-1].status == "RUNNING":
        message = "A bulk query operation for this app and shop is already in progress."
        return {"bulkOperation": None, "userErrors": [{"field": None, "message": message}]}
    try:
        operation = parse(query, {})
        data = resolve(Root(fake, ctx.shop, bulk=True), operation)
    except GraphQLError as exc:
        return {
            "bulkOperation": None,
            "userErrors": [{"field": ["query"], "message": f"Invalid bulk query: {exc}"}],
        }
    number = len(fake.bulk_operations) + 1
    submitted = BulkOperation(
        id=f"gid://shopify/BulkOperation/{number}",
        shop=ctx.shop,
        query=query,
        created_at=fake.now_iso(),
        lines=jsonl_lines(data),
        polls_left=fake.bulk_polls,
    )
    fake.bulk_operations[submitted.id] = submitted
    return {"bulkOperation": submitted.answer(fake) | {"status": "CREATED"}, "userErrors": []}


QUERY_FIELDS.update(
    {
        "shop": shop,
        "products": products,
        "product": product,
        "productsCount": products_count,
        "bulkOperation": bulk_operation,
        "currentBulkOperation": current_bulk_operation,
        "node": node,
    }
)
MUTATION_FIELDS["bulkOperationRunQuery"] = bulk_operation_run_query
