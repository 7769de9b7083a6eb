"""Managed install and the store's offline access token: exchange, refresh, Admin GraphQL.

- :func:`ensure_installed` runs on an app load with a verified ID token. If the store has no
  usable tokens (first install, re-install, or tokens dropped after a 401) it exchanges the
  ID token for an *expiring* offline token (``expiring=1``), stores the access and refresh
  tokens encrypted, marks the store installed and enqueues the initial ``shopify.sync`` job,
  all in one transaction.
- :func:`access_token` returns a valid access token, refreshing it when it expires within
  :data:`REFRESH_MARGIN`. Shopify rotates refresh tokens (each works once), so exactly one
  refresh per shop may run at a time, across processes: PostgreSQL takes a transaction-scoped
  advisory lock keyed on the shop, SQLite's single write lock does the same job, and an
  in-process lock keeps coroutines of one process from queueing on the database. The row is
  read again once the lock is held, because another process may just have refreshed it.
- :func:`admin_graphql` calls the Admin API. A 401 drops the stored tokens (the next app load
  re-authenticates); 429 and ``THROTTLED`` raise :class:`ShopifyUnavailable` with
  ``retry_after``, so the calling job retries later.

``TASKRA_SHOPIFY_ORIGIN`` (development and tests) sends all of it to a local fake.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary, WeakValueDictionary

import httpx
from shopify_app.types import GQLResult, TokenExchangeAccessToken, TokenExchangeResult
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from taskra_core.crypto import secret_context
from taskra_core.errors import (
    InvalidSessionToken,
    ShopifyAuthError,
    ShopifyRejected,
    ShopifyUnavailable,
)
from taskra_core.models import Store
from taskra_core.notifications import start_onboarding
from taskra_shopify.session_token import IdToken, shopify_app

if TYPE_CHECKING:
    from taskra_core.app import Taskra
    from taskra_core.settings import Settings

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
HTTP_TIMEOUT_SECONDS = 30.0
SYNC_JOB = "shopify.sync"
STORES_TABLE = "stores"
_NO_TOKENS: dict[str, None] = dict.fromkeys(
    ("access_token_enc", "access_token_expires_at", "refresh_token_enc", "refresh_token_expires_at")
)

# Per Taskra (weakly, so a discarded Taskra takes its locks along), per shop (weakly, so a
# lock lives only while someone holds or awaits it). asyncio locks must not be shared
# between event loops, which separate Taskra instances may run on.
_local_locks: WeakKeyDictionary[Taskra, WeakValueDictionary[str, asyncio.Lock]] = (
    WeakKeyDictionary()
)


class _RewriteOrigin(httpx.AsyncBaseTransport):
    """Sends every request to one origin, keeping its path and its ``Host`` header."""

    def __init__(self, origin: str) -> None:
        self._origin = httpx.URL(origin)
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # shopify_app hard-codes https://<shop>.myshopify.com and offers no base URL; the
        # Host header was set from that URL already, so the fake still sees which shop.
        request.url = request.url.copy_with(
            scheme=self._origin.scheme, host=self._origin.host, port=self._origin.port
        )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def http_client(settings: Settings) -> httpx.AsyncClient:
    """A client for one exchange with Shopify (or ``TASKRA_SHOPIFY_ORIGIN``); close it after."""
    transport = _RewriteOrigin(settings.shopify_origin) if settings.shopify_origin else None
    return httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, transport=transport)


# --- install ---------------------------------------------------------------------------------


async def ensure_installed(taskra: Taskra, id_token: IdToken) -> Store:
    """The store of ``id_token``, installed: token exchange on first use, then a no-op.

    Raises :class:`InvalidSessionToken` if Shopify refuses the ID token,
    :class:`ShopifyUnavailable` if Shopify cannot answer now, and :class:`ShopifyAuthError`
    or :class:`ShopifyRejected` if it refuses the app.
    """
    async with taskra.db.session() as session:
        store = await _find(session, id_token.shop)
    if store is not None and _usable(store, taskra.clock.now()):
        return store
    async with _locked_shop(taskra, id_token.shop) as (session, store):
        now = taskra.clock.now()
        if store is not None and _usable(store, now):
            return store  # another request installed it while this one waited
        grant = await _exchange(taskra, id_token)
        now = taskra.clock.now()
        if store is None:
            store = Store(domain=id_token.shop, created_at=now, updated_at=now)
            session.add(store)
            await session.flush()
        assert store.id is not None
        if store.installed_at is None or store.uninstalled_at is not None:
            store.installed_at = now
        store.uninstalled_at = None
        _save_grant(taskra, store, grant, now)
        # One initial sync per installation: re-authenticating after a dropped token finds
        # the same key and adds nothing.
        await taskra.jobs.enqueue(
            session,
            SYNC_JOB,
            {"shop": store.domain, "reason": "install"},
            store_id=store.id,
            idempotency_key=f"{SYNC_JOB}:install:{store.id}:{store.installed_at.isoformat()}",
        )
        # Welcome, connect email, enable chat: once per installation, spaced out by delays.
        await start_onboarding(taskra, session, store)
    log.info("shopify store installed", extra={"shop": store.domain, "scopes": store.scopes})
    return store


def _usable(store: Store, now: datetime) -> bool:
    """Whether the stored tokens can still produce an access token without the merchant."""
    if store.uninstalled_at is not None or store.access_token_enc is None:
        return False
    expires = store.refresh_token_expires_at
    return store.refresh_token_enc is None or expires is None or expires > now


async def _exchange(taskra: Taskra, id_token: IdToken) -> TokenExchangeAccessToken:
    details = {"exchangeable": True, "token": id_token.token, "claims": dict(id_token.claims)}
    async with http_client(taskra.settings) as client:
        result = await shopify_app(taskra.settings).exchange_using_token_exchange_async(
            "offline", id_token=details, expiring=True, http_client=client
        )
    if result.ok and result.access_token is not None and result.access_token.token:
        return result.access_token
    if result.log.code == "invalid_subject_token":
        raise InvalidSessionToken(
            "Shopify refused the session token in the token exchange; App Bridge fetches a "
            "fresh one."
        )
    raise _failure(result, f"Token exchange for {id_token.shop}")


# --- access tokens ---------------------------------------------------------------------------


async def access_token(taskra: Taskra, store: Store) -> str:
    """A valid Admin API access token for ``store``, refreshed first if it expires soon.

    Raises :class:`ShopifyAuthError` when there is no usable token (the merchant opens the
    app to re-authenticate) and :class:`ShopifyUnavailable` when a refresh failed for now.
    """
    token, _sealed = await _current_token(taskra, store.domain)
    return token


async def _current_token(taskra: Taskra, shop: str) -> tuple[str, str]:
    """The plaintext access token and its stored ciphertext (for compare-and-drop)."""
    async with taskra.db.session() as session:
        row = await _find(session, shop)
    if row is not None and row.access_token_enc is not None and _fresh(row, taskra.clock.now()):
        return _open(taskra, row, "access_token_enc"), row.access_token_enc
    failure: ShopifyAuthError
    async with _locked_shop(taskra, shop) as (session, row):
        if row is None or row.access_token_enc is None:
            raise _reauth(shop, "There is no Shopify access token")
        now = taskra.clock.now()
        if _fresh(row, now):
            return _open(taskra, row, "access_token_enc"), row.access_token_enc
        expires = row.refresh_token_expires_at
        if row.refresh_token_enc is None or (expires is not None and expires <= now):
            _clear_tokens(row, now)
            failure = _reauth(shop, "The access token expired and cannot be refreshed")
        else:
            result = await _refresh(taskra, shop, _open(taskra, row, "refresh_token_enc"))
            if result.ok and result.access_token is not None and result.access_token.token:
                _save_grant(taskra, row, result.access_token, taskra.clock.now())
                log.info("shopify access token refreshed", extra={"shop": shop})
                assert row.access_token_enc is not None
                return result.access_token.token, row.access_token_enc
            if result.log.code not in ("invalid_grant", "refresh_token_expired"):
                raise _failure(result, f"Refreshing the access token of {shop}")
            # The refresh token is dead (revoked, or used already): keeping it would only
            # fail again. Commit the drop, then raise.
            _clear_tokens(row, now)
            failure = _reauth(shop, f"Shopify refused the token refresh ({result.log.code})")
    log.warning("shopify tokens dropped", extra={"shop": shop})
    raise failure


def _fresh(store: Store, now: datetime) -> bool:
    expires = store.access_token_expires_at
    return expires is None or expires - now > REFRESH_MARGIN


async def _refresh(taskra: Taskra, shop: str, refresh_token: str) -> TokenExchangeResult:
    grant = {
        "shop": shop.removesuffix(".myshopify.com"),
        "refresh_token": refresh_token,
        # No expiry times: Taskra already decided, on its own clock, that the token needs a
        # refresh; the package would otherwise skip it while more than 60 s remain.
        "expires": None,
        "refresh_token_expires": None,
        "access_mode": "offline",
    }
    async with http_client(taskra.settings) as client:
        return await shopify_app(taskra.settings).refresh_token_exchanged_access_token_async(
            grant, http_client=client
        )


# --- Admin GraphQL ---------------------------------------------------------------------------


async def admin_graphql(
    taskra: Taskra, store: Store, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run an Admin GraphQL query for ``store`` and return its ``data``.

    Raises :class:`ShopifyAuthError` on 401 (after dropping the stored tokens),
    :class:`ShopifyUnavailable` on 429, ``THROTTLED``, 5xx or network failures (retry later,
    ``retry_after`` when Shopify said), and :class:`ShopifyRejected` on anything else.
    """
    shop = store.domain
    for _attempt in range(2):
        token, sealed = await _current_token(taskra, shop)
        async with http_client(taskra.settings) as client:
            result = await shopify_app(taskra.settings).admin_graphql_request_async(
                query,
                shop=shop.removesuffix(".myshopify.com"),
                access_token=token,
                api_version=taskra.settings.shopify_api_version,
                variables=variables,
                # The package's own 429 retry never reads Retry-After (it looks the header
                # up with the wrong case) and sleeps in the request; the job retries instead.
                max_retries=0,
                http_client=client,
            )
        if result.ok:
            return result.data or {}
        if result.log.code != "unauthorized":
            raise _graphql_failure(result, shop)
        if await _drop_tokens_if(taskra, shop, sealed):
            log.warning("shopify tokens dropped after a 401", extra={"shop": shop})
            raise _reauth(shop, "Shopify rejected the access token (401)")
        # The token was replaced (refreshed) while the request was in flight: use the new one.
    raise _reauth(shop, "Shopify rejected two successive access tokens (401)")


def _graphql_failure(result: GQLResult, shop: str) -> Exception:
    if result.log.code != "graphql_errors":
        return _failure(result, f"Admin GraphQL request for {shop}")
    try:
        body = json.loads(result.response.body)
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    errors = body.get("errors")
    errors = errors if isinstance(errors, list) else [{"message": str(errors)}]
    codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
    if "THROTTLED" in codes:
        return ShopifyUnavailable(
            f"Shopify throttled the Admin GraphQL request for {shop} (query cost).",
            retry_after=_throttle_wait(body.get("extensions")),
        )
    messages = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
    return ShopifyRejected(f"Shopify refused the Admin GraphQL query for {shop}: {messages}")


def _throttle_wait(extensions: Any) -> float | None:
    """Seconds until the query's cost is back in the bucket, from ``extensions.cost``."""
    try:
        cost = extensions["cost"]
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(missing, 0.0) / float(status["restoreRate"]) or 1.0
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


# --- shared ----------------------------------------------------------------------------------


def _failure(result: TokenExchangeResult | GQLResult, what: str) -> Exception:
    """Map a failed ``shopify_app`` result to Taskra's errors, by what Shopify answered."""
    code = result.log.code
    last = result.http_logs[-1].res if result.http_logs else None
    status = last.status if last is not None else 0
    if code == "invalid_client":
        return ShopifyAuthError(
            f"{what} failed: Shopify refused the app's credentials (invalid_client); check "
            "SHOPIFY_API_KEY and SHOPIFY_API_SECRET, or the app was uninstalled."
        )
    if code == "network_error":
        return ShopifyUnavailable(f"{what} failed: Shopify could not be reached.")
    if last is None:  # the package refused to send it (its own input checks)
        return ShopifyRejected(f"{what} was not sent: {result.log.detail}")
    if status == 429:
        assert last is not None
        return ShopifyUnavailable(
            f"{what} was rate limited by Shopify (429).", retry_after=_retry_after(last.headers)
        )
    if status >= 500:
        return ShopifyUnavailable(f"{what} failed: Shopify answered {status}; retry later.")
    return ShopifyRejected(f"{what} failed: Shopify answered {status} ({code}).")


def _retry_after(headers: dict[str, str]) -> float | None:
    value = {name.lower(): v for name, v in headers.items()}.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: leave the wait to the job's backoff


def _context(store: Store, column: str) -> str:
    assert store.id is not None
    return secret_context(STORES_TABLE, column, store.id)


def _open(taskra: Taskra, store: Store, column: str) -> str:
    sealed = getattr(store, column)
    assert sealed is not None
    return taskra.cipher.decrypt(sealed, context=_context(store, column))


def _save_grant(
    taskra: Taskra, store: Store, grant: TokenExchangeAccessToken, now: datetime
) -> None:
    """Store a new access + refresh token pair on ``store`` (committed together)."""
    seal = taskra.cipher.encrypt
    store.access_token_enc = seal(grant.token, context=_context(store, "access_token_enc"))
    store.access_token_expires_at = _expiry(grant.expires, now)
    if grant.refresh_token:
        context = _context(store, "refresh_token_enc")
        store.refresh_token_enc = seal(grant.refresh_token, context=context)
        store.refresh_token_expires_at = _expiry(grant.refresh_token_expires, now)
    else:
        if grant.expires is not None:
            log.warning("shopify sent an expiring token without a refresh token")
        store.refresh_token_enc = store.refresh_token_expires_at = None
    if grant.scope:
        store.scopes = grant.scope
    store.updated_at = now


def _expiry(stamp: str | None, now: datetime) -> datetime | None:
    """shopify_app stamps expiries with the wall clock; Taskra decides with its own clock
    (``TASKRA_NOW``, tests), so carry over the remaining lifetime rather than the instant."""
    if not stamp:
        return None
    remaining = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - datetime.now(UTC)
    return now + remaining


def _reauth(shop: str, why: str) -> ShopifyAuthError:
    return ShopifyAuthError(
        f"{why} for {shop}; opening the app in the store's Shopify admin will re-authenticate it."
    )


def _clear_tokens(store: Store, now: datetime) -> None:
    for column in _NO_TOKENS:
        setattr(store, column, None)
    store.updated_at = now


async def _drop_tokens_if(taskra: Taskra, shop: str, sealed: str) -> bool:
    """Drop the tokens only if the access token is still ``sealed`` (nobody refreshed it)."""
    now = taskra.clock.now()
    async with taskra.db.transaction() as session:
        result = await session.execute(
            update(Store)
            .where(col(Store.domain) == shop, col(Store.access_token_enc) == sealed)
            .values(**_NO_TOKENS, updated_at=now)
        )
    return bool(getattr(result, "rowcount", 0))


async def _find(session: AsyncSession, shop: str) -> Store | None:
    return (await session.scalars(select(Store).where(col(Store.domain) == shop))).first()


def _local_lock(taskra: Taskra, shop: str) -> asyncio.Lock:
    locks = _local_locks.setdefault(taskra, WeakValueDictionary())
    lock = locks.get(shop)
    if lock is None:
        lock = locks[shop] = asyncio.Lock()
    return lock


def _lock_key(shop: str) -> int:
    # A 64-bit key of Taskra's own per shop; a collision only makes two shops take turns.
    digest = hashlib.sha256(f"taskra.shopify.tokens:{shop}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def _locked_shop(
    taskra: Taskra, shop: str
) -> AsyncIterator[tuple[AsyncSession, Store | None]]:
    """A transaction in which only this caller changes ``shop``'s tokens, with the row read
    after the lock was taken. It commits on a normal exit and rolls back on an exception."""
    async with _local_lock(taskra, shop), taskra.db.transaction() as session:
        if taskra.db.dialect == "postgresql":
            await session.execute(
                text("SELECT pg_advisory_xact_lock(CAST(:key AS bigint))"),
                {"key": _lock_key(shop)},
            )
        else:
            # SQLite admits one writer at a time. Writing first makes this transaction that
            # writer until it ends (even when no row matches yet), and the read below sees
            # every earlier commit.
            await session.execute(
                update(Store)
                .where(col(Store.domain) == shop)
                .values(updated_at=taskra.clock.now())
                .execution_options(synchronize_session=False)
            )
        yield session, await _find(session, shop)
