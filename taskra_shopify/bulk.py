"""The catalog through a bulk operation: submit, poll, download the JSONL, rebuild products.

Shopify runs the query in the background and writes one JSON object per line: each product,
then its variants as separate lines pointing back with ``__parentId``. Only operations that
ran :data:`BULK_QUERY` are ever applied (checked on the operation itself), so a bulk
operation of some other kind can never be read as "the catalog is empty".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from taskra_core.errors import ShopifyRejected, ShopifyUnavailable
from taskra_core.knowledge.documents import Document
from taskra_shopify.catalog import (
    PRODUCT_FIELDS,
    PRODUCT_GID,
    VARIANT_FIELDS,
    graphql,
    product_doc,
    require_ok,
)

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.models import Store

DOWNLOAD_TIMEOUT_SECONDS = 300.0
BULK_QUERY = (
    "{ products { edges { node { "
    + " ".join(PRODUCT_FIELDS.split())
    + " variants { edges { node { "
    + " ".join(VARIANT_FIELDS.split())
    + " } } } } } } }"
)
RUN_MUTATION = """
mutation TaskraBulkCatalog($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: false) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""
STATUS_QUERY = """
query TaskraBulkStatus($id: ID!) {
  bulkOperation(id: $id) { id status errorCode createdAt objectCount url query }
}
"""
RUNNING = ("CREATED", "RUNNING")


async def start(taskra: Taskra, store: Store) -> str:
    """Submit the catalog bulk query; returns the operation's id."""
    data = await graphql(taskra, store, RUN_MUTATION, {"query": BULK_QUERY})
    answer = data.get("bulkOperationRunQuery") or {}
    errors = answer.get("userErrors") or []
    if any("already in progress" in str(e.get("message", "")) for e in errors):
        # Another of this app's bulk queries runs for the shop; try again when it is done.
        raise ShopifyUnavailable(
            f"A bulk operation is already running for {store.domain}.", retry_after=60.0
        )
    require_ok(errors, "the catalog bulk query")
    operation = answer.get("bulkOperation") or {}
    if not operation.get("id"):
        raise ShopifyRejected(f"Shopify started no bulk operation for {store.domain}.")
    return str(operation["id"])


async def status(taskra: Taskra, store: Store, operation_id: str) -> dict[str, Any]:
    """The operation's status fields; :class:`ShopifyRejected` if it is not the store's."""
    operation = (await graphql(taskra, store, STATUS_QUERY, {"id": operation_id})).get(
        "bulkOperation"
    )
    if not isinstance(operation, dict):
        raise ShopifyRejected(f"{store.domain} has no bulk operation {operation_id}.")
    return operation


def is_catalog(operation: dict[str, Any]) -> bool:
    """Whether the operation ran Taskra's catalog query (not another bulk operation)."""
    return " ".join(str(operation.get("query") or "").split()) == BULK_QUERY


async def download(
    operation: dict[str, Any], on_line: Callable[[int], None] | None = None
) -> list[Document]:
    """The products of a completed operation's JSONL, each with all its variants."""
    url = operation.get("url")
    if not url:  # a catalog without products has no file at all
        return []
    products: dict[str, dict[str, Any]] = {}
    variants: dict[str, list[dict[str, Any]]] = {}
    count = 0
    try:
        async with (
            httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT_SECONDS) as client,
            client.stream("GET", str(url)) as response,
        ):
            if response.status_code >= 500:
                raise ShopifyUnavailable(
                    f"The bulk result download failed ({response.status_code})."
                )
            if response.status_code >= 400:
                raise ShopifyRejected(
                    f"The bulk result could not be downloaded ({response.status_code}); the "
                    "link may have expired: run the sync again."
                )
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                row = json.loads(line)
                parent = row.pop("__parentId", None)
                if parent is not None:
                    # Lines of one product need not be adjacent: collect, then assemble.
                    variants.setdefault(str(parent), []).append(row)
                elif str(row.get("id", "")).startswith(PRODUCT_GID):
                    products[str(row["id"])] = row
                count += 1
                if on_line is not None and count % 100 == 0:
                    on_line(count)
    except httpx.HTTPError as exc:
        raise ShopifyUnavailable(f"The bulk result download failed: {exc}") from exc
    except ValueError as exc:
        raise ShopifyRejected(f"The bulk result is not valid JSONL: {exc}") from exc
    if on_line is not None:
        on_line(count)
    return [product_doc(node, variants.get(gid, [])) for gid, node in products.items()]
