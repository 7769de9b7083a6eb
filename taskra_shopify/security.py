"""Security headers on every response, and the ``frame-ancestors`` policy on every page.

An embedded page may be framed only by its own shop's admin: the page sets
``frame-ancestors https://<shop> https://admin.shopify.com`` itself, or records the verified
shop in ``request.state.shop`` and this middleware does. Any other HTML (standalone pages,
errors) gets ``frame-ancestors 'none'``. Pure ASGI, so streamed responses
(server-sent events) pass through untouched.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskra_shopify.session_token import content_security_policy

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin-allow-popups",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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
