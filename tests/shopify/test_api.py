"""The JSON API at /api/v1 through real HTTP requests to the app, with session tokens
signed as Shopify signs them: what it returns, how it fails, and that one shop's valid
token never reaches another shop's data."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Store
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token

OTHER = "other-shop.myshopify.com"
AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)


class Api:
    """An HTTP client for the app, authenticated as a staff member of ``shop``."""

    def __init__(self, client: httpx.AsyncClient, shop: str) -> None:
        self.client = client
        self.shop = shop

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {mint_id_token(self.shop)}"}
        return await self.client.request(method, f"/api/v1{path}", headers=headers, **kw)


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    # The fake Shopify tells who a session token's staff member is (online token exchange).
    core = make_test_taskra(
        database_url,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
        now=AS_OF,
    )
    async with core:
        await import_store(core, FELLANDFORD)
        async with core.db.transaction() as session:
            session.add(Store(domain=OTHER, name="Other", created_at=AS_OF, updated_at=AS_OF))
        for shop, text in ((SHOP, "Do the Scafell boots run small?"), (OTHER, "Hello other")):
            async with core.db.session() as session:
                store = await get_store(session, shop)
            assert store.id is not None
            await core.inbox.receive(
                store.id,
                InboundMessage(channel="email", from_email="jo@example.com", text=text),
            )
        await Worker(core).run_until_idle()
        yield core


@pytest.fixture
async def client(taskra: Taskra) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(taskra, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
        yield c


@pytest.fixture
def mine(client: httpx.AsyncClient) -> Api:
    return Api(client, SHOP)


@pytest.fixture
def theirs(client: httpx.AsyncClient) -> Api:
    return Api(client, OTHER)


async def first_conversation(api: Api) -> dict[str, Any]:
    response = await api.request("GET", "/conversations")
    assert response.status_code == 200, response.text
    [conversation] = response.json()["conversations"]
    return conversation


async def test_requests_without_a_session_token_get_401_with_retry_header(
    client: httpx.AsyncClient,
) -> None:
    """No token: a JSON 401 that tells App Bridge to fetch a fresh token and retry."""
    response = await client.get("/api/v1/conversations")
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert response.json()["error"]["type"] == "InvalidSessionToken"
    expired = await client.get(
        "/api/v1/conversations",
        headers={"Authorization": f"Bearer {mint_id_token(SHOP, lifetime=-60)}"},
    )
    assert expired.status_code == 401


async def test_a_shop_that_never_installed_is_refused(client: httpx.AsyncClient) -> None:
    """A valid token for a shop with no store here is 401, not an empty inbox."""
    response = await Api(client, "stranger.myshopify.com").request("GET", "/conversations")
    assert response.status_code == 401
    assert "has not installed" in response.json()["error"]["message"]


async def test_open_a_conversation_with_its_messages_and_draft(mine: Api) -> None:
    """The inbox lists the shop's conversation; opening it shows the message and its draft."""
    conversation = await first_conversation(mine)
    response = await mine.request("GET", f"/conversations/{conversation['id']}")
    assert response.status_code == 200
    opened = response.json()
    assert [m["text"] for m in opened["messages"]] == ["Do the Scafell boots run small?"]
    [draft] = opened["drafts"]
    assert draft["model"] == "offline"
    assert draft["state"] in ("drafted", "escalated")
    assert set(draft["usage"]) == {
        "input_tokens",
        "cache_write_tokens",
        "cache_read_tokens",
        "output_tokens",
    }


async def test_approve_an_edited_draft_then_it_cannot_be_approved_again(mine: Api) -> None:
    """Approve with an edit records the edit; a second approval is a clear 422."""
    conversation = await first_conversation(mine)
    opened = (await mine.request("GET", f"/conversations/{conversation['id']}")).json()
    draft_id = opened["drafts"][0]["id"]
    approved = await mine.request(
        "POST", f"/drafts/{draft_id}/approve", json={"text": "They fit true to size, Jo."}
    )
    assert approved.status_code == 200
    assert approved.json()["state"] == "approved"
    assert approved.json()["outcome"] == "edited"
    again = await mine.request("POST", f"/drafts/{draft_id}/approve", json={})
    assert again.status_code == 422
    assert "only a waiting draft" in again.json()["error"]["message"]


async def test_another_shops_token_never_reaches_this_shops_data(mine: Api, theirs: Api) -> None:
    """With a valid token of another shop, every read and write of this shop's rows is 404."""
    conversation = await first_conversation(mine)
    opened = (await mine.request("GET", f"/conversations/{conversation['id']}")).json()
    draft_id = opened["drafts"][0]["id"]
    message_id = opened["messages"][0]["id"]
    listed = await theirs.request("GET", "/conversations")
    assert [c["subject"] for c in listed.json()["conversations"]] == [""]
    assert conversation["id"] not in [c["id"] for c in listed.json()["conversations"]]
    attempts = [
        ("GET", f"/conversations/{conversation['id']}", None),
        ("POST", f"/conversations/{conversation['id']}/status", {"status": "closed"}),
        ("PUT", f"/conversations/{conversation['id']}/tags", {"tags": ["x"]}),
        ("POST", f"/conversations/{conversation['id']}/notes", {"text": "hi"}),
        ("GET", f"/drafts/{draft_id}", None),
        ("POST", f"/drafts/{draft_id}/approve", {}),
        ("POST", f"/drafts/{draft_id}/discard", None),
        ("POST", f"/messages/{message_id}/regenerate", None),
    ]
    for method, path, body in attempts:
        response = await theirs.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    unchanged = (await mine.request("GET", f"/conversations/{conversation['id']}")).json()
    assert unchanged["conversation"]["status"] == "open"
    assert unchanged["conversation"]["tags"] == []
    assert unchanged["drafts"][0]["state"] == opened["drafts"][0]["state"]
    hits = await theirs.request("GET", "/search", params={"q": "Scafell"})
    assert hits.json() == {"messages": [], "customers": []}


async def test_bad_input_is_a_clear_422_and_changes_nothing(mine: Api) -> None:
    """Malformed JSON, a wrong field and an unknown status are refused with a message."""
    conversation = await first_conversation(mine)
    path = f"/conversations/{conversation['id']}/status"
    broken = await mine.request("POST", path, content=b"{not json")
    assert broken.status_code == 422
    assert "not valid JSON" in broken.json()["error"]["message"]
    wrong = await mine.request("POST", path, json={"status": "done"})
    assert wrong.status_code == 422
    assert "status" in wrong.json()["error"]["message"]
    bad_query = await mine.request("GET", "/conversations", params={"escalated": "maybe"})
    assert bad_query.status_code == 422
    after = await first_conversation(mine)
    assert after["status"] == "open"


async def test_notes_tags_status_and_assignment(mine: Api) -> None:
    """The inbox's writes: a note, tags, status, and unassigning."""
    cid = (await first_conversation(mine))["id"]
    note = await mine.request("POST", f"/conversations/{cid}/notes", json={"text": "VIP"})
    assert note.status_code == 201
    assert note.json()["direction"] == "note"
    tagged = await mine.request("PUT", f"/conversations/{cid}/tags", json={"tags": ["boots"]})
    assert tagged.json()["tags"] == ["boots"]
    closed = await mine.request("POST", f"/conversations/{cid}/status", json={"status": "closed"})
    assert closed.json()["status"] == "closed"
    unassigned = await mine.request(
        "POST", f"/conversations/{cid}/assign", json={"account_id": None}
    )
    assert unassigned.json()["assignee_id"] is None
    missing = await mine.request("POST", f"/conversations/{cid}/assign", json={"account_id": 999})
    assert missing.status_code == 404


async def test_ai_settings_round_trip(mine: Api, theirs: Api) -> None:
    """Autonomy and budget are set per shop and read back with acceptance and spend."""
    put = await mine.request(
        "PUT", "/ai/autonomy", json={"mode": "auto_send", "intent": "order_status"}
    )
    assert put.status_code == 200
    assert put.json()["autonomy"]["intents"]["order_status"] == "auto_send"
    budget = await mine.request("PUT", "/ai/budget", json={"usd": 20})
    assert budget.json()["budget"]["budget_usd"] == 20
    negative = await mine.request("PUT", "/ai/budget", json={"usd": -1})
    assert negative.status_code == 422
    other = (await theirs.request("GET", "/ai")).json()
    assert other["autonomy"]["intents"]["order_status"] == "draft"


async def test_openapi_document_lists_every_endpoint(client: httpx.AsyncClient) -> None:
    """The document is generated from the routes: each route appears with its method and body."""
    doc = (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    operations = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert ("/api/v1/drafts/{draft_id}/approve", "post") in operations
    assert ("/api/v1/conversations", "get") in operations
    assert ("/api/v1/ai/autonomy", "put") in operations
    approve = doc["paths"]["/api/v1/drafts/{draft_id}/approve"]["post"]
    assert approve["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ApproveBody"
    )
    assert "ApproveBody" in doc["components"]["schemas"]
    app = create_app(make_test_taskra("sqlite+aiosqlite:///:memory:"), run_worker=False)
    routed = {
        (route.path, method.lower())  # type: ignore[attr-defined]
        for route in app.routes
        if getattr(route, "path", "").startswith("/api/v1/")
        and route.path != "/api/v1/openapi.json"  # type: ignore[attr-defined]
        for method in route.methods - {"HEAD"}  # type: ignore[attr-defined]
    }
    # Back to the routed form: the convertor a route declares is the type the document gives.
    documented = {
        (_routed_path(path, operation), method)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }
    assert routed == documented


def _routed_path(path: str, operation: dict[str, Any]) -> str:
    """``/drafts/{draft_id}`` -> ``/drafts/{draft_id:int}`` if the document says integer."""
    types = {p["name"]: p["schema"]["type"] for p in operation["parameters"] if p["in"] == "path"}
    convertors = {"integer": ":int", "string": ""}
    return re.sub(r"\{(\w+)\}", lambda m: f"{{{m[1]}{convertors[types[m[1]]]}}}", path)


async def test_every_response_carries_security_headers(mine: Api) -> None:
    """nosniff and a referrer policy on API responses too."""
    response = await mine.request("GET", "/conversations")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_usage_of_this_month_and_a_bad_period(mine: Api, theirs: Api) -> None:
    """Usage counts this shop's drafts of the month; a malformed period is a 422."""
    usage = (await mine.request("GET", "/usage")).json()
    assert usage["period"] == "2025-03"
    assert usage["messages_processed"] == 1
    assert usage["cost_usd"] == 0  # the offline model is free
    empty = (await mine.request("GET", "/usage", params={"period": "2024-01"})).json()
    assert empty["messages_processed"] == 0
    bad = await mine.request("GET", "/usage", params={"period": "March"})
    assert bad.status_code == 422
    other = (await theirs.request("GET", "/usage")).json()
    assert other["messages_processed"] == 1  # its own message, not this shop's


async def test_ids_beyond_64_bits_are_404_not_a_crash(mine: Api) -> None:
    """A path id larger than any database id (2**63 and up) is a JSON 404, not an overflow."""
    response = await mine.request("POST", f"/conversations/{2**70}/notes", json={"text": "hi"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFound"


async def test_a_body_with_a_lone_surrogate_is_422_and_changes_nothing(mine: Api) -> None:
    """JSON may escape half of a surrogate pair; such text cannot be stored, so it is refused
    with a clear 422 (it used to reach the database and fail with a 500)."""
    conversation = await first_conversation(mine)
    body = b'{"text": "\\udb8c hello"}'
    response = await mine.request(
        "POST", f"/conversations/{conversation['id']}/notes", content=body
    )
    assert response.status_code == 422
    assert "not valid Unicode" in response.json()["error"]["message"]
    after = (await mine.request("GET", f"/conversations/{conversation['id']}")).json()
    assert all(m["direction"] != "note" for m in after["messages"])


async def test_unknown_api_paths_and_methods_answer_json(mine: Api) -> None:
    """Starlette's own 404 and 405 under /api/ come in the API's JSON error shape (405 with
    Allow), so clients can parse every answer."""
    missing = await mine.request("GET", "/no-such-thing")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NotFound"
    wrong = await mine.request("DELETE", "/conversations")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "MethodNotAllowed"
    assert "GET" in wrong.headers["allow"]
