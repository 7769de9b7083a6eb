"""The set-a-password pages through real HTTP requests: the emailed link shows a form that
sets the password and signs in; bad, expired, used or forged submissions change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.errors import LoginFailed, SessionInvalid
from taskra_core.mail import OutboxMailer
from taskra_core.models import Store
from taskra_core.team import INVITE_LINK_TTL
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.app import create_app

APP_URL = "https://taskra.test"
PASSWORD = "correct horse battery"
NEW = "a brand new password"
LINK = re.compile(r"https://taskra\.test(/password/[A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lowest bcrypt cost: the same code path, milliseconds instead of 0.2 s a hash."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2025, 3, 17, 10, 0, tzinfo=UTC))


@pytest.fixture
async def taskra(database_url: str, clock: ManualClock) -> AsyncIterator[Taskra]:
    core = make_test_taskra(database_url, clock=clock, shopify_app_url=APP_URL)
    async with core:
        yield core


@pytest.fixture
async def client(taskra: Taskra) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(taskra, run_worker=False))
    async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as c:
        yield c


@pytest.fixture
async def link(taskra: Taskra, clock: ManualClock) -> str:
    """The path of the link in an invitation to jo@example.com (no Resend key: the outbox)."""
    now = clock.now()
    async with taskra.db.transaction() as session:
        store = Store(
            domain="fellandford.myshopify.com", name="Fell & Ford", created_at=now, updated_at=now
        )
        session.add(store)
        await session.flush()
    assert store.id is not None
    merchant = await taskra.accounts.create_account(
        store.id, "mo@example.com", "Mo", role="merchant", password=PASSWORD
    )
    await taskra.team.invite(store.id, merchant.id, "jo@example.com", "Jo")
    await Worker(taskra).run_until_idle()
    mailer = taskra.mailer
    assert isinstance(mailer, OutboxMailer)
    [invitation] = mailer.outbox
    match = LINK.search(invitation.text)
    assert match is not None
    return match.group(1)


def form(password: str = NEW, confirm: str | None = None) -> dict[str, str]:
    return {"password": password, "confirm": password if confirm is None else confirm}


async def test_the_link_shows_a_form_that_may_not_be_framed(
    client: httpx.AsyncClient, link: str
) -> None:
    """200 with the password form for the invited address; the page may not be framed, is
    not cached, and sends no Referer (the token is in its URL)."""
    page = await client.get(link)
    assert page.status_code == 200
    assert 'type="password"' in page.text
    assert "jo@example.com" in page.text
    assert "Fell &amp; Ford" in page.text
    assert f'action="{link}"' in page.text
    assert page.headers["content-security-policy"] == "frame-ancestors 'none';"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_setting_the_password_signs_in_and_uses_the_link(
    client: httpx.AsyncClient, link: str, taskra: Taskra
) -> None:
    """The post sets the password, sets the session cookie as /login does and goes to /;
    the cookie works; the link is gone (410) and nothing more changes through it."""
    done = await client.post(link, data=form())
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    [set_cookie] = done.headers.get_list("set-cookie")
    assert set_cookie.startswith("taskra_session=")
    assert {"httponly", "secure"} <= {
        p.strip().split("=")[0].lower() for p in set_cookie.split(";")
    }
    account, _ = await taskra.accounts.session_for(done.cookies["taskra_session"])
    assert account.email == "jo@example.com"
    assert (await taskra.accounts.authenticate("jo@example.com", NEW)).id == account.id
    client.cookies.clear()
    again = await client.get(link)
    assert again.status_code == 410
    assert "expired or was already used" in again.text
    replay = await client.post(link, data=form("yet another password"))
    assert replay.status_code == 410
    assert "set-cookie" not in replay.headers
    with pytest.raises(LoginFailed):
        await taskra.accounts.authenticate("jo@example.com", "yet another password")


async def test_unknown_and_expired_links_say_so(
    client: httpx.AsyncClient, link: str, clock: ManualClock
) -> None:
    """An unknown link is 404, an expired one 410, each a page that says what to do."""
    unknown = await client.get("/password/not-a-real-token")
    assert unknown.status_code == 404
    assert "not known" in unknown.text
    assert (await client.post("/password/not-a-real-token", data=form())).status_code == 404
    clock.advance(INVITE_LINK_TTL.total_seconds())
    expired = await client.get(link)
    assert expired.status_code == 410
    assert "invite you again" in expired.text
    assert (await client.post(link, data=form())).status_code == 410


async def test_a_bad_password_changes_nothing(
    client: httpx.AsyncClient, link: str, taskra: Taskra
) -> None:
    """Too short, or two different entries: 422 with the form and the reason; no password is
    set, no one is signed in, and the link still works afterwards."""
    short = await client.post(link, data=form("short"))
    assert short.status_code == 422
    assert "at least 10" in short.text
    assert "set-cookie" not in short.headers
    differ = await client.post(link, data=form(NEW, "something else entirely"))
    assert differ.status_code == 422
    assert "differ" in differ.text
    with pytest.raises(LoginFailed):
        await taskra.accounts.authenticate("jo@example.com", NEW)
    assert (await client.post(link, data=form())).status_code == 303


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.test"},
    ],
)
async def test_a_post_from_another_site_is_refused(
    client: httpx.AsyncClient, link: str, taskra: Taskra, headers: dict[str, str]
) -> None:
    """Another site posting a link (its own, to sign the visitor in to an account it
    controls) gets 403; no password is set, no cookie, and the link stays usable."""
    forged = await client.post(link, data=form(), headers=headers)
    assert forged.status_code == 403
    assert "another site" in forged.text
    assert "set-cookie" not in forged.headers
    with pytest.raises(LoginFailed):
        await taskra.accounts.authenticate("jo@example.com", NEW)
    own = await client.post(
        link, data=form(), headers={"Sec-Fetch-Site": "same-origin", "Origin": APP_URL}
    )
    assert own.status_code == 303


async def test_a_new_password_ends_the_account_sessions(
    client: httpx.AsyncClient, taskra: Taskra, link: str
) -> None:
    """Whoever was signed in to the account before (e.g. with a leaked password) is signed
    out when the password is set through a link."""
    await client.post(link, data=form())
    first = client.cookies["taskra_session"]
    client.cookies.clear()
    await taskra.team.send_password_link(*await _store_and_id(taskra, first))
    await Worker(taskra).run_until_idle()
    mailer = taskra.mailer
    assert isinstance(mailer, OutboxMailer)
    match = LINK.search(mailer.outbox[-1].text)
    assert match is not None
    assert (await client.post(match.group(1), data=form("the third password"))).status_code == 303
    with pytest.raises(SessionInvalid):
        await taskra.accounts.session_for(first)


async def _store_and_id(taskra: Taskra, session_token: str) -> tuple[int, int]:
    account, _ = await taskra.accounts.session_for(session_token)
    assert account.id is not None
    return account.store_id, account.id
