"""Shopify staff as Taskra accounts: who is using the app inside Shopify admin.

A verified ID token names its staff member (``sub``) but says nothing else about them. The
first time a store sees a ``sub``, :func:`record_staff` exchanges the ID token for an
*online* access token through ``shopify_app`` (as :mod:`.tokens` does for the offline one);
its ``associated_user`` carries the member's email, name and whether they own the store.
The member becomes an account of the store: the owner a ``merchant``, anyone else an
``agent``. An account that already has the member's email (an invited agent, the demo's
merchant) is linked rather than duplicated, but only to an email Shopify has verified, since
linking hands over that account.

The online token itself is dropped: Taskra acts with the store's offline token, and a stored
per-person credential would only be one more thing to leak. A member seen before costs one
indexed query and no network call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shopify_app.types import User
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from taskra_core.errors import InvalidSessionToken, PermissionDenied, ShopifyRejected
from taskra_core.inbox.messages import normalize_email
from taskra_core.models import Account, Store
from taskra_shopify.session_token import IdToken, shopify_app

# _failure maps a failed shopify_app result to Taskra's errors exactly as the offline
# exchange does; one mapping for both exchanges.
from taskra_shopify.tokens import _failure, http_client

if TYPE_CHECKING:
    from taskra_core.app import Taskra

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 255


async def record_staff(taskra: Taskra, store: Store, id_token: IdToken) -> Account:
    """The account of ``id_token``'s staff member in ``store``, recorded on first sight.

    Raises :class:`InvalidSessionToken` if the token names no member or Shopify refuses it
    in the exchange (App Bridge fetches a fresh one), :class:`ShopifyUnavailable` if Shopify
    cannot answer now, :class:`PermissionDenied` if the member's unverified email is already
    another account's, and the other :class:`ShopifyError` kinds as the offline exchange does.
    """
    assert store.id is not None
    if id_token.user_id is None:
        raise InvalidSessionToken("Session token refused: it names no staff member (sub).")
    known = await _find(taskra, store.id, id_token.user_id)
    if known is not None:
        return known
    user = await _online_user(taskra, id_token)
    return await _save(taskra, store.id, id_token.user_id, user)


async def _find(taskra: Taskra, store_id: int, user_id: str) -> Account | None:
    async with taskra.db.session() as session:
        found: Account | None = await session.scalar(
            select(Account).where(
                col(Account.store_id) == store_id, col(Account.shopify_user_id) == user_id
            )
        )
        return found


async def _online_user(taskra: Taskra, id_token: IdToken) -> User:
    details = {"exchangeable": True, "token": id_token.token, "claims": dict(id_token.claims)}
    async with http_client(taskra.settings) as client:
        result = await shopify_app(taskra.settings).exchange_using_token_exchange_async(
            "online", id_token=details, http_client=client
        )
    if result.ok and result.access_token is not None and result.access_token.user is not None:
        return result.access_token.user
    if result.ok:
        raise ShopifyRejected(
            f"Shopify's online token for {id_token.shop} names no user (associated_user)."
        )
    if result.log.code == "invalid_subject_token":
        raise InvalidSessionToken(
            "Shopify refused the session token in the online token exchange; App Bridge "
            "fetches a fresh one."
        )
    raise _failure(result, f"Online token exchange for {id_token.shop}")


async def _save(taskra: Taskra, store_id: int, user_id: str, user: User) -> Account:
    email = normalize_email(user.email)
    name = " ".join(f"{user.first_name} {user.last_name}".split())[:MAX_NAME_CHARS]
    now = taskra.clock.now()
    try:
        async with taskra.db.transaction() as session:
            account = await session.scalar(
                select(Account).where(
                    col(Account.store_id) == store_id, col(Account.shopify_user_id) == user_id
                )
            )
            if account is not None:
                return account  # a parallel request recorded the member meanwhile
            account = await session.scalar(
                select(Account).where(
                    col(Account.store_id) == store_id, col(Account.email) == email
                )
            )
            if account is None:
                account = Account(
                    store_id=store_id,
                    email=email,
                    name=name,
                    role="merchant" if user.account_owner else "agent",
                    shopify_user_id=user_id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(account)
            else:
                if not user.email_verified:
                    raise PermissionDenied(
                        "Taskra already has an account for your email, but Shopify has not "
                        "verified that the email is yours; verify it in Shopify, then open "
                        "the app again."
                    )
                account.shopify_user_id = user_id
                if user.account_owner:
                    account.role = "merchant"
                account.name = account.name or name
                account.updated_at = now
            await session.flush()
    except IntegrityError:
        # Two first requests of the same member at once: the other one recorded it.
        recorded = await _find(taskra, store_id, user_id)
        if recorded is None:
            raise
        return recorded
    log.info(
        "shopify staff member recorded", extra={"account_id": account.id, "role": account.role}
    )
    return account
