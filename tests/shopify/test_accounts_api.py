"""The accounts API through real HTTP requests: session tokens signed as Shopify signs them,
staff recorded through the fake Shopify, invitations sent through the real Resend SDK to the
fake Resend; merchants only for changes, and never across shops."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.inbox.messages import InboundMessage
from taskra_core.models import Account, Conversation, JobRecord, Store
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app
from tests.fakes.resend import FakeResend
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token
from tests.fakes.shopify_staff import OWNER_ID, owner_email

OTHER = "other-shop.myshopify.com"
APP_URL = "https://taskra.test"
AGENT_ID = "4242"  # a Shopify staff member of SHOP who does not own it
PASSWORD = "correct horse battery"
LINK = re.compile(r"https://taskra\.test/password/[A-Za-z0-9_-]+")


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lowest bcrypt cost: the same code path, milliseconds instead of 0.2 s a hash."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
async def taskra(
    database_url: str, fake_shopify: FakeShopify, fake_resend: FakeResend
) -> AsyncIterator[Taskra]:
    fake_shopify.staff.add(SHOP, AGENT_ID, "sam@example.com", first_name="Sam")
    core = make_test_taskra(
        database_url,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
        shopify_app_url=APP_URL,
        resend_api_key="re_test_0123456789",
        resend_api_url=fake_resend.url,
        email_from="Taskra <team@taskra.test>",
    )
    async with core:
        now = datetime.now(UTC)
        async with core.db.transaction() as session:
            for shop in (SHOP, OTHER):
                session.add(
                    Store(domain=shop, name=shop.split(".")[0], created_at=now, updated_at=now)
                )
        yield core


@pytest.fixture
async def client(taskra: Taskra) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(taskra, run_worker=False))
    async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as c:
        yield c


class Staff:
    """A Shopify staff member of ``shop`` calling the API from inside Shopify admin."""

    def __init__(self, client: httpx.AsyncClient, shop: str, sub: str = OWNER_ID) -> None:
        self.client, self.shop, self.sub = client, shop, sub

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {mint_id_token(self.shop, sub=self.sub)}"}
        return await self.client.request(method, f"/api/v1{path}", headers=headers, **kw)

    async def emails(self) -> list[str]:
        response = await self.request("GET", "/accounts")
        assert response.status_code == 200, response.text
        return [a["email"] for a in response.json()["accounts"]]


@pytest.fixture
def owner(client: httpx.AsyncClient) -> Staff:
    return Staff(client, SHOP)


@pytest.fixture
def agent(client: httpx.AsyncClient) -> Staff:
    return Staff(client, SHOP, AGENT_ID)


@pytest.fixture
def other_owner(client: httpx.AsyncClient) -> Staff:
    return Staff(client, OTHER)


async def invite(staff: Staff, email: str = "jo@example.com", name: str = "Jo") -> httpx.Response:
    return await staff.request("POST", "/accounts", json={"email": email, "name": name})


async def account_id(taskra: Taskra, email: str) -> int:
    async with taskra.db.session() as session:
        found = await session.scalar(select(col(Account.id)).where(col(Account.email) == email))
    assert found is not None
    return int(found)


async def test_list_shows_the_team_with_where_each_came_from(
    owner: Staff, agent: Staff, taskra: Taskra
) -> None:
    """Staff seen in Shopify admin are listed (from_shopify, no password yet) beside invited
    agents; every field the admin needs is there."""
    await agent.request("GET", "/accounts")
    assert (await invite(owner)).status_code == 201
    response = await owner.request("GET", "/accounts")
    assert response.status_code == 200
    listed = {a["email"]: a for a in response.json()["accounts"]}
    assert set(listed) == {owner_email(SHOP), "sam@example.com", "jo@example.com"}
    mine = listed[owner_email(SHOP)]
    assert set(mine) == {"id", "name", "email", "role", "has_password", "from_shopify"}
    assert (mine["role"], mine["from_shopify"], mine["has_password"]) == ("merchant", True, False)
    assert (listed["sam@example.com"]["role"], listed["sam@example.com"]["from_shopify"]) == (
        "agent",
        True,
    )
    assert listed["jo@example.com"]["from_shopify"] is False


async def test_a_merchant_invites_an_agent_by_email(
    owner: Staff, taskra: Taskra, fake_resend: FakeResend
) -> None:
    """201 with the new agent; the invitation goes out through Resend once the job runs,
    from TASKRA_EMAIL_FROM, with an absolute link on SHOPIFY_APP_URL."""
    response = await invite(owner, "Jo@Example.com", "Jo Bloggs")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["email"] == "jo@example.com"
    assert (created["role"], created["has_password"]) == ("agent", False)
    assert fake_resend.sent == []  # sent by the job, not by the request
    await Worker(taskra).run_until_idle()
    [sent] = fake_resend.sent
    assert sent.to == ["jo@example.com"]
    assert sent.sender == "Taskra <team@taskra.test>"
    assert sent.text is not None
    assert LINK.search(sent.text)
    assert sent.idempotency_key


async def test_agents_cannot_invite_or_remove(owner: Staff, agent: Staff, taskra: Taskra) -> None:
    """An agent gets 403 for both, and nothing changes: no account, no email queued."""
    await owner.request("GET", "/accounts")
    refused = await invite(agent)
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "PermissionDenied"
    owner_id = await account_id(taskra, owner_email(SHOP))
    assert (await agent.request("DELETE", f"/accounts/{owner_id}")).status_code == 403
    assert "jo@example.com" not in await owner.emails()
    async with taskra.db.session() as session:
        assert (await session.scalars(select(JobRecord))).all() == []


async def test_bad_invitations_are_clear_errors_that_change_nothing(owner: Staff) -> None:
    """A malformed address, a missing one, a non-JSON body, or an address the store already
    has: 422 with the project's JSON error, and the team stays as it was."""
    before = await owner.emails()
    for body in ({"email": "not an address"}, {"name": "Jo"}, {"email": owner_email(SHOP)}):
        response = await owner.request("POST", "/accounts", json=body)
        assert response.status_code == 422, body
        assert set(response.json()["error"]) == {"type", "message"}
    broken = await owner.request("POST", "/accounts", content=b"{nope")
    assert broken.status_code == 422
    assert await owner.emails() == before


async def test_another_shop_cannot_list_invite_into_or_remove_from_this_store(
    owner: Staff, other_owner: Staff, taskra: Taskra
) -> None:
    """OTHER's merchant sees only OTHER's team, invites only into OTHER, and gets 404 for an
    account of SHOP, which stays."""
    assert (await invite(owner, "jo@example.com")).status_code == 201
    jo = await account_id(taskra, "jo@example.com")
    assert await other_owner.emails() == [owner_email(OTHER)]
    assert (await invite(other_owner, "al@example.com")).status_code == 201
    assert "al@example.com" not in await owner.emails()
    gone = await other_owner.request("DELETE", f"/accounts/{jo}")
    assert gone.status_code == 404
    assert "jo@example.com" in await owner.emails()
    async with taskra.db.session() as session:
        al = await session.scalar(select(Account).where(col(Account.email) == "al@example.com"))
        other = await session.scalar(select(Store).where(col(Store.domain) == OTHER))
    assert al is not None
    assert other is not None
    assert al.store_id == other.id


async def test_removing_an_agent_signs_them_out_and_unassigns(
    owner: Staff, client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """204; the agent's session cookie stops working at once and their conversation has no
    assignee. The merchant cannot remove themselves (422) or a missing account (404)."""
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == SHOP))
    assert store is not None
    assert store.id is not None
    jo = await taskra.accounts.create_account(store.id, "jo@example.com", "Jo", password=PASSWORD)
    assert jo.id is not None
    received = await taskra.inbox.receive(
        store.id, InboundMessage(channel="email", from_email="c@example.com", text="Hello")
    )
    assert received.conversation.id is not None
    await taskra.inbox.assign(store.id, received.conversation.id, jo.id)
    signed_in = await client.post("/login", json={"email": "jo@example.com", "password": PASSWORD})
    cookie = {"Cookie": f"taskra_session={signed_in.cookies['taskra_session']}"}
    client.cookies.clear()
    assert (await client.get("/api/v1/conversations", headers=cookie)).status_code == 200
    removed = await owner.request("DELETE", f"/accounts/{jo.id}")
    assert removed.status_code == 204
    after = await client.get("/api/v1/conversations", headers=cookie)
    assert after.status_code == 401
    async with taskra.db.session() as session:
        conversation = await session.get(Conversation, received.conversation.id)
    assert conversation is not None
    assert conversation.assignee_id is None
    me = await account_id(taskra, owner_email(SHOP))
    assert (await owner.request("DELETE", f"/accounts/{me}")).status_code == 422
    assert (await owner.request("DELETE", f"/accounts/{jo.id}")).status_code == 404


async def test_anyone_can_email_themselves_a_password_link(
    agent: Staff, taskra: Taskra, fake_resend: FakeResend
) -> None:
    """202 naming where it went; the email (to the caller only) carries a one-hour link."""
    response = await agent.request("POST", "/accounts/me/password-link")
    assert response.status_code == 202, response.text
    assert response.json() == {"sent_to": "sam@example.com", "expires_in_seconds": 3600}
    await Worker(taskra).run_until_idle()
    [sent] = fake_resend.sent
    assert sent.to == ["sam@example.com"]
    assert sent.text is not None
    assert LINK.search(sent.text)
    assert "1 hour" in sent.text


async def test_a_signed_in_merchant_invites_with_the_csrf_token(
    client: httpx.AsyncClient, taskra: Taskra
) -> None:
    """Outside Shopify admin the same endpoints work with the session cookie, and a write
    needs the session's CSRF token (403 without it, nothing created)."""
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == SHOP))
    assert store is not None
    assert store.id is not None
    await taskra.accounts.create_account(
        store.id, "mo@example.com", "Mo", role="merchant", password=PASSWORD
    )
    signed_in = await client.post("/login", json={"email": "mo@example.com", "password": PASSWORD})
    csrf = signed_in.json()["csrf_token"]
    body = {"email": "jo@example.com", "name": "Jo"}
    refused = await client.post("/api/v1/accounts", json=body)
    assert refused.status_code == 403
    accepted = await client.post("/api/v1/accounts", json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201, accepted.text
    listed = await client.get("/api/v1/accounts")
    assert [a["email"] for a in listed.json()["accounts"]] == ["mo@example.com", "jo@example.com"]


async def test_openapi_lists_the_accounts_endpoints(client: httpx.AsyncClient) -> None:
    """The four endpoints are in the generated document with their success statuses."""
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    assert set(paths["/api/v1/accounts"]) == {"get", "post"}
    assert "201" in paths["/api/v1/accounts"]["post"]["responses"]
    assert "204" in paths["/api/v1/accounts/{account_id}"]["delete"]["responses"]
    assert "202" in paths["/api/v1/accounts/me/password-link"]["post"]["responses"]


async def test_anyone_can_ask_for_their_own_account_to_be_deleted(
    agent: Staff, taskra: Taskra
) -> None:
    """202 with the date the account will be gone by (30 days, as the privacy policy says);
    the request is recorded for the retention sweep, and asking again keeps the first date."""
    response = await agent.request("POST", "/accounts/me/deletion")
    assert response.status_code == 202, response.text
    again = await agent.request("POST", "/accounts/me/deletion")
    assert again.json() == response.json()
    async with taskra.db.session() as session:
        account = await session.scalar(
            select(Account).where(col(Account.email) == "sam@example.com")
        )
    assert account is not None
    assert account.deletion_requested_at is not None
    deleted_by = datetime.fromisoformat(response.json()["deleted_by"])
    assert deleted_by - account.deletion_requested_at == timedelta(days=30)
