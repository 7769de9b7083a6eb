"""A store's products and policies from Admin GraphQL, as knowledge documents.

A product is first put in the shape of the Admin REST product resource, the shape of
``products.json`` in a store folder (docs/store-format.md), and then turned into a document
by the same :func:`~taskra_core.knowledge.documents.product_document` that ``taskra store
import`` uses: the same source id (``product:<handle>``), text, passages and keywords, so
search and drafting cannot tell a synced product from an imported one. Policies likewise
keep only ``type``, ``title`` and ``body``, exactly what ``policies.json`` holds.

The record also carries Shopify's ``updated_at``: it is the version of the product that was
applied, which webhook handlers compare with a delivery's ``triggered_at`` (see
:func:`refresh_product`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskra_core.errors import InvalidInput, ShopifyRejected, ShopifyUnavailable
from taskra_core.knowledge.documents import Document, policy_document, product_document
from taskra_core.knowledge.importer import remove_documents, upsert_documents
from taskra_core.models import KnowledgeItem, Store
from taskra_shopify.tokens import admin_graphql

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)

_ITEMS: Table = KnowledgeItem.__table__  # type: ignore[attr-defined]
PRODUCT_GID = "gid://shopify/Product/"
# Requested cost of one page stays under Shopify's 1000-point cap per query:
# 2 + 15 * (1 product + 1 options + variants(2 + 30 * 2)) = 962.
PAGE_PRODUCTS = 15
PAGE_VARIANTS = 30
MORE_VARIANTS = 200  # a product's further variants, one product per query
# Waits in between attempts at a failed request that may work a moment later (5xx, network).
TRANSIENT_BACKOFF = (1.0, 3.0)

PRODUCT_FIELDS = """
  id handle title descriptionHtml vendor productType tags status updatedAt
  options { name position values }
"""
VARIANT_FIELDS = """
  id title sku price compareAtPrice inventoryQuantity inventoryPolicy
  selectedOptions { name value }
"""
PRODUCTS_QUERY = f"""
query TaskraProducts($first: Int!, $after: String, $variants: Int!) {{
  products(first: $first, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {PRODUCT_FIELDS}
      variants(first: $variants) {{
        pageInfo {{ hasNextPage endCursor }} nodes {{ {VARIANT_FIELDS} }}
      }}
    }}
  }}
}}
"""
PRODUCT_QUERY = f"""
query TaskraProduct($id: ID!, $variants: Int!, $after: String) {{
  product(id: $id) {{ {PRODUCT_FIELDS}
    variants(first: $variants, after: $after) {{
      pageInfo {{ hasNextPage endCursor }} nodes {{ {VARIANT_FIELDS} }}
    }}
  }}
}}
"""
SHOP_QUERY = """
query TaskraShop {
  shop { name email contactEmail currencyCode myshopifyDomain
         shopPolicies { type title body url updatedAt } }
}
"""
COUNT_QUERY = "query TaskraProductsCount { productsCount { count precision } }"


@dataclass(frozen=True)
class ShopProfile:
    """The shop's own details and its policies as documents."""

    name: str | None
    email: str | None
    currency: str | None
    policies: tuple[Document, ...]


# --- Admin GraphQL with waiting ---------------------------------------------------------------


async def graphql(
    taskra: Taskra, store: Store, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """:func:`admin_graphql`, waiting out short throttles and retrying transient failures.

    A throttle (429, ``THROTTLED``) that asks for no more than
    ``TASKRA_SHOPIFY_THROTTLE_WAIT_SECONDS`` is waited out here, because the points come
    back within seconds and giving up would waste the pages already fetched. A longer wait,
    or a server error that persists, raises :class:`ShopifyUnavailable` so the job retries
    later (its ``retry_after`` sets the delay, see the plugin's ``job_retry_delay``).
    """
    budget = taskra.settings.shopify_throttle_wait_seconds
    transient = 0
    while True:
        try:
            return await admin_graphql(taskra, store, query, variables)
        except ShopifyUnavailable as exc:
            if exc.retry_after is not None:
                wait = exc.retry_after
            elif transient < len(TRANSIENT_BACKOFF):
                wait, transient = TRANSIENT_BACKOFF[transient], transient + 1
            else:
                raise
            if wait > budget:
                raise
            budget -= wait
            log.info(
                "shopify asked to wait",
                extra={"shop": store.domain, "seconds": wait, "error": str(exc)},
            )
            await asyncio.sleep(wait)


# --- mapping ---------------------------------------------------------------------------------


def rest_product(node: dict[str, Any], variants: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An Admin GraphQL product (and its variant nodes) in the REST product shape that
    ``products.json`` uses, plus ``updated_at``."""
    options = sorted(
        (o for o in node.get("options") or [] if isinstance(o, dict)),
        key=lambda o: o.get("position") or 0,
    )
    names = [o.get("name") for o in options]
    return {
        "id": node.get("id"),
        "handle": node.get("handle"),
        "title": node.get("title"),
        "body_html": node.get("descriptionHtml") or "",
        "vendor": node.get("vendor"),
        "product_type": node.get("productType"),
        "tags": list(node.get("tags") or []),
        "status": str(node.get("status") or "").lower() or None,
        "options": [
            {"name": o.get("name"), "position": o.get("position"), "values": o.get("values")}
            for o in options
        ],
        "variants": [_rest_variant(v, names) for v in variants],
        "updated_at": node.get("updatedAt"),
    }


def _rest_variant(variant: dict[str, Any], names: list[Any]) -> dict[str, Any]:
    chosen = {o.get("name"): o.get("value") for o in variant.get("selectedOptions") or []}
    policy = variant.get("inventoryPolicy")
    return {
        "id": variant.get("id"),
        "title": variant.get("title"),
        "sku": variant.get("sku"),
        "price": variant.get("price"),
        "compare_at_price": variant.get("compareAtPrice"),
        "inventory_quantity": variant.get("inventoryQuantity"),
        "inventory_policy": str(policy).lower() if policy else None,
        # REST numbers a variant's option values by the product's option positions.
        **{f"option{i}": chosen.get(names[i - 1]) if i <= len(names) else None for i in (1, 2, 3)},
    }


def product_doc(node: dict[str, Any], variants: Sequence[dict[str, Any]]) -> Document:
    """The knowledge document of a product; :class:`InvalidInput` if it has no usable handle."""
    record = rest_product(node, variants)
    handle = str(record.get("handle") or "")
    if not handle or any(c.isspace() or c == ":" for c in handle):
        raise InvalidInput(f"Shopify product {record.get('id')} has no usable handle {handle!r}.")
    return product_document(handle, record)


def shop_profile(data: dict[str, Any]) -> ShopProfile:
    shop = data.get("shop") or {}
    policies = []
    for policy in shop.get("shopPolicies") or []:
        kind = str(policy.get("type") or "").upper()
        body = policy.get("body") or ""
        if kind and body.strip():  # Shopify lists policies the merchant never wrote, empty
            record = {"type": kind, "title": policy.get("title"), "body": body}
            policies.append(policy_document(kind, record))
    currency = str(shop.get("currencyCode") or "").upper()
    return ShopProfile(
        name=shop.get("name") or None,
        email=shop.get("contactEmail") or shop.get("email") or None,
        currency=currency if len(currency) == 3 else None,
        policies=tuple(policies),
    )


# --- reading ---------------------------------------------------------------------------------


async def fetch_shop(taskra: Taskra, store: Store) -> ShopProfile:
    return shop_profile(await graphql(taskra, store, SHOP_QUERY))


async def count_products(taskra: Taskra, store: Store) -> int:
    data = await graphql(taskra, store, COUNT_QUERY)
    return int((data.get("productsCount") or {}).get("count") or 0)


async def fetch_product(taskra: Taskra, store: Store, gid: str) -> Document | None:
    """The product ``gid`` with all its variants, or ``None`` if Shopify has no such product."""
    node = await _product_page(taskra, store, gid, None)
    if node is None:
        return None
    variants = await all_variants(taskra, store, node)
    return product_doc(node, variants)


async def all_variants(taskra: Taskra, store: Store, node: dict[str, Any]) -> list[dict[str, Any]]:
    """The variants of a product node, fetching the pages after its first one."""
    page = node.get("variants") or {}
    variants = list(page.get("nodes") or [])
    while (page.get("pageInfo") or {}).get("hasNextPage"):
        more = await _product_page(taskra, store, node["id"], page["pageInfo"]["endCursor"])
        if more is None:
            break  # deleted meanwhile: what was read is all there is
        page = more.get("variants") or {}
        variants += page.get("nodes") or []
    return variants


async def _product_page(
    taskra: Taskra, store: Store, gid: str, after: str | None
) -> dict[str, Any] | None:
    variables = {"id": gid, "variants": MORE_VARIANTS, "after": after}
    product: dict[str, Any] | None = (await graphql(taskra, store, PRODUCT_QUERY, variables)).get(
        "product"
    )
    return product


def product_gid(value: Any) -> str:
    """A product's GraphQL id from a webhook payload's ``admin_graphql_api_id`` or ``id``."""
    text = str(value or "").strip()
    if text.startswith(PRODUCT_GID) and text[len(PRODUCT_GID) :].isdigit():
        return text
    if text.isdigit():
        return f"{PRODUCT_GID}{text}"
    raise InvalidInput(f"{value!r} is not a Shopify product id.")


# --- writing ---------------------------------------------------------------------------------


async def items_of_product(session: AsyncSession, store_id: int, gid: str) -> list[Any]:
    """Rows (source_id, data) of the store's knowledge items for Shopify product ``gid``;
    several only if its handle changed and the old item was not removed yet."""
    rows = await session.execute(
        select(_ITEMS.c.source_id, _ITEMS.c.data).where(
            _ITEMS.c.store_id == store_id,
            _ITEMS.c.kind == "product",
            _ITEMS.c.data["id"].as_string() == gid,
        )
    )
    return list(rows)


def applied_at(rows: Sequence[Any]) -> datetime | None:
    """The newest Shopify ``updated_at`` among a product's stored items."""
    stamps = [_parse_time((row.data or {}).get("updated_at")) for row in rows]
    known = [stamp for stamp in stamps if stamp is not None]
    return max(known) if known else None


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


async def refresh_product(
    taskra: Taskra,
    session: AsyncSession,
    store: Store,
    gid: str,
    *,
    triggered_at: datetime | None = None,
) -> str:
    """Bring product ``gid`` up to date from Shopify; returns what happened.

    ``"stale"`` (nothing read or written) when ``triggered_at`` is not newer than the
    version already applied: an older delivery cannot carry news. Otherwise the product is
    fetched (outside ``session``: no database lock is held during the request) and written
    through ``session`` unless what is stored is newer: ``"updated"``, ``"unchanged"``,
    ``"removed"`` (Shopify no longer has it) or ``"absent"``.
    """
    assert store.id is not None
    async with taskra.db.session() as peek:
        current = applied_at(await items_of_product(peek, store.id, gid))
    if triggered_at is not None and current is not None and triggered_at <= current:
        return "stale"
    document = await fetch_product(taskra, store, gid)
    rows = await items_of_product(session, store.id, gid)
    if document is None:
        return "removed" if await remove_product(session, store.id, gid) else "absent"
    fetched = _parse_time(document.data.get("updated_at"))
    stored = applied_at(rows)
    if fetched is not None and stored is not None and fetched < stored:
        return "stale"  # another job applied a newer version while this one fetched
    renamed = [row.source_id for row in rows if row.source_id != document.source_id]
    if renamed:  # the handle changed: the old source id goes
        await remove_documents(session, store.id, renamed)
    added, updated = await upsert_documents(session, store.id, [document], taskra.clock.now())
    return "updated" if added or updated or renamed else "unchanged"


async def remove_product(session: AsyncSession, store_id: int, gid: str) -> int:
    """Remove the knowledge items of Shopify product ``gid``; returns how many there were."""
    rows = await items_of_product(session, store_id, gid)
    return await remove_documents(session, store_id, [row.source_id for row in rows])


def require_ok(errors: Any, what: str) -> None:
    """Raise :class:`ShopifyRejected` for a mutation's ``userErrors``."""
    if errors:
        messages = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
        raise ShopifyRejected(f"Shopify refused {what}: {messages or errors}")
