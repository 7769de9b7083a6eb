"""Managed install, token refresh and Admin GraphQL against the fake Shopify, over real HTTP.

Taskra reaches the fake through ``TASKRA_SHOPIFY_ORIGIN``; ID tokens are signed as Shopify
signs them and verified by the real code path. Refresh timing runs on a ManualClock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, col

import taskra_shopify.plugin
from taskra_core.app import Taskra
from taskra_core.clock import ManualClock
from taskra_core.crypto import secret_context
from taskra_core.errors import (
    ConfigurationError,
    InvalidSessionToken,
    ShopifyAuthError,
    ShopifyRejected,
    ShopifyUnavailable,
)
from taskra_core.models import JobRecord, Store
from taskra_core.settings import Settings
from taskra_core.testing import make_test_taskra
from taskra_core.worker import Worker
from taskra_shopify.tokens import access_token, admin_graphql
from tests.fakes.shopify import (
    BAD_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    SHOP,
    Failure,
    FakeShopify,
    delayed,
    oauth_error,
    rate_limited,
    server_error,
    throttled,
)
from tests.shopify.installing import install

PRODUCTS = """
query Products($first: Int!, $after: String) {
  products(first: $first, after: $after) {
    edges { cursor node { handle title status variants(first: 5) { nodes { sku price } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def _taskra(database_url: str, fake: FakeShopify, clock: ManualClock) -> Taskra:
    return make_test_taskra(
        database_url,
        plugins=[taskra_shopify.plugin],
        clock=clock,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_origin=fake.origin,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def taskra(
    database_url: str, fake_shopify: FakeShopify, clock: ManualClock
) -> AsyncIterator[Taskra]:
    core = _taskra(database_url, fake_shopify, clock)
    await core.startup()
    try:
        yield core
    finally:
        await core.shutdown()


async def _row(taskra: Taskra) -> Store:
    async with taskra.db.session() as session:
        store = (await session.scalars(select(Store).where(col(Store.domain) == SHOP))).one()
    return store


def _plain(taskra: Taskra, store: Store, column: str) -> str:
    assert store.id is not None
    value = getattr(store, column)
    return taskra.cipher.decrypt(value, context=secret_context("stores", column, store.id))


def _issued(fake: FakeShopify) -> tuple[list[str], list[str]]:
    return list(fake.access_tokens), list(fake.refresh_tokens)


async def _sync_jobs(taskra: Taskra) -> list[JobRecord]:
    async with taskra.db.session() as session:
        query = select(JobRecord).where(col(JobRecord.kind) == "shopify.sync")
        return list(await session.scalars(query))


# --- install -------------------------------------------------------------------------------


async def test_install_exchanges_the_id_token_for_an_expiring_offline_token(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """The first load creates the store with an expiring offline token and its refresh token
    (encrypted, with expiry times), marks it installed and queues the initial sync."""
    store = await install(taskra)
    row = await _row(taskra)
    (issued,), (refresh,) = _issued(fake_shopify)
    assert row.id == store.id
    assert _plain(taskra, row, "access_token_enc") == issued
    assert _plain(taskra, row, "refresh_token_enc") == refresh
    assert row.access_token_expires_at is not None
    assert row.refresh_token_expires_at is not None
    assert timedelta(minutes=59) < row.access_token_expires_at - clock.now() <= timedelta(hours=1)
    assert row.refresh_token_expires_at - clock.now() > timedelta(days=89)
    assert row.installed_at == clock.now()
    assert row.uninstalled_at is None
    assert row.scopes == fake_shopify.scopes
    (request,) = fake_shopify.requests_to("/admin/oauth/access_token")
    assert request.headers["host"] == SHOP  # the origin rewrite kept the shop's Host
    assert request.body["expiring"] == 1
    assert request.body["requested_token_type"].endswith("offline-access-token")
    (job,) = await _sync_jobs(taskra)
    assert job.store_id == store.id
    assert job.payload["shop"] == SHOP


async def test_database_holds_no_plaintext_token(
    taskra: Taskra, fake_shopify: FakeShopify, database_url: str
) -> None:
    """Neither the access nor the refresh token appears in plaintext in any table (nor, on
    SQLite, anywhere in the database files)."""
    await install(taskra)
    secrets = [token for issued in _issued(fake_shopify) for token in issued]
    dump = []
    async with taskra.db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in await session.execute(table.select())]
    for secret in secrets:
        assert all(secret not in row for row in dump)
    if taskra.db.dialect == "sqlite":
        path = make_url(database_url).database
        assert path is not None
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal")]
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        assert all(secret.encode() not in raw for secret in secrets)


async def test_later_loads_reuse_the_stored_token(
    taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """Once installed, app loads exchange nothing and queue no second initial sync."""
    first = await install(taskra)
    again = await install(taskra)
    assert again.id == first.id
    assert fake_shopify.exchanges == 1
    assert len(await _sync_jobs(taskra)) == 1


async def test_reinstall_reactivates_the_store(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """After an uninstall, the next load exchanges again, clears uninstalled_at, stamps a new
    installed_at and queues a new initial sync."""
    store = await install(taskra)
    async with taskra.db.transaction() as session:
        await session.execute(
            text("UPDATE stores SET uninstalled_at = :t, access_token_enc = NULL WHERE id = :i"),
            {"t": clock.now().replace(tzinfo=None), "i": store.id},
        )
    clock.advance(86400)
    await install(taskra)
    row = await _row(taskra)
    assert row.uninstalled_at is None
    assert row.installed_at == clock.now()
    assert fake_shopify.exchanges == 2
    assert len(await _sync_jobs(taskra)) == 2


async def test_shopify_refusing_the_id_token_is_an_invalid_session(
    taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """invalid_subject_token from Shopify raises InvalidSessionToken and creates no store."""
    fake_shopify.inject("token", oauth_error("invalid_subject_token"))
    with pytest.raises(InvalidSessionToken):
        await install(taskra)
    async with taskra.db.session() as session:
        assert (await session.scalars(select(Store))).first() is None


async def test_exchange_outage_is_retryable(taskra: Taskra, fake_shopify: FakeShopify) -> None:
    """A 5xx from the token endpoint raises ShopifyUnavailable and leaves nothing behind."""
    fake_shopify.inject("token", server_error(503))
    with pytest.raises(ShopifyUnavailable):
        await install(taskra)
    assert await _sync_jobs(taskra) == []


async def test_initial_sync_job_runs(taskra: Taskra) -> None:
    """The queued shopify.sync job has a registered handler, so a worker completes it."""
    await install(taskra)
    await Worker(taskra).run_until_idle()
    (job,) = await _sync_jobs(taskra)
    assert job.state == "done"


# --- refresh -------------------------------------------------------------------------------


async def test_token_is_refreshed_within_five_minutes_of_expiry(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """The token is used as is until 5 minutes before expiry; then one refresh rotates both
    tokens, stored encrypted with the new expiry."""
    store = await install(taskra)
    (first,), _ = _issued(fake_shopify)
    clock.advance(3000)  # about 10 minutes left
    assert await access_token(taskra, store) == first
    assert fake_shopify.refreshes == 0
    clock.advance(400)  # about 3 minutes left
    second = await access_token(taskra, store)
    assert second != first
    assert fake_shopify.live(SHOP, second)
    assert fake_shopify.refreshes == 1
    row = await _row(taskra)
    assert _plain(taskra, row, "refresh_token_enc") == list(fake_shopify.refresh_tokens)[-1]
    assert row.access_token_expires_at is not None
    assert row.access_token_expires_at - clock.now() > timedelta(minutes=59)
    assert await access_token(taskra, store) == second
    assert fake_shopify.refreshes == 1


async def test_concurrent_refresh_in_one_process_refreshes_once(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """Many coroutines needing a refresh at once cause exactly one refresh at Shopify (a
    second would reuse the rotated refresh token and be refused)."""
    store = await install(taskra)
    clock.advance(3500)
    fake_shopify.inject("token", delayed(0.2))  # keep the first refresh in flight
    tokens = await asyncio.gather(*(access_token(taskra, store) for _ in range(8)))
    assert len(set(tokens)) == 1
    assert fake_shopify.refreshes == 1
    assert fake_shopify.counts["refresh_rejected"] == 0


async def test_concurrent_refresh_from_two_taskra_instances_refreshes_once(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock, database_url: str
) -> None:
    """Two Taskra instances (two engines, as two processes would have) refreshing the same
    shop at once cause one refresh: the database lock serializes them and the second reads
    the first one's new token after taking the lock."""
    store = await install(taskra)
    other = _taskra(database_url, fake_shopify, clock)
    await other.startup()
    try:
        clock.advance(3500)
        fake_shopify.inject("token", delayed(0.2))
        calls = [access_token(core, store) for core in (taskra, other) for _ in range(4)]
        tokens = await asyncio.gather(*calls)
    finally:
        await other.shutdown()
    assert len(set(tokens)) == 1
    assert fake_shopify.refreshes == 1
    assert fake_shopify.counts["refresh_rejected"] == 0


async def test_refused_refresh_drops_the_tokens(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """invalid_grant deletes the stored tokens and raises ShopifyAuthError; the next app
    load exchanges a new ID token and works again."""
    store = await install(taskra)
    fake_shopify.revoke(SHOP, refresh=True)
    clock.advance(3500)
    with pytest.raises(ShopifyAuthError, match="re-authenticate"):
        await access_token(taskra, store)
    row = await _row(taskra)
    assert row.access_token_enc is None
    assert row.refresh_token_enc is None
    await install(taskra)
    assert fake_shopify.exchanges == 2
    assert fake_shopify.live(SHOP, await access_token(taskra, store))


async def test_refresh_outage_keeps_the_tokens(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """5xx on refresh raises ShopifyUnavailable and keeps the tokens; a later call refreshes."""
    store = await install(taskra)
    clock.advance(3500)
    fake_shopify.inject("token", *[server_error(500)] * 3)  # the package retries 5xx twice
    with pytest.raises(ShopifyUnavailable):
        await access_token(taskra, store)
    assert (await _row(taskra)).refresh_token_enc is not None
    assert fake_shopify.live(SHOP, await access_token(taskra, store))
    assert fake_shopify.refreshes == 1


async def test_store_without_token_needs_reauthentication(taskra: Taskra) -> None:
    """A store that was never installed (e.g. imported) has no token: ShopifyAuthError."""
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        store = Store(domain=SHOP, created_at=now, updated_at=now)
        session.add(store)
    with pytest.raises(ShopifyAuthError, match="re-authenticate"):
        await access_token(taskra, store)


# --- Admin GraphQL -------------------------------------------------------------------------


async def test_graphql_reads_the_shop_and_its_policies(
    taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """A shop query returns the demo shop's details and policies, sent to the pinned API
    version with the store's access token."""
    store = await install(taskra)
    query = "{ shop { name email currencyCode shopPolicies { type title } } }"
    data = await admin_graphql(taskra, store, query)
    assert data["shop"]["name"] == "Fell & Ford"
    assert data["shop"]["currencyCode"] == "GBP"
    assert {p["type"] for p in data["shop"]["shopPolicies"]} >= {"REFUND_POLICY"}
    (request,) = fake_shopify.requests_to("/admin/api/")
    assert request.path == f"/admin/api/{taskra.settings.shopify_api_version}/graphql.json"
    assert request.headers["host"] == SHOP
    assert fake_shopify.live(SHOP, request.headers["x-shopify-access-token"])


async def test_graphql_paginates_the_catalog(taskra: Taskra) -> None:
    """Following pageInfo.endCursor with products(first:, after:) visits every product once."""
    store = await install(taskra)
    handles: list[str] = []
    after = None
    while True:
        page = await admin_graphql(taskra, store, PRODUCTS, {"first": 50, "after": after})
        handles += [edge["node"]["handle"] for edge in page["products"]["edges"]]
        if not page["products"]["pageInfo"]["hasNextPage"]:
            break
        after = page["products"]["pageInfo"]["endCursor"]
    assert len(handles) == len(set(handles)) == 120


async def test_graphql_401_drops_the_token(taskra: Taskra, fake_shopify: FakeShopify) -> None:
    """A 401 from the Admin API deletes the stored tokens and raises ShopifyAuthError."""
    store = await install(taskra)
    fake_shopify.revoke(SHOP)
    with pytest.raises(ShopifyAuthError, match="401"):
        await admin_graphql(taskra, store, "{ shop { name } }")
    row = await _row(taskra)
    assert row.access_token_enc is None
    assert row.refresh_token_enc is None


async def test_graphql_401_for_a_token_refreshed_meanwhile_retries_with_the_new_one(
    taskra: Taskra, fake_shopify: FakeShopify, clock: ManualClock
) -> None:
    """A 401 for a token that another caller refreshed while the request was in flight
    drops nothing: the query is retried once with the new token."""
    store = await install(taskra)
    fake_shopify.inject("graphql", delayed(0.3, Failure(401, {"errors": BAD_TOKEN})))
    query = asyncio.create_task(admin_graphql(taskra, store, "{ shop { name } }"))
    await asyncio.to_thread(fake_shopify.wait_for, "/admin/api/")  # first request in flight
    clock.advance(3500)
    refreshed = await access_token(taskra, store)
    assert (await query)["shop"]["name"] == "Fell & Ford"
    assert fake_shopify.refreshes == 1
    last = fake_shopify.requests_to("/admin/api/")[-1]
    assert last.headers["x-shopify-access-token"] == refreshed
    assert (await _row(taskra)).access_token_enc is not None


@pytest.mark.parametrize(
    ("failure", "retry_after"),
    [
        (rate_limited(7), 7.0),
        (throttled(requested=502, available=102, restore_rate=100.0), 4.0),
        (server_error(500), None),
        (server_error(503), None),
    ],
)
async def test_graphql_overload_is_retryable(
    taskra: Taskra, fake_shopify: FakeShopify, failure: Any, retry_after: float | None
) -> None:
    """429 (Retry-After honoured), THROTTLED (wait from the query cost) and 5xx raise
    ShopifyUnavailable and keep the token."""
    store = await install(taskra)
    fake_shopify.inject("graphql", failure)
    with pytest.raises(ShopifyUnavailable) as caught:
        await admin_graphql(taskra, store, "{ shop { name } }")
    assert caught.value.retry_after == retry_after
    assert (await _row(taskra)).access_token_enc is not None


async def test_graphql_bad_query_is_rejected(taskra: Taskra) -> None:
    """A query Shopify refuses raises ShopifyRejected quoting Shopify's message."""
    store = await install(taskra)
    with pytest.raises(ShopifyRejected, match="currency"):
        await admin_graphql(taskra, store, "{ shop { currency } }")


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["127.0.0.1:8765", "ftp://127.0.0.1", "http://x/admin"])
def test_shopify_origin_must_be_an_origin(origin: str) -> None:
    """TASKRA_SHOPIFY_ORIGIN takes scheme://host[:port] only; anything else stops start-up."""
    with pytest.raises(ConfigurationError, match="TASKRA_SHOPIFY_ORIGIN"):
        Settings.from_values(shopify_origin=origin)
