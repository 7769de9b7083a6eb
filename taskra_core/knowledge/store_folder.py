"""Reading a store folder (docs/store-format.md) into validated records, writing nothing.

Every problem raises :class:`InvalidInput` naming the file and the record, so the importer can
read and check the whole folder before its first write.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskra_core.errors import InvalidInput
from taskra_core.inbox.messages import normalize_email
from taskra_core.knowledge.documents import (
    Document,
    faq_document,
    policy_document,
    product_document,
)
from taskra_core.stores import normalize_domain

SHOP_FILE = "shop.json"
PRODUCTS_FILE = "products.json"
POLICIES_FILE = "policies.json"
FAQS_FILE = "faqs.json"
ORDERS_FILE = "customers_orders.json"

# Handles, policy types and FAQ keys end up in source ids that drafts cite: one token each.
_ID_PART = re.compile(r"^[^\s:]{1,200}$")


@dataclass(frozen=True)
class ShopInfo:
    """The store's own details from ``shop.json``; ``None`` means "not given, keep as is"."""

    domain: str
    name: str | None
    email: str | None
    currency: str | None
    brand_voice: str | None


@dataclass(frozen=True)
class CustomerRecord:
    email: str  # normalized
    name: str | None
    shopify_customer_id: str | None


@dataclass(frozen=True)
class OrderRecord:
    name: str
    email: str | None  # normalized
    shopify_id: str | None
    placed_at: datetime | None
    data: dict[str, Any]


@dataclass(frozen=True)
class StoreFolder:
    """Everything in a store folder, checked and ready to write."""

    shop: ShopInfo
    documents: tuple[Document, ...]
    customers: tuple[CustomerRecord, ...]
    orders: tuple[OrderRecord, ...]
    as_of: str | None  # ISO 8601, aware UTC


def read_store_folder(folder: Path) -> StoreFolder:
    """Read and validate ``folder``; raise :class:`InvalidInput` on the first problem."""
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder; give the path of a store folder.")
    shop = _read_shop(folder / SHOP_FILE)
    documents = [
        *_read_products(folder / PRODUCTS_FILE),
        *_read_policies(folder / POLICIES_FILE),
        *_read_faqs(folder / FAQS_FILE),
    ]
    customers, orders, as_of = _read_customers_orders(folder / ORDERS_FILE)
    return StoreFolder(
        shop=shop,
        documents=tuple(documents),
        customers=customers,
        orders=orders,
        as_of=as_of,
    )


def _load(path: Path, *, required: bool = False) -> Any:
    if not path.is_file():
        if required:
            raise InvalidInput(f"{path}: missing. Every store folder needs {path.name}.")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text ({exc.reason}).") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from exc


def _records(path: Path, key: str) -> list[dict[str, Any]]:
    """A file's list of objects; also accepts the Admin REST API's ``{"<key>": [...]}``."""
    data = _load(path)
    if data is None:
        return []
    if isinstance(data, dict) and isinstance(data.get(key), list):
        data = data[key]
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected a JSON list of {key}, got {type(data).__name__}.")
    for index, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise InvalidInput(f"{path}: entry {index} is not a JSON object.")
    return data


def _text(path: Path, where: str, record: dict[str, Any], field: str, *, max_len: int) -> str:
    value = record.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{path}: {where}: {field!r} must be a string.")
    if len(value.strip()) > max_len:
        raise InvalidInput(f"{path}: {where}: {field!r} is longer than {max_len} characters.")
    return value.strip()


def _id_part(path: Path, where: str, record: dict[str, Any], field: str) -> str:
    value = _text(path, where, record, field, max_len=200)
    if not value:
        raise InvalidInput(f"{path}: {where} has no {field!r}; it is needed for its source id.")
    if not _ID_PART.match(value):
        raise InvalidInput(f"{path}: {where}: {field!r} {value!r} must not contain spaces or ':'.")
    return value


def _unique(path: Path, kind: str, value: str, seen: set[str]) -> None:
    if value in seen:
        raise InvalidInput(f"{path}: two {kind} share {value!r}; each must be unique.")
    seen.add(value)


def _read_shop(path: Path) -> ShopInfo:
    shop = _load(path, required=True)
    if not isinstance(shop, dict):
        raise InvalidInput(f"{path}: expected a JSON object, got {type(shop).__name__}.")
    domain = _text(path, "shop", shop, "domain", max_len=255)
    if not domain:
        raise InvalidInput(f"{path}: 'domain' is missing (e.g. \"example.myshopify.com\").")
    try:
        domain = normalize_domain(domain)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from exc
    email = _text(path, "shop", shop, "email", max_len=320) or None
    if email is not None:
        try:
            email = normalize_email(email)
        except InvalidInput as exc:
            raise InvalidInput(f"{path}: 'email': {exc}") from exc
    currency = _text(path, "shop", shop, "currency", max_len=3).upper() or None
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
        raise InvalidInput(f"{path}: 'currency' must be a 3-letter ISO code such as \"GBP\".")
    return ShopInfo(
        domain=domain,
        name=_text(path, "shop", shop, "name", max_len=255) or None,
        email=email,
        currency=currency,
        brand_voice=_text(path, "shop", shop, "brand_voice", max_len=10_000) or None,
    )


def _read_products(path: Path) -> list[Document]:
    documents, seen = [], set[str]()
    for index, product in enumerate(_records(path, "products"), start=1):
        where = f"product {index}" + (f" ({product['title']!r})" if product.get("title") else "")
        handle = _id_part(path, where, product, "handle")
        _unique(path, "products", handle, seen)
        _text(path, where, product, "title", max_len=10_000)
        if not isinstance(product.get("variants") or [], list):
            raise InvalidInput(f"{path}: {where}: 'variants' must be a list.")
        if not isinstance(product.get("options") or [], list):
            raise InvalidInput(f"{path}: {where}: 'options' must be a list.")
        documents.append(product_document(handle, product))
    return documents


def _read_policies(path: Path) -> list[Document]:
    documents, seen = [], set[str]()
    for index, policy in enumerate(_records(path, "policies"), start=1):
        where = f"policy {index}"
        policy_type = _id_part(path, where, policy, "type").upper()
        _unique(path, "policies", policy_type, seen)
        _text(path, where, policy, "title", max_len=10_000)
        _text(path, where, policy, "body", max_len=1_000_000)
        documents.append(policy_document(policy_type, policy))
    return documents


def _read_faqs(path: Path) -> list[Document]:
    documents, seen = [], set[str]()
    for index, faq in enumerate(_records(path, "faqs"), start=1):
        where = f"FAQ {index}"
        key = _id_part(path, where, faq, "key")
        _unique(path, "FAQs", key, seen)
        for field in ("question", "answer"):
            if not _text(path, f"{where} ({key})", faq, field, max_len=100_000):
                raise InvalidInput(f"{path}: {where} ({key}) has no {field!r}.")
        documents.append(faq_document(key, faq))
    return documents


def _read_customers_orders(
    path: Path,
) -> tuple[tuple[CustomerRecord, ...], tuple[OrderRecord, ...], str | None]:
    data = _load(path)
    if data is None:
        return (), (), None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a JSON object with 'customers' and 'orders'.")
    as_of = _timestamp(path, "'as_of'", data.get("as_of"))
    for key in ("customers", "orders"):
        if not isinstance(data.get(key) or [], list):
            raise InvalidInput(f"{path}: {key!r} must be a list.")
    customers: dict[str, CustomerRecord] = {}
    for index, customer in enumerate(data.get("customers") or [], start=1):
        person = _customer(path, index, customer)
        if person is not None:
            # The same person listed twice: the later entry is the newer one.
            customers[person.email] = person
    orders, seen = [], set[str]()
    for index, order in enumerate(data.get("orders") or [], start=1):
        record = _order(path, index, order)
        _unique(path, "orders", record.name, seen)
        orders.append(record)
    return (
        tuple(customers.values()),
        tuple(orders),
        as_of.isoformat() if as_of is not None else None,
    )


def _customer(path: Path, index: int, customer: Any) -> CustomerRecord | None:
    where = f"customer {index}"
    if not isinstance(customer, dict):
        raise InvalidInput(f"{path}: {where} is not a JSON object.")
    email = _email(path, where, customer)
    if email is None:
        return None  # customers without an email cannot write in, so nothing to match them by
    first = _text(path, where, customer, "firstName", max_len=255)
    last = _text(path, where, customer, "lastName", max_len=255)
    name = " ".join(part for part in (first, last) if part)[:255] or None
    return CustomerRecord(
        email=email,
        name=name,
        shopify_customer_id=_text(path, where, customer, "id", max_len=64) or None,
    )


def _order(path: Path, index: int, order: Any) -> OrderRecord:
    where = f"order {index}"
    if not isinstance(order, dict):
        raise InvalidInput(f"{path}: {where} is not a JSON object.")
    name = _text(path, where, order, "name", max_len=64)
    if not name:
        raise InvalidInput(f'{path}: {where} has no "name" (such as "#1001").')
    where = f"order {name}"
    return OrderRecord(
        name=name,
        email=_email(path, where, order),
        shopify_id=_text(path, where, order, "id", max_len=64) or None,
        placed_at=_timestamp(path, f"{where}: 'createdAt'", order.get("createdAt")),
        data=order,
    )


def _email(path: Path, where: str, record: dict[str, Any]) -> str | None:
    value = _text(path, where, record, "email", max_len=320)
    if not value:
        return None
    try:
        return normalize_email(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {where}: {exc}") from exc


def _timestamp(path: Path, what: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(
            f"{path}: {what} must be an ISO 8601 time with a zone, like "
            f'"2025-03-17T10:00:00Z"; got {value!r}.'
        )
    return parsed.astimezone(UTC)
