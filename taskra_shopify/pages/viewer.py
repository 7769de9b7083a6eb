"""Who is looking at an admin page, and how the page reaches the server again.

Three ways in, one result (:class:`Viewer`):

- a page load inside Shopify admin carries ``?id_token=`` (with ``shop`` and ``host``): it
  is verified, the store is installed on first use, and the page is embedded;
- a fetch from an embedded page carries ``Authorization: Bearer`` (App Bridge adds it);
- a browser tab outside Shopify admin carries the ``taskra_session`` cookie.

An embedded request that fails verification gets Shopify's answer (the bounce page for a
page load, 401 with the retry header for a fetch); a tab without a session goes to
``/login``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from taskra_core.accounts import csrf_token_for
from taskra_core.app import Taskra
from taskra_core.errors import InvalidSessionToken, SessionInvalid, TaskraError
from taskra_core.models import Account, Store
from taskra_shopify.api.auth import SESSION_COOKIE, Principal, authenticate
from taskra_shopify.http_errors import status_for
from taskra_shopify.session_token import (
    content_security_policy,
    failure_response,
    verify_session_token,
)
from taskra_shopify.staff import record_staff
from taskra_shopify.tokens import ensure_installed

_EMBEDDED_PARAMS = ("id_token", "shop", "host", "embedded")


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    store: Store
    account: Account | None
    embedded: bool
    csrf: str | None  # cookie sessions only: writes send it back in X-CSRF-Token
    # Appended to the app's own links on embedded pages, so a plain page load inside the
    # admin still names its shop (and is bounced for a fresh token when it has none).
    nav_query: str = ""

    @property
    def nav_params(self) -> list[tuple[str, str]]:
        """:attr:`nav_query` as pairs, for the hidden fields of a GET form."""
        return parse_qsl(self.nav_query)

    def url(self, path: str, **params: str | int | None) -> str:
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        joined = "&".join(part for part in (query, self.nav_query) if part)
        return f"{path}?{joined}" if joined else path


def _embedded_request(request: Request) -> bool:
    if request.headers.get("authorization", "").startswith("Bearer "):
        return True
    return any(request.query_params.get(name) for name in _EMBEDDED_PARAMS)


async def viewer_for(request: Request) -> Viewer | Response:
    """The page's viewer, or the response that sends the browser to get one."""
    taskra: Taskra = request.app.state.taskra
    if _embedded_request(request):
        return await _embedded(request, taskra)
    return await _standalone(request, taskra)


async def _embedded(request: Request, taskra: Taskra) -> Viewer | Response:
    try:
        if request.headers.get("authorization"):
            principal = await authenticate(request, taskra)
        else:
            id_token = await verify_session_token(request, taskra.settings)
            # Inside the try: a refused exchange also means "get a fresh token" (the bounce).
            installed = await ensure_installed(taskra, id_token)
            staff = await record_staff(taskra, installed, id_token)
            assert installed.id is not None
            principal = Principal(
                store_id=installed.id,
                shop=id_token.shop,
                user_id=id_token.user_id,
                account_id=staff.id,
                role=staff.role,
            )
    except InvalidSessionToken:
        return failure_response(request, taskra.settings)
    except TaskraError as exc:
        # Installing and recording the staff member need Shopify (and a staff member whose
        # email is not already someone else's): say what went wrong rather than a bare 500.
        status = status_for(exc)
        reason = str(exc) if status < 500 or status in (502, 503) else "internal error"
        return PlainTextResponse(
            f"Taskra could not open: {reason}",
            status_code=status,
            headers={"Content-Security-Policy": content_security_policy(None)},
        )
    request.state.shop = principal.shop  # the page's frame-ancestors
    store, account = await _load(taskra, principal)
    host = request.query_params.get("host", "")
    nav = {"shop": principal.shop, "embedded": "1", **({"host": host} if host else {})}
    return Viewer(
        principal=principal,
        store=store,
        account=account,
        embedded=True,
        csrf=None,
        nav_query=urlencode(nav, quote_via=quote),
    )


async def _standalone(request: Request, taskra: Taskra) -> Viewer | Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            principal = await authenticate(request, taskra)
        except SessionInvalid:
            pass
        else:
            store, account = await _load(taskra, principal)
            return Viewer(principal, store, account, embedded=False, csrf=csrf_token_for(cookie))
    return RedirectResponse("/login", status_code=303)


async def _load(taskra: Taskra, principal: Principal) -> tuple[Store, Account | None]:
    async with taskra.db.session() as session:
        store = await session.get(Store, principal.store_id)
        account = (
            await session.get(Account, principal.account_id)
            if principal.account_id is not None
            else None
        )
    assert store is not None
    return store, account
