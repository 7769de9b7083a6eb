"""Installing the app in tests the way Shopify admin does: a document load of the app home
with a signed ID token, verified by the real code path, then the token exchange against the
fake Shopify."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from taskra_core.app import Taskra
from taskra_core.models import Store
from taskra_shopify.session_token import IdToken, verify_session_token
from taskra_shopify.tokens import ensure_installed
from tests.fakes.shopify import SHOP, mint_id_token


async def verified_id_token(taskra: Taskra, token: str | None = None, shop: str = SHOP) -> IdToken:
    """An app-home document load carrying ``token`` (default: a fresh valid one), verified."""
    query = f"shop={shop}&host=abc&id_token={token or mint_id_token(shop)}"
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "query_string": query.encode(),
        "headers": [(b"host", b"taskra.example")],
        "server": ("taskra.example", 443),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    return await verify_session_token(Request(scope, receive), taskra.settings)


async def install(taskra: Taskra, shop: str = SHOP) -> Store:
    """Install the app on ``shop`` as its first app-home load does (token exchange)."""
    return await ensure_installed(taskra, await verified_id_token(taskra, shop=shop))
