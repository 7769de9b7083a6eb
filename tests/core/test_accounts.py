"""Standalone accounts: passwords, sign-in with rate limiting, sessions and login links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from taskra_core import crypto
from taskra_core.accounts import (
    FAILURE_WINDOW,
    MAX_FAILURES_PER_CLIENT,
    MAX_FAILURES_PER_EMAIL,
    csrf_matches,
    csrf_token_for,
    hash_token,
)
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.errors import (
    InvalidInput,
    LoginFailed,
    LoginRateLimited,
    NotFound,
    PasswordTooLong,
    SessionInvalid,
)
from taskra_core.models import AccountSession, LoginLink, Store
from taskra_core.testing import make_test_taskra

START = datetime(2025, 3, 17, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lowest bcrypt cost: the same code path, milliseconds instead of 0.2 s a hash."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def taskra(database_url: str, clock: ManualClock) -> AsyncIterator[Taskra]:
    async with make_test_taskra(database_url, clock=clock) as core:
        yield core


async def add_store(taskra: Taskra, domain: str) -> int:
    async with taskra.db.transaction() as session:
        store = Store(domain=domain, created_at=START, updated_at=START)
        session.add(store)
        await session.flush()
    assert store.id is not None
    return store.id


async def test_create_an_account_and_sign_in(taskra: Taskra) -> None:
    """The email is normalized, the password stored only as bcrypt, and sign-in finds it."""
    store_id = await add_store(taskra, "a.myshopify.com")
    account = await taskra.accounts.create_account(
        store_id, " Jo@Example.COM ", "Jo", "merchant", password=PASSWORD
    )
    assert account.email == "jo@example.com"
    assert account.password_hash is not None
    assert account.password_hash.startswith("$2")
    signed_in = await taskra.accounts.authenticate("JO@example.com", PASSWORD)
    assert signed_in.id == account.id


async def test_bad_accounts_and_passwords_are_refused(taskra: Taskra) -> None:
    """Duplicate emails, unknown roles, short or over-long passwords change nothing."""
    store_id = await add_store(taskra, "a.myshopify.com")
    account = await taskra.accounts.create_account(store_id, "jo@example.com")
    assert account.id is not None
    with pytest.raises(InvalidInput, match="already has an account"):
        await taskra.accounts.create_account(store_id, "JO@example.com")
    with pytest.raises(InvalidInput, match="Role"):
        await taskra.accounts.create_account(store_id, "al@example.com", role="root")
    with pytest.raises(InvalidInput, match="at least 10"):
        await taskra.accounts.set_password(store_id, account.id, "short")
    with pytest.raises(PasswordTooLong):
        await taskra.accounts.set_password(store_id, account.id, "é" * 40)
    with pytest.raises(NotFound):
        other = await add_store(taskra, "b.myshopify.com")
        await taskra.accounts.set_password(other, account.id, PASSWORD)
    # No password yet: the account cannot sign in at all.
    with pytest.raises(LoginFailed):
        await taskra.accounts.authenticate("jo@example.com", PASSWORD)
    await taskra.accounts.set_password(store_id, account.id, PASSWORD)
    assert (await taskra.accounts.authenticate("jo@example.com", PASSWORD)).id == account.id


async def test_wrong_password_and_unknown_email_fail_the_same_way(taskra: Taskra) -> None:
    """Same class, same message: the answer never reveals whether the email has an account."""
    store_id = await add_store(taskra, "a.myshopify.com")
    await taskra.accounts.create_account(store_id, "jo@example.com", password=PASSWORD)
    with pytest.raises(LoginFailed) as wrong:
        await taskra.accounts.authenticate("jo@example.com", "not the password")
    with pytest.raises(LoginFailed) as unknown:
        await taskra.accounts.authenticate("nobody@example.com", PASSWORD)
    assert str(wrong.value) == str(unknown.value)


async def test_failures_per_email_are_rate_limited_for_a_window(
    taskra: Taskra, clock: ManualClock
) -> None:
    """After N failures even the right password is refused, until the window has passed;
    a success then clears the email's count."""
    store_id = await add_store(taskra, "a.myshopify.com")
    await taskra.accounts.create_account(store_id, "jo@example.com", password=PASSWORD)
    for n in range(MAX_FAILURES_PER_EMAIL):
        with pytest.raises(LoginFailed):
            await taskra.accounts.authenticate("jo@example.com", "wrong", client_key=f"ip{n}")
    with pytest.raises(LoginRateLimited) as limited:
        await taskra.accounts.authenticate("jo@example.com", PASSWORD, client_key="fresh")
    assert limited.value.retry_after == FAILURE_WINDOW.total_seconds()
    # Another email is not affected.
    with pytest.raises(LoginFailed):
        await taskra.accounts.authenticate("al@example.com", "wrong", client_key="fresh")
    clock.advance(FAILURE_WINDOW.total_seconds() + 1)
    await taskra.accounts.authenticate("jo@example.com", PASSWORD)
    with pytest.raises(LoginFailed):
        await taskra.accounts.authenticate("jo@example.com", "wrong")


async def test_failures_per_client_are_rate_limited(taskra: Taskra) -> None:
    """One client trying many emails is stopped too, while other clients still sign in."""
    store_id = await add_store(taskra, "a.myshopify.com")
    await taskra.accounts.create_account(store_id, "jo@example.com", password=PASSWORD)
    for n in range(MAX_FAILURES_PER_CLIENT):
        with pytest.raises(LoginFailed):
            await taskra.accounts.authenticate(f"u{n}@example.com", "wrong", client_key="bot")
    with pytest.raises(LoginRateLimited):
        await taskra.accounts.authenticate("jo@example.com", PASSWORD, client_key="bot")
    await taskra.accounts.authenticate("jo@example.com", PASSWORD, client_key="office")


async def test_sessions_are_stored_hashed_expire_and_revoke(
    taskra: Taskra, clock: ManualClock
) -> None:
    """Only the token's SHA-256 is stored; expiry and revocation both end the session."""
    store_id = await add_store(taskra, "a.myshopify.com")
    account = await taskra.accounts.create_account(store_id, "jo@example.com")
    token = await taskra.accounts.start_session(account)
    async with taskra.db.session() as session:
        [stored] = list(await session.scalars(select(AccountSession)))
    assert stored.token_hash == hash_token(token) != token
    assert stored.store_id == store_id
    found, found_session = await taskra.accounts.session_for(token)
    assert found.id == account.id
    assert found_session.id == stored.id
    with pytest.raises(SessionInvalid):
        await taskra.accounts.session_for(token + "x")

    await taskra.accounts.end_session(token)
    with pytest.raises(SessionInvalid):
        await taskra.accounts.session_for(token)

    short = await taskra.accounts.start_session(account, ttl=timedelta(minutes=5))
    await taskra.accounts.session_for(short)
    clock.advance(301)
    with pytest.raises(SessionInvalid):
        await taskra.accounts.session_for(short)


async def test_csrf_token_belongs_to_its_session() -> None:
    """The CSRF token is stable per session, differs between sessions, and is checked."""
    assert csrf_token_for("a") == csrf_token_for("a") != csrf_token_for("b")
    assert csrf_matches("a", csrf_token_for("a"))
    assert not csrf_matches("a", csrf_token_for("b"))
    assert not csrf_matches("a", None)


async def test_a_login_link_works_once_and_expires(taskra: Taskra, clock: ManualClock) -> None:
    """A link signs its account in once; a second use and an expired link are refused."""
    store_id = await add_store(taskra, "a.myshopify.com")
    account = await taskra.accounts.create_account(store_id, "jo@example.com")
    token = await taskra.accounts.login_link_token(account, timedelta(minutes=15))
    async with taskra.db.session() as session:
        [link] = list(await session.scalars(select(LoginLink)))
    assert link.token_hash == hash_token(token)
    assert (await taskra.accounts.use_login_link(token)).id == account.id
    with pytest.raises(SessionInvalid, match="already used"):
        await taskra.accounts.use_login_link(token)

    late = await taskra.accounts.login_link_token(account, timedelta(minutes=15))
    clock.advance(15 * 60)
    with pytest.raises(SessionInvalid):
        await taskra.accounts.use_login_link(late)
