"""Shopify staff become accounts: the first sight of a staff member costs one online token
exchange with the fake Shopify over HTTP, later ones none; owners are merchants, others
agents; existing accounts are linked by verified email; the online token is never kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from taskra_core import crypto
from taskra_core.app import Taskra
from taskra_core.errors import InvalidSessionToken, PermissionDenied, ShopifyUnavailable
from taskra_core.models import Account, Store
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app
from taskra_shopify.session_token import IdToken
from taskra_shopify.staff import record_staff
from taskra_shopify.tokens import ensure_installed
from tests.fakes.shopify import (
    CLIENT_ID,
    CLIENT_SECRET,
    SHOP,
    FakeShopify,
    mint_id_token,
    oauth_error,
    server_error,
)
from tests.fakes.shopify_staff import OWNER_ID, owner_email

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lowest bcrypt cost: the same code path, milliseconds instead of 0.2 s a hash."""
    monkeypatch.setattr(crypto, "BCRYPT_ROUNDS", 4)


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    core = make_test_taskra(
        database_url,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake_shopify.origin,
    )
    async with core:
        yield core


def id_token(shop: str = SHOP, sub: str | None = OWNER_ID) -> IdToken:
    """A verified-looking ID token, as verify_session_token hands it on (the fake Shopify
    checks the JWT itself in the exchange)."""
    raw = mint_id_token(shop, sub=sub)
    claims = {"dest": f"https://{shop}", "iss": f"https://{shop}/admin", "aud": CLIENT_ID}
    if sub is not None:
        claims["sub"] = sub
    return IdToken(shop=shop, user_id=sub, session_id="s", token=raw, claims=claims)


@pytest.fixture
async def store(taskra: Taskra) -> Store:
    return await ensure_installed(taskra, id_token())


async def accounts(taskra: Taskra) -> list[Account]:
    async with taskra.db.session() as session:
        return list(await session.scalars(select(Account).order_by(col(Account.id))))


async def test_the_owner_is_recorded_once_as_merchant(
    taskra: Taskra, store: Store, fake_shopify: FakeShopify
) -> None:
    """First sight: one online exchange, and the store owner becomes a merchant account with
    Shopify's email and name, without a password. Second sight: no network call at all."""
    account = await record_staff(taskra, store, id_token())
    assert fake_shopify.online_exchanges == 1
    assert (account.email, account.name, account.role) == (
        owner_email(SHOP),
        "Store Owner",
        "merchant",
    )
    assert (account.shopify_user_id, account.password_hash) == (OWNER_ID, None)
    requests = len(fake_shopify.requests)
    again = await record_staff(taskra, store, id_token())
    assert again.id == account.id
    assert len(fake_shopify.requests) == requests
    assert len(await accounts(taskra)) == 1


async def test_other_staff_are_agents(
    taskra: Taskra, store: Store, fake_shopify: FakeShopify
) -> None:
    """A staff member who does not own the store is recorded as an agent."""
    fake_shopify.staff.add(SHOP, "42", "jo@example.com", first_name="Jo", last_name="Bloggs")
    account = await record_staff(taskra, store, id_token(sub="42"))
    assert (account.email, account.name, account.role) == ("jo@example.com", "Jo Bloggs", "agent")


async def test_an_invited_agent_is_linked_by_verified_email(
    taskra: Taskra, store: Store, fake_shopify: FakeShopify
) -> None:
    """An account that already has the member's (verified) email gets the Shopify user id;
    its password and id stay, and no second account appears."""
    assert store.id is not None
    invited = await taskra.accounts.create_account(
        store.id, "Jo@Example.com", "", password=PASSWORD
    )
    fake_shopify.staff.add(SHOP, "42", "jo@example.com", first_name="Jo", last_name="Bloggs")
    account = await record_staff(taskra, store, id_token(sub="42"))
    assert account.id == invited.id
    assert (account.shopify_user_id, account.name, account.role) == ("42", "Jo Bloggs", "agent")
    assert account.password_hash == invited.password_hash
    assert len(await accounts(taskra)) == 1


async def test_an_unverified_email_never_takes_over_an_account(
    taskra: Taskra, store: Store, fake_shopify: FakeShopify
) -> None:
    """A member whose Shopify email is unverified and already someone's account is refused,
    and that account is left exactly as it was."""
    assert store.id is not None
    owner = await taskra.accounts.create_account(
        store.id, "mo@example.com", "Mo", role="merchant", password=PASSWORD
    )
    fake_shopify.staff.add(SHOP, "66", "mo@example.com", email_verified=False)
    with pytest.raises(PermissionDenied, match="not verified"):
        await record_staff(taskra, store, id_token(sub="66"))
    [unchanged] = await accounts(taskra)
    assert (unchanged.id, unchanged.shopify_user_id) == (owner.id, None)


async def test_the_online_token_is_never_stored(
    taskra: Taskra, store: Store, fake_shopify: FakeShopify
) -> None:
    """No column of any table holds the online access token Shopify issued."""
    await record_staff(taskra, store, id_token())
    [issued] = fake_shopify.staff.online_tokens
    async with taskra.db.session() as session:
        dump = await _every_value(session)
    assert issued not in dump


async def _every_value(session: AsyncSession) -> str:
    parts: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        rows = (await session.execute(select(table))).all()
        parts.extend(repr(tuple(row)) for row in rows)
    return "\n".join(parts)


async def test_shopify_failures_record_nothing(
    taskra: Taskra, store: Store, fake_shopify: FakeShopify
) -> None:
    """Shopify down: ShopifyUnavailable; a refused ID token: InvalidSessionToken (App Bridge
    fetches a fresh one); a token without a staff member: refused before any call. No
    account appears in any case."""
    fake_shopify.inject("token", server_error(503))
    with pytest.raises(ShopifyUnavailable):
        await record_staff(taskra, store, id_token())
    fake_shopify.inject("token", oauth_error("invalid_subject_token"))
    with pytest.raises(InvalidSessionToken):
        await record_staff(taskra, store, id_token())
    requests = len(fake_shopify.requests)
    with pytest.raises(InvalidSessionToken, match="sub"):
        await record_staff(taskra, store, id_token(sub=None))
    assert len(fake_shopify.requests) == requests
    assert await accounts(taskra) == []


async def test_api_callers_are_their_recorded_accounts(
    taskra: Taskra, store: Store, fake_shopify: FakeShopify
) -> None:
    """A session-token request from an unknown member records them on the way in; the same
    member in another shop is another account of that shop."""
    app = create_app(taskra, run_worker=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://taskra.test"
    ) as client:
        headers = {"Authorization": f"Bearer {mint_id_token(SHOP)}"}
        response = await client.get("/api/v1/session", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["account"]["email"] == owner_email(SHOP)
        other = "other-shop.myshopify.com"
        now = datetime.now(UTC)
        async with taskra.db.transaction() as session:
            session.add(Store(domain=other, created_at=now, updated_at=now))
        headers = {"Authorization": f"Bearer {mint_id_token(other)}"}
        response = await client.get("/api/v1/session", headers=headers)
        assert response.json()["account"]["email"] == owner_email(other)
        assert response.json()["account"]["store_id"] != store.id
    assert fake_shopify.online_exchanges == 2
    async with taskra.db.session() as session:
        recorded = await session.scalar(
            select(func.count())
            .select_from(Account)
            .where(col(Account.shopify_user_id) == OWNER_ID)
        )
    assert recorded == 2
