"""A stand-in storefront for the chat widget: the theme's page with the app embed, and
Shopify's app proxy in front of Taskra.

- :func:`signed_query` signs a query the way Shopify's app proxy does, written from
  Shopify's description (sorted ``key=value`` pairs, repeated keys joined with commas, no
  separator, hex HMAC-SHA256 with the app secret), independently of the code under test.
- :func:`render_embed` renders the real app embed block (``blocks/chat-embed.liquid``) with
  python-liquid, its ``t`` filter reading the extension's ``locales/en.default.json``.
- :func:`storefront_app` serves ``/`` and ``/pages/<name>`` (theme pages with the embed),
  the extension's ``assets/`` under ``/cdn/`` (Shopify's CDN in production) and
  ``/apps/support/...``, forwarded to Taskra's ``/proxy/...`` with the signed parameters and
  without cookies, as Shopify's proxy does.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from liquid import Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

EXTENSION = Path(__file__).resolve().parents[2] / "extensions" / "taskra-chat"
PROXY_PREFIX = "/apps/support"
_SCHEMA = re.compile(r"{%-?\s*schema\s*-?%}(.*?){%-?\s*endschema\s*-?%}", re.DOTALL)


def signed_query(
    params: Iterable[tuple[str, str]], secret: str, *, timestamp: int | None = None
) -> str:
    """``params`` plus Shopify's ``timestamp`` (now, unless given) and ``signature``, as a
    query string. Repeated keys stay repeated in the query and are comma-joined for signing."""
    pairs = [*params, ("timestamp", str(int(time.time()) if timestamp is None else timestamp))]
    joined: dict[str, list[str]] = {}
    for key, value in pairs:
        joined.setdefault(key, []).append(value)
    message = "".join(f"{key}={','.join(values)}" for key, values in sorted(joined.items()))
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode([*pairs, ("signature", signature)])


def block_schema() -> dict[str, Any]:
    """The JSON inside the block's ``{% schema %}`` tag."""
    source = (EXTENSION / "blocks" / "chat-embed.liquid").read_text()
    found = _SCHEMA.search(source)
    assert found is not None, "the block has no {% schema %}"
    parsed: dict[str, Any] = json.loads(found.group(1))
    return parsed


def render_embed(
    shop: str, *, settings: dict[str, str] | None = None, customer: dict[str, Any] | None = None
) -> str:
    """The app embed block's markup as Shopify would render it for ``shop``."""
    source = (EXTENSION / "blocks" / "chat-embed.liquid").read_text()
    locale = json.loads((EXTENSION / "locales" / "en.default.json").read_text())

    def translate(key: str) -> str:
        value: Any = locale
        for part in key.split("."):
            value = value[part]
        return str(value)

    defaults = {s["id"]: s["default"] for s in block_schema()["settings"]}
    env = Environment()
    env.filters["t"] = translate
    template = env.from_string(_SCHEMA.sub("", source))
    return template.render(
        shop={"permanent_domain": shop},
        block={"settings": {**defaults, **(settings or {})}},
        customer=customer,
    )


@dataclass
class Storefront:
    """What the stand-in needs: Taskra's address, the shop, the app secret, and who is
    logged in (Shopify's numeric customer id, or ``None``)."""

    app_url: str
    shop: str
    secret: str
    customer_id: str | None = None
    client_address: str = "203.0.113.7"
    settings: dict[str, str] | None = None


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Fell &amp; Ford</title>
<link rel="stylesheet" href="/cdn/chat.css">
<script src="/cdn/chat.js" defer></script>
</head><body>
<header><a href="/">Fell &amp; Ford</a> <a href="/pages/shipping">Shipping</a></header>
<main><h1>{title}</h1><p>Waterproof jackets, walking boots and base layers.</p></main>
{embed}
</body></html>
"""


def storefront_app(front: Storefront) -> Starlette:
    """The storefront (see the module docstring)."""

    def page(title: str) -> HTMLResponse:
        customer = {"id": int(front.customer_id)} if front.customer_id else None
        embed = render_embed(front.shop, settings=front.settings, customer=customer)
        return HTMLResponse(PAGE.format(title=html.escape(title), embed=embed))

    async def home(request: Request) -> Response:
        return page("Home")

    async def named(request: Request) -> Response:
        return page(str(request.path_params["name"]).title())

    async def asset(request: Request) -> Response:
        name = str(request.path_params["name"])
        path = EXTENSION / "assets" / name
        if "/" in name or not path.is_file():
            return Response(status_code=404)
        return FileResponse(path)

    async def proxy(request: Request) -> Response:
        extra = [("shop", front.shop), ("logged_in_customer_id", front.customer_id or "")]
        extra.append(("path_prefix", PROXY_PREFIX))
        query = signed_query([*request.query_params.multi_items(), *extra], front.secret)
        headers = {
            "Content-Type": request.headers.get("content-type", "application/json"),
            "X-Forwarded-For": front.client_address,
        }
        url = f"{front.app_url}/proxy/{request.path_params['path']}?{query}"
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.request(
                request.method, url, content=await request.body(), headers=headers
            )
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
        )

    return Starlette(
        routes=[
            Route("/", home),
            Route("/pages/{name}", named),
            Route("/cdn/{name}", asset),
            Route(PROXY_PREFIX + "/{path:path}", proxy, methods=["GET", "POST"]),
        ]
    )
