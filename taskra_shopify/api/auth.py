"""Who is calling the API, for which store.

Inside Shopify admin every fetch carries a session token (``Authorization: Bearer``),
verified as the app home verifies it; the store is the token's shop, and only an installed
store is served. The token's staff member is the caller's account, recorded on first sight
(see :mod:`taskra_shopify.staff`). Outside Shopify admin, a merchant or agent who signed in
at ``/login`` sends the ``taskra_session`` cookie instead; the store is then the account's
store. Every handler scopes its work to ``principal.store_id``, so a valid token of one shop
can never reach another shop's data.

A browser attaches cookies to requests other sites make, so a cookie-authenticated write
(anything but GET/HEAD/OPTIONS) must also carry the session's CSRF token in
``X-CSRF-Token``, which only Taskra's own pages can read. Bearer requests need none: another
site cannot make the browser attach a header.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col
from starlette.requests import Request

from taskra_core.accounts import csrf_matches
from taskra_core.app import Taskra
from taskra_core.errors import CsrfRejected, InvalidSessionToken, SessionInvalid
from taskra_core.models import Store
from taskra_shopify.session_token import verify_session_token
from taskra_shopify.staff import record_staff

SESSION_COOKIE = "taskra_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    store_id: int
    shop: str
    user_id: str | None  # the Shopify staff member (``sub``), for session-token callers
    # The caller's account: the cookie's, or the one recorded for the Shopify staff member.
    account_id: int | None = None
    role: str | None = None  # the account's: "merchant" or "agent"
    by_cookie: bool = False  # signed in outside Shopify admin (writes need the CSRF token)


async def authenticate(request: Request, taskra: Taskra) -> Principal:
    if request.headers.get("authorization", "").startswith("Bearer "):
        return await _from_session_token(request, taskra)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await _from_cookie(request, taskra, cookie)
    raise InvalidSessionToken(
        "Send the Shopify session token as 'Authorization: Bearer', or sign in at /login."
    )


async def _from_session_token(request: Request, taskra: Taskra) -> Principal:
    token = await verify_session_token(request, taskra.settings)
    async with taskra.db.session() as session:
        store = (
            await session.scalars(select(Store).where(col(Store.domain) == token.shop))
        ).first()
    if store is None or store.id is None or store.uninstalled_at is not None:
        raise InvalidSessionToken(
            f"{token.shop} has not installed the app; open it from the Shopify admin first."
        )
    request.state.shop = token.shop
    account = await record_staff(taskra, store, token) if token.user_id is not None else None
    return Principal(
        store_id=store.id,
        shop=token.shop,
        user_id=token.user_id,
        account_id=account.id if account is not None else None,
        role=account.role if account is not None else None,
    )


async def _from_cookie(request: Request, taskra: Taskra, cookie: str) -> Principal:
    account, _ = await taskra.accounts.session_for(cookie)
    # Session first, then CSRF: an ended session is 401 (sign in), not 403.
    if request.method not in SAFE_METHODS:
        require_csrf(request, cookie)
    async with taskra.db.session() as session:
        store = await session.get(Store, account.store_id)
    if store is None or store.id is None or store.uninstalled_at is not None:
        raise SessionInvalid("This account's store has uninstalled the app.")
    # request.state.shop is left unset: standalone pages may not be framed by anyone.
    return Principal(
        store_id=store.id,
        shop=store.domain,
        user_id=None,
        account_id=account.id,
        role=account.role,
        by_cookie=True,
    )


def require_csrf(request: Request, cookie: str) -> None:
    if not csrf_matches(cookie, request.headers.get(CSRF_HEADER)):
        raise CsrfRejected(
            f"A write signed in by cookie needs the session's CSRF token in {CSRF_HEADER}; "
            "get it from GET /api/v1/session."
        )
