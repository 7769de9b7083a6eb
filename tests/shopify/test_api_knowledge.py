"""The knowledge endpoints of /api/v1 (FAQs, brand voice) through real HTTP requests with
Shopify-signed session tokens: what they return, how they fail, and that one shop's valid
token never reads or changes another shop's FAQs or voice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.knowledge.importer import import_store
from taskra_core.models import Store
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify
from tests.shopify.test_api import OTHER, Api

AS_OF = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
# Nothing in the demo store mentions stargazing: a hit can only be this FAQ.
STARS = {"question": "Do you run stargazing walks?", "answer": "Yes, monthly from Kendal."}


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
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
            session.add(
                Store(
                    domain=OTHER,
                    name="Other",
                    settings={"brand_voice": "Other's voice"},
                    created_at=AS_OF,
                    updated_at=AS_OF,
                )
            )
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


async def faq_keys(api: Api) -> list[str]:
    response = await api.request("GET", "/knowledge/faqs")
    assert response.status_code == 200, response.text
    return [faq["key"] for faq in response.json()["faqs"]]


async def test_list_shows_the_imported_faqs(mine: Api) -> None:
    """FAQs from the store import are listed by key with their question and answer."""
    response = await mine.request("GET", "/knowledge/faqs")
    faqs = {faq["key"]: faq for faq in response.json()["faqs"]}
    assert list(faqs) == sorted(faqs)
    sizing = faqs["sizing-guide"]
    assert sizing["source_id"] == "faq:sizing-guide"
    assert sizing["question"]
    assert sizing["answer"]
    assert set(sizing) == {"key", "source_id", "question", "answer", "updated_at"}


async def test_put_creates_and_replaces_then_delete_removes(mine: Api, taskra: Taskra) -> None:
    """PUT answers 200 with the FAQ as saved, and the store's search finds it at once;
    a second PUT replaces it; DELETE is 204, then 404 for the same key."""
    created = await mine.request("PUT", "/knowledge/faqs/stargazing-walks", json=STARS)
    assert created.status_code == 200, created.text
    assert created.json()["key"] == "stargazing-walks"
    assert created.json()["question"] == STARS["question"]
    [hit] = await taskra.knowledge.search(SHOP, "stargazing walks", k=1)
    assert hit.source_id == "faq:stargazing-walks"
    replaced = await mine.request(
        "PUT", "/knowledge/faqs/stargazing-walks", json={**STARS, "answer": "Not yet."}
    )
    assert replaced.json()["answer"] == "Not yet."
    listed = (await mine.request("GET", "/knowledge/faqs")).json()["faqs"]
    assert [f["answer"] for f in listed if f["key"] == "stargazing-walks"] == ["Not yet."]
    deleted = await mine.request("DELETE", "/knowledge/faqs/stargazing-walks")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "stargazing-walks" not in await faq_keys(mine)
    again = await mine.request("DELETE", "/knowledge/faqs/stargazing-walks")
    assert again.status_code == 404
    assert again.json()["error"]["type"] == "NotFound"


async def test_imported_faq_can_be_deleted(mine: Api) -> None:
    """A merchant can remove an FAQ the store import brought in."""
    assert "exchanges" in await faq_keys(mine)
    assert (await mine.request("DELETE", "/knowledge/faqs/exchanges")).status_code == 204
    assert "exchanges" not in await faq_keys(mine)


async def test_bad_faq_input_is_a_clear_422_and_changes_nothing(mine: Api) -> None:
    """A key that is not a slug, a missing or too long field, blank text and broken JSON
    are each refused with a message, and the FAQs stay as they were."""
    before = (await mine.request("GET", "/knowledge/faqs")).json()
    attempts = [
        ("/knowledge/faqs/Gift-Cards", {"json": STARS}, "lower-case"),
        ("/knowledge/faqs/sizing-guide", {"json": {"question": "Q?"}}, "answer"),
        ("/knowledge/faqs/sizing-guide", {"json": {**STARS, "question": "q" * 501}}, "question"),
        ("/knowledge/faqs/sizing-guide", {"json": {**STARS, "answer": "   "}}, "answer must be"),
        ("/knowledge/faqs/sizing-guide", {"content": b"{not json"}, "not valid JSON"),
    ]
    for path, body, message in attempts:
        response = await mine.request("PUT", path, **body)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["error"]["type"] == "InvalidInput"
        assert message in response.json()["error"]["message"], response.text
    assert (await mine.request("GET", "/knowledge/faqs")).json() == before


async def test_brand_voice_round_trip(mine: Api, taskra: Taskra) -> None:
    """GET shows the imported voice; PUT sets it (trimmed), drafting's profile uses it, and
    a voice over 10,000 characters is a 422 that keeps the old one."""
    imported = (await mine.request("GET", "/knowledge/brand-voice")).json()["text"]
    assert imported.startswith("Fell & Ford sounds like")
    put = await mine.request("PUT", "/knowledge/brand-voice", json={"text": " Short and kind. "})
    assert put.status_code == 200
    assert put.json() == {"text": "Short and kind."}
    assert (await mine.request("GET", "/knowledge/brand-voice")).json() == put.json()
    async with taskra.db.session() as session:
        store = await get_store(session, SHOP)
        profile = await taskra.drafting.profiles.get(session, store)
    assert profile.brand_voice == "Short and kind."
    too_long = await mine.request("PUT", "/knowledge/brand-voice", json={"text": "v" * 10_001})
    assert too_long.status_code == 422
    assert (await mine.request("GET", "/knowledge/brand-voice")).json() == put.json()


async def test_another_shops_token_never_reaches_this_shops_knowledge(
    mine: Api, theirs: Api
) -> None:
    """With a valid token of another shop: its list and voice are its own, deleting this
    shop's FAQ is 404, and its PUTs (same key, voice) change only its own rows."""
    mine_before = (await mine.request("GET", "/knowledge/faqs")).json()
    voice_before = (await mine.request("GET", "/knowledge/brand-voice")).json()
    assert await faq_keys(theirs) == []
    assert (await theirs.request("GET", "/knowledge/brand-voice")).json() == {
        "text": "Other's voice"
    }
    deleted = await theirs.request("DELETE", "/knowledge/faqs/sizing-guide")
    assert deleted.status_code == 404
    put = await theirs.request("PUT", "/knowledge/faqs/sizing-guide", json=STARS)
    assert put.status_code == 200
    assert await faq_keys(theirs) == ["sizing-guide"]
    voice = await theirs.request("PUT", "/knowledge/brand-voice", json={"text": "Theirs."})
    assert voice.status_code == 200
    assert (await mine.request("GET", "/knowledge/faqs")).json() == mine_before
    assert (await mine.request("GET", "/knowledge/brand-voice")).json() == voice_before


async def test_knowledge_endpoints_need_a_session_token(client: httpx.AsyncClient) -> None:
    """Without a token every knowledge endpoint is 401 and nothing is written."""
    for method, path, body in [
        ("GET", "/knowledge/faqs", None),
        ("PUT", "/knowledge/faqs/stargazing-walks", STARS),
        ("DELETE", "/knowledge/faqs/sizing-guide", None),
        ("GET", "/knowledge/brand-voice", None),
        ("PUT", "/knowledge/brand-voice", {"text": "x"}),
    ]:
        response = await client.request(method, f"/api/v1{path}", json=body)
        assert response.status_code == 401, (method, path)
    assert "stargazing-walks" not in await faq_keys(Api(client, SHOP))
    assert "sizing-guide" in await faq_keys(Api(client, SHOP))


async def test_openapi_documents_the_faq_key_as_a_string(client: httpx.AsyncClient) -> None:
    """String path parameters are documented as strings, integer ones as the integers a
    route accepts (digits only, within the database's 64-bit ids)."""
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    put = paths["/api/v1/knowledge/faqs/{key}"]["put"]
    assert put["parameters"] == [
        {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/FaqBody")
    assert "delete" in paths["/api/v1/knowledge/faqs/{key}"]
    assert set(paths["/api/v1/knowledge/brand-voice"]) == {"get", "put"}
    draft = paths["/api/v1/drafts/{draft_id}"]["get"]["parameters"][0]
    assert draft["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
