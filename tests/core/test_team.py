"""A store's team in the core: inviting and removing agents, set-a-password links and their
emails, and that a new password ends the account's other sessions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.errors import (
    InvalidInput,
    LoginRateLimited,
    NotFound,
    PermissionDenied,
    SessionInvalid,
)
from taskra_core.inbox.messages import InboundMessage
from taskra_core.mail import Email, OutboxMailer
from taskra_core.models import Account, Conversation, JobRecord, Store
from taskra_core.team import (
    INVITE_LINK_TTL,
    MAX_PASSWORD_LINKS_PER_HOUR,
    PASSWORD_LINK_TTL,
    app_url,
)
from taskra_core.testing import make_test_settings, make_test_taskra
from taskra_core.worker import Worker

START = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
APP = "https://taskra.test"
LINK = re.compile(r"https://taskra\.test/password/([A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lowest bcrypt cost: the same code path, milliseconds instead of 0.2 s a hash."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def taskra(database_url: str, clock: ManualClock) -> AsyncIterator[Taskra]:
    async with make_test_taskra(database_url, clock=clock, shopify_app_url=APP) as core:
        yield core


async def add_store(taskra: Taskra, domain: str, name: str) -> int:
    async with taskra.db.transaction() as session:
        store = Store(domain=domain, name=name, created_at=START, updated_at=START)
        session.add(store)
        await session.flush()
    assert store.id is not None
    return store.id


@pytest.fixture
async def shop(taskra: Taskra) -> int:
    return await add_store(taskra, "fellandford.myshopify.com", "Fell & Ford")


@pytest.fixture
async def merchant(taskra: Taskra, shop: int) -> Account:
    return await taskra.accounts.create_account(
        shop, "mo@example.com", "Mo", role="merchant", password=PASSWORD
    )


async def mailed(taskra: Taskra) -> list[Email]:
    """Run the jobs, then what the outbox (no RESEND_API_KEY here) was given."""
    await Worker(taskra).run_until_idle()
    mailer = taskra.mailer
    assert isinstance(mailer, OutboxMailer)
    return list(mailer.outbox)


def link_token(email: Email) -> str:
    match = LINK.search(email.text)
    assert match is not None, email.text
    return match.group(1)


async def count(taskra: Taskra, model: type[Account] | type[JobRecord]) -> int:
    async with taskra.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_invited_agent_gets_an_email_and_sets_a_password(
    taskra: Taskra, shop: int, merchant: Account
) -> None:
    """The invitation adds an agent without a password and emails an absolute link, valid
    for days; using it sets the password, so the agent can sign in."""
    assert merchant.id is not None
    agent = await taskra.team.invite(shop, merchant.id, " Jo@Example.com ", "Jo  Bloggs")
    assert (agent.email, agent.name, agent.role, agent.password_hash) == (
        "jo@example.com",
        "Jo Bloggs",
        "agent",
        None,
    )
    [invitation] = await mailed(taskra)
    assert invitation.to == "jo@example.com"
    assert "Mo invited you to Fell & Ford" in invitation.subject
    assert "3 days" in invitation.text
    token = link_token(invitation)
    assert (await taskra.team.password_link_account(token)).id == agent.id
    await taskra.team.use_password_link(token, PASSWORD)
    assert (await taskra.accounts.authenticate("jo@example.com", PASSWORD)).id == agent.id


async def test_only_a_merchant_invites_and_bad_input_changes_nothing(
    taskra: Taskra, shop: int, merchant: Account
) -> None:
    """An agent, no account, or a merchant of another store is refused; a bad address, a
    long name or an address the store already has is a clear error; no account and no email
    follow any of them."""
    assert merchant.id is not None
    agent = await taskra.accounts.create_account(shop, "al@example.com", "Al")
    other = await add_store(taskra, "other.myshopify.com", "Other")
    stranger = await taskra.accounts.create_account(other, "x@example.com", role="merchant")
    before = await count(taskra, Account)
    for actor in (agent.id, None, stranger.id):
        with pytest.raises(PermissionDenied):
            await taskra.team.invite(shop, actor, "new@example.com", "New")
    with pytest.raises(InvalidInput, match="not an email address"):
        await taskra.team.invite(shop, merchant.id, "not-an-address", "")
    with pytest.raises(InvalidInput, match="at most 255"):
        await taskra.team.invite(shop, merchant.id, "new@example.com", "n" * 256)
    with pytest.raises(InvalidInput, match="already has an account"):
        await taskra.team.invite(shop, merchant.id, "AL@example.com", "Al again")
    assert await count(taskra, Account) == before
    assert await count(taskra, JobRecord) == 0


async def test_a_password_link_works_once_and_ends_every_session(
    taskra: Taskra, shop: int, merchant: Account
) -> None:
    """Setting the password uses the link up (a second use is refused), revokes the
    account's sessions, and makes older links of the account useless too."""
    assert merchant.id is not None
    old_session = await taskra.accounts.start_session(merchant)
    await taskra.team.send_password_link(shop, merchant.id)
    await taskra.team.send_password_link(shop, merchant.id)
    older, newer = await mailed(taskra)
    assert "1 hour" in newer.text
    await taskra.team.use_password_link(link_token(newer), "a brand new password")
    with pytest.raises(SessionInvalid):
        await taskra.accounts.session_for(old_session)
    for used in (newer, older):
        with pytest.raises(SessionInvalid, match="expired or was already used"):
            await taskra.team.use_password_link(link_token(used), "yet another password")
    await taskra.accounts.authenticate("mo@example.com", "a brand new password")


async def test_bad_links_and_bad_passwords_change_nothing(
    taskra: Taskra, shop: int, merchant: Account, clock: ManualClock
) -> None:
    """An unknown link is NotFound, a login link is not a password link, a short password is
    refused and leaves the link usable; an expired link is refused."""
    assert merchant.id is not None
    with pytest.raises(NotFound):
        await taskra.team.use_password_link("no-such-link", PASSWORD)
    login_link = await taskra.accounts.login_link_token(merchant)
    with pytest.raises(NotFound):
        await taskra.team.use_password_link(login_link, PASSWORD)
    await taskra.team.send_password_link(shop, merchant.id)
    [email] = await mailed(taskra)
    token = link_token(email)
    with pytest.raises(SessionInvalid):
        await taskra.accounts.use_login_link(token)  # nor a password link a login link
    session = await taskra.accounts.start_session(merchant)
    with pytest.raises(InvalidInput, match="at least 10"):
        await taskra.team.use_password_link(token, "short")
    await taskra.accounts.session_for(session)  # still signed in: nothing changed
    await taskra.accounts.authenticate("mo@example.com", PASSWORD)
    clock.advance(PASSWORD_LINK_TTL.total_seconds())
    with pytest.raises(SessionInvalid):
        await taskra.team.use_password_link(token, "a brand new password")
    await taskra.accounts.authenticate("mo@example.com", PASSWORD)


async def test_an_invitation_lasts_three_days(
    taskra: Taskra, shop: int, merchant: Account, clock: ManualClock
) -> None:
    """A day before it runs out the invitation still works; at three days it does not."""
    assert merchant.id is not None
    await taskra.team.invite(shop, merchant.id, "jo@example.com", "Jo")
    await taskra.team.invite(shop, merchant.id, "al@example.com", "Al")
    jo, al = await mailed(taskra)
    clock.advance(INVITE_LINK_TTL.total_seconds() - 86400)
    await taskra.team.use_password_link(link_token(jo), PASSWORD)
    clock.advance(86400)
    with pytest.raises(SessionInvalid):
        await taskra.team.password_link_account(link_token(al))


async def test_self_service_links_are_rate_limited(
    taskra: Taskra, shop: int, merchant: Account, clock: ManualClock
) -> None:
    """Each link is an email: past the hourly limit the request is refused (no email), and
    an hour later it is allowed again."""
    assert merchant.id is not None
    for _ in range(MAX_PASSWORD_LINKS_PER_HOUR):
        await taskra.team.send_password_link(shop, merchant.id)
    with pytest.raises(LoginRateLimited) as refused:
        await taskra.team.send_password_link(shop, merchant.id)
    assert refused.value.retry_after is not None
    assert len(await mailed(taskra)) == MAX_PASSWORD_LINKS_PER_HOUR
    clock.advance(3601)
    await taskra.team.send_password_link(shop, merchant.id)


async def test_removing_an_agent_ends_their_access_and_unassigns(
    taskra: Taskra, shop: int, merchant: Account
) -> None:
    """Their sessions end, their conversations become unassigned and the account is gone;
    the merchant cannot remove themselves or another merchant, nor another store's agent."""
    assert merchant.id is not None
    agent = await taskra.accounts.create_account(shop, "jo@example.com", "Jo", password=PASSWORD)
    assert agent.id is not None
    received = await taskra.inbox.receive(
        shop, InboundMessage(channel="email", from_email="c@example.com", text="Hi")
    )
    conversation_id = received.conversation.id
    assert conversation_id is not None
    await taskra.inbox.assign(shop, conversation_id, agent.id)
    session = await taskra.accounts.start_session(agent)
    other = await add_store(taskra, "other.myshopify.com", "Other")
    theirs = await taskra.accounts.create_account(other, "al@example.com")
    assert theirs.id is not None
    with pytest.raises(NotFound):
        await taskra.team.remove(shop, merchant.id, theirs.id)
    with pytest.raises(InvalidInput, match="your own account"):
        await taskra.team.remove(shop, merchant.id, merchant.id)
    boss = await taskra.accounts.create_account(shop, "boss@example.com", role="merchant")
    assert boss.id is not None
    with pytest.raises(PermissionDenied, match="only agents"):
        await taskra.team.remove(shop, merchant.id, boss.id)
    with pytest.raises(PermissionDenied):
        await taskra.team.remove(shop, agent.id, boss.id)
    await taskra.team.remove(shop, merchant.id, agent.id)
    with pytest.raises(SessionInvalid):
        await taskra.accounts.session_for(session)
    async with taskra.db.session() as db:
        conversation = await db.get(Conversation, conversation_id)
        assert conversation is not None
        assert conversation.assignee_id is None
        assert await db.get(Account, agent.id) is None
        assert await db.get(Account, theirs.id) is not None
    assert [a.email for a in await taskra.team.members(shop)] == [
        "mo@example.com",
        "boss@example.com",
    ]


async def test_changing_a_password_ends_the_other_sessions(
    taskra: Taskra, shop: int, merchant: Account
) -> None:
    """The session that changed the password stays; every other one of the account ends."""
    assert merchant.id is not None
    here = await taskra.accounts.start_session(merchant)
    elsewhere = await taskra.accounts.start_session(merchant)
    await taskra.accounts.set_password(shop, merchant.id, "a brand new password", keep_session=here)
    await taskra.accounts.session_for(here)
    with pytest.raises(SessionInvalid):
        await taskra.accounts.session_for(elsewhere)
    await taskra.accounts.set_password(shop, merchant.id, "another new password")
    with pytest.raises(SessionInvalid):
        await taskra.accounts.session_for(here)


def test_links_without_an_app_url_point_at_the_local_server() -> None:
    """Without SHOPIFY_APP_URL, links start with http://TASKRA_HOST:TASKRA_PORT (the demo's
    address); with it, with that URL (less a trailing slash)."""
    plain = make_test_settings("sqlite+aiosqlite:///:memory:")
    assert app_url(plain) == "http://127.0.0.1:8000"
    public = make_test_settings("sqlite+aiosqlite:///:memory:", shopify_app_url=f"{APP}/")
    assert app_url(public) == APP
