"""The privacy pages over real HTTP: the public policy at /privacy, the admin's
privacy-request ledger with its overdue alert, and the privacy API's permissions."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.demo import FELLANDFORD
from taskra_core.inbox.messages import InboundMessage
from taskra_core.knowledge.importer import import_store
from taskra_core.privacy import ledger
from taskra_core.privacy.policy import clauses
from taskra_core.stores import get_store
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify

PASSWORD = "correct horse battery"
CUSTOMER = "wren.customer@example.com"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    core = make_test_taskra(
        database_url,
        shopify_origin=fake_shopify.origin,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
    )
    async with core:
        await import_store(core, FELLANDFORD)
        store = await store_id(core)
        await core.accounts.create_account(
            store, "owner@example.com", "Owner", role="merchant", password=PASSWORD
        )
        await core.accounts.create_account(
            store, "agent@example.com", "Agent", role="agent", password=PASSWORD
        )
        await core.inbox.receive(
            store, InboundMessage(channel="email", from_email=CUSTOMER, text="Hello there")
        )
        yield core


async def store_id(core: Taskra) -> int:
    async with core.db.session() as session:
        store = await get_store(session, SHOP)
    assert store.id is not None
    return store.id


@pytest.fixture
async def client(taskra: Taskra) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(taskra, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
        yield c


async def signed_in(client: httpx.AsyncClient, email: str = "owner@example.com") -> str:
    response = await client.post("/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


async def test_privacy_page_serves_the_policy(client: httpx.AsyncClient) -> None:
    """GET /privacy shows every clause of the policy, sets no cookie, runs no script and
    loads nothing from elsewhere; it may not be framed."""
    response = await client.get("/privacy")
    assert response.status_code == 200
    page = html.unescape(response.text)
    for _section, clause in clauses():
        assert clause in page
    assert "privacy@taskra.ai" in page
    assert "set-cookie" not in response.headers
    assert "<script" not in response.text
    assert "https://" not in response.text.split("<main", 1)[0]  # nothing third-party
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_ledger_page_alerts_on_overdue_requests(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """The privacy-requests page lists the ledger with a download link for exports and
    raises an alert while a request is overdue."""
    await signed_in(client)
    page = await client.get("/privacy-requests")
    assert page.status_code == 200
    assert "data-privacy-overdue" not in page.text
    result = await taskra.privacy.export(SHOP, CUSTOMER)
    async with taskra.db.transaction() as session:
        ledger.open_request(
            session,
            store_id=await store_id(taskra),
            kind="erasure",
            subject=CUSTOMER,
            source="email",
            now=taskra.clock.now() - timedelta(days=31),
        )
    page = await client.get("/privacy-requests")
    assert 'data-privacy-overdue="1"' in page.text
    assert f"/privacy-requests/exports/{result.export_id}" in page.text
    download = await client.get(f"/privacy-requests/exports/{result.export_id}")
    assert download.status_code == 200
    assert download.json()["customer"]["email"] == CUSTOMER


async def test_only_merchants_erase_or_rectify(client: httpx.AsyncClient, taskra: Taskra) -> None:
    """An agent may export and record an objection, but erasing or correcting a customer's
    data is for merchants: 403, and nothing changes."""
    csrf = await signed_in(client, "agent@example.com")
    headers = {"X-CSRF-Token": csrf}
    erase = await client.post("/api/v1/privacy/erasures", json={"email": CUSTOMER}, headers=headers)
    assert erase.status_code == 403
    rectify = await client.post(
        "/api/v1/privacy/rectifications",
        json={"email": CUSTOMER, "new_name": "X"},
        headers=headers,
    )
    assert rectify.status_code == 403
    objection = await client.put(
        "/api/v1/privacy/objections", json={"email": CUSTOMER}, headers=headers
    )
    assert objection.json() == {"email": CUSTOMER, "ai_processing_objected": True}
    created = await client.post(
        "/api/v1/privacy/exports", json={"email": CUSTOMER}, headers=headers
    )
    assert created.status_code == 201
    kinds = [r["kind"] for r in await taskra.privacy.requests(SHOP)]
    assert sorted(kinds) == ["access", "objection"]


async def test_merchant_erases_through_the_api(client: httpx.AsyncClient, taskra: Taskra) -> None:
    """A merchant's erasure removes the customer; asking about a malformed address is a 422
    that records nothing."""
    csrf = await signed_in(client)
    headers = {"X-CSRF-Token": csrf}
    bad = await client.post("/api/v1/privacy/erasures", json={"email": "nope"}, headers=headers)
    assert bad.status_code == 422
    assert await taskra.privacy.requests(SHOP) == []
    done = await client.post("/api/v1/privacy/erasures", json={"email": CUSTOMER}, headers=headers)
    assert done.status_code == 200
    assert done.json()["outcome"] == "completed"
    listed = await client.get("/api/v1/privacy/requests")
    assert [(r["kind"], r["subject"]) for r in listed.json()["requests"]] == [
        ("erasure", ledger.ERASED_SUBJECT)
    ]


async def test_responses_over_https_demand_tls_from_then_on(client: httpx.AsyncClient) -> None:
    """Data in transit: every response over HTTPS tells browsers to use only HTTPS
    (Strict-Transport-Security), and the session cookie is Secure."""
    page = await client.get("/privacy")
    assert page.headers["strict-transport-security"].startswith("max-age=")
    signed = await client.post("/login", json={"email": "owner@example.com", "password": PASSWORD})
    assert "secure" in signed.headers["set-cookie"].lower()
