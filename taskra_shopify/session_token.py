"""The embedded app's ID token (session token): verify it, or answer so App Bridge renews it.

Shopify admin loads the app in an iframe as ``/?shop=...&host=...&id_token=<JWT>`` (a
*document load*); the page's own ``fetch`` calls carry ``Authorization: Bearer <JWT>`` (a
*fetch*). :func:`verify_session_token` checks the token with ``shopify_app``'s
``verify_app_home_req`` (HS256 with the client secret, ``aud`` = client id, 10 s leeway) and
then enforces what that package does not (DESIGN section 7): ``exp`` is required, and ``iss``
and ``dest`` must both be ``https://<name>.myshopify.com`` naming the same shop.

A bad or missing token never leads to a question for the merchant. :func:`failure_response`
answers a document load with a 302 to the bounce page (:func:`bounce_page`), where App Bridge
fetches a fresh token and reloads the original URL with it; it answers a fetch with 401 and
``X-Shopify-Retry-Invalid-Session-Request: 1``, which makes App Bridge retry with a new token.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shopify_app import ShopifyApp
from shopify_app.types import RequestInput
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from taskra_core.errors import ConfigurationError, InvalidInput, InvalidSessionToken
from taskra_core.settings import Settings
from taskra_core.stores import normalize_domain

BOUNCE_PATH = "/auth/session-token"
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"
APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
ADMIN_ORIGIN = "https://admin.shopify.com"
APP_BRIDGE_PRELOAD = f'<{APP_BRIDGE_URL}>; rel="preload"; as="script"'

# What the package's failure codes mean, in words an operator can act on.
_REASONS = {
    "redirect_to_patch_id_token_page": "the request carries no session token, or a bad one",
    "invalid_id_token": "the session token is malformed or not signed with this app's secret",
    "expired_id_token": "the session token has expired",
    "invalid_aud": "the session token was issued for another app (aud is not SHOPIFY_API_KEY)",
    "missing_authorization_and_id_token": "the request carries no session token",
}
_ID_TOKEN_PARAM = re.compile(r"(?:^|&)id_token=[^&]*")


@dataclass(frozen=True)
class IdToken:
    """A verified ID token: who is using the app, in which shop."""

    shop: str  # the normalized shop domain, e.g. "fellandford.myshopify.com"
    user_id: str | None  # ``sub``: the Shopify staff member using the admin
    session_id: str | None  # ``sid``
    token: str = field(repr=False)  # the raw JWT, exchangeable for an access token
    claims: Mapping[str, Any] = field(repr=False)
    document_load: bool = True  # False when it came from an Authorization header (a fetch)


def shopify_app(settings: Settings) -> ShopifyApp:
    """The ``shopify_app`` client for this app's credentials (it holds nothing else)."""
    if not settings.shopify_api_key or settings.shopify_api_secret is None:
        raise ConfigurationError(
            "SHOPIFY_API_KEY and SHOPIFY_API_SECRET must both be set to serve the embedded "
            "app; copy them from the app's page in the Shopify Partner dashboard."
        )
    return ShopifyApp(settings.shopify_api_key, settings.shopify_api_secret.get_secret_value())


def is_document_load(request: Request) -> bool:
    """True for a page load (token in ``?id_token=``), False for a fetch (Authorization)."""
    # The same rule verify_app_home_req applies, so both sides agree on the request's kind.
    return not request.headers.get("authorization")


def public_url(request: Request, settings: Settings) -> str:
    """The request's URL as the browser sees it.

    With ``SHOPIFY_APP_URL`` set, its scheme and host replace the ones the server saw: behind
    a TLS proxy the server sees ``http://internal:8000``, and the ``Host`` header is the
    client's to choose, so neither may end up in a redirect.
    """
    url = str(request.url)
    if not settings.shopify_app_url:
        return url
    public, seen = urlsplit(settings.shopify_app_url), urlsplit(url)
    return urlunsplit((public.scheme, public.netloc, seen.path, seen.query, ""))


async def request_input(request: Request, settings: Settings) -> RequestInput:
    """The framework-neutral request dict ``shopify_app`` verifies."""
    body = await request.body()
    return {
        "method": request.method,
        "headers": dict(request.headers),
        "url": public_url(request, settings),
        # verify_app_home_req never reads the body, so a lossy decode cannot weaken it.
        "body": body.decode("utf-8", errors="replace"),
    }


async def verify_session_token(
    request: Request, settings: Settings, *, bounce_path: str = BOUNCE_PATH
) -> IdToken:
    """Verify the request's ID token; :class:`InvalidSessionToken` says why it is refused."""
    app = shopify_app(settings)
    result = app.verify_app_home_req(await request_input(request, settings), bounce_path)
    if not result.ok or result.id_token is None:
        if result.log.code == "configuration_error":
            raise ConfigurationError(f"Cannot verify session tokens: {result.log.detail}")
        reason = _REASONS.get(result.log.code, f"verification failed ({result.log.code})")
        raise InvalidSessionToken(f"Session token refused: {reason}.")
    claims = dict(result.id_token.claims)
    if "exp" not in claims:
        # Without exp the token would be valid forever; Shopify always sets it.
        raise InvalidSessionToken("Session token refused: it has no expiry (exp).")
    shop = _shop_of(claims)
    sub, sid = claims.get("sub"), claims.get("sid")
    return IdToken(
        shop=shop,
        user_id=None if sub is None else str(sub),
        session_id=None if sid is None else str(sid),
        token=result.id_token.token,
        claims=MappingProxyType(claims),
        document_load=is_document_load(request),
    )


def _shop_of(claims: Mapping[str, Any]) -> str:
    """The shop named by both ``dest`` and ``iss``, or :class:`InvalidSessionToken`."""
    dest = _shop_host(claims.get("dest"), "dest", paths=("", "/"))
    iss = _shop_host(claims.get("iss"), "iss", paths=("", "/admin"))
    if dest != iss:
        raise InvalidSessionToken("Session token refused: iss and dest name different shops.")
    return dest


def _shop_host(value: Any, claim: str, *, paths: tuple[str, ...]) -> str:
    refused = InvalidSessionToken(
        f"Session token refused: {claim} is not https://<name>.myshopify.com."
    )
    if not isinstance(value, str):
        raise refused
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise refused from None
    host = parts.hostname or ""
    plain = not (parts.username or parts.password or port or parts.query or parts.fragment)
    if parts.scheme != "https" or not plain or parts.path not in paths:
        raise refused
    try:
        shop = normalize_domain(host)
    except InvalidInput:
        raise refused from None
    # normalize_domain turns a bare "evil" into "evil.myshopify.com"; the claim must already
    # be the full domain.
    if shop != host:
        raise refused
    return shop


def failure_response(
    request: Request, settings: Settings, *, bounce_path: str = BOUNCE_PATH
) -> Response:
    """What to answer when :func:`verify_session_token` refused the request.

    A document load is redirected (302) to the bounce page with the original path and query
    (less the stale ``id_token``) in ``shopify-reload``; a fetch gets 401 with
    ``X-Shopify-Retry-Invalid-Session-Request: 1``.
    """
    if not is_document_load(request):
        return PlainTextResponse("Unauthorized", status_code=401, headers={RETRY_HEADER: "1"})
    url = urlsplit(public_url(request, settings))
    query = _ID_TOKEN_PARAM.sub("", url.query).lstrip("&")
    without_token: RequestInput = {
        "method": request.method,
        "headers": {},
        "url": urlunsplit((url.scheme, url.netloc, url.path, query, "")),
        "body": "",
    }
    # A document load without a token is answered by the package with the redirect to the
    # bounce page, built exactly as its own failure paths build it.
    result = shopify_app(settings).verify_app_home_req(without_token, bounce_path)
    location = result.response.headers.get("Location")
    if result.response.status != 302 or not location:
        raise ConfigurationError(f"Cannot build the bounce redirect: {result.log.detail}")
    return RedirectResponse(location, status_code=302)


def content_security_policy(shop: str | None) -> str:
    """``frame-ancestors`` for an HTML response: the validated shop and Shopify admin only."""
    if shop is None:
        return "frame-ancestors 'none';"
    return f"frame-ancestors https://{shop} {ADMIN_ORIGIN};"


def embedded_headers(id_token: IdToken) -> dict[str, str]:
    """Headers every embedded HTML page sends: its CSP and the App Bridge preload."""
    return {
        "Content-Security-Policy": content_security_policy(id_token.shop),
        "Link": APP_BRIDGE_PRELOAD,
    }


def bounce_response(request: Request, settings: Settings) -> Response:
    """The bounce page: App Bridge gets a fresh ID token and reloads ``shopify-reload``.

    ``shop`` and ``shopify-reload`` come from the query, so both are validated before use:
    the shop goes into the CSP, and the reload target must stay on this app (App Bridge
    appends a fresh token to it).
    """
    try:
        shop = normalize_domain(request.query_params.get("shop", ""))
    except InvalidInput:
        return PlainTextResponse("Bad Request: missing or invalid shop", status_code=400)
    reload = request.query_params.get("shopify-reload", "")
    if not _is_local_path(reload):
        return PlainTextResponse("Bad Request: invalid shopify-reload", status_code=400)
    client_id = shopify_app(settings).config["client_id"]
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="shopify-api-key" content="{html.escape(client_id)}">\n'
        f'<script src="{APP_BRIDGE_URL}"></script>\n'
        "</head>\n<body></body>\n</html>\n"
    )
    headers = {
        "Content-Security-Policy": content_security_policy(shop),
        "Link": APP_BRIDGE_PRELOAD,
        "Cache-Control": "no-store",
    }
    return HTMLResponse(page, headers=headers)


async def bounce_page(request: Request) -> Response:
    """Starlette endpoint for :data:`BOUNCE_PATH`; reads ``request.app.state.taskra``."""
    return bounce_response(request, request.app.state.taskra.settings)


def _is_local_path(target: str) -> bool:
    """True for ``/path?query`` on this origin; not ``//host``, ``\\\\host`` or a full URL."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
