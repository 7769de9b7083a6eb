"""The app home (``GET /``) inside Shopify admin: verify the session token, install on first
load (token exchange), answer with the embedded page.

The admin pages are not built yet: the page says the app is installed and where the JSON
API is. It already carries what every embedded page needs (App Bridge, the API key meta
tag, the per-shop ``frame-ancestors`` policy).
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from taskra_core.app import Taskra
from taskra_core.errors import InvalidSessionToken, SessionInvalid
from taskra_core.models import Store
from taskra_shopify.api.auth import SESSION_COOKIE
from taskra_shopify.session_token import (
    APP_BRIDGE_URL,
    embedded_headers,
    failure_response,
    verify_session_token,
)
from taskra_shopify.tokens import ensure_installed


def _standalone(request: Request) -> bool:
    """A browser tab outside Shopify admin: no session token, no shop to bounce through."""
    query = request.query_params
    return not request.headers.get("authorization") and not (
        query.get("id_token") or query.get("shop")
    )


async def home(request: Request) -> Response:
    taskra: Taskra = request.app.state.taskra
    if _standalone(request):
        return await standalone_home(request, taskra)
    try:
        id_token = await verify_session_token(request, taskra.settings)
        # Inside the try: a refused exchange also means "get a fresh token" (the bounce).
        store = await ensure_installed(taskra, id_token)
    except InvalidSessionToken:
        return failure_response(request, taskra.settings)
    request.state.shop = id_token.shop
    api_key = html.escape(taskra.settings.shopify_api_key or "")
    name = html.escape(store.name or store.domain)
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="shopify-api-key" content="{api_key}">
<script src="{APP_BRIDGE_URL}"></script>
<title>Taskra</title>
</head>
<body>
<h1>Taskra</h1>
<p>Taskra is installed for {name}. The inbox pages are on their way; everything they will
show is available now through the JSON API at <code>/api/v1</code>.</p>
</body>
</html>
"""
    return HTMLResponse(body, headers=embedded_headers(id_token))


async def standalone_home(request: Request, taskra: Taskra) -> Response:
    """Signed in by cookie: the same placeholder, never framed; otherwise to the login page."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return RedirectResponse("/login", status_code=303)
    try:
        account, _session = await taskra.accounts.session_for(cookie)
    except SessionInvalid:
        return RedirectResponse("/login", status_code=303)
    async with taskra.db.session() as session:
        store = await session.get(Store, account.store_id)
    assert store is not None
    name = html.escape(store.name or store.domain)
    who = html.escape(account.email)
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Taskra</title></head>
<body>
<h1>Taskra</h1>
<p>Signed in as {who} for {name}. The inbox pages are on their way; everything they will
show is available now through the JSON API at <code>/api/v1</code> (this session works
there too: <a href="/api/v1/session">/api/v1/session</a>).</p>
</body>
</html>
"""
    # No policy here: the security middleware gives it frame-ancestors 'none'.
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})
