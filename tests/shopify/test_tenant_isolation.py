"""Tenant isolation, for every route of the JSON API as its OpenAPI document lists them: a
second store's valid session token never reads or changes the first store's data.

The routes come from ``/api/v1/openapi.json`` at test time, so a new route is covered the
moment it is declared; a path parameter this test cannot fill with the first store's record
fails the test until one is added to ``victim_ids``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import (
    Account,
    Conversation,
    Customer,
    Draft,
    KnowledgeItem,
    Message,
    Store,
)
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token

OTHER = "other-shop.myshopify.com"
AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
VICTIM_EMAIL = "priya.raman84@example.com"
MARKER = "Tenant-A-marker-7c1e"
# A stream held open until it times out; its isolation is tested in test_pages.
STREAMS = {"/api/v1/events"}
# Path parameters that name a record within the caller's store rather than identify one
# across stores: an FAQ key. B writing "sizing-guide" writes B's own FAQ of that name; the
# snapshot test checks that A's stays as it was.
NAMES = {"key"}


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
async def world(
    database_url: str, fake_shopify: FakeShopify
) -> AsyncIterator[tuple[Taskra, httpx.AsyncClient, dict[str, Any]]]:
    """Store A (the demo, with a conversation, a draft, an agent, FAQs) and store B; the app
    and the ids of A's records."""
    core = make_test_taskra(
        database_url,
        load_entrypoints=True,
        shopify_origin=fake_shopify.origin,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        now=AS_OF,
        events_stream_seconds=0.2,
    )
    app = create_app(core, run_worker=False)
    async with app.router.lifespan_context(app):
        await import_store(core, FELLANDFORD)
        async with core.db.session() as session:
            store = await get_store(session, SHOP)
        assert store.id is not None
        async with core.db.transaction() as session:
            session.add(Store(domain=OTHER, name="Other", created_at=AS_OF, updated_at=AS_OF))
        received = await core.inbox.receive(
            store.id,
            InboundMessage(
                channel="email",
                from_email=VICTIM_EMAIL,
                subject=f"Order question {MARKER}",
                text=f"Where is order #1038? {MARKER}",
            ),
        )
        await Worker(core).run_until_idle()
        agent = await core.accounts.create_account(
            store.id, "agent@fellandford.example.com", "Agent A", role="agent"
        )
        async with core.db.session() as session:
            draft = (
                await session.execute(select(Draft).where(col(Draft.store_id) == store.id))
            ).scalar_one()
            faq = (
                (
                    await session.execute(
                        select(KnowledgeItem).where(
                            col(KnowledgeItem.store_id) == store.id,
                            col(KnowledgeItem.kind) == "faq",
                        )
                    )
                )
                .scalars()
                .first()
            )
        assert faq is not None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
            export = await c.post(
                "/api/v1/privacy/exports",
                json={"email": VICTIM_EMAIL},
                headers=bearer(SHOP),
            )
            await Worker(core).run_until_idle()
            ids = {
                "conversation_id": received.conversation.id,
                "message_id": received.message.id,
                "customer_id": received.conversation.customer_id,
                "draft_id": draft.id,
                "account_id": agent.id,
                "key": faq.source_id.removeprefix("faq:"),
                "export_id": _export_id(export),
            }
            session_b = await c.get("/api/v1/session", headers=bearer(OTHER))
            assert session_b.status_code == 200, session_b.text
            yield core, c, ids


def _export_id(response: httpx.Response) -> int:
    assert response.status_code in (200, 201, 202), response.text
    body = response.json()
    found = body.get("id") or body.get("export_id") or (body.get("export") or {}).get("id")
    assert isinstance(found, int), body
    return found


def bearer(shop: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_id_token(shop)}"}


async def _routes(client: httpx.AsyncClient) -> list[tuple[str, str, dict[str, Any], Any]]:
    doc = (await client.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    routes = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            body_schema = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            body = example(body_schema, schemas) if body_schema else None
            routes.append((method.upper(), path, operation, body))
    return routes


def example(schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """A small value the schema accepts: required properties only, first choices."""
    if "$ref" in schema:
        return example(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return example(options[0], schemas)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        return {
            name: example(prop, schemas)
            for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return [example(schema.get("items", {}), schemas)] * int(schema.get("minItems", 0))
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if schema.get("format") == "email" or "email" in json.dumps(schema).lower():
        return "someone@example.com"
    return "x" * max(int(schema.get("minLength", 1)), 1)


async def test_no_route_lets_another_store_reach_a_record_by_id(
    world: tuple[Taskra, httpx.AsyncClient, dict[str, Any]],
) -> None:
    """Every route with a path parameter, filled with store A's record and called with store
    B's token (with a valid body), answers 404 or 403 and shows none of A's data."""
    _, client, ids = world
    unknown: set[str] = set()
    leaks: list[str] = []
    checked = 0
    for method, path, _, body in await _routes(client):
        names = re.findall(r"\{(\w+)\}", path)
        if not names:
            continue
        if any(name not in ids for name in names):
            unknown.update(name for name in names if name not in ids)
            continue
        url = path.format(**ids)
        response = await client.request(method, url, json=body, headers=bearer(OTHER))
        checked += 1
        refused = response.status_code in (403, 404) or set(names) <= NAMES
        if not refused or MARKER in response.text:
            leaks.append(f"{method} {url} -> {response.status_code} {response.text[:200]}")
    assert not unknown, f"add store A's records for these path parameters: {sorted(unknown)}"
    assert not leaks, "\n".join(leaks)
    assert checked >= 15


async def test_no_list_or_read_route_shows_another_stores_data(
    world: tuple[Taskra, httpx.AsyncClient, dict[str, Any]],
) -> None:
    """Every GET without path parameters, called with store B's token, answers without any of
    store A's customers, messages or subjects; and with A's token the same routes do show A's
    conversation (so the check could fail)."""
    _, client, _ = world
    leaks: list[str] = []
    shown_to_owner = 0
    for method, path, _, _ in await _routes(client):
        if method != "GET" or "{" in path or path in STREAMS:
            continue
        theirs = await client.get(path, params={"q": "order"}, headers=bearer(OTHER))
        if VICTIM_EMAIL in theirs.text or MARKER in theirs.text:
            leaks.append(f"GET {path} -> {theirs.status_code}")
        mine = await client.get(path, params={"q": "order"}, headers=bearer(SHOP))
        shown_to_owner += MARKER in mine.text or VICTIM_EMAIL in mine.text
    assert not leaks, leaks
    assert shown_to_owner >= 2  # the conversation list and search at least


async def test_another_stores_attempts_change_nothing(
    world: tuple[Taskra, httpx.AsyncClient, dict[str, Any]],
) -> None:
    """After store B called every write route with A's ids, A's conversation, draft, agent,
    FAQ, customer and message are exactly as before."""
    core, client, ids = world

    async def snapshot() -> tuple[Any, ...]:
        async with core.db.session() as session:
            conversation = await session.get(Conversation, ids["conversation_id"])
            draft = await session.get(Draft, ids["draft_id"])
            customer = await session.get(Customer, ids["customer_id"])
            assert conversation is not None
            assert draft is not None
            assert customer is not None
            counts = []
            for model in (Message, Account, KnowledgeItem):
                result = await session.execute(
                    select(func.count())
                    .select_from(model)
                    .where(col(model.store_id) == conversation.store_id)  # type: ignore[attr-defined]
                )
                counts.append(result.scalar())
            faqs = await session.execute(
                select(KnowledgeItem.source_id, KnowledgeItem.body).where(  # type: ignore[call-overload]
                    col(KnowledgeItem.store_id) == conversation.store_id,
                    col(KnowledgeItem.kind) == "faq",
                )
            )
            counts.append(sorted(faqs.all()))
            return (
                conversation.status,
                list(conversation.tags or []),
                conversation.assignee_id,
                draft.state,
                draft.text,
                customer.email,
                customer.name,
                customer.ai_processing_objected,
                *counts,
            )

    before = await snapshot()
    for method, path, _, body in await _routes(client):
        if method == "GET" or path in STREAMS:
            continue
        url = path.format(**ids) if "{" in path else path
        if "{" not in path and "privacy" not in path:
            continue  # store-wide writes act on the caller's own store
        await client.request(method, url, json=body, headers=bearer(OTHER))
    # Privacy writes name a customer by email: B naming A's customer must not reach A.
    for path in ("/api/v1/privacy/erasures", "/api/v1/privacy/rectifications"):
        await client.post(
            path,
            json={"email": VICTIM_EMAIL, "new_email": "evil@example.com", "name": "Evil"},
            headers=bearer(OTHER),
        )
    await client.put(
        "/api/v1/privacy/objections",
        json={"email": VICTIM_EMAIL, "objected": True},
        headers=bearer(OTHER),
    )
    await Worker(core).run_until_idle()
    assert await snapshot() == before
