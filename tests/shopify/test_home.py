"""The app home inside Shopify admin, through the real app: install on first load, the
per-shop framing policy, and the bounce for a missing or bad session token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from taskra_core.app import Taskra
from taskra_core.models import Store
from taskra_core.testing import make_test_taskra
from taskra_shopify.app import create_app
from taskra_shopify.security import SecurityHeaders
from tests.fakes.shopify import CLIENT_ID, CLIENT_SECRET, SHOP, FakeShopify, mint_id_token

APP_URL = "https://taskra.test"


@pytest.fixture
async def taskra(database_url: str, fake_shopify: FakeShopify) -> AsyncIterator[Taskra]:
    core = make_test_taskra(
        database_url,
        shopify_api_key=CLIENT_ID,
        shopify_api_secret=CLIENT_SECRET,
        shopify_app_url=APP_URL,
        shopify_origin=fake_shopify.origin,
    )
    async with core:
        yield core


@pytest.fixture
async def client(taskra: Taskra) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(taskra, run_worker=False))
    async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as c:
        yield c


async def test_first_load_installs_the_store_and_frames_only_its_admin(
    client: httpx.AsyncClient, taskra: Taskra, fake_shopify: FakeShopify
) -> None:
    """A valid id_token on the first page load exchanges it for tokens and stores them
    encrypted; the page may be framed only by this shop's admin."""
    response = await client.get("/", params={"shop": SHOP, "id_token": mint_id_token()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
    )
    assert 'name="shopify-api-key"' in response.text
    assert fake_shopify.exchanges == 1
    async with taskra.db.session() as session:
        store = await session.scalar(select(Store).where(col(Store.domain) == SHOP))
    assert store is not None
    assert store.installed_at is not None
    assert store.access_token_enc
    assert store.refresh_token_enc
    again = await client.get("/", params={"shop": SHOP, "id_token": mint_id_token()})
    assert again.status_code == 200
    assert fake_shopify.exchanges == 1  # tokens kept; no second exchange


async def test_missing_token_on_a_page_load_bounces(client: httpx.AsyncClient) -> None:
    """No id_token on a document load: 302 to the bounce page, which may not be framed by
    anyone but this shop's admin either."""
    response = await client.get("/", params={"shop": SHOP})
    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{APP_URL}/auth/session-token")


async def test_bad_token_on_a_fetch_is_401_with_retry(client: httpx.AsyncClient) -> None:
    """A fetch with a token signed by another secret gets 401 and the retry header."""
    forged = mint_id_token(secret="x" * 64)
    response = await client.get("/", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


async def test_bounce_page_may_be_framed_only_by_the_named_shops_admin(
    client: httpx.AsyncClient,
) -> None:
    """The bounce page runs inside the admin iframe, so it names that shop and no other."""
    response = await client.get("/auth/session-token", params={"shop": SHOP, "shopify-reload": "/"})
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
    )


def test_html_without_a_shop_may_not_be_framed() -> None:
    """HTML with no policy of its own and no verified shop gets frame-ancestors 'none'."""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse("<p>standalone</p>")

    async def data(request: Request) -> JSONResponse:
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/page", page), Route("/data", data)],
        middleware=[Middleware(SecurityHeaders)],
    )
    with TestClient(app) as client:
        html_response = client.get("/page")
        json_response = client.get("/data")
    assert html_response.headers["Content-Security-Policy"] == "frame-ancestors 'none';"
    assert "Content-Security-Policy" not in json_response.headers
    assert json_response.headers["X-Content-Type-Options"] == "nosniff"


def test_webhook_answers_carry_no_browser_headers() -> None:
    """Answers on /webhooks/ go to Shopify's and Stripe's servers, never to a browser, so
    they carry no browser directives; a path beside them still does."""

    async def ack(request: Request) -> Response:
        return Response(status_code=200)

    app = Starlette(
        routes=[Route("/webhooks/shopify", ack, methods=["POST"]), Route("/webhooksx", ack)],
        middleware=[Middleware(SecurityHeaders)],
    )
    with TestClient(app) as client:
        webhook = client.post("/webhooks/shopify")
        other = client.get("/webhooksx")
    assert webhook.status_code == 200
    assert not {"x-content-type-options", "referrer-policy"} & set(webhook.headers)
    assert other.headers["X-Content-Type-Options"] == "nosniff"
