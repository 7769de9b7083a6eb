"""The admin pages: server-rendered from ``templates/admin``, the same templates inside
Shopify admin (App Bridge, session tokens) and in a browser tab (session cookie)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route


def page_routes() -> list[BaseRoute]:
    from taskra_shopify.pages.conversation import conversation_page
    from taskra_shopify.pages.inbox import inbox_page
    from taskra_shopify.pages.settings import settings_page, usage_page

    return [
        Route("/", inbox_page),
        Route("/conversations/{conversation_id:int}", conversation_page),
        Route("/knowledge", settings_page),
        Route("/usage", usage_page),
    ]
