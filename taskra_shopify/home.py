"""The app home (``GET /``) inside Shopify admin: verify the session token, install on first
load (token exchange), answer with the embedded page.

The admin pages are not built yet: the page says the app is installed and where the JSON
API is. It already carries what every embedded page needs (App Bridge, the API key meta
tag, the per-shop ``frame-ancestors`` policy).
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from taskra_core.app import Taskra
from taskra_core.errors import InvalidSessionToken
from taskra_shopify.session_token import (
    APP_BRIDGE_URL,
    embedded_headers,
    failure_response,
    verify_session_token,
)
from taskra_shopify.tokens import ensure_installed


async def home(request: Request) -> Response:
    taskra: Taskra = request.app.state.taskra
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
