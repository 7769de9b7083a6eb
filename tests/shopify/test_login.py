"""Standalone sign-in through real HTTP requests to the app: the session cookie and its
flags, CSRF on cookie-authenticated writes, login CSRF, logout, one-time links, rate
limiting, and that one store's cookie never reaches another store's data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from taskra_core import crypto
from taskra_core.accounts import MAX_FAILURES_PER_EMAIL, SESSION_TTL
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.inbox.messages import InboundMessage
from taskra_core.models import AccountSession, Store
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token
from tests.fakes.shopify_staff import owner_email

OTHER = "other-shop.myshopify.com"
PASSWORD = "correct horse battery"
JO = "jo@example.com"  # an agent of SHOP
AL = "al@example.com"  # an agent of OTHER


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lowest bcrypt cost: the same code path, milliseconds instead of 0.2 s a hash."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def clock() -> ManualClock:
    # Real time as the start: the Shopify session tokens minted here carry real timestamps.
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def taskra(
    database_url: str, clock: ManualClock, fake_shopify: FakeShopify
) -> AsyncIterator[Taskra]:
    core = make_test_taskra(
        database_url,
        clock=clock,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
    )
    async with core:
        now = clock.now()
        for shop, email, text in ((SHOP, JO, "Where is my order?"), (OTHER, AL, "Hello")):
            async with core.db.transaction() as session:
                store = Store(domain=shop, name=shop, created_at=now, updated_at=now)
                session.add(store)
                await session.flush()
            assert store.id is not None
            await core.accounts.create_account(store.id, email, "Agent", password=PASSWORD)
            await core.inbox.receive(
                store.id, InboundMessage(channel="email", from_email="c@example.com", text=text)
            )
        yield core


@pytest.fixture
async def client(taskra: Taskra) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(taskra, run_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://taskra.test") as c:
        yield c


async def sign_in(client: httpx.AsyncClient, email: str = JO) -> tuple[str, str]:
    """Sign in by JSON; returns the session cookie's value and the CSRF token. The client's
    jar is emptied so each request below says exactly which cookie it sends."""
    response = await client.post("/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.cookies["taskra_session"]
    client.cookies.clear()
    return token, response.json()["csrf_token"]


def cookie(token: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"taskra_session={token}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


async def conversations(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/conversations", headers=cookie(token))
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["conversations"]
    return result


async def test_login_sets_one_session_cookie_with_safe_flags(client: httpx.AsyncClient) -> None:
    """One Set-Cookie: taskra_session, HttpOnly, Secure, SameSite=Lax, Path=/; the JSON
    answer names the account and carries the CSRF token."""
    response = await client.post("/login", json={"email": "JO@example.com", "password": PASSWORD})
    assert response.status_code == 200
    [set_cookie] = response.headers.get_list("set-cookie")
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
    assert set_cookie.startswith("taskra_session=")
    assert {"httponly", "secure", "samesite", "path"} <= attributes
    assert "samesite=lax" in set_cookie.lower()
    assert "path=/" in set_cookie.lower()
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["account"]["email"] == JO
    assert body["csrf_token"]


async def test_login_page_and_form_sign_in(client: httpx.AsyncClient) -> None:
    """The form page may not be framed; a form post redirects to / with the cookie, and a
    failed one shows the form again with the error."""
    page = await client.get("/login")
    assert page.status_code == 200
    assert "<form" in page.text
    assert page.headers["content-security-policy"] == "frame-ancestors 'none';"
    bad = await client.post("/login", data={"email": JO, "password": "nope"})
    assert bad.status_code == 401
    assert "email or password is wrong" in bad.text
    good = await client.post("/login", data={"email": JO, "password": PASSWORD})
    assert good.status_code == 303
    assert good.headers["location"] == "/"
    assert good.cookies["taskra_session"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    """Both are the same 401 body, so the answer does not reveal which emails exist."""
    wrong = await client.post("/login", json={"email": JO, "password": "not it at all"})
    unknown = await client.post("/login", json={"email": "x@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers
    missing = await client.post("/login", json={"email": JO})
    assert missing.status_code == 422


async def test_sign_in_is_rate_limited_after_repeated_failures(client: httpx.AsyncClient) -> None:
    """After N failures for an email, even the right password gets 429 with Retry-After."""
    for _ in range(MAX_FAILURES_PER_EMAIL):
        failed = await client.post("/login", json={"email": JO, "password": "guess guess"})
        assert failed.status_code == 401
    limited = await client.post("/login", json={"email": JO, "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "LoginRateLimited"
    assert int(limited.headers["retry-after"]) > 0


async def test_api_with_cookie_needs_csrf_for_writes(client: httpx.AsyncClient) -> None:
    """Reads work with the cookie alone; a write without the CSRF token (or with a wrong one)
    is 403 and changes nothing; with it, the write goes through."""
    token, csrf = await sign_in(client)
    session = await client.get("/api/v1/session", headers=cookie(token))
    assert session.status_code == 200
    assert session.json()["csrf_token"] == csrf
    assert session.json()["account"]["email"] == JO
    assert session.json()["shop"] == SHOP
    [conversation] = await conversations(client, token)
    path = f"/api/v1/conversations/{conversation['id']}/tags"
    refused = await client.put(path, json={"tags": ["vip"]}, headers=cookie(token))
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "CsrfRejected"
    forged = await client.put(path, json={"tags": ["vip"]}, headers=cookie(token, "x" * 43))
    assert forged.status_code == 403
    [unchanged] = await conversations(client, token)
    assert unchanged["tags"] == []
    accepted = await client.put(path, json={"tags": ["vip"]}, headers=cookie(token, csrf))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["tags"] == ["vip"]


async def test_session_token_requests_need_no_csrf(client: httpx.AsyncClient) -> None:
    """Inside Shopify admin (Bearer session token) writes need no CSRF token; the session
    names the staff member's recorded account and offers no CSRF token."""
    headers = {"Authorization": f"Bearer {mint_id_token(SHOP)}"}
    [conversation] = (await client.get("/api/v1/conversations", headers=headers)).json()[
        "conversations"
    ]
    response = await client.put(
        f"/api/v1/conversations/{conversation['id']}/tags", json={"tags": ["a"]}, headers=headers
    )
    assert response.status_code == 200
    session = (await client.get("/api/v1/session", headers=headers)).json()
    assert session["account"]["email"] == owner_email(SHOP)
    assert session["account"]["role"] == "merchant"
    assert session["csrf_token"] is None


async def test_logout_revokes_the_session_server_side(client: httpx.AsyncClient) -> None:
    """Logout needs the CSRF token, clears the cookie, and the old cookie stops working."""
    token, csrf = await sign_in(client)
    assert (await client.post("/logout", headers=cookie(token))).status_code == 403
    assert len(await conversations(client, token)) == 1  # still signed in
    response = await client.post("/logout", headers=cookie(token, csrf))
    assert response.status_code == 204
    [cleared] = response.headers.get_list("set-cookie")
    assert cleared.startswith('taskra_session=""')
    assert "max-age=0" in cleared.lower()
    replayed = await client.get("/api/v1/conversations", headers=cookie(token))
    assert replayed.status_code == 401
    assert replayed.json()["error"]["type"] == "SessionInvalid"


async def test_an_expired_session_is_refused(client: httpx.AsyncClient, clock: ManualClock) -> None:
    """Past its lifetime a session is 401, reads and writes alike."""
    token, csrf = await sign_in(client)
    clock.advance(SESSION_TTL.total_seconds())
    response = await client.get("/api/v1/conversations", headers=cookie(token))
    assert response.status_code == 401
    write = await client.put(
        "/api/v1/conversations/1/tags", json={"tags": []}, headers=cookie(token, csrf)
    )
    assert write.status_code == 401


async def test_a_login_link_signs_in_once_and_expires(
    client: httpx.AsyncClient, taskra: Taskra, clock: ManualClock
) -> None:
    """The link sets the session cookie and redirects to /; used again, or too late, it is
    refused."""
    account = await taskra.accounts.authenticate(JO, PASSWORD)
    token = await taskra.accounts.login_link_token(account, timedelta(minutes=10))
    first = await client.get(f"/login/link/{token}")
    assert first.status_code == 303
    assert first.headers["location"] == "/"
    session_token = first.cookies["taskra_session"]
    client.cookies.clear()
    assert len(await conversations(client, session_token)) == 1
    again = await client.get(f"/login/link/{token}")
    assert again.status_code == 401
    assert "set-cookie" not in again.headers
    assert again.headers["content-security-policy"] == "frame-ancestors 'none';"
    late = await taskra.accounts.login_link_token(account, timedelta(minutes=10))
    clock.advance(10 * 60 + 1)
    assert (await client.get(f"/login/link/{late}")).status_code == 401


async def test_a_cookie_of_one_store_cannot_reach_another(client: httpx.AsyncClient) -> None:
    """Signed in to OTHER, SHOP's conversation is 404, and only OTHER's are listed."""
    jo, _ = await sign_in(client, JO)
    [mine] = await conversations(client, jo)
    al, al_csrf = await sign_in(client, AL)
    [theirs] = await conversations(client, al)
    assert theirs["id"] != mine["id"]
    read = await client.get(f"/api/v1/conversations/{mine['id']}", headers=cookie(al))
    assert read.status_code == 404
    write = await client.put(
        f"/api/v1/conversations/{mine['id']}/tags",
        json={"tags": ["x"]},
        headers=cookie(al, al_csrf),
    )
    assert write.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
async def test_a_sign_in_posted_by_another_site_is_refused(
    client: httpx.AsyncClient, taskra: Taskra, headers: dict[str, str]
) -> None:
    """Login CSRF: a form or JSON sign-in that a browser says came from another site is 403
    even with the right password; no cookie is set and no session is started."""
    form = await client.post("/login", data={"email": JO, "password": PASSWORD}, headers=headers)
    assert form.status_code == 403
    assert "another site" in form.text
    assert "set-cookie" not in form.headers
    json_post = await client.post(
        "/login", json={"email": JO, "password": PASSWORD}, headers=headers
    )
    assert json_post.status_code == 403
    assert json_post.json()["error"]["type"] == "CsrfRejected"
    assert "set-cookie" not in json_post.headers
    async with taskra.db.session() as session:
        assert (await session.scalars(select(AccountSession))).all() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://taskra.test"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "https://taskra.test"},  # a browser without Fetch Metadata
        {},  # no browser at all: a script or curl
    ],
)
async def test_a_sign_in_from_the_app_itself_is_accepted(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """The login page's own form post (or a typed URL, or a script) still signs in."""
    response = await client.post(
        "/login", data={"email": JO, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 303
    assert response.cookies["taskra_session"]
