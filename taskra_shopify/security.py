"""Security headers on every response a browser may load, the ``frame-ancestors`` policy on
every page, and the check that a sign-in form was posted by this app's own page
(:func:`cross_site`).

An embedded page may be framed only by its own shop's admin: the page sets
``frame-ancestors https://<shop> https://admin.shopify.com`` itself, or records the verified
shop in ``request.state.shop`` and this middleware does. Any other HTML (standalone pages,
errors) gets ``frame-ancestors 'none'``. Pure ASGI, so streamed responses
(server-sent events) pass through untouched.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskra_core.settings import Settings
from taskra_shopify.session_token import content_security_policy

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin-allow-popups",
}

# Paths only other services' servers call (Shopify's and Stripe's webhooks): the headers
# above tell a browser how to treat a document, and no browser loads these answers. On the
# busiest path, h11 validating four more headers a response cost about 6% of its throughput
# (bench/ingest.py).
MACHINE_PATHS = ("/webhooks/",)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(MACHINE_PATHS):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
                if scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                html = headers.get("content-type", "").startswith("text/html")
                if html and "content-security-policy" not in headers:
                    # Pages that know their shop set the policy themselves (with
                    # content_security_policy); any other HTML may not be framed at all.
                    shop = (scope.get("state") or {}).get("shop")
                    headers["Content-Security-Policy"] = content_security_policy(shop)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cross_site(request: Request, settings: Settings) -> str | None:
    """Why a form post that signs someone in looks sent by another site, or ``None``.

    Sign-in forms need this although no session exists yet: another site could post its own
    credentials (or its own set-a-password link) and so sign the visitor in to an account it
    controls, then read whatever the visitor types into it. Browsers say where a request
    comes from in headers page script cannot set: ``Sec-Fetch-Site`` (every current browser)
    must be ``same-origin`` (or ``none``: typed or bookmarked); without it, ``Origin`` must be
    this app's (``SHOPIFY_APP_URL``, or the host the request was sent to). A request with
    neither comes from no browser (curl, a script), which cannot be tricked into sending it.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site is {site!r}"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    ours = {request.headers.get("host", "").lower()}
    if settings.shopify_app_url:
        ours.add(urlsplit(settings.shopify_app_url).netloc.lower())
    if origin != "null" and urlsplit(origin).netloc.lower() in ours - {""}:
        return None
    return f"Origin is {origin!r}"
